/* segloss compare: the post's claim put to the test. Each loss is trained at each missing-
 * annotation rate with several seeds; the clean held-out set's per-class IoU as mean and spread,
 * the classes that lost annotations singled out; a table, JSON, a CSV of every run and a chart. */
#include "cli.h"
#include "train_util.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_LOSSES 16
#define MAX_RATES 16

static const char compare_usage[] =
    "usage: segloss compare [--losses \"SPEC1;SPEC2;...\"] [--missing R1,R2,...] [--seeds K]\n"
    "                       [--missing-classes L] [--quick] [--json] [--out DIR] [options]\n"
    "\n"
    "The post's claim, tested: with missing annotations, does its loss (missing_ce) learn the\n"
    "objects whose annotations are missing better than the standard one? Every loss is\n"
    "trained (segloss train) at every missing rate with K seeds; each run is scored on the clean\n"
    "held-out set. Prints per-class IoU as mean +- spread (the standard deviation over seeds),\n"
    "the classes that lost annotations marked with * and their mean IoU in its own column.\n"
    "\n"
    "  --losses SPECS        loss specs separated by ';' (default \"ce;missing_ce;marginal_ce;\n"
    "                        dice + ce\")\n"
    "  --missing RATES       missing-annotation rates in [0, 1] (default 0,0.25,0.5,0.75)\n"
    "  --seeds K             seeds 0..K-1 per loss and rate, 1..32 (default 3): images, drops,\n"
    "                        initial weights and batch order\n"
    "  --missing-classes L   object classes that lose annotations (default 2,3: the square\n"
    "                        and the circle; the ellipse keeps every annotation as a control)\n"
    "  --quick               rates 0,0.5, one seed, fewer steps: about a tenth of the work\n"
    "  --size H,W            image size (default 32,32)\n"
    "  --width W             network width (default 8)\n"
    "  --steps S             steps per training (default 400; --quick 250)\n"
    "  --batch B             images per step (default 16)\n"
    "  --n N                 training images per run (default 512)\n"
    "  --lr LR               AdamW learning rate (default 0.003)\n"
    "  --jobs J              trainings side by side, one thread each (default: every core)\n"
    "  --out DIR             default out/compare: compare.csv (every run), compare.png (IoU\n"
    "                        against missing rate, one line per loss, a panel per class)\n"
    "  --json                print one JSON object instead of the table\n";

typedef struct {
    int loss, rate, seed;
    sl_status st;
    char msg[SL_ERR_LEN];
    double iou[SL_NOBJ], dice[SL_NOBJ], seconds;
} run_result;

typedef struct {
    double mean[SL_NOBJ], sd[SL_NOBJ], dmean, dsd, amean;
} cell_stats;

static void stats(const run_result *runs, int nseeds, unsigned dropmask, double rate,
                  cell_stats *cs)
{
    int has_drop = rate > 0 && dropmask;
    double dvals[32];
    for (int k = 0; k < SL_NOBJ; k++) {
        double m = 0, v = 0;
        for (int s = 0; s < nseeds; s++)
            m += runs[s].iou[k] / nseeds;
        for (int s = 0; s < nseeds; s++)
            v += (runs[s].iou[k] - m) * (runs[s].iou[k] - m);
        cs->mean[k] = m;
        cs->sd[k] = nseeds > 1 ? sqrt(v / (nseeds - 1)) : 0;
    }
    cs->amean = (cs->mean[0] + cs->mean[1] + cs->mean[2]) / 3;
    cs->dmean = cs->dsd = NAN;
    if (!has_drop) return;
    int nd = 0;
    for (int k = 0; k < SL_NOBJ; k++)
        nd += (dropmask >> (k + 1)) & 1;
    for (int s = 0; s < nseeds; s++) {
        double t = 0;
        for (int k = 0; k < SL_NOBJ; k++)
            if ((dropmask >> (k + 1)) & 1) t += runs[s].iou[k] / nd;
        dvals[s] = t;
    }
    double m = 0, v = 0;
    for (int s = 0; s < nseeds; s++)
        m += dvals[s] / nseeds;
    for (int s = 0; s < nseeds; s++)
        v += (dvals[s] - m) * (dvals[s] - m);
    cs->dmean = m;
    cs->dsd = nseeds > 1 ? sqrt(v / (nseeds - 1)) : 0;
}

