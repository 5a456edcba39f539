/* The kernel layer: our vector exp/log/log1p/expm1 against libm in double on every ISA path the
 * CPU has, and every registered loss giving the same bits for any thread count and any ISA
 * path (values, maps and gradients), on sizes with several chunks and ragged tails. */
#include "check.h"
#include "internal.h"
#include "segloss_data.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const isas[] = {"scalar", "avx2", "avx512"};

/* Relative error in units of float epsilon. */
static double ulps(double got, double want)
{
    if (got == want) return 0.0;
    return fabs(got - want) / (fabs(want) * 0x1p-23 + 1e-45);
}

static void test_math(void)
{
    enum { NX = 20000 };
    static float x[NX], y[NX], first[4][NX];
    static const struct {
        const char *name;
        double lo, hi;
        double (*ref)(double);
    } fns[4] = {{"exp", -87.0, 88.0, exp},
                {"log", -40.0, 38.0, NULL},
                {"log1p", 0.0, 1.0, log1p},
                {"expm1", -20.0, 0.0, expm1}};
    int have_first = 0;
    for (size_t k = 0; k < sizeof isas / sizeof isas[0]; k++) {
        const sl__kern *kern = sl__kern_named(isas[k]);
        if (!kern) {
            printf("  (%s: not on this CPU)\n", isas[k]);
            continue;
        }
        for (int f = 0; f < 4; f++) {
            for (int i = 0; i < NX; i++) {
                double t = fns[f].lo + (fns[f].hi - fns[f].lo) * i / (NX - 1.0);
                x[i] = (float)(f == 1 ? pow(10.0, t) : t); /* log: 1e-40 (subnormal) to 1e38 */
            }
            x[0] = f == 1 ? 1.0f : x[0];
            kern->math(f, x, y, NX);
            double worst = 0.0;
            for (int i = 0; i < NX; i++) {
                double want = f == 1 ? log((double)x[i]) : fns[f].ref((double)x[i]);
                double e = (f == 0 || f == 3) ? ulps(y[i], want)
                                              : fabs(y[i] - want) / 0x1p-23 /
                                                    fmax(fabs(want), f == 1 ? 1.0 : 1e-30);
                if (f == 3 && fabs(want) < 1e-30) e = 0;
                if (e > worst) worst = e;
            }
            CHECK(worst <= 3.0, "%s %s: worst error %.2f ulp", isas[k], fns[f].name, worst);
            if (!have_first) memcpy(first[f], y, sizeof y);
            else
                CHECK(memcmp(first[f], y, sizeof y) == 0, "%s %s: same bits as the first path",
                      isas[k], fns[f].name);
        }
        have_first = 1;
        float z = 0.0f, lz;
        kern->math(1, &z, &lz, 1);
        CHECK(isinf(lz) && lz < 0, "%s: log 0 = -Inf", isas[k]);
    }
}

typedef struct {
    sl_batch b;
    float *x, *t;
    int32_t *y;
} prob;

static void make(prob *p, int64_t N, int64_t C, int64_t H, int64_t W, sl_input_kind ik,
                 sl_target_kind tk, uint32_t seed)
{
    sl_rng r;
    sl_rng_seed(&r, seed);
    memset(p, 0, sizeof *p);
    int64_t P = H * W, numel = N * C * P;
    p->x = malloc((size_t)numel * sizeof(float));
    p->t = malloc((size_t)numel * sizeof(float));
    p->y = malloc((size_t)(N * P) * sizeof(int32_t));
    for (int64_t i = 0; i < numel; i++)
        p->x[i] = (float)(ik == SL_INPUT_LOGITS ? 3.0 * sl_rng_normal(&r)
                                                : 0.02 + sl_rng_uniform(&r));
    for (int64_t n = 0; n < N; n++)
        for (int64_t i = 0; i < P; i++) {
            int32_t y = (int32_t)sl_rng_randint(&r, C);
            p->y[n * P + i] = sl_rng_uniform(&r) < 0.05 ? 255 : y;
            double s = 0;
            for (int64_t c = 0; c < C; c++) {
                double v = sl_rng_uniform(&r);
                p->t[(n * C + c) * P + i] = (float)v;
                s += v;
            }
            for (int64_t c = 0; c < C; c++) p->t[(n * C + c) * P + i] /= (float)s;
        }
    if (ik == SL_INPUT_PROBS) /* each pixel's probabilities sum to 1 */
        for (int64_t n = 0; n < N; n++)
            for (int64_t i = 0; i < P; i++) {
                double s = 0;
                for (int64_t c = 0; c < C; c++) s += p->x[(n * C + c) * P + i];
                for (int64_t c = 0; c < C; c++) p->x[(n * C + c) * P + i] /= (float)s;
            }
    p->b.shape.ndim = 4;
    p->b.shape.dim[0] = N;
    p->b.shape.dim[1] = C;
    p->b.shape.dim[2] = H;
    p->b.shape.dim[3] = W;
    p->b.input = p->x;
    p->b.input_kind = ik;
    p->b.target_kind = tk;
    p->b.labels = p->y;
    p->b.target = p->t;
}

