/* The exact distance transforms of src/edt.c against brute force: random masks in 1-D, 2-D and
 * 3-D, with and without spacing, sparse and dense feature sets, no feature at all; the
 * two-sided transform the losses use; and a few values by hand. */
#include "check.h"
#include "edt.h"
#include "segloss_data.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static sl_rng rng;

/* Brute force: squared distance from every point to the nearest point with feat != 0. */
static void brute(const uint8_t *feat, const sl__grid *g, double *out)
{
    int64_t n = sl__grid_numel(g);
    int64_t st[3] = {1, 1, 1};
    for (int a = g->nd - 2; a >= 0; a--) st[a] = st[a + 1] * g->dim[a + 1];
    for (int64_t i = 0; i < n; i++) {
        double best = INFINITY;
        for (int64_t j = 0; j < n; j++) {
            if (!feat[j]) continue;
            double s = 0;
            for (int a = 0; a < g->nd; a++) {
                int64_t ci = (i / st[a]) % g->dim[a], cj = (j / st[a]) % g->dim[a];
                double d = g->spacing[a] * (double)(ci - cj);
                s += d * d;
            }
            if (s < best) best = s;
        }
        out[i] = best;
    }
}

static int same(double a, double b)
{
    if (isinf(a) || isinf(b)) return a == b;
    return fabs(a - b) <= 1e-12 * (1 + fabs(b));
}

static void one_case(int nd, const int64_t *dim, const double *spacing, double density)
{
    sl__grid g;
    sl__grid_make(&g, nd, dim, spacing);
    int64_t n = sl__grid_numel(&g);
    uint8_t *feat = calloc((size_t)n, 1);
    double *want = malloc((size_t)n * sizeof(double));
    double *fast = malloc((size_t)n * sizeof(double));
    double *ref = malloc((size_t)n * sizeof(double));
    double *two = malloc((size_t)n * sizeof(double));
    double *buf = malloc((size_t)n * sizeof(double));
    void *scratch = malloc(sl__edt_scratch_size(&g));
    double *line = malloc(64 * sizeof(double));
    for (int64_t i = 0; i < n; i++) feat[i] = sl_rng_uniform(&rng) < density;
    brute(feat, &g, want);
    for (int64_t i = 0; i < n; i++) fast[i] = ref[i] = feat[i] ? 0.0 : INFINITY;
    sl__edt_sq(fast, &g, scratch);
    sl__edt_sq_ref(ref, &g, line);
    int badf = 0, badr = 0;
    for (int64_t i = 0; i < n; i++) {
        badf += !same(fast[i], want[i]);
        badr += !same(ref[i], want[i]);
    }
    char what[128];
    snprintf(what, sizeof what, "nd=%d dims=%lld,%lld,%lld spacing=%s density=%g", nd,
             (long long)dim[0], nd > 1 ? (long long)dim[1] : 0LL,
             nd > 2 ? (long long)dim[2] : 0LL, spacing ? "yes" : "no", density);
    CHECK(badf == 0, "fast EDT differs from brute force at %d points (%s)", badf, what);
    CHECK(badr == 0, "reference EDT differs from brute force at %d points (%s)", badr, what);

    /* The two-sided transform: EDT(mask) inside, EDT(!mask) outside, as scipy. Here the mask
     * is the complement of feat, so outside the mask is where feat is set. */
    uint8_t *mask = malloc((size_t)n);
    int64_t in = 0;
    for (int64_t i = 0; i < n; i++) in += mask[i] = (uint8_t)!feat[i];
    int r = sl__edt_two_sided(mask, &g, two, buf, scratch);
    if (in == 0 || in == n) {
        int zeros = 1;
        for (int64_t i = 0; i < n; i++) zeros &= two[i] == 0.0;
        CHECK(r == (in == 0 ? 0 : 2) && zeros, "two-sided, empty or full mask (%s)", what);
    } else {
        double *inv = malloc((size_t)n * sizeof(double));
        brute(mask, &g, inv); /* squared distance to the mask, for points outside */
        int bad = 0;
        for (int64_t i = 0; i < n; i++) {
            double w = mask[i] ? sqrt(want[i]) : sqrt(inv[i]);
            bad += !same(two[i], w);
        }
        CHECK(r == 1 && bad == 0, "two-sided transform differs at %d points (%s)", bad, what);
        free(inv);
    }
    free(mask);
    free(feat);
    free(want);
    free(fast);
    free(ref);
    free(two);
    free(buf);
    free(scratch);
    free(line);
}

