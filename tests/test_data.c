/* The post's data: the rng against numpy, drawing against scikit-image, genMasks, labels,
 * one-hot, simulated predictions and dropped annotations. The hard-coded values come from
 * numpy 1.24 and scikit-image 0.19.3 (with libm's sin and cos, see src/draw.c). */
#include "check.h"
#include "segloss_data.h"

#include <stdlib.h>
#include <string.h>

static int one_line(const sl_error *e)
{
    return e->msg[0] != '\0' && strchr(e->msg, '\n') == NULL;
}

/* img (h x w) against rows of '0'/'1'. */
static int image_is(const uint8_t *img, int64_t h, int64_t w, const char *const *rows)
{
    for (int64_t i = 0; i < h; i++)
        for (int64_t j = 0; j < w; j++)
            if (img[i * w + j] != (uint8_t)(rows[i][j] - '0')) return 0;
    return 1;
}

static int64_t count(const uint8_t *a, int64_t n)
{
    int64_t s = 0;
    for (int64_t i = 0; i < n; i++)
        s += a[i];
    return s;
}

static void test_rng(void)
{
    sl_rng r;
    /* np.random.seed(0); np.random.randint(2**32, dtype=np.uint64), three times */
    sl_rng_seed(&r, 0);
    const uint32_t u[3] = {2357136044u, 2546248239u, 3071714933u};
    for (int i = 0; i < 3; i++)
        CHECK(sl_rng_u32(&r) == u[i], "u32 %d", i);

    /* np.random.seed(0); [np.random.randint(90) for _ in range(8)] */
    sl_rng_seed(&r, 0);
    const int64_t ang[8] = {44, 47, 64, 67, 67, 9, 83, 21};
    for (int i = 0; i < 8; i++) {
        int64_t v = sl_rng_randint(&r, 90);
        CHECK(v == ang[i], "randint(90) %d: got %lld, want %lld", i, (long long)v,
              (long long)ang[i]);
    }

    /* np.random.seed(42); random_sample() x3, then again standard_normal() x4 */
    sl_rng_seed(&r, 42);
    const double us[3] = {0.3745401188473625, 0.9507143064099162, 0.7319939418114051};
    for (int i = 0; i < 3; i++)
        CHECK(sl_rng_uniform(&r) == us[i], "random_sample %d", i);
    sl_rng_seed(&r, 42);
    const double ns[4] = {0.4967141530112327, -0.13826430117118466, 0.6476885381006925,
                          1.5230298564080254};
    for (int i = 0; i < 4; i++)
        CHECK_CLOSE(sl_rng_normal(&r), ns[i], 0, 1e-15, "normal");

    /* np.random.seed(7); randint(1) draws nothing; then randint(2**40), randint(1000) */
    sl_rng_seed(&r, 7);
    CHECK(sl_rng_randint(&r, 1) == 0, "randint(1)");
    CHECK(sl_rng_randint(&r, (int64_t)1 << 40) == 752595690692LL, "randint(2**40)");
    CHECK(sl_rng_randint(&r, 1000) == 537, "randint(1000)");

    /* Seeding forgets the cached second normal. */
    sl_rng_seed(&r, 42);
    sl_rng_normal(&r);
    sl_rng_seed(&r, 42);
    CHECK_CLOSE(sl_rng_normal(&r), ns[0], 0, 1e-15, "normal after reseed");

    sl_rng_seed(&r, 123);
    int in_range = 1;
    for (int i = 0; i < 10000; i++) {
        double x = sl_rng_uniform(&r);
        int64_t k = sl_rng_randint(&r, 7);
        if (!(x >= 0 && x < 1) || k < 0 || k >= 7) in_range = 0;
    }
    CHECK(in_range, "uniform in [0, 1), randint in [0, high)");
}