static void unmake(prob *p)
{
    free(p->x);
    free(p->t);
    free(p->y);
}

typedef struct {
    double loss;
    float *g, *m;
} result;

static int quiet; /* failures expected */

static int eval(const char *spec_text, const prob *p, int threads, result *r)
{
    sl_spec *s;
    sl_error err;
    r->g = r->m = NULL;
    if (sl_spec_parse(spec_text, &s, &err) != SL_OK) return -1;
    /* a map when the terms have one in common */
    sl_shape ms = {1, {0}};
    int with_map = sl_spec_map_shape(s, &p->b, &ms, &err) == SL_OK;
    if (!with_map) ms.dim[0] = 0;
    int64_t numel = sl_shape_numel(&p->b.shape);
    r->g = malloc((size_t)numel * sizeof(float));
    r->m = malloc((size_t)sl_shape_numel(&ms) * sizeof(float) + 4);
    size_t wsz = sl_spec_workspace_size(s, &p->b);
    void *ws = malloc(wsz + 1);
    sl_output out = {0, r->g, with_map ? r->m : NULL, ws, wsz, threads};
    sl_status st = sl_spec_eval(s, &p->b, SL_IMPL_FAST, &out, &err);
    if (st != SL_OK && !quiet) fprintf(stderr, "  %s: %s\n", spec_text, err.msg);
    r->loss = out.loss;
    free(ws);
    sl_spec_free(s);
    return st == SL_OK ? (int)sl_shape_numel(&ms) : -1;
}

static void same_bits(const char *spec, const prob *p)
{
    int64_t numel = sl_shape_numel(&p->b.shape);
    result first = {0, NULL, NULL};
    int nm = -1, have = 0;
    for (size_t k = 0; k < sizeof isas / sizeof isas[0]; k++) {
        if (!sl__kern_named(isas[k])) continue;
        setenv("SEGLOSS_ISA", isas[k], 1);
        for (int th = 1; th <= 3; th++) {
            result r;
            int m = eval(spec, p, th, &r);
            CHECK(m >= 0, "%s runs (%s, %d threads)", spec, isas[k], th);
            if (m < 0) {
                free(r.g);
                free(r.m);
                continue;
            }
            if (!have) {
                first = r;
                nm = m;
                have = 1;
                continue;
            }
            int same = memcmp(&r.loss, &first.loss, sizeof r.loss) == 0 &&
                       memcmp(r.g, first.g, (size_t)numel * sizeof(float)) == 0 &&
                       memcmp(r.m, first.m, (size_t)nm * sizeof(float)) == 0;
            CHECK(same, "%s: %s with %d threads gives other bits (loss %.17g vs %.17g)", spec,
                  isas[k], th, r.loss, first.loss);
            free(r.g);
            free(r.m);
        }
    }
    unsetenv("SEGLOSS_ISA");
    free(first.g);
    free(first.m);
}