static void test_random(void)
{
    static const double dens[] = {0.0, 0.02, 0.1, 0.5, 0.9, 1.0};
    for (int rep = 0; rep < 12; rep++) {
        for (int nd = 1; nd <= 3; nd++) {
            int64_t dim[3];
            double sp[3];
            for (int a = 0; a < nd; a++) {
                int64_t hi = nd == 1 ? 40 : nd == 2 ? 17 : 8;
                dim[a] = 1 + sl_rng_randint(&rng, hi);
                sp[a] = 0.3 + 2.5 * sl_rng_uniform(&rng);
            }
            for (size_t k = 0; k < sizeof dens / sizeof dens[0]; k++) {
                one_case(nd, dim, NULL, dens[k]);
                one_case(nd, dim, sp, dens[k]);
            }
        }
    }
    /* Integer spacings give exact ties between parabolas. */
    int64_t dim[3] = {9, 7, 6};
    double sp[3] = {2, 1, 3};
    for (int k = 0; k < 6; k++) one_case(3, dim, sp, 0.05 + 0.1 * k);
}

static void test_hand(void)
{
    /* 1-D: features at 2 and 6 of 9 points. */
    int64_t d9 = 9;
    sl__grid g;
    sl__grid_make(&g, 1, &d9, NULL);
    double d[9];
    for (int i = 0; i < 9; i++) d[i] = (i == 2 || i == 6) ? 0.0 : INFINITY;
    unsigned char scratch[2048];
    CHECK(sl__edt_scratch_size(&g) <= sizeof scratch, "scratch size");
    sl__edt_sq(d, &g, scratch);
    static const double w9[9] = {4, 1, 0, 1, 4, 1, 0, 1, 4};
    int ok = 1;
    for (int i = 0; i < 9; i++) ok &= d[i] == w9[i];
    CHECK(ok, "1-D hand case");

    /* 2-D 3x4 with spacing (2, 1), feature at (0, 0): d = (2r)^2 + c^2. */
    int64_t d34[2] = {3, 4};
    double sp[2] = {2, 1};
    sl__grid_make(&g, 2, d34, sp);
    double e[12];
    for (int i = 0; i < 12; i++) e[i] = i ? INFINITY : 0.0;
    sl__edt_sq(e, &g, scratch);
    ok = 1;
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 4; c++) ok &= e[r * 4 + c] == 4.0 * r * r + c * c;
    CHECK(ok, "2-D hand case with spacing");

    /* scipy: distance_transform_edt([[0,1,1,1],[0,1,1,1],[1,1,1,1]]) */
    uint8_t m[12] = {0, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1};
    double out[12], buf[12];
    sl__grid_make(&g, 2, d34, NULL);
    CHECK(sl__edt_two_sided(m, &g, out, buf, scratch) == 1, "two-sided runs");
    static const double s12[12] = {0, 1, 2, 3, 0, 1, 2, 3, 1, 1.4142135623730951,
                                   2.23606797749979, 3.1622776601683795};
    /* Outside points (0 and 4) measure to the mask: 1 each. */
    ok = 1;
    for (int i = 0; i < 12; i++)
        ok &= (i == 0 || i == 4) ? out[i] == 1.0 : fabs(out[i] - s12[i]) < 1e-15;
    CHECK(ok, "two-sided hand case: inside EDT(mask), outside EDT(!mask)");
}