static int chart(cli_outs *o, const char *path, const char *const *specs, int nl,
                 const double *rates, int nr, const cell_stats *cs, unsigned dropmask,
                 const char *subtitle)
{
    static const uint8_t white[3] = {255, 255, 255}, ink[3] = {40, 40, 40};
    int pw = 380, ph = 280, legend = 260;
    plot_img img;
    if (plot_img_init(&img, 2 * pw + legend, 2 * ph + 40, white))
        return cli_fail(o->cmd, CLI_RUNTIME, "out of memory for %s", path);
    plot_text(&img, 8, 6,
              "segloss compare: held-out IoU against the missing-annotation rate "
              "(mean over seeds)",
              ink, 1);
    plot_text(&img, 8, 20, subtitle, ink, 1);
    double ys[MAX_LOSSES][MAX_RATES];
    const double *yp[MAX_LOSSES];
    uint8_t col[MAX_LOSSES * 3];
    for (int l = 0; l < nl; l++) {
        plot_series_colour(l, col + 3 * l);
        yp[l] = ys[l];
    }
    for (int panel = 0; panel < 4; panel++) {
        char title[128];
        if (panel < 3)
            snprintf(title, sizeof title, "%s%s", tu_class_names[panel + 1],
                     (dropmask >> (panel + 1)) & 1 ? " (loses annotations)" : " (complete)");
        else
            snprintf(title, sizeof title, "mean over the three objects");
        for (int l = 0; l < nl; l++)
            for (int r = 0; r < nr; r++) {
                const cell_stats *c = &cs[l * nr + r];
                ys[l][r] = panel < 3 ? c->mean[panel] : c->amean;
            }
        plot_chart pc = {title, rates, nr, yp, nl, col, NULL, NULL, 0, 1, 6};
        plot_chart_draw(&img, (panel % 2) * pw, 36 + (panel / 2) * ph, pw, ph, &pc);
    }
    for (int l = 0; l < nl; l++) {
        int yy = 60 + 16 * l;
        plot_rect(&img, 2 * pw + 6, yy + 2, 18, 3, col + 3 * l);
        char buf[64];
        snprintf(buf, sizeof buf, "%.38s", specs[l]);
        plot_text(&img, 2 * pw + 30, yy, buf, col + 3 * l, 1);
    }
    int rc = cli_outs_png(o, path, img.rgb, img.h, img.w);
    plot_img_free(&img);
    return rc;
}

typedef struct {
    const char *const *specs;
    const double *rates;
    const run_result *runs;
    int nruns;
} csv_ctx;

static int write_csv(void *ctx, FILE *f, sl_error *err)
{
    (void)err;
    const csv_ctx *c = ctx;
    fprintf(f, "loss,missing,seed,iou_ellipse,iou_square,iou_circle,dice_ellipse,dice_square,"
               "dice_circle,train_seconds\n");
    for (int i = 0; i < c->nruns; i++) {
        const run_result *r = &c->runs[i];
        fprintf(f, "\"%s\",%g,%d,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.2f\n", c->specs[r->loss],
                c->rates[r->rate], r->seed, r->iou[0], r->iou[1], r->iou[2], r->dice[0], r->dice[1],
                r->dice[2], r->seconds);
    }
    return 0;
}

/* What was asked, and what the trainings gave; freed by compare_free. */
typedef struct {
    const char *specs[MAX_LOSSES];
    char *sbuf; /* the copy of --losses that specs[] point into */
    int nl, nr, json;
    double rates[MAX_RATES];
    int64_t nseeds, jobs;
    unsigned dropmask;
    sl_train_config cfg;
    const char *dir;
    char dropped_names[64], subtitle[400];
    int nruns;
    run_result *runs;
    cell_stats *cs;
    double seconds;
} compare_ctx;

/* --missing: increasing rates in [0, 1]; by default 0, .25, .5, .75 (--quick: 0, .5). */
static int compare_rates(compare_ctx *x, const char *miss_s, int quick)
{
    if (!miss_s) {
        x->nr = quick ? 2 : 4;
        for (int i = 0; i < x->nr; i++)
            x->rates[i] = (quick ? 0.5 : 0.25) * i;
        return CLI_OK;
    }
    int rc = cli_doubles("compare", "missing", miss_s, 0, MAX_RATES, x->rates, &x->nr);
    if (rc) return rc;
    for (int i = 0; i < x->nr; i++)
        if (x->rates[i] < 0 || x->rates[i] > 1)
            return cli_fail("compare", CLI_USAGE, "--missing: %g is not a rate in [0, 1]",
                            x->rates[i]);
    for (int i = 1; i < x->nr; i++)
        if (!(x->rates[i] > x->rates[i - 1]))
            return cli_fail("compare", CLI_USAGE, "--missing: rates must increase, got '%s'",
                            miss_s);
    return CLI_OK;
}