static void test_same_bits(void)
{
    static const char *const label_specs[] = {
        "ce(ignore_index=255)", "ce(weight=[0.5,1,2,1,0.7],ignore_index=255,label_smoothing=0.1)",
        "ce(weight=[0.5,1,2,1,0.7],ignore_index=255)",
        "ce(reduction=sum,ignore_index=255)", "focal(ignore_index=255)",
        "focal(gamma=0.5,alpha=[1,2,1,1,0.5],ignore_index=255)",
        "missing_ce(ignore_index=255)", "missing_ce(denominator=valid,ignore_index=255)",
        "marginal_ce(ignore_index=255)", "bce(ignore_index=255)",
        "sigmoid_focal(ignore_index=255)", "dice(ignore_index=255)",
        "dice(squared=true,batch=true,ignore_index=255)", "tversky(ignore_index=255)",
        "generalized_dice(ignore_index=255)", "log_cosh_dice(ignore_index=255)",
        "lovasz(ignore_index=255)", "lovasz(per_image=true,ignore_index=255)",
        "dice(sigmoid=true,ignore_index=255)", "tversky(sigmoid=true,ignore_index=255)",
        "generalized_dice(sigmoid=true,batch=true,ignore_index=255)",
        "lovasz_hinge(ignore_index=255)", "lovasz_hinge(per_image=false,ignore_index=255)",
        "asymmetric_unified_focal(ignore_index=255)",
        "0.5*ce(ignore_index=255) + 2*dice(ignore_index=255)",
        "dice(ignore_index=255) + ce(ignore_index=255) + 0.3*focal(ignore_index=255)",
    };
    /* one chunk with a ragged tail; several chunks with a ragged tail; enough pixels for three
     * threads (SL_MIN_PIXELS each), with the class count the kernels unroll */
    static const int64_t sizes[][4] = {{2, 5, 37, 29}, {2, 5, 91, 97}, {3, 5, 128, 131}};
    for (int s = 0; s < 3; s++) {
        prob p;
        make(&p, sizes[s][0], sizes[s][1], sizes[s][2], sizes[s][3], SL_INPUT_LOGITS,
             SL_TARGET_LABELS, 7u + (uint32_t)s);
        for (size_t i = 0; i < sizeof label_specs / sizeof label_specs[0]; i++)
            same_bits(label_specs[i], &p);
        for (int64_t i = 0; i < sizes[s][0] * sizes[s][2] * sizes[s][3]; i++)
            if (p.y[i] == 255) p.y[i] = 0;
        same_bits("boundary", &p);
        same_bits("hausdorff_dt", &p);
        same_bits("log_hausdorff_dt", &p);
        same_bits("marginal_dice + exclusion", &p);
        p.b.target_kind = SL_TARGET_PROBS;
        same_bits("ce(label_smoothing=0.2) + focal + missing_ce + marginal_ce", &p);
        same_bits("bce + sigmoid_focal + dice", &p);
        same_bits("dice(sigmoid=true,squared=true) + focal_tversky(sigmoid=true)", &p);
        same_bits("dice(soft_label=true) + tversky(soft_label=true,sigmoid=true)", &p);
        /* ignore_index with a per-class target: pixels whose target's largest channel is 2 */
        same_bits("ce(ignore_index=2) + dice(ignore_index=2) + tversky(ignore_index=2)", &p);
        same_bits("generalized_dice(ignore_index=2,batch=true) + log_cosh_dice(ignore_index=2) + "
                  "focal_tversky(ignore_index=2)",
                  &p);
        unmake(&p);
        /* binary: one channel, a {0, 1} label map */
        make(&p, sizes[s][0], 1, sizes[s][2], sizes[s][3], SL_INPUT_LOGITS, SL_TARGET_LABELS,
             13u + (uint32_t)s);
        for (int64_t i = 0; i < sizes[s][0] * sizes[s][2] * sizes[s][3]; i++)
            if (p.y[i] != 255) p.y[i] = (int32_t)(i % 3 == 0);
        same_bits("bce(ignore_index=255) + sigmoid_focal(ignore_index=255)", &p);
        same_bits("dice(sigmoid=true,ignore_index=255) + tversky(sigmoid=true,ignore_index=255)",
                  &p);
        same_bits("generalized_dice(sigmoid=true,ignore_index=255)", &p);
        same_bits("lovasz_hinge(ignore_index=255)", &p);
        unmake(&p);
        make(&p, sizes[s][0], sizes[s][1], sizes[s][2], sizes[s][3], SL_INPUT_PROBS,
             SL_TARGET_LABELS, 11u + (uint32_t)s);
        same_bits("ce(ignore_index=255) + focal(ignore_index=255) + dice(ignore_index=255)", &p);
        same_bits("missing_ce(ignore_index=255) + marginal_ce(ignore_index=255)", &p);
        unmake(&p);
    }
    /* class counts the kernels unroll (4) and do not (7), on three threads' worth of pixels */
    for (int64_t C = 4; C <= 7; C += 3) {
        prob p;
        make(&p, 3, C, 128, 131, SL_INPUT_LOGITS, SL_TARGET_LABELS, 17u + (uint32_t)C);
        same_bits("ce(ignore_index=255) + 0.5*focal(ignore_index=255) + dice(ignore_index=255)",
                  &p);
        same_bits("missing_ce(ignore_index=255) + marginal_ce(ignore_index=255)", &p);
        same_bits("bce(ignore_index=255) + generalized_dice(ignore_index=255)", &p);
        unmake(&p);
    }
}