/* The public sl_edt: scipy's semantics (distance to the nearest 0 of the mask), and its errors. */
static void test_public(void)
{
    const int64_t dim[2] = {9, 7};
    const double spacing[2] = {1.5, 0.5};
    uint8_t mask[63], feat[63];
    double got[63], want[63];
    for (int i = 0; i < 63; i++) {
        mask[i] = sl_rng_uniform(&rng) < 0.8;
        feat[i] = !mask[i];
    }
    size_t wsz = sl_edt_workspace_size(2, dim);
    void *ws = malloc(wsz);
    sl_error err;
    CHECK(sl_edt(mask, 2, dim, spacing, got, ws, wsz, &err) == SL_OK, "sl_edt runs");
    sl__grid g;
    sl__grid_make(&g, 2, dim, spacing);
    brute(feat, &g, want);
    int good = 1;
    for (int i = 0; i < 63; i++) good &= same(got[i] * got[i], want[i]) && (mask[i] || got[i] == 0);
    CHECK(good, "sl_edt: distances to the nearest 0 of the mask, with spacing");
    memset(mask, 1, sizeof mask);
    CHECK(sl_edt(mask, 2, dim, NULL, got, ws, wsz, &err) == SL_OK && isinf(got[0]) && isinf(got[62]),
          "sl_edt: no 0 in the mask gives infinite distances");
    const double bad_spacing[2] = {1.0, 0.0};
    CHECK(sl_edt(mask, 2, dim, bad_spacing, got, ws, wsz, &err) == SL_E_ARG, "spacing 0");
    CHECK(sl_edt(mask, 4, dim, NULL, got, ws, wsz, &err) == SL_E_SHAPE, "4 axes");
    CHECK(sl_edt(mask, 2, dim, NULL, got, ws, 1, &err) == SL_E_ARG, "small workspace");
    free(ws);
}

/* Counts the lines a transform hands to its consumer. */
static void count_line(void *ctx, int64_t l, int64_t base, int64_t n, const double *d)
{
    int *seen = ctx;
    (void)base;
    (void)n;
    (void)d;
    seen[l]++; /* each line has its own slot: no race */
}

/* The threaded transforms: the same bits for 1, 2 and 4 threads, each line of the last axis
 * handed to the consumer exactly once, and the two-sided transform equal to the one-thread one
 * (which the brute force above checks). */
static void test_threads(void)
{
    static const int64_t dims[][3] = {{300, 257, 1}, {40, 37, 33}};
    static const double dens[] = {0.002, 0.3, 0.5, 0.97};
    for (int k = 0; k < 2; k++) {
        int nd = k == 0 ? 2 : 3;
        sl__grid g;
        sl__grid_make(&g, nd, dims[k], NULL);
        int64_t n = sl__grid_numel(&g), lines = n / dims[k][nd - 1];
        uint8_t *mask = malloc((size_t)n);
        double *first = malloc((size_t)n * sizeof(double)), *d = malloc((size_t)n * sizeof(double));
        double *one = malloc((size_t)n * sizeof(double));
        int *seen = malloc((size_t)lines * sizeof(int));
        void *scratch = malloc(sl__edt_scratch_size_t(&g, 4));
        for (size_t di = 0; di < sizeof dens / sizeof dens[0]; di++) {
            for (int64_t i = 0; i < n; i++) mask[i] = sl_rng_uniform(&rng) < dens[di];
            for (int th = 1; th <= 4; th *= 2) {
                memset(seen, 0, (size_t)lines * sizeof(int));
                int r = sl__edt_two_sided_sq_t(mask, &g, d, scratch, th, count_line, seen);
                int once = 1;
                for (int64_t l = 0; l < lines; l++) once &= seen[l] == (r == 1);
                CHECK(once, "nd=%d density %g, %d threads: every line once", nd, dens[di], th);
                if (th == 1) {
                    memcpy(first, d, (size_t)n * sizeof(double));
                    sl__edt_two_sided(mask, &g, one, NULL, scratch);
                    int bad = 0;
                    for (int64_t i = 0; i < n; i++) bad += !same(sqrt(d[i]), one[i]);
                    CHECK(bad == 0, "nd=%d density %g: threaded two-sided = one-thread at all but "
                          "%d points", nd, dens[di], bad);
                } else {
                    CHECK(memcmp(first, d, (size_t)n * sizeof(double)) == 0,
                          "nd=%d density %g: two-sided, %d threads, same bits as 1", nd,
                          dens[di], th);
                }
                for (int64_t i = 0; i < n; i++) d[i] = mask[i] ? INFINITY : 0.0;
                sl__edt_sq_t(d, &g, scratch, th);
                if (th == 1)
                    memcpy(one, d, (size_t)n * sizeof(double));
                else
                    CHECK(memcmp(one, d, (size_t)n * sizeof(double)) == 0,
                          "nd=%d density %g: one-sided, %d threads, same bits as 1", nd,
                          dens[di], th);
            }
        }
        free(mask);
        free(first);
        free(d);
        free(one);
        free(seen);
        free(scratch);
    }
}

int main(void)
{
    sl_rng_seed(&rng, 4321);
    test_hand();
    test_random();
    test_public();
    test_threads();
    return check_finish("test_edt");
}