static void test_draw_known(void)
{
    sl_error err;
    uint8_t img[200];

    /* skimage's docstring: ellipse(5, 6, 3, 5, rotation=np.deg2rad(30)) in 10 x 12 */
    static const char *const e30[10] = {
        "000000000000", "000000000000", "000000111100", "000011111110", "000111111110",
        "001111111110", "001111111100", "001111111000", "000111100000", "000000000000"};
    memset(img, 0, sizeof img);
    CHECK(sl_draw_ellipse(img, 10, 12, 5, 6, 3, 5, 30 * (3.141592653589793 / 180), &err) == SL_OK,
          "ellipse ok");
    CHECK(image_is(img, 10, 12, e30), "ellipse docstring example");

    /* disk((0, 0), 2, shape=(4, 4)) */
    static const char *const d2[4] = {"1100", "1100", "0000", "0000"};
    memset(img, 0, sizeof img);
    sl_draw_disk(img, 4, 4, 0, 0, 2, &err);
    CHECK(image_is(img, 4, 4, d2), "disk docstring example");

    /* polygon([1, 2, 8], [1, 7, 4]) in 10 x 10 */
    static const char *const p3[10] = {"0000000000", "0100000000", "0011111100", "0011111000",
                                       "0001111000", "0001110000", "0000110000", "0000100000",
                                       "0000100000", "0000000000"};
    const double pr[3] = {1, 2, 8}, pc[3] = {1, 7, 4};
    memset(img, 0, sizeof img);
    sl_draw_polygon(img, 10, 10, pr, pc, 3, &err);
    CHECK(image_is(img, 10, 10, p3), "polygon docstring example");

    /* ellipse(3.5, 2.25, 2.5, 4, shape=(8, 8), rotation=-1.0): clipped on the left */
    static const char *const em[8] = {"01000000", "11110000", "11111000", "11111000",
                                      "11111100", "01111100", "00111100", "00011000"};
    memset(img, 0, sizeof img);
    sl_draw_ellipse(img, 8, 8, 3.5, 2.25, 2.5, 4, -1.0, &err);
    CHECK(image_is(img, 8, 8, em), "rotated clipped ellipse");

    /* polygon([-1.5, 4.2, 2.0], [1.0, 6.5, -3.0], shape=(6, 7)) */
    static const char *const pm[6] = {"1110000", "1111000", "1111100",
                                      "0011110", "0000001", "0000000"};
    const double qr[3] = {-1.5, 4.2, 2.0}, qc[3] = {1.0, 6.5, -3.0};
    memset(img, 0, sizeof img);
    sl_draw_polygon(img, 6, 7, qr, qc, 3, &err);
    CHECK(image_is(img, 6, 7, pm), "clipped polygon");

    /* disk((4.5, 0.5), 2.3, shape=(5, 5)) */
    static const char *const dm[5] = {"00000", "00000", "00000", "11100", "11100"};
    memset(img, 0, sizeof img);
    sl_draw_disk(img, 5, 5, 4.5, 0.5, 2.3, &err);
    CHECK(image_is(img, 5, 5, dm), "disk in a corner");
}

