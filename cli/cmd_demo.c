/* segloss demo: the post's experiment. Ground truths and typical predictions; the standard loss;
 * annotations dropped from the ground truth (the predictions stay); the standard loss again,
 * the post's custom loss and the marginal loss beside them. */
#include "cli.h"
#include "out.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char demo_usage[] =
    "usage: segloss demo [--n 8] [--size 128,128] [--missing 2] [--seed 0] [--out DIR] [--json]\n"
    "\n"
    "The post's experiment. N ground truths (ellipse, square, circle) and simulated typical\n"
    "predictions; the standard loss (categorical cross-entropy on probabilities, Keras\n"
    "semantics); then MISSING annotations are dropped from the ground truth while the\n"
    "predictions stay, and the standard loss, the post's custom loss (missing_ce) and the\n"
    "marginal loss (marginal_ce) are computed on both.\n"
    "\n"
    "  --n N          images (default 8)\n"
    "  --size H,W     image size (default 128,128; at least 12,12)\n"
    "  --missing K    annotations to drop (default 2)\n"
    "  --seed S       seed of everything random (default 0): the same seed, the same numbers\n"
    "  --out DIR      where the pictures go (default out/demo): ground_truth.png,\n"
    "                 predictions.png, ground_truth_missing.png\n"
    "  --json         also print one JSON line with every number\n";

static const char *const object_names[] = {"background", "ellipse", "square", "circle"};

/* Evaluate one loss spec on probabilities against a one-hot target. */
static int eval_loss(const char *spec_text, const float *probs, const float *onehot, int64_t n,
                     int64_t h, int64_t w, double *out_loss)
{
    sl_error err;
    sl_spec *spec;
    sl_status st = sl_spec_parse(spec_text, &spec, &err);
    if (st != SL_OK) return cli_status("demo", st, &err);
    sl_batch b = cli_batch_2d(n, SL_NCLASS, h, w, probs, SL_INPUT_PROBS, NULL, onehot);
    size_t wsz = sl_spec_workspace_size(spec, &b);
    void *ws = malloc(wsz ? wsz : 1);
    if (!ws) {
        sl_spec_free(spec);
        return cli_fail("demo", CLI_RUNTIME, "out of memory");
    }
    sl_output out = {0.0, NULL, NULL, ws, wsz, 0};
    st = sl_spec_eval(spec, &b, SL_IMPL_FAST, &out, &err);
    free(ws);
    sl_spec_free(spec);
    if (st != SL_OK) return cli_status("demo", st, &err);
    *out_loss = out.loss;
    return CLI_OK;
}

/* What was asked, the data and the numbers; freed by demo_free. */
typedef struct {
    int64_t n, h, w, missing, seed;
    int json;
    const char *dir;
    uint8_t *masks;
    int32_t *labels, *labels_m; /* the ground truth, and with annotations missing */
    float *onehot, *onehot_m, *probs;
    void *ws;
    size_t pws;
    int64_t *dropped; /* [missing][2]: image, class */
    double v[3][2];   /* standard, custom, marginal; full, missing */
} demo_ctx;

static int demo_parse(int argc, char **argv, demo_ctx *d)
{
    const char *n_s = NULL, *size_s = NULL, *miss_s = NULL, *seed_s = NULL, *out_s = NULL;
    cli_opt opts[] = {
        {"n", 1, &n_s, NULL},       {"size", 1, &size_s, NULL}, {"missing", 1, &miss_s, NULL},
        {"seed", 1, &seed_s, NULL}, {"out", 1, &out_s, NULL},   {"json", 0, NULL, &d->json},
    };
    const char *pos[1];
    int npos;
    int rc = cli_parse("demo", demo_usage, argc, argv, opts, 6, pos, 0, &npos);
    if (rc != CLI_OK) return rc;
    d->n = 8, d->h = 128, d->w = 128, d->missing = 2, d->seed = 0;
    if ((rc = cli_post_images("demo", n_s, 1000, size_s, 2048, 26, &d->n, &d->h, &d->w))) return rc;
    if (miss_s && (rc = cli_int("demo", "missing", miss_s, 0, 3 * d->n, &d->missing)) != CLI_OK)
        return rc;
    if (seed_s && (rc = cli_int("demo", "seed", seed_s, 0, UINT32_MAX, &d->seed)) != CLI_OK)
        return rc;
    d->dir = out_s ? out_s : "out/demo";
    if (strlen(d->dir) > 4000) return cli_fail("demo", CLI_USAGE, "--out: directory name too long");
    return CLI_OK;
}

