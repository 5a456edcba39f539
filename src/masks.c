/* The post's data: its genMasks, label maps and one-hot maps, simulated predictions, and
 * dropped annotations. */
#include "internal.h"
#include "segloss_data.h"

#include <math.h>
#include <string.h>

static const double PI = 3.141592653589793; /* np.pi */

/* Without a shape skimage's bounding box is as large as the shape asks; numpy then holds a
 * float64 array of the box (several, in fact), so a box this large has already failed in
 * Python for want of memory. */
static const int64_t MAX_BOX = (int64_t)1 << 31;

/* `img[rr, cc] = 1` in numpy: negative indices count from the end, and an index outside
 * [-size, size) raises IndexError. */
typedef struct {
    uint8_t *img;
    int64_t h, w;
    int64_t bad_r, bad_c;
} wrap_canvas;

static int put_wrapped(void *ctx, int64_t row, int64_t col)
{
    wrap_canvas *cv = ctx;
    if (row < -cv->h || row >= cv->h || col < -cv->w || col >= cv->w) {
        cv->bad_r = row;
        cv->bad_c = col;
        return 1;
    }
    if (row < 0) row += cv->h;
    if (col < 0) col += cv->w;
    cv->img[row * cv->w + col] = 1;
    return 0;
}

static sl_status visit_failed(int rc, const char *what, const wrap_canvas *cv, sl_error *err)
{
    if (rc < 0)
        return sl__fail(err, SL_E_SHAPE,
                        "size %lld x %lld is too extreme for the post's code: the %s's "
                        "bounding box is too large to rasterise",
                        (long long)cv->h, (long long)cv->w, what);
    return sl__fail(err, SL_E_SHAPE,
                    "size %lld x %lld is too extreme for the post's code: the %s covers "
                    "pixel (%lld, %lld), outside the image (IndexError in numpy)",
                    (long long)cv->h, (long long)cv->w, what, (long long)cv->bad_r,
                    (long long)cv->bad_c);
}

sl_status sl_masks_generate(uint8_t *masks, int64_t n, int64_t h, int64_t w, const int *angles,
                            sl_rng *rng, sl_error *err)
{
    if (n < 1 || h < 1 || w < 1)
        return sl__fail(err, SL_E_SHAPE, "N, H and W must be >= 1, got %lld, %lld, %lld",
                        (long long)n, (long long)h, (long long)w);
    if (h > INT64_MAX / w || h * w > INT64_MAX / SL_NOBJ / n)
        return sl__fail(err, SL_E_SHAPE, "%lld x %d x %lld x %lld is too large", (long long)n,
                        SL_NOBJ, (long long)h, (long long)w);
    if (!masks) return sl__fail(err, SL_E_ARG, "the output is NULL");
    if (!angles && !rng) return sl__fail(err, SL_E_ARG, "needs angles or an rng to draw them from");
    if (angles) {
        for (int64_t i = 0; i < n; i++)
            if (angles[i] < 0 || angles[i] > 89)
                return sl__fail(err, SL_E_ARG, "angle %d of image %lld is outside 0..89 degrees",
                                angles[i], (long long)i);
    }
    int64_t p = h * w;
    memset(masks, 0, (size_t)(n * SL_NOBJ * p));

    /* Python 2.7 integer division on positive ints: C's. */
    double er = (double)(h / 4), ec = (double)(w / 4);
    double err_r = (double)(h / 6), err_c = (double)(w / 6);
    int64_t pr = 3 * h / 4, pc = 3 * w / 4, half = h / 6; /* the square uses h for both */
    double prows[4] = {(double)(pr - half), (double)(pr - half), (double)(pr + half),
                       (double)(pr + half)};
    double pcols[4] = {(double)(pc - half), (double)(pc + half), (double)(pc + half),
                       (double)(pc - half)};
    double dr = (double)(2 * h / 4), dc = (double)(2 * w / 4), drad = (double)(h / 6);

    for (int64_t i = 0; i < n; i++) {
        int angle = angles ? angles[i] : (int)sl_rng_randint(rng, 90);
        double rotation = (double)angle * (PI / 180.0); /* np.deg2rad */
        uint8_t *m = masks + i * SL_NOBJ * p;
        wrap_canvas cv = {m, h, w, 0, 0};
        int rc = sl__ellipse_visit(er, ec, err_r, err_c, rotation, NULL, MAX_BOX, put_wrapped, &cv);
        if (rc) return visit_failed(rc, "ellipse", &cv, err);
        cv.img = m + p;
        rc = sl__polygon_visit(prows, pcols, 4, NULL, MAX_BOX, put_wrapped, &cv);
        if (rc) return visit_failed(rc, "square", &cv, err);
        cv.img = m + 2 * p;
        rc = sl__ellipse_visit(dr, dc, drad, drad, 0.0, NULL, MAX_BOX, put_wrapped, &cv);
        if (rc) return visit_failed(rc, "circle", &cv, err);
    }
    return SL_OK;
}