static void test_draw_invariants(void)
{
    sl_error err;
    enum { H = 23, W = 31 };
    uint8_t img[H * W], big[(H + 20) * (W + 20)];
    sl_rng r;
    sl_rng_seed(&r, 5);
    int only_ones = 1, crop_same = 1, empty_ok = 1;
    for (int t = 0; t < 300; t++) {
        /* Quarter-pixel centres and radii keep every coordinate exact, so the image drawn in
         * a larger canvas, cropped, must equal the one drawn clipped. */
        double rc = (double)sl_rng_randint(&r, 4 * (H + 10)) / 4 - 5;
        double cc = (double)sl_rng_randint(&r, 4 * (W + 10)) / 4 - 5;
        double ra = (double)sl_rng_randint(&r, 40) / 4, rb = (double)sl_rng_randint(&r, 40) / 4;
        double rot = 0;
        memset(img, 7, sizeof img);
        memset(big, 0, sizeof big);
        if (t % 2) {
            sl_draw_ellipse(img, H, W, rc, cc, ra, rb, rot, &err);
            sl_draw_ellipse(big, H + 20, W + 20, rc + 10, cc + 10, ra, rb, rot, &err);
        } else {
            sl_draw_disk(img, H, W, rc, cc, ra, &err);
            sl_draw_disk(big, H + 20, W + 20, rc + 10, cc + 10, ra, &err);
        }
        for (int i = 0; i < H; i++)
            for (int j = 0; j < W; j++) {
                uint8_t v = img[i * W + j];
                if (v != 7 && v != 1) only_ones = 0;
                if ((v == 1) != (big[(i + 10) * (W + 20) + j + 10] == 1)) crop_same = 0;
            }
    }
    CHECK(only_ones, "drawing sets pixels to 1 and leaves the others alone");
    CHECK(crop_same, "clipping equals cropping a larger drawing");

    memset(img, 0, sizeof img);
    sl_draw_disk(img, H, W, 5, 5, 0, &err);
    sl_draw_ellipse(img, H, W, 5, 5, 0, 3, 0.3, &err);
    sl_draw_ellipse(img, H, W, -50, 5, 3, 3, 0.3, &err);
    sl_draw_disk(img, H, W, 5, 1e9, 3, &err);
    const double fr[4] = {100, 100, 110, 110}, fc[4] = {0, 5, 5, 0};
    sl_draw_polygon(img, H, W, fr, fc, 4, &err);
    if (count(img, H * W) != 0) empty_ok = 0;
    CHECK(empty_ok, "zero radii and shapes outside the image draw nothing");

    /* A one-point polygon is its vertex; a huge disk covers everything. */
    const double one_r[1] = {3}, one_c[1] = {4};
    memset(img, 0, sizeof img);
    sl_draw_polygon(img, H, W, one_r, one_c, 1, &err);
    CHECK(count(img, H * W) == 1 && img[3 * W + 4] == 1, "one-point polygon");
    memset(img, 0, sizeof img);
    sl_draw_disk(img, H, W, 10, 10, 1e200, &err);
    CHECK(count(img, H * W) == H * W, "huge disk fills the image");

    /* Rotation by pi is no rotation. */
    uint8_t a[H * W], b[H * W];
    memset(a, 0, sizeof a);
    memset(b, 0, sizeof b);
    sl_draw_ellipse(a, H, W, 11.5, 15, 5, 9, 0.7, &err);
    sl_draw_ellipse(b, H, W, 11.5, 15, 5, 9, 0.7 - 3.141592653589793, &err);
    CHECK(count(a, H * W) > 50 && memcmp(a, b, sizeof a) == 0, "rotation - pi is the same");

    /* Errors */
    double nan = strtod("nan", NULL), inf = strtod("inf", NULL);
    err.msg[0] = 0;
    CHECK(sl_draw_ellipse(img, H, W, nan, 1, 1, 1, 0, &err) == SL_E_ARG && one_line(&err),
          "nan centre");
    CHECK(sl_draw_ellipse(img, H, W, 1, 1, -1, 1, 0, &err) == SL_E_ARG && one_line(&err),
          "negative radius");
    CHECK(sl_draw_ellipse(img, H, W, 1, 1, 1, 1, inf, &err) == SL_E_ARG, "inf rotation");
    CHECK(sl_draw_disk(img, 0, W, 1, 1, 1, &err) == SL_E_ARG && one_line(&err), "h = 0");
    CHECK(sl_draw_disk(img, H, -3, 1, 1, 1, &err) == SL_E_ARG, "w < 0");
    CHECK(sl_draw_disk(img, H, W, 1, 1, nan, &err) == SL_E_ARG, "nan radius");
    CHECK(sl_draw_polygon(img, H, W, fr, fc, 0, &err) == SL_E_ARG && one_line(&err),
          "polygon of no points");
    const double bad_r[2] = {1, inf};
    CHECK(sl_draw_polygon(img, H, W, bad_r, fc, 2, &err) == SL_E_ARG, "inf vertex");
}

