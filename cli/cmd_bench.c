/* segloss bench: value + gradient of each loss against the memory floor, in one run, beside its
 * correctness check (the largest difference from the double-precision reference). */
#include "cli.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static const char bench_usage[] =
    "usage: segloss bench [--loss 'SPEC1;SPEC2;...'] [--size N,C,H,W | N,C,D,H,W]\n"
    "                     [--threads T1,T2,...] [--reps R] [--json]\n"
    "\n"
    "Times value + gradient of each loss spec (median of R repetitions after a warm-up) and, in\n"
    "the same run on the same buffers, interleaved, the floor: a kernel that moves the bytes a\n"
    "fused cross-entropy moves (reads the logits and labels, writes a gradient) with no maths.\n"
    "Beside each timing: the ISA path, the largest difference of the loss and the gradient from\n"
    "the double-precision reference, and whether the result has the same bits as on 1 thread.\n"
    "Inputs: logits ~ N(0, 2^2) and uniform labels from a fixed seed; 5% of the labels are the\n"
    "spec's ignore_index when it sets one.\n"
    "\n"
    "  --loss SPECS      ';'-separated specs (default: the cross-entropy family, the sigmoid "
    "pair,\n"
    "                    dice, tversky, generalized_dice, lovasz, boundary, hausdorff_dt)\n"
    "  --size SIZE       N,C,H,W or N,C,D,H,W (default 8,4,512,512)\n"
    "  --threads LIST    thread counts (default 1,2)\n"
    "  --reps R          timed repetitions (default 15)\n"
    "  --json            one JSON object per line\n";