void sl_masks_to_labels(const uint8_t *masks, int64_t n, int64_t nobj, int64_t p, int32_t *labels)
{
    for (int64_t i = 0; i < n; i++) {
        int32_t *lab = labels + i * p;
        for (int64_t j = 0; j < p; j++)
            lab[j] = 0;
        for (int64_t k = 0; k < nobj; k++) {
            const uint8_t *m = masks + (i * nobj + k) * p;
            for (int64_t j = 0; j < p; j++)
                if (m[j]) lab[j] = (int32_t)(k + 1);
        }
    }
}

void sl_labels_to_onehot(const int32_t *labels, int64_t n, int64_t nclass, int64_t p, float *onehot)
{
    for (int64_t i = 0; i < n; i++)
        for (int64_t c = 0; c < nclass; c++) {
            const int32_t *lab = labels + i * p;
            float *o = onehot + (i * nclass + c) * p;
            for (int64_t j = 0; j < p; j++)
                o[j] = lab[j] == c ? 1.0f : 0.0f;
        }
}

void sl_annotated_from_labels(const int32_t *labels, int64_t n, int64_t nclass, int64_t p,
                              uint8_t *annotated)
{
    for (int64_t i = 0; i < n; i++) {
        uint8_t *a = annotated + i * nclass;
        for (int64_t c = 0; c < nclass; c++)
            a[c] = 0;
        if (nclass > 0) a[0] = 1;
        const int32_t *lab = labels + i * p;
        for (int64_t j = 0; j < p; j++)
            if (lab[j] >= 0 && lab[j] < nclass) a[lab[j]] = 1;
    }
}

/* Every label of [n, p] in [0, nclass), or SL_E_LABEL naming the first that is not. */
static sl_status check_labels(const int32_t *labels, int64_t n, int64_t nclass, int64_t p,
                              sl_error *err)
{
    for (int64_t i = 0; i < n * p; i++)
        if (labels[i] < 0 || labels[i] >= nclass)
            return sl__fail(
                err, SL_E_LABEL, "label %d at image %lld, pixel %lld is outside [0, %lld)",
                (int)labels[i], (long long)(i / p), (long long)(i % p), (long long)nclass);
    return SL_OK;
}

void sl_simulate_options_default(sl_simulate_options *o)
{
    o->edge = 1.5;
    o->confidence = 5.0;
    o->noise = 3.5;
}

/* Kept finite: logits stay far from overflow whatever the noise draws. */
static const double MAX_SCALE = 1e6;

/* In doubles: the Gaussian taps (one side, at most max(h, w) of them), a row-blurred map, a
 * blurred map, and the logits of every class of one image. */
size_t sl_simulate_workspace_size(int64_t nclass, int64_t h, int64_t w)
{
    if (nclass < 1 || h < 1 || w < 1) return 0;
    uint64_t lim = (uint64_t)SIZE_MAX / sizeof(double);
    uint64_t uh = (uint64_t)h, uw = (uint64_t)w, uc = (uint64_t)nclass;
    if (uh > lim / uw) return SIZE_MAX;
    uint64_t p = uh * uw;
    if (uc + 2 > lim / p) return SIZE_MAX;
    uint64_t taps = uh > uw ? uh : uw;
    if ((uc + 2) * p > lim - taps) return SIZE_MAX;
    return (size_t)(((uc + 2) * p + taps) * sizeof(double));
}