static void test_masks(void)
{
    sl_error err;
    sl_rng r;
    sl_rng_seed(&r, 0);

    /* gen_masks(1, 12, 12, angles=[30]): the ellipse is a circle of radius 2 whose outline
     * passes exactly through pixel centres, which rounding leaves out. */
    uint8_t m12[3 * 144];
    const int a30[1] = {30};
    /* Rotation 0: sin and cos are exact, so no outline pixel depends on how numpy computes
     * them (see src/draw.c); check_draw.py covers every angle against skimage itself. */
    const int a0[1] = {0};
    CHECK(sl_masks_generate(m12, 1, 12, 12, a0, NULL, &err) == SL_OK, "masks 12");
    static const char *const ell[12] = {"000000000000", "000000000000", "001110000000",
                                        "001110000000", "001110000000", "000000000000",
                                        "000000000000", "000000000000", "000000000000",
                                        "000000000000", "000000000000", "000000000000"};
    static const char *const sq[12] = {"000000000000", "000000000000", "000000000000",
                                       "000000000000", "000000000000", "000000000000",
                                       "000000000000", "000000011111", "000000011111",
                                       "000000011111", "000000011111", "000000011111"};
    static const char *const ci[12] = {"000000000000", "000000000000", "000000000000",
                                       "000000000000", "000000000000", "000001110000",
                                       "000001110000", "000001110000", "000000000000",
                                       "000000000000", "000000000000", "000000000000"};
    CHECK(image_is(m12, 12, 12, ell), "ellipse channel");
    CHECK(image_is(m12 + 144, 12, 12, sq), "square channel");
    CHECK(image_is(m12 + 288, 12, 12, ci), "circle channel");

    /* np.random.seed(3); gen_masks(2, 20, 30): per image and channel, the pixel counts */
    uint8_t m20[2 * 3 * 600];
    sl_rng_seed(&r, 3);
    CHECK(sl_masks_generate(m20, 2, 20, 30, NULL, &r, &err) == SL_OK, "masks 20x30");
    const int64_t want20[2][3] = {{47, 49, 25}, {43, 49, 25}};
    int counts_ok = 1;
    for (int i = 0; i < 2; i++)
        for (int k = 0; k < 3; k++)
            if (count(m20 + (i * 3 + k) * 600, 600) != want20[i][k]) counts_ok = 0;
    CHECK(counts_ok, "np.random.seed(3) masks 20 x 30 pixel counts");

    /* Labels, one-hot and annotations of 8 images 64 x 64 */
    enum { N = 8, S = 64, P = S * S };
    uint8_t *m = malloc(N * 3 * P);
    int32_t *lab = malloc(N * P * sizeof(int32_t));
    float *oh = malloc(N * SL_NCLASS * P * sizeof(float));
    uint8_t ann[N * SL_NCLASS];
    const int zeros[N] = {0};
    CHECK(sl_masks_generate(m, N, S, S, zeros, NULL, &err) == SL_OK, "masks 64");
    const int64_t want64[3] = {305, 441, 305};
    for (int k = 0; k < 3; k++)
        CHECK(count(m + k * P, P) == want64[k], "64 x 64 channel %d count", k);
    sl_masks_to_labels(m, N, 3, P, lab);
    sl_labels_to_onehot(lab, N, SL_NCLASS, P, oh);
    int lab_ok = 1, oh_ok = 1;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < P; j++) {
            int want = 0;
            for (int k = 0; k < 3; k++)
                if (m[(i * 3 + k) * P + j]) want = k + 1;
            if (lab[i * P + j] != want) lab_ok = 0;
            float s = 0;
            for (int c = 0; c < SL_NCLASS; c++) {
                float v = oh[(i * SL_NCLASS + c) * P + j];
                s += v;
                if (v != (c == want ? 1.0f : 0.0f)) oh_ok = 0;
            }
            if (s != 1.0f) oh_ok = 0;
        }
    CHECK(lab_ok, "labels: later objects on top");
    CHECK(oh_ok, "one-hot agrees with labels");
    sl_annotated_from_labels(lab, N, SL_NCLASS, P, ann);
    int ann_ok = 1;
    for (int i = 0; i < N * SL_NCLASS; i++)
        if (ann[i] != 1) ann_ok = 0;
    CHECK(ann_ok, "every class annotated in every image");
    int32_t two[4] = {0, 2, 2, 9};
    uint8_t ann2[SL_NCLASS];
    sl_annotated_from_labels(two, 1, SL_NCLASS, 4, ann2);
    CHECK(ann2[0] == 1 && ann2[1] == 0 && ann2[2] == 1 && ann2[3] == 0,
          "annotated: background always, out-of-range labels skipped");

    /* Errors */
    const int bad[2] = {10, 90};
    CHECK(sl_masks_generate(m, 2, 16, 16, bad, NULL, &err) == SL_E_ARG && one_line(&err),
          "angle 90");
    CHECK(sl_masks_generate(m, 0, 16, 16, NULL, &r, &err) == SL_E_SHAPE, "n = 0");
    CHECK(sl_masks_generate(m, 1, 16, 0, NULL, &r, &err) == SL_E_SHAPE, "w = 0");
    const int a45[1] = {45};
    uint8_t *wide = malloc(3 * 10 * 1000);
    CHECK(sl_masks_generate(wide, 1, 10, 1000, a45, NULL, &err) == SL_E_SHAPE && one_line(&err) &&
              strstr(err.msg, "too extreme"),
          "10 x 1000 at 45 degrees indexes outside the image in numpy: %s", err.msg);
    /* 12 x 2: the square's columns run past the image (IndexError). 7 x 18 at 45 degrees:
     * the ellipse reaches row -1, which numpy wraps to the last row, column 6 (at 40 degrees). */
    CHECK(sl_masks_generate(wide, 1, 12, 2, a30, NULL, &err) == SL_E_SHAPE, "12 x 2");
    const int a40[1] = {40};
    CHECK(sl_masks_generate(wide, 1, 7, 18, a40, NULL, &err) == SL_OK, "7 x 18");
    CHECK(count(wide, 7 * 18) == 11 && count(wide + 6 * 18, 18) == 1 && wide[6 * 18 + 6] == 1,
          "row -1 wraps to the last row");
    free(wide);

    free(m);
    free(lab);
    free(oh);
}