/* Bad input met inside a kernel gives the full check's message, on every path. */
static void test_kernel_refusals(void)
{
    prob p;
    make(&p, 2, 5, 37, 29, SL_INPUT_LOGITS, SL_TARGET_LABELS, 3);
    static const char *const specs[] = {"ce", "focal", "missing_ce", "marginal_ce",
                                        "bce", "sigmoid_focal", "dice", "generalized_dice"};
    quiet = 1;
    for (size_t k = 0; k < sizeof isas / sizeof isas[0]; k++) {
        if (!sl__kern_named(isas[k])) continue;
        setenv("SEGLOSS_ISA", isas[k], 1);
        for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
            result r;
            for (int64_t j = 0; j < 2 * 37 * 29; j++)
                if (p.y[j] == 255) p.y[j] = 1;
            p.x[2 * 5 * 37 * 29 - 3] = NAN; /* in the ragged tail */
            CHECK(eval(specs[i], &p, 2, &r) < 0, "%s %s: NaN in the tail is refused", isas[k],
                  specs[i]);
            free(r.g);
            free(r.m);
            p.x[2 * 5 * 37 * 29 - 3] = 0.5f;
            p.y[400] = 9;
            CHECK(eval(specs[i], &p, 2, &r) < 0, "%s %s: label 9 of 5 classes is refused",
                  isas[k], specs[i]);
            free(r.g);
            free(r.m);
            p.y[400] = 0;
        }
    }
    quiet = 0;
    unsetenv("SEGLOSS_ISA");
    unmake(&p);
}

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct {
    double e;
    int64_t j;
} item16;

static int cmp_item(const void *a, const void *b)
{
    const item16 *x = a, *y = b;
    if (x->e != y->e) return x->e > y->e ? -1 : 1;
    return (x->j > y->j) - (x->j < y->j);
}

/* sl__sort, the library's in-place sort (qsort's contract without qsort's buffer): every
 * length up to 300 and a large one, with ties, for 8- and 16-byte items, against the order
 * checked pair by pair and the multiset (sum) kept. */
static void test_sort(void)
{
    static double v[5000];
    static item16 it[5000];
    sl_rng r;
    sl_rng_seed(&r, 7);
    int bad = 0;
    for (int64_t n = 0; n <= 5000; n += n < 300 ? 1 : 4700) {
        double sum = 0.0, after = 0.0;
        for (int64_t i = 0; i < n; i++) {
            v[i] = (double)sl_rng_randint(&r, 50) / 4.0; /* many ties */
            sum += v[i];
            it[i].e = v[i];
            it[i].j = n - i;
        }
        sl__sort(v, (size_t)n, sizeof *v, cmp_dbl);
        sl__sort(it, (size_t)n, sizeof *it, cmp_item);
        for (int64_t i = 0; i < n; i++) after += v[i];
        for (int64_t i = 1; i < n; i++)
            bad += v[i - 1] > v[i] || cmp_item(&it[i - 1], &it[i]) >= 0;
        bad += after != sum;
    }
    CHECK(bad == 0, "sl__sort: %d items out of order or lost", bad);
}

int main(void)
{
    printf("  kernels on this CPU: %s (default)\n", sl_isa());
    test_math();
    test_same_bits();
    test_kernel_refusals();
    test_sort();
    return check_finish("test_kernels");
}
