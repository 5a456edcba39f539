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
#define MAX_SPEC 1024

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

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Split "a;b;c" into trimmed specs. */
static int split_specs(const char *s, char specs[][MAX_SPEC], int *n)
{
    *n = 0;
    const char *p = s;
    for (;;) {
        const char *e = strchr(p, ';');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        while (len && (*p == ' ' || *p == '\t')) {
            p++;
            len--;
        }
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        if (len == 0) return cli_fail("compare", CLI_USAGE, "--losses: an empty spec in '%s'", s);
        if (len >= MAX_SPEC) return cli_fail("compare", CLI_USAGE, "--losses: a spec is too long");
        if (*n >= MAX_LOSSES)
            return cli_fail("compare", CLI_USAGE, "--losses: at most %d specs", MAX_LOSSES);
        memcpy(specs[*n], p, len);
        specs[*n][len] = 0;
        (*n)++;
        if (!e) break;
        p = e + 1;
    }
    return CLI_OK;
}

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

static int chart(cli_outs *o, const char *path, char specs[][MAX_SPEC], int nl, const double *rates,
                 int nr, const cell_stats *cs, unsigned dropmask, const char *subtitle)
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
    char (*specs)[MAX_SPEC];
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

int cmd_compare(int argc, char **argv)
{
    const char *losses_s, *miss_s, *seeds_s, *mc_s, *size_s, *w_s, *steps_s, *b_s, *n_s, *lr_s,
        *jobs_s, *out_s;
    int json = 0, quick = 0;
    cli_opt opts[] = {
        {"losses", 1, &losses_s, NULL}, {"missing", 1, &miss_s, NULL},
        {"seeds", 1, &seeds_s, NULL},   {"missing-classes", 1, &mc_s, NULL},
        {"size", 1, &size_s, NULL},     {"width", 1, &w_s, NULL},
        {"steps", 1, &steps_s, NULL},   {"batch", 1, &b_s, NULL},
        {"n", 1, &n_s, NULL},           {"lr", 1, &lr_s, NULL},
        {"jobs", 1, &jobs_s, NULL},     {"out", 1, &out_s, NULL},
        {"json", 0, NULL, &json},       {"quick", 0, NULL, &quick},
    };
    const char *pos[1];
    int npos;
    int rc = cli_parse("compare", compare_usage, argc, argv, opts,
                       (int)(sizeof opts / sizeof opts[0]), pos, 0, &npos);
    if (rc) return rc;
    static char specs[MAX_LOSSES][MAX_SPEC];
    int nl;
    if ((rc = split_specs(losses_s ? losses_s : "ce;missing_ce;marginal_ce;dice + ce", specs, &nl)))
        return rc;
    double rates[MAX_RATES];
    int nr;
    if (miss_s) {
        if ((rc = cli_doubles("compare", "missing", miss_s, 0, MAX_RATES, rates, &nr))) return rc;
        for (int i = 0; i < nr; i++)
            if (rates[i] < 0 || rates[i] > 1)
                return cli_fail("compare", CLI_USAGE, "--missing: %g is not a rate in [0, 1]",
                                rates[i]);
        for (int i = 1; i < nr; i++)
            if (!(rates[i] > rates[i - 1]))
                return cli_fail("compare", CLI_USAGE, "--missing: rates must increase, got '%s'",
                                miss_s);
    } else if (quick) {
        nr = 2;
        rates[0] = 0;
        rates[1] = 0.5;
    } else {
        nr = 4;
        for (int i = 0; i < 4; i++)
            rates[i] = 0.25 * i;
    }
    int64_t v, nseeds = quick ? 1 : 3, jobs = omp_get_num_procs();
    unsigned dropmask = (1u << 2) | (1u << 3);
    sl_train_config cfg = sl_train_default();
    cfg.h = cfg.w = 32;
    cfg.width = 8;
    cfg.steps = quick ? 250 : 400;
    cfg.n_train = 512;
    cfg.lr = 3e-3;
    cfg.threads = 1;
    if (seeds_s && (rc = cli_int("compare", "seeds", seeds_s, 1, 32, &nseeds))) return rc;
    if (mc_s && (rc = tu_classes("compare", "missing-classes", mc_s, &dropmask))) return rc;
    if (size_s) {
        int64_t h, w;
        if ((rc = cli_size2("compare", "size", size_s, 1024, &h, &w))) return rc;
        if (h % 4 || w % 4 || h < SL_IMAGES_MIN_SIDE || w < SL_IMAGES_MIN_SIDE)
            return cli_fail("compare", CLI_USAGE,
                            "--size: H and W must be multiples of 4 from %d, got %lld,%lld",
                            SL_IMAGES_MIN_SIDE, (long long)h, (long long)w);
        cfg.h = (int)h;
        cfg.w = (int)w;
    }
    if (w_s) {
        if ((rc = cli_int("compare", "width", w_s, 1, 256, &v))) return rc;
        cfg.width = (int)v;
    }
    if (steps_s) {
        if ((rc = cli_int("compare", "steps", steps_s, 1, 100000000, &v))) return rc;
        cfg.steps = v;
    }
    if (b_s) {
        if ((rc = cli_int("compare", "batch", b_s, 1, 4096, &v))) return rc;
        cfg.batch = (int)v;
    }
    if (n_s) {
        if ((rc = cli_int("compare", "n", n_s, 1, 1000000, &v))) return rc;
        cfg.n_train = v;
    }
    if (cfg.n_train < cfg.batch)
        return cli_fail("compare", CLI_USAGE, "--n %lld is smaller than one batch (%d)",
                        (long long)cfg.n_train, cfg.batch);
    if ((double)cfg.n_train * cfg.h * cfg.w > (double)(1 << 26))
        return cli_fail("compare", CLI_USAGE, "--n times --size is more than 2^26 pixels");
    if (lr_s) {
        double d;
        if ((rc = cli_double("compare", "lr", lr_s, &d))) return rc;
        if (!(d > 0 && d < 10))
            return cli_fail("compare", CLI_USAGE, "--lr: %s is not in (0, 10)", lr_s);
        cfg.lr = d;
    }
    if (jobs_s && (rc = cli_int("compare", "jobs", jobs_s, 1, 256, &jobs))) return rc;
    /* Every spec and the settings are checked before anything runs. */
    sl_error err;
    for (int l = 0; l < nl; l++) {
        sl_spec *sp;
        sl_status st = sl_spec_parse(specs[l], &sp, &err);
        if (st != SL_OK)
            return cli_fail("compare", CLI_USAGE, "--losses: '%s': %s", specs[l], err.msg);
        sl_spec_free(sp);
        sl_train_config c = cfg;
        c.loss = specs[l];
        if ((st = sl_train_check(&c, &err)) != SL_OK) return cli_status("compare", st, &err);
    }
    const char *dir = out_s ? out_s : "out/compare";
    if (strlen(dir) > 4000) return cli_fail("compare", CLI_USAGE, "--out: directory name too long");
    /* The folder is made and the outputs named before the trainings; the files are written
     * after them, into temporary files renamed into place together (cli/out.h). */
    if ((rc = cli_make_dirs("compare", dir))) return rc;
    char csv_path[4200], png_path[4200];
    snprintf(csv_path, sizeof csv_path, "%s/compare.csv", dir);
    snprintf(png_path, sizeof png_path, "%s/compare.png", dir);
    cli_outs outs;
    cli_outs_init(&outs, "compare");
    int nruns = nl * nr * (int)nseeds;
    run_result *runs = NULL;
    cell_stats *cs = NULL;
    if ((rc = cli_outs_add(&outs, "out", csv_path)) || (rc = cli_outs_add(&outs, "out", png_path)))
        goto done;
    runs = calloc((size_t)nruns, sizeof *runs);
    cs = calloc((size_t)(nl * nr), sizeof *cs);
    if (!runs || !cs) {
        rc = cli_fail("compare", CLI_RUNTIME, "out of memory");
        goto done;
    }
    if (jobs > nruns) jobs = nruns;
    FILE *info = json ? stderr : stdout;
    char dropped_names[64] = "";
    for (int k = 1; k <= SL_NOBJ; k++)
        if ((dropmask >> k) & 1) {
            if (*dropped_names) strcat(dropped_names, ", ");
            strcat(dropped_names, tu_class_names[k]);
        }
    char subtitle[400];
    snprintf(subtitle, sizeof subtitle,
             "%d trainings: %d steps of batch %d, %lld images of %dx%d, width %d, lr %g, %lld "
             "seed%s; annotations dropped from: %s",
             nruns, (int)cfg.steps, cfg.batch, (long long)cfg.n_train, cfg.h, cfg.w, cfg.width,
             cfg.lr, (long long)nseeds, nseeds == 1 ? "" : "s", dropped_names);
    fprintf(info,
            "compare: %d losses x %d missing rates x %lld seed%s = %d trainings, %lld side by "
            "side on one thread each\n"
            "each: %lld steps of batch %d on %lld images of %dx%d, network width %d, AdamW lr %g; "
            "held-out: %lld clean images\n"
            "annotations dropped from: %s\n",
            nl, nr, (long long)nseeds, nseeds == 1 ? "" : "s", nruns, (long long)jobs,
            (long long)cfg.steps, cfg.batch, (long long)cfg.n_train, cfg.h, cfg.w, cfg.width,
            cfg.lr, (long long)cfg.n_heldout, dropped_names);
    fflush(info);
    double t0 = now();
    int done = 0, failed = 0;
#pragma omp parallel for schedule(dynamic, 1) num_threads((int)jobs)
    for (int i = 0; i < nruns; i++) {
        run_result *r = &runs[i];
        r->loss = i / (nr * (int)nseeds);
        r->rate = (i / (int)nseeds) % nr;
        r->seed = i % (int)nseeds;
        sl_train_config c = cfg;
        c.loss = specs[r->loss];
        c.missing = rates[r->rate];
        c.missing_classes = dropmask;
        c.seed = (uint32_t)r->seed;
        sl_train_result res;
        sl_error e;
        int skip;
#pragma omp atomic read
        skip = failed;
        if (skip) {
            r->st = SL_E_ARG;
            continue;
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
            failed = 1;
        }
#pragma omp critical
        {
            done++;
            if (r->st == SL_OK)
                fprintf(info,
                        "[%2d/%d] %-14s missing %-4g seed %d: IoU ellipse %.3f square %.3f "
                        "circle %.3f  (%.1f s)\n",
                        done, nruns, specs[r->loss], rates[r->rate], r->seed, r->iou[0], r->iou[1],
                        r->iou[2], r->seconds);
            fflush(info);
        }
    }
    double seconds = now() - t0;
    for (int i = 0; i < nruns; i++)
        if (runs[i].st != SL_OK && runs[i].msg[0]) {
            rc = cli_fail("compare", CLI_RUNTIME, "%s, missing %g, seed %d: %s",
                          specs[runs[i].loss], rates[runs[i].rate], runs[i].seed, runs[i].msg);
            goto done;
        }
    for (int l = 0; l < nl; l++)
        for (int r = 0; r < nr; r++)
            stats(runs + (l * nr + r) * nseeds, (int)nseeds, dropmask, rates[r], &cs[l * nr + r]);

    csv_ctx cc = {specs, rates, runs, nruns};
    if ((rc = cli_outs_stream(&outs, csv_path, write_csv, &cc)) ||
        (rc = chart(&outs, png_path, specs, nl, rates, nr, cs, dropmask, subtitle)) ||
        (rc = cli_outs_commit(&outs)))
        goto done;

    if (json) {
        printf("{\"losses\": [");
        for (int l = 0; l < nl; l++) {
            if (l) printf(", ");
            cli_json_string(specs[l]);
        }
        printf("], \"missing\": [");
        for (int r = 0; r < nr; r++)
            printf("%s%g", r ? ", " : "", rates[r]);
        printf("], \"seeds\": %lld, \"classes\": [\"ellipse\", \"square\", \"circle\"], "
               "\"dropped_classes\": [",
               (long long)nseeds);
        int first = 1;
        for (int k = 1; k <= SL_NOBJ; k++)
            if ((dropmask >> k) & 1) {
                printf("%s\"%s\"", first ? "" : ", ", tu_class_names[k]);
                first = 0;
            }
        printf("], \"size\": [%d, %d], \"width\": %d, \"steps\": %lld, \"batch\": %d, \"n\": %lld, "
               "\"lr\": %g, \"jobs\": %lld, \"seconds\": %.1f, \"results\": [",
               cfg.h, cfg.w, cfg.width, (long long)cfg.steps, cfg.batch, (long long)cfg.n_train,
               cfg.lr, (long long)jobs, seconds);
        for (int l = 0; l < nl; l++)
            for (int r = 0; r < nr; r++) {
                const cell_stats *c = &cs[l * nr + r];
                const run_result *rr = runs + (l * nr + r) * nseeds;
                printf("%s{\"loss\": ", l || r ? ", " : "");
                cli_json_string(specs[l]);
                printf(", \"missing\": %g, \"iou_mean\": [%.6f, %.6f, %.6f], \"iou_spread\": "
                       "[%.6f, %.6f, %.6f], \"mean_iou\": %.6f, \"dropped_iou_mean\": ",
                       rates[r], c->mean[0], c->mean[1], c->mean[2], c->sd[0], c->sd[1], c->sd[2],
                       c->amean);
                cli_json_number(c->dmean, 1);
                printf(", \"dropped_iou_spread\": ");
                cli_json_number(c->dsd, 1);
                printf(", \"runs\": [");
                for (int s = 0; s < nseeds; s++)
                    printf("%s[%.6f, %.6f, %.6f]", s ? ", " : "", rr[s].iou[0], rr[s].iou[1],
                           rr[s].iou[2]);
                printf("]}");
            }
        printf("]}\n");
    } else {
        printf("\nheld-out IoU, mean +- spread over %lld seed%s (* marks classes that lose "
               "annotations)\n",
               (long long)nseeds, nseeds == 1 ? "" : "s");
        printf("%-16s %7s", "loss", "missing");
        for (int k = 1; k <= SL_NOBJ; k++) {
            char h[32];
            snprintf(h, sizeof h, "%s%s", tu_class_names[k], (dropmask >> k) & 1 ? "*" : "");
            printf("  %-15s", h);
        }
        printf("  %-15s  %s\n", "dropped classes", "all three");
        for (int l = 0; l < nl; l++)
            for (int r = 0; r < nr; r++) {
                const cell_stats *c = &cs[l * nr + r];
                printf("%-16.16s %7g", specs[l], rates[r]);
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
               nruns, seconds, (long long)jobs, dir, dir);
    }
    rc = CLI_OK;
done:
    cli_outs_end(&outs);
    free(runs);
    free(cs);
    return rc;
}