static void test_drop(void)
{
    sl_error err;
    sl_rng r;
    enum { N = 8, S = 32, P = S * S };
    uint8_t *m = malloc(N * 3 * P);
    int32_t *lab = malloc(N * P * sizeof(int32_t)), *orig = malloc(N * P * sizeof(int32_t));
    sl_rng_seed(&r, 1);
    sl_masks_generate(m, N, S, S, NULL, &r, &err);
    sl_masks_to_labels(m, N, 3, P, orig);

    memcpy(lab, orig, N * P * sizeof(int32_t));
    int64_t dropped[2 * 5];
    sl_rng_seed(&r, 9);
    CHECK(sl_drop_annotations(lab, N, SL_NCLASS, P, 5, &r, dropped, &err) == SL_OK, "drop 5");
    uint8_t before[N * SL_NCLASS], after[N * SL_NCLASS];
    sl_annotated_from_labels(orig, N, SL_NCLASS, P, before);
    sl_annotated_from_labels(lab, N, SL_NCLASS, P, after);
    int changed = 0, pairs_ok = 1;
    for (int i = 0; i < N * SL_NCLASS; i++)
        changed += before[i] != after[i];
    for (int t = 0; t < 5; t++) {
        int64_t i = dropped[2 * t], c = dropped[2 * t + 1];
        if (i < 0 || i >= N || c < 1 || c >= SL_NCLASS || after[i * SL_NCLASS + c]) pairs_ok = 0;
        for (int u = 0; u < t; u++)
            if (dropped[2 * u] == i && dropped[2 * u + 1] == c) pairs_ok = 0;
    }
    CHECK(changed == 5, "5 (image, class) pairs disappear, got %d", changed);
    CHECK(pairs_ok, "dropped pairs are distinct, valid and gone");
    int pix_ok = 1;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < P; j++) {
            int32_t o = orig[i * P + j], l = lab[i * P + j];
            int gone = 0;
            for (int t = 0; t < 5; t++)
                if (dropped[2 * t] == i && dropped[2 * t + 1] == o) gone = 1;
            if (l != (gone ? 0 : o)) pix_ok = 0;
        }
    CHECK(pix_ok, "exactly the dropped objects' pixels become background");

    memcpy(lab, orig, N * P * sizeof(int32_t));
    CHECK(sl_drop_annotations(lab, N, SL_NCLASS, P, 0, &r, NULL, &err) == SL_OK &&
              memcmp(lab, orig, N * P * sizeof(int32_t)) == 0,
          "k = 0 changes nothing");
    CHECK(sl_drop_annotations(lab, N, SL_NCLASS, P, 24, &r, NULL, &err) == SL_OK &&
              count((const uint8_t *)lab, N * P * (int64_t)sizeof(int32_t)) == 0,
          "dropping all 24 leaves background");
    memcpy(lab, orig, N * P * sizeof(int32_t));
    CHECK(sl_drop_annotations(lab, N, SL_NCLASS, P, 25, &r, NULL, &err) == SL_E_ARG &&
              one_line(&err) && strstr(err.msg, "24"),
          "k = 25 > 24 present: %s", err.msg);
    CHECK(sl_drop_annotations(lab, N, SL_NCLASS, P, -1, &r, NULL, &err) == SL_E_ARG, "k < 0");
    lab[7] = 4;
    CHECK(sl_drop_annotations(lab, N, SL_NCLASS, P, 1, &r, NULL, &err) == SL_E_LABEL &&
              one_line(&err),
          "label 4 with 4 classes");

    /* Uniform: 2 of 6 pairs, each pair chosen a third of the time. */
    int hits[6] = {0};
    int32_t small[2 * 3];
    sl_rng_seed(&r, 11);
    for (int t = 0; t < 6000; t++) {
        const int32_t init[6] = {1, 2, 3, 3, 2, 1};
        memcpy(small, init, sizeof small);
        int64_t d[4];
        sl_drop_annotations(small, 2, SL_NCLASS, 3, 2, &r, d, &err);
        for (int u = 0; u < 2; u++)
            hits[d[2 * u] * 3 + d[2 * u + 1] - 1]++;
    }
    int uniform = 1;
    for (int i = 0; i < 6; i++)
        if (hits[i] < 1800 || hits[i] > 2200) uniform = 0;
    CHECK(uniform, "uniform choice: %d %d %d %d %d %d of 2000", hits[0], hits[1], hits[2], hits[3],
          hits[4], hits[5]);
    free(m);
    free(lab);
    free(orig);
}

