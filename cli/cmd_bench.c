/* segloss bench: value + gradient of each loss against the memory floor, in one run, beside its
 * correctness check (the largest difference from the double-precision reference). */
#include "cli.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

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
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
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
    for (int64_t i = 0; i < d->numel; i++) d->x[i] = (float)(2.0 * sl_rng_normal(&r));
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
    for (int64_t i = 0; i < d->np; i++) d->yign[i] = d->yign[i] < 0 || d->yign[i] == ign ? (int32_t)ign : d->y[i];
    d->b.labels = d->yign;
}

static void size_str(const sl_shape *s, char *buf, size_t len)
{
    size_t o = 0;
    for (int i = 0; i < s->ndim && o < len; i++)
        o += (size_t)snprintf(buf + o, len - o, i ? ",%lld" : "%lld", (long long)s->dim[i]);
}

static int run_one(const char *text, bench_data *d, const int *threads, int nthreads, int reps,
                   int json)
{
    sl_error err;
    sl_spec *spec = NULL;
    sl_status st = sl_spec_parse(text, &spec, &err);
    if (st != SL_OK) return cli_status("bench", st, &err);
    pick_labels(d, spec);
    size_t wsz = sl_spec_workspace_size(spec, &d->b);
    void *ws = malloc(wsz ? wsz : 1);
    double *t = malloc(2 * (size_t)reps * sizeof(double));
    double *ratio = malloc((size_t)reps * sizeof(double));
    int rc = CLI_OK;
    if (!ws || !t || !ratio) {
        rc = cli_fail("bench", CLI_RUNTIME, "out of memory");
        goto done;
    }
    memset(ws, 0, wsz);
    /* the reference, once */
    sl_output ref = {0.0, d->gref, NULL, ws, wsz, 0};
    double t0 = now_ms();
    if ((st = sl_spec_eval(spec, &d->b, SL_IMPL_REF, &ref, &err)) != SL_OK) {
        rc = cli_status("bench", st, &err);
        goto done;
    }
    double ref_ms = now_ms() - t0;
    char sz[96];
    size_str(&d->b.shape, sz, sizeof sz);
    double loss1 = NAN;
    for (int ti = 0; ti < nthreads; ti++) {
        sl_output out = {0.0, d->grad, NULL, ws, wsz, threads[ti]};
        double cs;
        /* warm-up */
        if ((st = sl_spec_eval(spec, &d->b, SL_IMPL_FAST, &out, &err)) != SL_OK ||
            (st = sl_bench_floor(&d->b, d->grad, threads[ti], &cs,
                                 &err)) != SL_OK) {
            rc = cli_status("bench", st, &err);
            goto done;
        }
        for (int r = 0; r < reps; r++) {
            double a = now_ms();
            sl_bench_floor(&d->b, d->grad, threads[ti], &cs, &err);
            double m = now_ms();
            sl_spec_eval(spec, &d->b, SL_IMPL_FAST, &out, &err);
            double e = now_ms();
            t[2 * r] = m - a;
            t[2 * r + 1] = e - m;
            ratio[r] = (e - m) / (m - a);
        }
        double diff = fabs(out.loss - ref.loss);
        for (int64_t i = 0; i < d->numel; i++) {
            double g = fabs((double)d->grad[i] - (double)d->gref[i]);
            if (g > diff || isnan(g)) diff = g;
        }
        int same = 1;
        if (ti == 0) {
            memcpy(d->g1, d->grad, (size_t)d->numel * sizeof(float));
            loss1 = out.loss;
        } else {
            same = memcmp(d->g1, d->grad, (size_t)d->numel * sizeof(float)) == 0 &&
                   memcmp(&loss1, &out.loss, sizeof loss1) == 0;
        }
        double tf[2048], tk[2048];
        int nr = reps < 2048 ? reps : 2048;
        for (int r = 0; r < nr; r++) {
            tf[r] = t[2 * r];
            tk[r] = t[2 * r + 1];
        }
        double tmed = median(tk, nr), tmin = tk[0], fmed = median(tf, nr);
        double rmed = median(ratio, reps);
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        if (json) {
            printf("{\"loss\": ");
            cli_json_string(text);
            printf(", \"size\": \"%s\", \"threads\": %d, \"isa\": \"%s\"", sz, threads[ti],
                   sl_isa());
            /* strict JSON: a value that is not finite (a zero timing) is null */
            static const char *const keys[6] = {"t_med_ms",    "t_min_ms",     "floor_ms",
                                                "floor_ratio", "max_abs_diff", "ref_ms"};
            static const int digits[6] = {4, 4, 4, 3, 3, 1};
            static const char styles[6] = {'f', 'f', 'f', 'f', 'g', 'f'};
            const double vals[6] = {tmed, tmin, fmed, rmed, diff, ref_ms};
            for (int q = 0; q < 6; q++) {
                printf(", \"%s\": ", keys[q]);
                cli_json_fixed(digits[q], styles[q], vals[q]);
            }
            printf(", \"same_bits_as_first\": %s, \"loss_value\": ", same ? "true" : "false");
            cli_json_fixed(9, 'g', out.loss);
            printf(", \"reps\": %d, \"peak_rss_mb\": %.1f}\n", reps, (double)ru.ru_maxrss / 1024.0);
        } else {
            printf("loss=%s size=%s T=%d isa=%s t_med=%.3fms t_min=%.3fms floor=%.3fms "
                   "floor_ratio=%.2f max_abs_diff=%.2g same_bits=%s\n",
                   text, sz, threads[ti], sl_isa(), tmed, tmin, fmed, rmed, diff,
                   same ? "yes" : "NO");
        }
        fflush(stdout);
    }
done:
    free(ws);
    free(t);
    free(ratio);
    sl_spec_free(spec);
    return rc;
}