static int demo_alloc(demo_ctx *d)
{
    int64_t P = d->h * d->w, NP = d->n * P, NCP = d->n * SL_NCLASS * P;
    d->masks = malloc((size_t)(d->n * SL_NOBJ * P));
    d->labels = malloc((size_t)NP * sizeof(int32_t));
    d->labels_m = malloc((size_t)NP * sizeof(int32_t));
    d->onehot = malloc((size_t)NCP * sizeof(float));
    d->onehot_m = malloc((size_t)NCP * sizeof(float));
    d->probs = malloc((size_t)NCP * sizeof(float));
    d->pws = sl_simulate_workspace_size(SL_NCLASS, d->h, d->w);
    d->ws = malloc(d->pws ? d->pws : 1);
    d->dropped = malloc((size_t)(2 * (d->missing ? d->missing : 1)) * sizeof(int64_t));
    if (!d->masks || !d->labels || !d->labels_m || !d->onehot || !d->onehot_m || !d->probs ||
        !d->ws || !d->dropped)
        return cli_fail("demo", CLI_RUNTIME, "out of memory");
    return CLI_OK;
}

static void demo_free(demo_ctx *d)
{
    void *bufs[] = {d->masks,    d->onehot, d->labels, d->labels_m,
                    d->onehot_m, d->probs,  d->ws,     d->dropped};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        free(bufs[i]);
}

/* The ground truth, the typical predictions, the annotations dropped, and the three losses on
 * the full and on the spoiled ground truth. */
static int demo_run(demo_ctx *d)
{
    int64_t n = d->n, P = d->h * d->w;
    sl_rng rng;
    sl_rng_seed(&rng, (uint32_t)d->seed);
    sl_error err;
    sl_simulate_options po;
    sl_simulate_options_default(&po);
    sl_status st = sl_masks_generate(d->masks, n, d->h, d->w, NULL, &rng, &err);
    if (st == SL_OK) {
        sl_masks_to_labels(d->masks, n, SL_NOBJ, P, d->labels);
        sl_labels_to_onehot(d->labels, n, SL_NCLASS, P, d->onehot);
        st = sl_simulate_predictions(d->labels, n, SL_NCLASS, d->h, d->w, &po, &rng, d->probs,
                                     d->ws, d->pws, &err);
    }
    if (st == SL_OK) {
        memcpy(d->labels_m, d->labels, (size_t)(n * P) * sizeof(int32_t));
        st = sl_drop_annotations(d->labels_m, n, SL_NCLASS, P, d->missing, &rng, d->dropped, &err);
    }
    if (st != SL_OK) return cli_status("demo", st, &err);
    sl_labels_to_onehot(d->labels_m, n, SL_NCLASS, P, d->onehot_m);
    static const char *const specs[3] = {"ce", "missing_ce", "marginal_ce"};
    int rc = CLI_OK;
    for (int i = 0; i < 6 && rc == CLI_OK; i++)
        rc = eval_loss(specs[i / 2], d->probs, i % 2 ? d->onehot_m : d->onehot, n, d->h, d->w,
                       &d->v[i / 2][i % 2]);
    return rc;
}