sl_status sl_simulate_predictions(const int32_t *labels, int64_t n, int64_t nclass, int64_t h,
                                  int64_t w, const sl_simulate_options *o, sl_rng *rng, float *probs,
                                  void *workspace, size_t workspace_size, sl_error *err)
{
    sl_simulate_options def;
    if (!o) {
        sl_simulate_options_default(&def);
        o = &def;
    }
    if (n < 1 || nclass < 1 || h < 1 || w < 1)
        return sl__fail(err, SL_E_SHAPE,
                        "N, C, H and W must be >= 1, got %lld, %lld, %lld, %lld", (long long)n,
                        (long long)nclass, (long long)h, (long long)w);
    if (!isfinite(o->edge) || o->edge < 0)
        return sl__fail(err, SL_E_ARG, "edge %g must be finite and >= 0", o->edge);
    if (!isfinite(o->confidence) || o->confidence <= 0 || o->confidence > MAX_SCALE)
        return sl__fail(err, SL_E_ARG, "confidence %g must be in (0, %g]", o->confidence,
                        MAX_SCALE);
    if (!isfinite(o->noise) || o->noise < 0 || o->noise > MAX_SCALE)
        return sl__fail(err, SL_E_ARG, "noise %g must be in [0, %g]", o->noise, MAX_SCALE);
    if (!labels || !probs) return sl__fail(err, SL_E_ARG, "labels or probs is NULL");
    if (!rng && o->noise > 0) return sl__fail(err, SL_E_ARG, "noise needs an rng");
    size_t need = sl_simulate_workspace_size(nclass, h, w);
    if (need == SIZE_MAX || !workspace || workspace_size < need)
        return sl__fail(err, SL_E_ARG, "workspace of %zu bytes is too small, needs %zu",
                        workspace_size, need);
    if (h > INT64_MAX / w || h * w > INT64_MAX / nclass / n)
        return sl__fail(err, SL_E_SHAPE, "%lld x %lld x %lld x %lld is too large", (long long)n,
                        (long long)nclass, (long long)h, (long long)w);
    int64_t p = h * w;
    sl_status st = check_labels(labels, n, nclass, p, err);
    if (st) return st;

    /* The blur's scratch (taps and a row-blurred map), a blurred map, the logits. */
    double *scratch = workspace;
    double *blur = scratch + sl__blur_scratch(h, w);
    double *logits = blur + p;
    for (int64_t i = 0; i < n; i++) {
        const int32_t *lab = labels + i * p;
        for (int64_t c = 0; c < nclass; c++) {
            for (int64_t j = 0; j < p; j++)
                blur[j] = lab[j] == c ? 1.0 : 0.0;
            sl__blur(blur, h, w, o->edge, scratch);
            double *l = logits + c * p;
            for (int64_t j = 0; j < p; j++) {
                l[j] = o->confidence * (2.0 * blur[j] - 1.0);
                if (o->noise > 0) l[j] += o->noise * sl_rng_normal(rng);
            }
        }
        float *out = probs + i * nclass * p;
        for (int64_t j = 0; j < p; j++) {
            sl__softmax(logits + j, nclass, p, 0);
            for (int64_t c = 0; c < nclass; c++)
                out[c * p + j] = (float)logits[c * p + j];
        }
    }
    return SL_OK;
}

/* Does image lab (p pixels) hold class c? */
static int class_present(const int32_t *lab, int64_t p, int64_t c)
{
    for (int64_t j = 0; j < p; j++)
        if (lab[j] == c) return 1;
    return 0;
}

sl_status sl_drop_annotations(int32_t *labels, int64_t n, int64_t nclass, int64_t p, int64_t k,
                              sl_rng *rng, int64_t *dropped, sl_error *err)
{
    if (n < 1 || nclass < 1 || p < 1)
        return sl__fail(err, SL_E_SHAPE, "N, C and P must be >= 1, got %lld, %lld, %lld",
                        (long long)n, (long long)nclass, (long long)p);
    if (p > INT64_MAX / n)
        return sl__fail(err, SL_E_SHAPE, "%lld x %lld labels is too large", (long long)n,
                        (long long)p);
    if (!labels) return sl__fail(err, SL_E_ARG, "labels is NULL");
    sl_status st = check_labels(labels, n, nclass, p, err);
    if (st) return st;
    int64_t present = 0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t c = 1; c < nclass; c++)
            present += class_present(labels + i * p, p, c);
    if (k < 0 || k > present)
        return sl__fail(err, SL_E_ARG, "cannot drop %lld annotations: %lld objects are present",
                        (long long)k, (long long)present);
    if (k > 0 && !rng) return sl__fail(err, SL_E_ARG, "needs an rng");

    /* Selection sampling (Knuth's algorithm S): walking the pairs in order, take each with
     * probability (still needed) / (still left). Every k-subset is equally likely, and no
     * list of the pairs has to be stored. */
    int64_t seen = 0, taken = 0;
    for (int64_t i = 0; i < n && taken < k; i++) {
        int32_t *lab = labels + i * p;
        for (int64_t c = 1; c < nclass && taken < k; c++) {
            if (!class_present(lab, p, c)) continue;
            if (sl_rng_randint(rng, present - seen) < k - taken) {
                for (int64_t j = 0; j < p; j++)
                    if (lab[j] == c) lab[j] = 0;
                if (dropped) {
                    dropped[2 * taken] = i;
                    dropped[2 * taken + 1] = c;
                }
                taken++;
            }
            seen++;
        }
    }
    return SL_OK;
}