static void test_predict(void)
{
    sl_error err;
    sl_rng r;
    enum { N = 4, S = 64, P = S * S, C = SL_NCLASS };
    uint8_t *m = malloc(N * 3 * P);
    int32_t *lab = malloc(N * P * sizeof(int32_t));
    float *pr = malloc(N * C * P * sizeof(float)), *pr2 = malloc(N * C * P * sizeof(float));
    sl_rng_seed(&r, 2);
    sl_masks_generate(m, N, S, S, NULL, &r, &err);
    sl_masks_to_labels(m, N, 3, P, lab);

    sl_simulate_options o;
    sl_simulate_options_default(&o);
    CHECK(o.edge == 1.5 && o.confidence == 5.0 && o.noise == 3.5, "defaults");
    size_t ws = sl_simulate_workspace_size(C, S, S);
    void *w = malloc(ws);
    sl_rng_seed(&r, 0);
    CHECK(sl_simulate_predictions(lab, N, C, S, S, &o, &r, pr, w, ws, &err) == SL_OK, "predict: %s",
          err.msg);
    int sums = 1, range = 1, objects = 1;
    int64_t interior_n = 0, interior_right = 0;
    for (int i = 0; i < N; i++) {
        int64_t inside[C] = {0}, right[C] = {0};
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++) {
                int j = y * S + x, best = 0;
                double s = 0;
                for (int c = 0; c < C; c++) {
                    float v = pr[(i * C + c) * P + j];
                    if (!(v >= 0 && v <= 1)) range = 0;
                    s += v;
                    if (v > pr[(i * C + best) * P + j]) best = c;
                }
                if (fabs(s - 1) > 1e-5) sums = 0;
                int32_t l = lab[i * P + j];
                /* Interior: every pixel within 3 has the same label. */
                int same = 1;
                for (int dy = -3; dy <= 3; dy++)
                    for (int dx = -3; dx <= 3; dx++) {
                        int yy = y + dy, xx = x + dx;
                        if (yy >= 0 && yy < S && xx >= 0 && xx < S && lab[i * P + yy * S + xx] != l)
                            same = 0;
                    }
                interior_n += same;
                interior_right += same && best == l;
                inside[l]++;
                right[l] += best == l;
            }
        for (int c = 1; c < C; c++)
            if (inside[c] && 2 * right[c] <= inside[c]) objects = 0;
    }
    CHECK(sums, "probabilities sum to 1 over classes");
    CHECK(range, "probabilities in [0, 1]");
    /* The default noise flips some pixels, as a real model's mistakes would; most stay. */
    CHECK(interior_right >= 0.9 * (double)interior_n,
          "argmax is the label on %lld of %lld interior pixels", (long long)interior_right,
          (long long)interior_n);
    CHECK(objects, "every object predicted on most of its pixels");

    sl_rng_seed(&r, 0);
    sl_simulate_predictions(lab, N, C, S, S, &o, &r, pr2, w, ws, &err);
    CHECK(memcmp(pr, pr2, N * C * P * sizeof(float)) == 0, "same seed, same predictions");

    /* No blur, no noise: softmax of +-confidence exactly. */
    sl_simulate_options sharp = {0, 4, 0};
    sl_simulate_predictions(lab, N, C, S, S, &sharp, NULL, pr2, w, ws, &err);
    double want = exp(4.0) / (exp(4.0) + 3 * exp(-4.0));
    CHECK_CLOSE(pr2[(0 * C + lab[0]) * P + 0], want, 1e-7, 0, "sharp prediction");

    /* Errors */
    sl_simulate_options bad = o;
    bad.edge = strtod("nan", NULL);
    CHECK(sl_simulate_predictions(lab, N, C, S, S, &bad, &r, pr2, w, ws, &err) == SL_E_ARG &&
              one_line(&err),
          "nan edge");
    bad = o;
    bad.confidence = 0;
    CHECK(sl_simulate_predictions(lab, N, C, S, S, &bad, &r, pr2, w, ws, &err) == SL_E_ARG,
          "confidence 0");
    bad = o;
    bad.noise = -1;
    CHECK(sl_simulate_predictions(lab, N, C, S, S, &bad, &r, pr2, w, ws, &err) == SL_E_ARG,
          "negative noise");
    CHECK(sl_simulate_predictions(lab, N, C, S, S, &o, &r, pr2, w, ws - 1, &err) == SL_E_ARG &&
              one_line(&err),
          "workspace too small");
    CHECK(sl_simulate_predictions(lab, N, 3, S, S, &o, &r, pr2, w, ws, &err) == SL_E_LABEL &&
              one_line(&err),
          "label 3 with 3 classes");
    CHECK(sl_simulate_predictions(lab, 0, C, S, S, &o, &r, pr2, w, ws, &err) == SL_E_SHAPE,
          "n = 0");

    /* A huge blur on a tiny image stays finite. */
    sl_simulate_options wide = {1e30, 4, 0.5};
    int32_t tiny[6] = {0, 1, 2, 3, 0, 1};
    float tp[4 * 6];
    size_t tws = sl_simulate_workspace_size(C, 2, 3);
    void *tw = malloc(tws);
    CHECK(sl_simulate_predictions(tiny, 1, C, 2, 3, &wide, &r, tp, tw, tws, &err) == SL_OK,
          "huge edge");
    int finite = 1;
    for (int i = 0; i < 24; i++)
        if (!isfinite(tp[i])) finite = 0;
    CHECK(finite, "huge edge gives finite probabilities");
    free(tw);
    free(w);
    free(m);
    free(lab);
    free(pr);
    free(pr2);
}

