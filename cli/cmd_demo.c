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
    sl_batch b;
    memset(&b, 0, sizeof b);
    b.shape.ndim = 4;
    b.shape.dim[0] = n;
    b.shape.dim[1] = SL_NCLASS;
    b.shape.dim[2] = h;
    b.shape.dim[3] = w;
    b.input = probs;
    b.input_kind = SL_INPUT_PROBS;
    b.target_kind = SL_TARGET_PROBS;
    b.target = onehot;
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

static int picture(cli_outs *outs, const char *dir, const char *name, const char *title,
                   const int32_t *labels,
                   const float *probs, int64_t n, int64_t h, int64_t w)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int rc = cli_outs_add(outs, "out", path);
    if (rc == CLI_OK) rc = cli_class_picture(outs, path, title, labels, probs, n, SL_NCLASS, h, w);
    return rc;
}

int cmd_demo(int argc, char **argv)
{
    const char *n_s = NULL, *size_s = NULL, *miss_s = NULL, *seed_s = NULL, *out_s = NULL;
    int json = 0;
    cli_opt opts[] = {
        {"n", 1, &n_s, NULL},       {"size", 1, &size_s, NULL}, {"missing", 1, &miss_s, NULL},
        {"seed", 1, &seed_s, NULL}, {"out", 1, &out_s, NULL},   {"json", 0, NULL, &json},
    };
    const char *pos[1];
    int npos;
    int rc = cli_parse("demo", demo_usage, argc, argv, opts, 6, pos, 0, &npos);
    if (rc != CLI_OK) return rc;
    int64_t n = 8, h = 128, w = 128, missing = 2, seed = 0;
    if (n_s && (rc = cli_int("demo", "n", n_s, 1, 1000, &n)) != CLI_OK) return rc;
    if (size_s && (rc = cli_size2("demo", "size", size_s, 2048, &h, &w)) != CLI_OK) return rc;
    if (h < 12 || w < 12)
        return cli_fail("demo", CLI_USAGE, "--size: at least 12,12 so that every object has "
                        "pixels, got %lld,%lld", (long long)h, (long long)w);
    if (n * h * w > (int64_t)1 << 26)
        return cli_fail("demo", CLI_USAGE, "--n times --size is too large (at most 2^26 pixels)");
    if (miss_s && (rc = cli_int("demo", "missing", miss_s, 0, 3 * n, &missing)) != CLI_OK)
        return rc;
    if (seed_s && (rc = cli_int("demo", "seed", seed_s, 0, UINT32_MAX, &seed)) != CLI_OK)
        return rc;
    const char *dir = out_s ? out_s : "out/demo";
    if (strlen(dir) > 4000) return cli_fail("demo", CLI_USAGE, "--out: directory name too long");
    cli_outs outs;
    cli_outs_init(&outs, "demo");

    int64_t P = h * w;
    uint8_t *masks = malloc((size_t)(n * SL_NOBJ * P));
    int32_t *labels = malloc((size_t)(n * P) * sizeof(int32_t));
    int32_t *labels_m = malloc((size_t)(n * P) * sizeof(int32_t));
    float *onehot = malloc((size_t)(n * SL_NCLASS * P) * sizeof(float));
    float *onehot_m = malloc((size_t)(n * SL_NCLASS * P) * sizeof(float));
    float *probs = malloc((size_t)(n * SL_NCLASS * P) * sizeof(float));
    size_t pws = sl_simulate_workspace_size(SL_NCLASS, h, w);
    void *ws = malloc(pws ? pws : 1);
    int64_t *dropped = malloc((size_t)(2 * (missing ? missing : 1)) * sizeof(int64_t));
    if (!masks || !labels || !labels_m || !onehot || !onehot_m || !probs || !ws || !dropped) {
        rc = cli_fail("demo", CLI_RUNTIME, "out of memory");
        goto done;
    }
    sl_rng rng;
    sl_rng_seed(&rng, (uint32_t)seed);
    sl_error err;
    sl_status st = sl_masks_generate(masks, n, h, w, NULL, &rng, &err);
    if (st != SL_OK) {
        rc = cli_status("demo", st, &err);
        goto done;
    }
    sl_masks_to_labels(masks, n, SL_NOBJ, P, labels);
    sl_labels_to_onehot(labels, n, SL_NCLASS, P, onehot);
    sl_simulate_options po;
    sl_simulate_options_default(&po);
    st = sl_simulate_predictions(labels, n, SL_NCLASS, h, w, &po, &rng, probs, ws, pws, &err);
    if (st != SL_OK) {
        rc = cli_status("demo", st, &err);
        goto done;
    }
    memcpy(labels_m, labels, (size_t)(n * P) * sizeof(int32_t));
    st = sl_drop_annotations(labels_m, n, SL_NCLASS, P, missing, &rng, dropped, &err);
    if (st != SL_OK) {
        rc = cli_status("demo", st, &err);
        goto done;
    }
    sl_labels_to_onehot(labels_m, n, SL_NCLASS, P, onehot_m);

    static const char *const specs[3] = {"ce", "missing_ce", "marginal_ce"};
    double v[3][2];
    for (int i = 0; i < 3; i++) {
        if ((rc = eval_loss(specs[i], probs, onehot, n, h, w, &v[i][0])) != CLI_OK) goto done;
        if ((rc = eval_loss(specs[i], probs, onehot_m, n, h, w, &v[i][1])) != CLI_OK) goto done;
    }
    if ((rc = cli_make_dirs("demo", dir)) != CLI_OK) goto done;
    /* the three pictures: all or none */
    char title[512];
    snprintf(title, sizeof title, "The ground truth (seed %lld)", (long long)seed);
    if ((rc = picture(&outs, dir, "ground_truth.png", title, labels, NULL, n, h, w)) != CLI_OK)
        goto done;
    if ((rc = picture(&outs, dir, "predictions.png",
                      "Simulated predictions (class colours mixed by probability)", NULL, probs, n,
                      h, w)) != CLI_OK)
        goto done;
    int tl = snprintf(title, sizeof title, "The ground truth with %lld annotation%s missing",
                      (long long)missing, missing == 1 ? "" : "s");
    for (int64_t i = 0; i < missing && tl > 0 && (size_t)tl < sizeof title - 40; i++)
        tl += snprintf(title + tl, sizeof title - (size_t)tl, "%s image %lld %s", i ? "," : ":",
                       (long long)dropped[2 * i], object_names[dropped[2 * i + 1]]);
    if ((rc = picture(&outs, dir, "ground_truth_missing.png", title, labels_m, NULL, n, h, w)) !=
        CLI_OK)
        goto done;
    if ((rc = cli_outs_commit(&outs)) != CLI_OK) goto done;

    printf("The post's experiment: %lld images of %lldx%lld, seed %lld.\n", (long long)n,
           (long long)h, (long long)w, (long long)seed);
    printf("Dropped %lld annotation%s from the ground truth (the predictions still show them):",
           (long long)missing, missing == 1 ? "" : "s");
    for (int64_t i = 0; i < missing; i++)
        printf("%s image %lld %s", i ? "," : "", (long long)dropped[2 * i],
               object_names[dropped[2 * i + 1]]);
    printf("%s\n\n", missing ? "." : " none.");
    printf("%-34s %12s %14s\n", "loss (mean over all pixels)", "full", "missing");
    static const char *const rows[3] = {"standard: categorical CE (ce)", "custom (missing_ce)",
                                        "marginal (marginal_ce)"};
    for (int i = 0; i < 3; i++)
        printf("%-34s %12.6f %14.6f\n", rows[i], v[i][0], v[i][1]);
    printf("\nWith annotations missing, the standard loss punishes correct predictions "
           "(%.6f -> %.6f);\nthe custom loss does not (%.6f -> %.6f).\n",
           v[0][0], v[0][1], v[1][0], v[1][1]);
    printf("Pictures: %s/ground_truth.png, %s/predictions.png, %s/ground_truth_missing.png\n",
           dir, dir, dir);
    if (json) {
        static const char *const keys[6] = {"standard_full", "standard_missing",
                                            "custom_full",   "custom_missing",
                                            "marginal_full", "marginal_missing"};
        for (int i = 0; i < 6; i++) {
            printf("%s\"%s\": ", i ? ", " : "{", keys[i]);
            cli_json_number(v[i / 2][i % 2], 1);
        }
        printf(", \"n\": %lld, \"size\": [%lld, %lld], \"seed\": %lld, \"missing\": %lld, "
               "\"dropped\": [",
               (long long)n, (long long)h, (long long)w, (long long)seed, (long long)missing);
        for (int64_t i = 0; i < missing; i++)
            printf("%s[%lld, %lld]", i ? ", " : "", (long long)dropped[2 * i],
                   (long long)dropped[2 * i + 1]);
        printf("]}\n");
    }
    rc = CLI_OK;
done:
    cli_outs_end(&outs);
    free(masks);
    free(labels);
    free(labels_m);
    free(onehot);
    free(onehot_m);
    free(probs);
    free(ws);
    free(dropped);
    return rc;
}