static double now_ms(void)
{
    return cli_now() * 1e3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* The default list; ce's weights cycle 0.5, 1, 2, 1 over the classes. */
static int default_specs(int64_t C, char *buf, size_t len)
{
    static const double cyc[4] = {0.5, 1, 2, 1};
    size_t o = (size_t)snprintf(buf, len, "ce(weight=[");
    for (int64_t c = 0; c < C && o < len; c++)
        o += (size_t)snprintf(buf + o, len - o, c ? ",%g" : "%g", cyc[c % 4]);
    if (o >= len) return -1;
    o += (size_t)snprintf(buf + o, len - o,
                          "],ignore_index=255);missing_ce;marginal_ce;focal;bce;dice;tversky;"
                          "generalized_dice;lovasz;boundary;hausdorff_dt");
    return o < len ? 0 : -1;
}

typedef struct {
    sl_batch b;
    float *x, *grad, *gref, *g1;
    int32_t *y, *yign;
    int64_t numel, np;
} bench_data;

static void data_free(bench_data *d)
{
    free(d->x);
    free(d->grad);
    free(d->gref);
    free(d->g1);
    free(d->y);
    free(d->yign);
}

static int data_make(bench_data *d, const sl_shape *s)
{
    memset(d, 0, sizeof *d);
    d->numel = sl_shape_numel(s);
    d->np = d->numel / s->dim[1];
    size_t fe = (size_t)d->numel * sizeof(float), ye = (size_t)d->np * sizeof(int32_t);
    d->x = malloc(fe);
    d->grad = malloc(fe);
    d->gref = malloc(fe);
    d->g1 = malloc(fe);
    d->y = malloc(ye);
    d->yign = malloc(ye);
    if (!d->x || !d->grad || !d->gref || !d->g1 || !d->y || !d->yign) return -1;
    sl_rng r;
    sl_rng_seed(&r, 2026);
    for (int64_t i = 0; i < d->numel; i++)
        d->x[i] = (float)(2.0 * sl_rng_normal(&r));
    for (int64_t i = 0; i < d->np; i++) {
        d->y[i] = (int32_t)sl_rng_randint(&r, s->dim[1]);
        d->yign[i] = sl_rng_uniform(&r) < 0.05 ? -1 : d->y[i];
    }
    /* pre-fault every output page before anything is timed */
    memset(d->grad, 0, fe);
    memset(d->gref, 0, fe);
    memset(d->g1, 0, fe);
    d->b.shape = *s;
    d->b.input = d->x;
    d->b.input_kind = SL_INPUT_LOGITS;
    d->b.target_kind = SL_TARGET_LABELS;
    d->b.labels = d->y;
    return 0;
}

/* The labels a spec sees: with an ignore_index of its own, 5% of the pixels carry it. */
static void pick_labels(bench_data *d, const sl_spec *spec)
{
    int64_t ign = -100;
    for (int i = 0; i < sl_spec_nterms(spec); i++) {
        double k;
        const sl_loss_info *l;
        const sl_options *o;
        sl_spec_term(spec, i, &k, &l, &o);
        if (sl_loss_param_find(l, "ignore_index") >= 0 && o->ignore_index >= 0 &&
            o->ignore_index <= INT32_MAX)
            ign = o->ignore_index;
    }
    d->b.labels = d->y;
    if (ign < 0) return;
    for (int64_t i = 0; i < d->np; i++)
        d->yign[i] = d->yign[i] < 0 || d->yign[i] == ign ? (int32_t)ign : d->y[i];
    d->b.labels = d->yign;
}

static void size_str(const sl_shape *s, char *buf, size_t len)
{
    size_t o = 0;
    for (int i = 0; i < s->ndim && o < len; i++)
        o += (size_t)snprintf(buf + o, len - o, i ? ",%lld" : "%lld", (long long)s->dim[i]);
}

#define MAX_SPECS 64
#define MAX_THREADS 16

/* What was asked. */
typedef struct {
    const char *loss;
    sl_shape s;
    int threads[MAX_THREADS], nthreads, json;
    int64_t reps;
} bench_args;

/* One spec's timings at one thread count, and its check against the reference. */
typedef struct {
    double tmed, tmin, fmed, rmed, diff, loss;
    int same;
} bench_result;

/* The fast path at T threads: a warm-up, then reps interleaved timings of the floor and of the
 * spec (t: 2 * reps scratch, ratio: reps); medians, and the spec's fastest. */
static int time_fast(const sl_spec *spec, bench_data *d, int T, int reps, sl_output *out, double *t,
                     double *ratio, bench_result *r)
{
    sl_error err;
    sl_status st;
    double cs;
    if ((st = sl_spec_eval(spec, &d->b, SL_IMPL_FAST, out, &err)) != SL_OK ||
        (st = sl_bench_floor(&d->b, d->grad, T, &cs, &err)) != SL_OK)
        return cli_status("bench", st, &err);
    double *tf = t, *tk = t + reps; /* the floor's times, the spec's */
    for (int i = 0; i < reps; i++) {
        double a = now_ms();
        sl_bench_floor(&d->b, d->grad, T, &cs, &err);
        double m = now_ms();
        sl_spec_eval(spec, &d->b, SL_IMPL_FAST, out, &err);
        double e = now_ms();
        tf[i] = m - a;
        tk[i] = e - m;
        ratio[i] = (e - m) / (m - a);
    }
    r->tmed = median(tk, reps), r->tmin = tk[0], r->fmed = median(tf, reps);
    r->rmed = median(ratio, reps);
    r->loss = out->loss;
    return CLI_OK;
}

/* The largest difference from the reference, and whether the first thread count's bits
 * (kept in d->g1 and *loss1) are repeated. */
static void check_result(bench_data *d, const sl_output *ref, int first, double *loss1,
                         bench_result *r)
{
    r->diff = fabs(r->loss - ref->loss);
    for (int64_t i = 0; i < d->numel; i++) {
        double g = fabs((double)d->grad[i] - (double)d->gref[i]);
        if (g > r->diff || isnan(g)) r->diff = g;
    }
    r->same = 1;
    if (first) {
        memcpy(d->g1, d->grad, (size_t)d->numel * sizeof(float));
        *loss1 = r->loss;
    } else {
        r->same = memcmp(d->g1, d->grad, (size_t)d->numel * sizeof(float)) == 0 &&
                  memcmp(loss1, &r->loss, sizeof *loss1) == 0;
    }
}

static void print_result(const char *text, const char *sz, int T, int reps, double ref_ms,
                         const bench_result *r, int json)
{
    if (!json) {
        printf("loss=%s size=%s T=%d isa=%s t_med=%.3fms t_min=%.3fms floor=%.3fms "
               "floor_ratio=%.2f max_abs_diff=%.2g same_bits=%s\n",
               text, sz, T, sl_isa(), r->tmed, r->tmin, r->fmed, r->rmed, r->diff,
               r->same ? "yes" : "NO");
        fflush(stdout);
        return;
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("{\"loss\": ");
    cli_json_string(text);
    printf(", \"size\": \"%s\", \"threads\": %d, \"isa\": \"%s\"", sz, T, sl_isa());
    /* strict JSON: a value that is not finite (a zero timing) is null */
    static const char *const keys[6] = {"t_med_ms",    "t_min_ms",     "floor_ms",
                                        "floor_ratio", "max_abs_diff", "ref_ms"};
    static const int digits[6] = {4, 4, 4, 3, 3, 1};
    static const char styles[6] = {'f', 'f', 'f', 'f', 'g', 'f'};
    const double vals[6] = {r->tmed, r->tmin, r->fmed, r->rmed, r->diff, ref_ms};
    for (int q = 0; q < 6; q++) {
        printf(", \"%s\": ", keys[q]);
        cli_json_fixed(digits[q], styles[q], vals[q]);
    }
    printf(", \"same_bits_as_first\": %s, \"loss_value\": ", r->same ? "true" : "false");
    cli_json_fixed(9, 'g', r->loss);
    printf(", \"reps\": %d, \"peak_rss_mb\": %.1f}\n", reps, (double)ru.ru_maxrss / 1024.0);
    fflush(stdout);
}

/* One spec: the reference once, then each thread count timed and checked. */
static int run_one(const char *text, bench_data *d, const bench_args *ba)
{
    sl_error err;
    sl_spec *spec = NULL;
    sl_status st = sl_spec_parse(text, &spec, &err);
    if (st != SL_OK) return cli_status("bench", st, &err);
    pick_labels(d, spec);
    int reps = (int)ba->reps;
    size_t wsz = sl_spec_workspace_size(spec, &d->b);
    void *ws = calloc(1, wsz ? wsz : 1);
    double *t = malloc(2 * (size_t)reps * sizeof(double));
    double *ratio = malloc((size_t)reps * sizeof(double));
    int rc = !ws || !t || !ratio ? cli_fail("bench", CLI_RUNTIME, "out of memory") : CLI_OK;
    sl_output ref = {0.0, d->gref, NULL, ws, wsz, 0};
    double t0 = now_ms();
    if (!rc && (st = sl_spec_eval(spec, &d->b, SL_IMPL_REF, &ref, &err)) != SL_OK)
        rc = cli_status("bench", st, &err);
    double ref_ms = now_ms() - t0, loss1 = NAN;
    char sz[96];
    size_str(&d->b.shape, sz, sizeof sz);
    for (int ti = 0; !rc && ti < ba->nthreads; ti++) {
        sl_output out = {0.0, d->grad, NULL, ws, wsz, ba->threads[ti]};
        bench_result r = {0, 0, 0, 0, 0, 0, 0};
        if ((rc = time_fast(spec, d, ba->threads[ti], reps, &out, t, ratio, &r))) break;
        check_result(d, &ref, ti == 0, &loss1, &r);
        print_result(text, sz, ba->threads[ti], reps, ref_ms, &r, ba->json);
    }
    free(ws);
    free(t);
    free(ratio);
    sl_spec_free(spec);
    return rc;
}

/* --size N,C,H,W or N,C,D,H,W, integers in [1, 10^6], at most 2^31 elements. */
static int parse_size(const char *size_s, sl_shape *s)
{
    double v[5];
    int n, rc;
    if ((rc = cli_doubles("bench", "size", size_s, 0, 5, v, &n)) != CLI_OK) return rc;
    if (n < 4)
        return cli_fail("bench", CLI_USAGE, "--size: need N,C,H,W or N,C,D,H,W, got '%s'", size_s);
    s->ndim = n;
    for (int i = 0; i < n; i++) {
        if (v[i] < 1 || v[i] > 1e6 || v[i] != floor(v[i]))
            return cli_fail("bench", CLI_USAGE, "--size: '%s': sizes are integers in [1, 1000000]",
                            size_s);
        s->dim[i] = (int64_t)v[i];
    }
    if (sl_shape_numel(s) > ((int64_t)1 << 31))
        return cli_fail("bench", CLI_USAGE, "--size: '%s' has more than 2^31 elements", size_s);
    return CLI_OK;
}

/* --threads: up to 16 counts, integers in [1, 1024]. */
static int parse_threads(const char *threads_s, int *threads, int *nthreads)
{
    double v[MAX_THREADS];
    int rc = cli_doubles("bench", "threads", threads_s, 0, MAX_THREADS, v, nthreads);
    if (rc != CLI_OK) return rc;
    for (int i = 0; i < *nthreads; i++) {
        if (v[i] < 1 || v[i] > 1024 || v[i] != floor(v[i]))
            return cli_fail("bench", CLI_USAGE,
                            "--threads: '%s': counts are integers in "
                            "[1, 1024]",
                            threads_s);
        threads[i] = (int)v[i];
    }
    return CLI_OK;
}

static int bench_parse(int argc, char **argv, bench_args *ba)
{
    const char *size_s = NULL, *threads_s = NULL, *reps_s = NULL;
    cli_opt opts[] = {
        {"loss", 1, &ba->loss, NULL},     {"size", 1, &size_s, NULL},
        {"threads", 1, &threads_s, NULL}, {"reps", 1, &reps_s, NULL},
        {"json", 0, NULL, &ba->json},
    };
    int npos, rc = cli_parse("bench", bench_usage, argc, argv, opts, 5, NULL, 0, &npos);
    if (rc != CLI_OK) return rc;
    ba->s = (sl_shape){4, {8, 4, 512, 512}};
    ba->nthreads = 2;
    ba->threads[0] = 1;
    ba->threads[1] = 2;
    ba->reps = 15;
    if ((size_s && (rc = parse_size(size_s, &ba->s))) ||
        (threads_s && (rc = parse_threads(threads_s, ba->threads, &ba->nthreads))) ||
        (reps_s && (rc = cli_int("bench", "reps", reps_s, 1, 2048, &ba->reps))))
        return rc;
    return CLI_OK;
}

int cmd_bench(int argc, char **argv)
{
    bench_args ba;
    memset(&ba, 0, sizeof ba);
    int rc = bench_parse(argc, argv, &ba);
    if (rc != CLI_OK) return rc;
    static char defaults[1024];
    if (!ba.loss && default_specs(ba.s.dim[1], defaults, sizeof defaults) != 0)
        return cli_fail("bench", CLI_USAGE, "too many classes for the default list; give --loss");
    char *buf = NULL;
    const char *specs[MAX_SPECS];
    int nspecs = 0;
    if ((rc = cli_split_specs("bench", "loss", ba.loss ? ba.loss : defaults, &buf, specs, MAX_SPECS,
                              &nspecs))) {
        free(buf);
        return rc;
    }
    bench_data d;
    if (data_make(&d, &ba.s) != 0) {
        data_free(&d);
        free(buf);
        return cli_fail("bench", CLI_RUNTIME, "out of memory");
    }
    if (!ba.json)
        printf("# segloss bench: value + gradient, median of %d reps; floor = the bytes of a fused "
               "CE, same run, interleaved\n",
               (int)ba.reps);
    for (int i = 0; rc == CLI_OK && i < nspecs; i++)
        rc = run_one(specs[i], &d, &ba);
    free(buf);
    data_free(&d);
    return rc;
}