/* The drawing's sine and cosine (src/trig.c) at a few arguments, against correctly rounded
 * values computed to 80 digits (tests/check_trig.py checks thousands more): {x, sin, cos}. */
void sl__sincos(double x, double *s, double *c);
static void test_sincos(void)
{
    static const double cases[][3] = {
        {0x1.1df46a2529d39p-6, 0x1.1df0b2b89dd1ep-6, 0x1.ffec097f5af8ap-1},  /* 1 degree */
        {0x1.0c152382d7365p-1, 0x1.fffffffffffffp-2, 0x1.bb67ae8584cabp-1},  /* 30 */
        {0x1.921fb54442d18p-1, 0x1.6a09e667f3bccp-1, 0x1.6a09e667f3bcdp-1},  /* 45 */
        {0x1.0c152382d7365p+0, 0x1.bb67ae8584caap-1, 0x1.0000000000001p-1},  /* 60 */
        {0x1.8da7e39bae2a3p+0, 0x1.ffec097f5af8ap-1, 0x1.1df0b2b89dd37p-6},  /* 89 */
        {0x1.921fb54442d18p+0, 0x1.0000000000000p+0, 0x1.1a62633145c07p-54}, /* 90 */
        {0x1.8fe3cc6ff87dep+1, 0x1.1df0b2b89dd09p-6, -0x1.ffec097f5af8ap-1}, /* 179 */
        {0x1.921fb54442d17p+1, 0x1.469898cc51702p-51, -0x1.0000000000000p+0}, /* below pi */
        {0x1.56e1fc2f8f359p-997, 0x1.56e1fc2f8f359p-997, 0x1.0000000000000p+0},
        {0x1.0000000000000p+1, 0x1.d18f6ead1b446p-1, -0x1.aa22657537205p-2},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double s, c;
        sl__sincos(cases[i][0], &s, &c);
        CHECK(s == cases[i][1] && c == cases[i][2], "sincos(%a) = %a, %a; want %a, %a",
              cases[i][0], s, c, cases[i][1], cases[i][2]);
    }
}