/* The three pictures: all or none. */
static int demo_pictures(const demo_ctx *d)
{
    static const char *const names[3] = {"ground_truth.png", "predictions.png",
                                         "ground_truth_missing.png"};
    char paths[3][CLI_PATH_MAX], title[3][512];
    snprintf(title[0], sizeof title[0], "The ground truth (seed %lld)", (long long)d->seed);
    snprintf(title[1], sizeof title[1],
             "Simulated predictions (class colours mixed by probability)");
    int tl = snprintf(title[2], sizeof title[2], "The ground truth with %lld annotation%s missing",
                      (long long)d->missing, d->missing == 1 ? "" : "s");
    for (int64_t i = 0; i < d->missing && tl > 0 && (size_t)tl < sizeof title[2] - 40; i++)
        tl +=
            snprintf(title[2] + tl, sizeof title[2] - (size_t)tl, "%s image %lld %s", i ? "," : ":",
                     (long long)d->dropped[2 * i], object_names[d->dropped[2 * i + 1]]);
    const int32_t *labels[3] = {d->labels, NULL, d->labels_m};
    cli_outs outs;
    cli_outs_init(&outs, "demo");
    int rc = cli_outs_in_dir(&outs, d->dir, names, 3, paths);
    for (int i = 0; i < 3 && rc == CLI_OK; i++)
        rc = cli_class_picture(&outs, paths[i], title[i], labels[i], i == 1 ? d->probs : NULL, d->n,
                               SL_NCLASS, d->h, d->w);
    if (rc == CLI_OK) rc = cli_outs_commit(&outs);
    cli_outs_end(&outs);
    return rc;
}

static void demo_table(const demo_ctx *d)
{
    const char *dir = d->dir;
    printf("The post's experiment: %lld images of %lldx%lld, seed %lld.\n", (long long)d->n,
           (long long)d->h, (long long)d->w, (long long)d->seed);
    printf("Dropped %lld annotation%s from the ground truth (the predictions still show them):",
           (long long)d->missing, d->missing == 1 ? "" : "s");
    for (int64_t i = 0; i < d->missing; i++)
        printf("%s image %lld %s", i ? "," : "", (long long)d->dropped[2 * i],
               object_names[d->dropped[2 * i + 1]]);
    printf("%s\n\n", d->missing ? "." : " none.");
    printf("%-34s %12s %14s\n", "loss (mean over all pixels)", "full", "missing");
    static const char *const rows[3] = {"standard: categorical CE (ce)", "custom (missing_ce)",
                                        "marginal (marginal_ce)"};
    for (int i = 0; i < 3; i++)
        printf("%-34s %12.6f %14.6f\n", rows[i], d->v[i][0], d->v[i][1]);
    printf("\nWith annotations missing, the standard loss punishes correct predictions "
           "(%.6f -> %.6f);\nthe custom loss does not (%.6f -> %.6f).\n",
           d->v[0][0], d->v[0][1], d->v[1][0], d->v[1][1]);
    printf("Pictures: %s/ground_truth.png, %s/predictions.png, %s/ground_truth_missing.png\n", dir,
           dir, dir);
}

static void demo_json(const demo_ctx *d)
{
    static const char *const keys[6] = {"standard_full",  "standard_missing", "custom_full",
                                        "custom_missing", "marginal_full",    "marginal_missing"};
    for (int i = 0; i < 6; i++) {
        printf("%s\"%s\": ", i ? ", " : "{", keys[i]);
        cli_json_number(d->v[i / 2][i % 2], 1);
    }
    printf(", \"n\": %lld, \"size\": [%lld, %lld], \"seed\": %lld, \"missing\": %lld, "
           "\"dropped\": [",
           (long long)d->n, (long long)d->h, (long long)d->w, (long long)d->seed,
           (long long)d->missing);
    for (int64_t i = 0; i < d->missing; i++)
        printf("%s[%lld, %lld]", i ? ", " : "", (long long)d->dropped[2 * i],
               (long long)d->dropped[2 * i + 1]);
    printf("]}\n");
}

int cmd_demo(int argc, char **argv)
{
    demo_ctx d;
    memset(&d, 0, sizeof d);
    int rc = demo_parse(argc, argv, &d);
    if (rc == CLI_OK) rc = demo_alloc(&d);
    if (rc == CLI_OK) rc = demo_run(&d);
    if (rc == CLI_OK) rc = demo_pictures(&d);
    if (rc == CLI_OK) demo_table(&d);
    if (rc == CLI_OK && d.json) demo_json(&d);
    demo_free(&d);
    return rc;
}