/* Every spec and the settings are checked before anything runs. */
static int compare_check(const compare_ctx *x)
{
    sl_error err;
    for (int l = 0; l < x->nl; l++) {
        sl_spec *sp;
        sl_status st = sl_spec_parse(x->specs[l], &sp, &err);
        if (st != SL_OK)
            return cli_fail("compare", CLI_USAGE, "--losses: '%s': %s", x->specs[l], err.msg);
        sl_spec_free(sp);
        sl_train_config c = x->cfg;
        c.loss = x->specs[l];
        if ((st = sl_train_check(&c, &err)) != SL_OK) return cli_status("compare", st, &err);
    }
    return CLI_OK;
}

static int compare_parse(int argc, char **argv, compare_ctx *x)
{
    const char *losses_s = NULL, *miss_s = NULL, *seeds_s = NULL, *mc_s = NULL, *jobs_s = NULL,
               *out_s = NULL;
    int quick = 0;
    tu_settings set;
    cli_opt opts[8 + TU_NSETTINGS] = {
        {"losses", 1, &losses_s, NULL}, {"missing", 1, &miss_s, NULL},
        {"seeds", 1, &seeds_s, NULL},   {"missing-classes", 1, &mc_s, NULL},
        {"jobs", 1, &jobs_s, NULL},     {"out", 1, &out_s, NULL},
        {"json", 0, NULL, &x->json},    {"quick", 0, NULL, &quick},
    };
    tu_settings_opts(&set, opts + 8);
    const char *pos[1];
    int npos;
    int rc = cli_parse("compare", compare_usage, argc, argv, opts, 8 + TU_NSETTINGS, pos, 0, &npos);
    if (rc) return rc;
    if ((rc = cli_split_specs("compare", "losses",
                              losses_s ? losses_s : "ce;missing_ce;marginal_ce;dice + ce", &x->sbuf,
                              x->specs, MAX_LOSSES, &x->nl)) ||
        (rc = compare_rates(x, miss_s, quick)))
        return rc;
    x->nseeds = quick ? 1 : 3;
    x->jobs = omp_get_num_procs();
    x->dropmask = (1u << 2) | (1u << 3);
    sl_train_config *cfg = &x->cfg;
    *cfg = sl_train_default();
    cfg->h = cfg->w = 32;
    cfg->width = 8;
    cfg->steps = quick ? 250 : 400;
    cfg->n_train = 512;
    cfg->lr = 3e-3;
    cfg->threads = 1;
    if ((seeds_s && (rc = cli_int("compare", "seeds", seeds_s, 1, 32, &x->nseeds))) ||
        (mc_s && (rc = tu_classes("compare", "missing-classes", mc_s, &x->dropmask))) ||
        (rc = tu_config("compare", &set, 26, cfg)) ||
        (jobs_s && (rc = cli_int("compare", "jobs", jobs_s, 1, 256, &x->jobs))) ||
        (rc = compare_check(x)))
        return rc;
    x->dir = out_s ? out_s : "out/compare";
    x->nruns = x->nl * x->nr * (int)x->nseeds;
    if (x->jobs > x->nruns) x->jobs = x->nruns;
    return CLI_OK;
}

/* The plan, on stdout (stderr with --json), and the chart's subtitle. */
static void compare_header(compare_ctx *x, FILE *info)
{
    const sl_train_config *cfg = &x->cfg;
    for (int k = 1; k <= SL_NOBJ; k++)
        if ((x->dropmask >> k) & 1) {
            if (*x->dropped_names) strcat(x->dropped_names, ", ");
            strcat(x->dropped_names, tu_class_names[k]);
        }
    long long ns = (long long)x->nseeds;
    snprintf(x->subtitle, sizeof x->subtitle,
             "%d trainings: %d steps of batch %d, %lld images of %dx%d, width %d, lr %g, %lld "
             "seed%s; annotations dropped from: %s",
             x->nruns, (int)cfg->steps, cfg->batch, (long long)cfg->n_train, cfg->h, cfg->w,
             cfg->width, cfg->lr, ns, ns == 1 ? "" : "s", x->dropped_names);
    fprintf(info,
            "compare: %d losses x %d missing rates x %lld seed%s = %d trainings, %lld side by "
            "side on one thread each\n"
            "each: %lld steps of batch %d on %lld images of %dx%d, network width %d, AdamW lr %g; "
            "held-out: %lld clean images\n"
            "annotations dropped from: %s\n",
            x->nl, x->nr, ns, ns == 1 ? "" : "s", x->nruns, (long long)x->jobs,
            (long long)cfg->steps, cfg->batch, (long long)cfg->n_train, cfg->h, cfg->w, cfg->width,
            cfg->lr, (long long)cfg->n_heldout, x->dropped_names);
    fflush(info);
}