/* sl_metrics' options on a 1-D case worked by hand: pred [1 1 1 0 2], target [1 9 1 0 0]. */
static void test_metrics_options(void)
{
    const int32_t yp[5] = {1, 1, 1, 0, 2}, yt[5] = {1, 9, 1, 0, 0};
    sl_shape ls = {2, {1, 5}};
    size_t wsz = sl_metrics_workspace_size(&ls, 3);
    void *ws = malloc(wsz);
    double dice[3], iou[3];
    sl_metrics_out mo = {dice, iou, NULL, NULL};
    sl_error err;
    /* Every class, 9 counts for none: class 1 P = {0,1,2}, G = {0,2}: 4/5; class 0 2/3. */
    CHECK(sl_metrics(yp, yt, &ls, 3, NULL, NULL, &mo, ws, wsz, &err) == SL_OK, "metrics");
    CHECK_CLOSE(dice[0], 2.0 / 3, 0, 1e-15, "class 0 dice");
    CHECK_CLOSE(dice[1], 0.8, 0, 1e-15, "class 1 dice");
    CHECK(isnan(dice[2]), "class 2 has no target: NaN");
    /* Pixel 1 ignored, background left out: class 1 is perfect, column 0 is NaN. */
    sl_metrics_opts o = {.include_background = 0, .use_ignore_index = 1, .ignore_index = 9};
    CHECK(sl_metrics(yp, yt, &ls, 3, NULL, &o, &mo, ws, wsz, &err) == SL_OK, "metrics opts");
    CHECK(isnan(dice[0]) && isnan(iou[0]), "background left out");
    CHECK_CLOSE(dice[1], 1.0, 0, 0, "class 1 dice without the ignored pixel");
    CHECK_CLOSE(iou[1], 1.0, 0, 0, "class 1 iou without the ignored pixel");
    /* Ignoring a class inside [0, C): its target is empty; the others lose those pixels. */
    o = (sl_metrics_opts){.include_background = 1, .use_ignore_index = 1, .ignore_index = 0};
    CHECK(sl_metrics(yp, yt, &ls, 3, NULL, &o, &mo, ws, wsz, &err) == SL_OK, "ignore 0");
    CHECK(isnan(dice[0]) && !isnan(dice[1]), "ignored class 0 is undefined");
    CHECK_CLOSE(dice[1], 0.8, 0, 1e-15, "class 1 dice with class 0 ignored");
    /* One class: the background stays, as MONAI keeps it. */
    sl_shape l1 = {2, {1, 5}};
    const int32_t z[5] = {0, 0, 0, 0, 0};
    o = (sl_metrics_opts){0};
    CHECK(sl_metrics(z, z, &l1, 1, NULL, &o, &mo, ws, wsz, &err) == SL_OK && dice[0] == 1.0,
          "one class keeps the background");
    free(ws);
}

int main(void)
{
    test_rng();
    test_draw_known();
    test_draw_invariants();
    test_masks();
    test_drop();
    test_predict();
    test_metrics_options();
    test_sincos();
    return check_finish("test_data");
}