int cmd_bench(int argc, char **argv)
{
    const char *loss_s = NULL, *size_s = NULL, *threads_s = NULL, *reps_s = NULL;
    int json = 0;
    cli_opt opts[] = {
        {"loss", 1, &loss_s, NULL},       {"size", 1, &size_s, NULL},
        {"threads", 1, &threads_s, NULL}, {"reps", 1, &reps_s, NULL},
        {"json", 0, NULL, &json},
    };
    int npos, rc = cli_parse("bench", bench_usage, argc, argv, opts, 5, NULL, 0, &npos);
    if (rc != CLI_OK) return rc;
    sl_shape s = {4, {8, 4, 512, 512}};
    if (size_s) {
        double v[5];
        int n;
        if ((rc = cli_doubles("bench", "size", size_s, 0, 5, v, &n)) != CLI_OK) return rc;
        if (n < 4)
            return cli_fail("bench", CLI_USAGE, "--size: need N,C,H,W or N,C,D,H,W, got '%s'",
                            size_s);
        s.ndim = n;
        for (int i = 0; i < n; i++) {
            if (v[i] < 1 || v[i] > 1e6 || v[i] != floor(v[i]))
                return cli_fail("bench", CLI_USAGE, "--size: '%s': sizes are integers in [1, "
                                "1000000]", size_s);
            s.dim[i] = (int64_t)v[i];
        }
        if (sl_shape_numel(&s) > ((int64_t)1 << 31))
            return cli_fail("bench", CLI_USAGE, "--size: '%s' has more than 2^31 elements",
                            size_s);
    }
    int threads[16], nthreads = 2;
    threads[0] = 1;
    threads[1] = 2;
    if (threads_s) {
        double v[16];
        if ((rc = cli_doubles("bench", "threads", threads_s, 0, 16, v, &nthreads)) != CLI_OK)
            return rc;
        for (int i = 0; i < nthreads; i++) {
            if (v[i] < 1 || v[i] > 1024 || v[i] != floor(v[i]))
                return cli_fail("bench", CLI_USAGE, "--threads: '%s': counts are integers in "
                                "[1, 1024]", threads_s);
            threads[i] = (int)v[i];
        }
    }
    int64_t reps = 15;
    if (reps_s && (rc = cli_int("bench", "reps", reps_s, 1, 2048, &reps)) != CLI_OK) return rc;
    char defaults[1024];
    if (!loss_s) {
        if (default_specs(s.dim[1], defaults, sizeof defaults) != 0)
            return cli_fail("bench", CLI_USAGE, "too many classes for the default list; give "
                            "--loss");
        loss_s = defaults;
    }
    bench_data d;
    if (data_make(&d, &s) != 0) {
        data_free(&d);
        return cli_fail("bench", CLI_RUNTIME, "out of memory");
    }
    if (!json)
        printf("# segloss bench: value + gradient, median of %d reps; floor = the bytes of a fused "
               "CE, same run, interleaved\n",
               (int)reps);
    char *specs = strdup(loss_s);
    rc = specs ? CLI_OK : cli_fail("bench", CLI_RUNTIME, "out of memory");
    for (char *p = specs, *e; rc == CLI_OK && p && *p; p = e) {
        e = strchr(p, ';');
        if (e) *e++ = 0;
        while (*p == ' ') p++;
        if (!*p) continue;
        rc = run_one(p, &d, threads, nthreads, (int)reps, json);
    }
    free(specs);
    data_free(&d);
    return rc;
}