/* Training i of the grid (loss, rate, seed); after a failure the rest are skipped. */
static void train_one(const compare_ctx *x, int i, int *failed)
{
    run_result *r = &x->runs[i];
    r->loss = i / (x->nr * (int)x->nseeds);
    r->rate = (i / (int)x->nseeds) % x->nr;
    r->seed = i % (int)x->nseeds;
    sl_train_config c = x->cfg;
    c.loss = x->specs[r->loss];
    c.missing = x->rates[r->rate];
    c.missing_classes = x->dropmask;
    c.seed = (uint32_t)r->seed;
    sl_train_result res;
    sl_error e;
    int skip;
#pragma omp atomic read
    skip = *failed;
    if (skip) {
        r->st = SL_E_ARG;
        return;
    }
    r->st = sl_train_run(&c, NULL, NULL, &res, &e);
    if (r->st == SL_OK) {
        memcpy(r->iou, res.iou, sizeof r->iou);
        memcpy(r->dice, res.dice, sizeof r->dice);
        r->seconds = res.train_seconds;
        sl_train_result_free(&res);
    } else {
        snprintf(r->msg, sizeof r->msg, "%s", e.msg);
#pragma omp atomic write
        *failed = 1;
    }
}

/* Every training, `jobs` side by side, a line as each ends; then the statistics per cell. */
static int compare_run(compare_ctx *x, FILE *info)
{
    x->runs = calloc((size_t)x->nruns, sizeof *x->runs);
    x->cs = calloc((size_t)(x->nl * x->nr), sizeof *x->cs);
    if (!x->runs || !x->cs) return cli_fail("compare", CLI_RUNTIME, "out of memory");
    double t0 = cli_now();
    int done = 0, failed = 0;
#pragma omp parallel for schedule(dynamic, 1) num_threads((int)x->jobs)
    for (int i = 0; i < x->nruns; i++) {
        train_one(x, i, &failed);
        const run_result *r = &x->runs[i];
#pragma omp critical
        {
            done++;
            if (r->st == SL_OK)
                fprintf(info,
                        "[%2d/%d] %-14s missing %-4g seed %d: IoU ellipse %.3f square %.3f "
                        "circle %.3f  (%.1f s)\n",
                        done, x->nruns, x->specs[r->loss], x->rates[r->rate], r->seed, r->iou[0],
                        r->iou[1], r->iou[2], r->seconds);
            fflush(info);
        }
    }
    x->seconds = cli_now() - t0;
    for (int i = 0; i < x->nruns; i++) {
        const run_result *r = &x->runs[i];
        if (r->st != SL_OK && r->msg[0])
            return cli_fail("compare", CLI_RUNTIME, "%s, missing %g, seed %d: %s",
                            x->specs[r->loss], x->rates[r->rate], r->seed, r->msg);
    }
    for (int l = 0; l < x->nl; l++)
        for (int r = 0; r < x->nr; r++)
            stats(x->runs + (l * x->nr + r) * x->nseeds, (int)x->nseeds, x->dropmask, x->rates[r],
                  &x->cs[l * x->nr + r]);
    return CLI_OK;
}

/* One cell (loss l, rate r) of the JSON's results. */
static void json_cell(const compare_ctx *x, int l, int r)
{
    const cell_stats *c = &x->cs[l * x->nr + r];
    const run_result *rr = x->runs + (l * x->nr + r) * x->nseeds;
    printf("%s{\"loss\": ", l || r ? ", " : "");
    cli_json_string(x->specs[l]);
    printf(", \"missing\": %g, \"iou_mean\": [%.6f, %.6f, %.6f], \"iou_spread\": "
           "[%.6f, %.6f, %.6f], \"mean_iou\": %.6f, \"dropped_iou_mean\": ",
           x->rates[r], c->mean[0], c->mean[1], c->mean[2], c->sd[0], c->sd[1], c->sd[2], c->amean);
    cli_json_number(c->dmean, 1);
    printf(", \"dropped_iou_spread\": ");
    cli_json_number(c->dsd, 1);
    printf(", \"runs\": [");
    for (int s = 0; s < x->nseeds; s++)
        printf("%s[%.6f, %.6f, %.6f]", s ? ", " : "", rr[s].iou[0], rr[s].iou[1], rr[s].iou[2]);
    printf("]}");
}

static void compare_json(const compare_ctx *x)
{
    const sl_train_config *cfg = &x->cfg;
    printf("{\"losses\": [");
    for (int l = 0; l < x->nl; l++) {
        if (l) printf(", ");
        cli_json_string(x->specs[l]);
    }
    printf("], \"missing\": [");
    for (int r = 0; r < x->nr; r++)
        printf("%s%g", r ? ", " : "", x->rates[r]);
    printf("], \"seeds\": %lld, \"classes\": [\"ellipse\", \"square\", \"circle\"], "
           "\"dropped_classes\": [",
           (long long)x->nseeds);
    int first = 1;
    for (int k = 1; k <= SL_NOBJ; k++)
        if ((x->dropmask >> k) & 1) {
            printf("%s\"%s\"", first ? "" : ", ", tu_class_names[k]);
            first = 0;
        }
    printf("], \"size\": [%d, %d], \"width\": %d, \"steps\": %lld, \"batch\": %d, \"n\": %lld, "
           "\"lr\": %g, \"jobs\": %lld, \"seconds\": %.1f, \"results\": [",
           cfg->h, cfg->w, cfg->width, (long long)cfg->steps, cfg->batch, (long long)cfg->n_train,
           cfg->lr, (long long)x->jobs, x->seconds);
    for (int l = 0; l < x->nl; l++)
        for (int r = 0; r < x->nr; r++)
            json_cell(x, l, r);
    printf("]}\n");
}

static void compare_table(const compare_ctx *x)
{
    printf("\nheld-out IoU, mean +- spread over %lld seed%s (* marks classes that lose "
           "annotations)\n",
           (long long)x->nseeds, x->nseeds == 1 ? "" : "s");
    printf("%-16s %7s", "loss", "missing");
    for (int k = 1; k <= SL_NOBJ; k++) {
        char h[32];
        snprintf(h, sizeof h, "%s%s", tu_class_names[k], (x->dropmask >> k) & 1 ? "*" : "");
        printf("  %-15s", h);
    }
    printf("  %-15s  %s\n", "dropped classes", "all three");
    for (int l = 0; l < x->nl; l++)
        for (int r = 0; r < x->nr; r++) {
            const cell_stats *c = &x->cs[l * x->nr + r];
            printf("%-16.16s %7g", x->specs[l], x->rates[r]);
            for (int k = 0; k < SL_NOBJ; k++)
                printf("  %.3f +- %.3f  ", c->mean[k], c->sd[k]);
            if (isnan(c->dmean))
                printf("  %-15s", "-");
            else
                printf("  %.3f +- %.3f  ", c->dmean, c->dsd);
            printf("  %.3f\n", c->amean);
        }
    printf("\n%d trainings in %.1f s (%lld side by side); wrote %s/compare.csv, "
           "%s/compare.png\n",
           x->nruns, x->seconds, (long long)x->jobs, x->dir, x->dir);
}

int cmd_compare(int argc, char **argv)
{
    static const char *const names[2] = {"compare.csv", "compare.png"};
    compare_ctx *x = calloc(1, sizeof *x);
    if (!x) return cli_fail("compare", CLI_RUNTIME, "out of memory");
    /* The folder is made and the outputs named before the trainings; the files are written
     * after them, into temporary files renamed into place together (cli/out.h). */
    char paths[2][CLI_PATH_MAX];
    cli_outs outs;
    cli_outs_init(&outs, "compare");
    int rc = compare_parse(argc, argv, x);
    if (!rc) rc = cli_outs_in_dir(&outs, x->dir, names, 2, paths);
    FILE *info = x->json ? stderr : stdout;
    if (!rc) compare_header(x, info);
    if (!rc) rc = compare_run(x, info);
    csv_ctx cc = {x->specs, x->rates, x->runs, x->nruns};
    if (!rc) rc = cli_outs_stream(&outs, paths[0], write_csv, &cc);
    if (!rc)
        rc = chart(&outs, paths[1], x->specs, x->nl, x->rates, x->nr, x->cs, x->dropmask,
                   x->subtitle);
    if (!rc) rc = cli_outs_commit(&outs);
    if (!rc) x->json ? compare_json(x) : compare_table(x);
    cli_outs_end(&outs);
    free(x->sbuf);
    free(x->runs);
    free(x->cs);
    free(x);
    return rc;
}
