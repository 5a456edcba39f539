/* segloss metrics: Dice, IoU, HD95 and ASSD per image and class, MONAI's conventions. */
#include "cli.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char metrics_usage[] =
    "usage: segloss metrics --pred P.npy --target T.npy [options]\n"
    "\n"
    "Dice, IoU, HD95 and ASSD per image and class, with MONAI's conventions (DiceMetric,\n"
    "MeanIoU, HausdorffDistanceMetric(percentile=95), SurfaceDistanceMetric(symmetric=True));\n"
    "see docs/distance.md. Class 0 is the background and is left out unless\n"
    "--include-background is given (MONAI's include_background=False).\n"
    "\n"
    "  --pred P.npy           scores [N, C, spatial...] (logits or probabilities: the argmax\n"
    "                         over classes, lowest index on ties), or a label map\n"
    "                         [N, spatial...]; 1 to 3 spatial axes\n"
    "  --target T.npy         label map [N, spatial...], or one-hot [N, C, spatial...] (argmax)\n"
    "  --pred-kind KIND       scores or labels (default: scores for float arrays, labels for\n"
    "                         integer arrays)\n"
    "  --classes C            number of classes when neither array has a class axis, at most\n"
    "                         65536 (default: the largest label + 1, at least 2, at most 1024)\n"
    "  --spacing S1,S2,...    pixel spacing, one value > 0 per spatial axis (default all 1)\n"
    "  --include-background   evaluate class 0 too (with a single class it always is)\n"
    "  --ignore-index K       pixels whose target label is K count for no class, in neither\n"
    "                         the prediction nor the target (K may lie outside [0, C))\n"
    "  --json                 print one JSON object: class_ids (the classes reported), dice,\n"
    "                         iou, hd95, assd as [image][class] lists over class_ids (null\n"
    "                         where undefined), mean_dice... per class (over images, skipping\n"
    "                         undefined), images, classes, spacing, include_background,\n"
    "                         ignore_index\n"
    "\n"
    "Undefined values: Dice and IoU where the target has no pixel of the class; HD95 and ASSD\n"
    "where the prediction or the target has none.\n";

/* Bounds on the work a file can ask for: classes found from the largest label (--classes may
 * allow more), and the per-class sweeps (images x classes x pixels) and results (images x
 * classes) whatever the classes' origin. */
#define MAX_INFERRED_CLASSES 1024
#define MAX_CLASSES 65536
#define MAX_SWEEP ((int64_t)1 << 34)
#define MAX_RESULTS ((int64_t)1 << 22)

static int is_float(const sl_array *a)
{
    return a->dtype == SL_DT_F32 || a->dtype == SL_DT_F64;
}

/* Argmax over axis 1 of [N, C, P] (lowest index on ties); NaN is an error. */
static int argmax_classes(const char *path, const sl_array *a, int64_t N, int64_t C, int64_t P,
                          int32_t *y)
{
    int64_t n_all = sl_array_numel(a);
    for (int64_t i = 0; i < n_all; i++)
        if (isnan(cli_elem(a, i)))
            return cli_fail("metrics", CLI_RUNTIME, "%s: NaN at flat index %lld", path,
                            (long long)i);
    for (int64_t n = 0; n < N; n++)
        for (int64_t i = 0; i < P; i++) {
            int64_t best = 0;
            double bv = cli_elem(a, n * C * P + i);
            for (int64_t c = 1; c < C; c++) {
                double v = cli_elem(a, (n * C + c) * P + i);
                if (v > bv) {
                    bv = v;
                    best = c;
                }
            }
            y[n * P + i] = (int32_t)best;
        }
    return CLI_OK;
}

/* Mean over images of [N, C] per class, skipping NaN (NaN when every image is NaN). */
static double class_mean(const double *m, int64_t N, int64_t C, int64_t c)
{
    double s = 0.0;
    int64_t k = 0;
    for (int64_t n = 0; n < N; n++)
        if (!isnan(m[n * C + c])) {
            s += m[n * C + c];
            k++;
        }
    return k ? s / (double)k : NAN;
}

/* What was asked. */
typedef struct {
    const char *pred, *target;
    int scores_kind; /* 1 scores, 0 labels, -1 by dtype */
    int json, with_bg, use_ignore, nsp;
    int64_t classes, ignore;
    double spacing[3];
} metrics_args;

/* What was read and computed; freed by metrics_free. */
typedef struct {
    sl_array pa, ta;
    int32_t *yp, *yt;
    double *res;
    void *ws;
    int pscores, tone; /* the prediction holds scores; the target is one-hot */
    int64_t N, C, P;
    sl_shape ls; /* the label maps' shape [N, spatial...] */
    char sp[160], st[160];
} metrics_data;

static int metrics_parse(int argc, char **argv, metrics_args *ma)
{
    const char *kind = NULL, *classes_s = NULL, *spacing_s = NULL, *ignore_s = NULL;
    cli_opt opts[] = {
        {"pred", 1, &ma->pred, NULL},
        {"target", 1, &ma->target, NULL},
        {"pred-kind", 1, &kind, NULL},
        {"classes", 1, &classes_s, NULL},
        {"spacing", 1, &spacing_s, NULL},
        {"json", 0, NULL, &ma->json},
        {"include-background", 0, NULL, &ma->with_bg},
        {"ignore-index", 1, &ignore_s, NULL},
    };
    const char *pos[1];
    int npos;
    int rc = cli_parse("metrics", metrics_usage, argc, argv, opts, 8, pos, 0, &npos);
    if (rc != CLI_OK) return rc;
    if (!ma->pred) return cli_missing("metrics", "pred");
    if (!ma->target) return cli_missing("metrics", "target");
    ma->scores_kind = -1;
    if (kind && strcmp(kind, "scores") != 0 && strcmp(kind, "labels") != 0)
        return cli_fail("metrics", CLI_USAGE, "--pred-kind must be scores or labels, got '%s'",
                        kind);
    if (kind) ma->scores_kind = strcmp(kind, "scores") == 0;
    if (classes_s &&
        (rc = cli_int("metrics", "classes", classes_s, 1, MAX_CLASSES, &ma->classes)) != CLI_OK)
        return rc;
    ma->use_ignore = ignore_s != NULL;
    if (ignore_s && (rc = cli_int("metrics", "ignore-index", ignore_s, INT32_MIN, INT32_MAX,
                                  &ma->ignore)) != CLI_OK)
        return rc;
    /* each value's range is the library's to check */
    ma->nsp = -1;
    if (spacing_s &&
        (rc = cli_doubles("metrics", "spacing", spacing_s, 0, 3, ma->spacing, &ma->nsp)) != CLI_OK)
        return rc;
    return CLI_OK;
}

/* The prediction's shape: scores [N, C, spatial...] or a label map [N, spatial...], 1 to 3
 * spatial axes; it gives the label maps' shape. */
static int pred_shape(const metrics_args *ma, metrics_data *d)
{
    const sl_array *pa = &d->pa;
    d->pscores = ma->scores_kind >= 0 ? ma->scores_kind : is_float(pa);
    int nd = pa->ndim - (d->pscores ? 2 : 1); /* spatial axes */
    if (nd < 1 || nd > 3)
        return cli_fail("metrics", CLI_RUNTIME,
                        "%s: prediction shape %s: need %s with 1 to 3 spatial axes", ma->pred,
                        d->sp,
                        d->pscores ? "scores [N, C, spatial...]" : "a label map [N, spatial...]");
    const int64_t *S = pa->shape + (d->pscores ? 2 : 1);
    d->N = pa->shape[0];
    d->P = 1;
    d->ls.ndim = nd + 1;
    d->ls.dim[0] = d->N;
    for (int i = 0; i < nd; i++) {
        d->ls.dim[i + 1] = S[i];
        d->P *= S[i];
    }
    d->C = d->pscores ? pa->shape[1] : 0;
    return CLI_OK;
}

/* The target: a label map [N, spatial...] or a per-class map [N, C', spatial...] of the
 * prediction's images; a class count the arrays fix must agree with --classes. */
static int target_shape(const metrics_args *ma, metrics_data *d)
{
    const sl_array *ta = &d->ta;
    int nd = d->ls.ndim - 1;
    int tlab = ta->ndim == nd + 1 && ta->shape[0] == d->N;
    d->tone = ta->ndim == nd + 2 && ta->shape[0] == d->N;
    for (int i = 0; i < nd; i++) {
        tlab = tlab && ta->shape[1 + i] == d->ls.dim[1 + i];
        d->tone = d->tone && ta->shape[2 + i] == d->ls.dim[1 + i];
    }
    if (!tlab && !d->tone)
        return cli_fail("metrics", CLI_RUNTIME,
                        "%s: target shape %s matches neither a label map nor a one-hot map of the "
                        "prediction %s's images",
                        ma->target, d->st, d->sp);
    if (d->tone && d->C && ta->shape[1] != d->C)
        return cli_fail("metrics", CLI_RUNTIME,
                        "target shape %s has %lld classes but the prediction %s has %lld", d->st,
                        (long long)ta->shape[1], d->sp, (long long)d->C);
    if (d->tone) d->C = ta->shape[1];
    if (d->C && ma->classes && ma->classes != d->C)
        return cli_fail("metrics", CLI_USAGE,
                        "--classes %lld contradicts the %lld classes of the arrays",
                        (long long)ma->classes, (long long)d->C);
    return CLI_OK;
}

/* The label map of an array: the argmax of scores, or its integers. */
static int to_labels(const char *path, const sl_array *a, int scores, const metrics_data *d,
                     int32_t *y)
{
    if (scores) return argmax_classes(path, a, d->N, a->shape[1], d->P, y);
    return cli_labels("metrics", path, a, 1, y);
}

/* Without a class axis or --classes: the largest label + 1 (at least 2), refused beyond
 * MAX_INFERRED_CLASSES at once. */
static int infer_classes(const metrics_args *ma, metrics_data *d)
{
    if (d->C) return CLI_OK;
    if (ma->classes) {
        d->C = ma->classes;
        return CLI_OK;
    }
    int64_t mx = 1, at = 0;
    int which = 0;
    for (int64_t i = 0; i < d->N * d->P; i++) {
        if (d->yp[i] > mx) mx = d->yp[i], at = i, which = 0;
        if (d->yt[i] > mx && !(ma->use_ignore && d->yt[i] == ma->ignore))
            mx = d->yt[i], at = i, which = 1;
    }
    if (mx >= MAX_INFERRED_CLASSES)
        return cli_fail("metrics", CLI_RUNTIME,
                        "%s: label %lld at flat index %lld would make %lld classes, more "
                        "than the %d reported without --classes (give --classes, at most "
                        "%d)",
                        which ? ma->target : ma->pred, (long long)mx, (long long)at,
                        (long long)mx + 1, MAX_INFERRED_CLASSES, MAX_CLASSES);
    d->C = mx + 1;
    return CLI_OK;
}

/* What the classes will cost, before anything is allocated for them, and every label in
 * [0, C) (the target's may be the ignore index). */
static int check_classes(const metrics_args *ma, const metrics_data *d)
{
    int64_t N = d->N, C = d->C, P = d->P;
    if (C > MAX_CLASSES || N * C > MAX_RESULTS ||
        (double)N * (double)C * (double)P > (double)MAX_SWEEP)
        return cli_fail("metrics", CLI_RUNTIME,
                        "%lld images x %lld classes x %lld pixels is too much work (at most %d "
                        "classes, 2^22 image-class results and 2^34 pixel visits)",
                        (long long)N, (long long)C, (long long)P, MAX_CLASSES);
    for (int k = 0; k < 2; k++) {
        const int32_t *y = k ? d->yt : d->yp;
        for (int64_t i = 0; i < N * P; i++)
            if ((y[i] < 0 || y[i] >= C) && !(k && ma->use_ignore && y[i] == ma->ignore))
                return cli_fail("metrics", CLI_RUNTIME,
                                "%s: label %d at flat index %lld is out of range [0, %lld)",
                                k ? ma->target : ma->pred, y[i], (long long)i, (long long)C);
    }
    if (ma->nsp >= 0 && ma->nsp != d->ls.ndim - 1)
        return cli_fail("metrics", CLI_USAGE,
                        "--spacing has %d values but the images have %d spatial axes", ma->nsp,
                        d->ls.ndim - 1);
    return CLI_OK;
}

/* The two files as label maps of a known class count. */
static int metrics_load(const metrics_args *ma, metrics_data *d)
{
    int rc;
    if ((rc = cli_load("metrics", ma->pred, &d->pa)) != CLI_OK ||
        (rc = cli_load("metrics", ma->target, &d->ta)) != CLI_OK)
        return rc;
    cli_shape_str(&d->pa, d->sp, sizeof d->sp);
    cli_shape_str(&d->ta, d->st, sizeof d->st);
    if ((rc = pred_shape(ma, d)) != CLI_OK || (rc = target_shape(ma, d)) != CLI_OK) return rc;
    d->yp = malloc((size_t)(d->N * d->P) * sizeof(int32_t) + 1);
    d->yt = malloc((size_t)(d->N * d->P) * sizeof(int32_t) + 1);
    if (!d->yp || !d->yt) return cli_fail("metrics", CLI_RUNTIME, "out of memory");
    if ((rc = to_labels(ma->pred, &d->pa, d->pscores, d, d->yp)) != CLI_OK ||
        (rc = to_labels(ma->target, &d->ta, d->tone, d, d->yt)) != CLI_OK ||
        (rc = infer_classes(ma, d)) != CLI_OK)
        return rc;
    return check_classes(ma, d);
}

/* The metrics into d->res: [4][N, C] dice, iou, hd95, assd. */
static int metrics_run(const metrics_args *ma, metrics_data *d)
{
    size_t wsz = sl_metrics_workspace_size(&d->ls, d->C);
    d->ws = malloc(wsz ? wsz : 1);
    d->res = malloc((size_t)(4 * d->N * d->C) * sizeof(double) + 1);
    if (!d->ws || !d->res) return cli_fail("metrics", CLI_RUNTIME, "out of memory");
    int64_t NC = d->N * d->C;
    sl_metrics_out mo = {d->res, d->res + NC, d->res + 2 * NC, d->res + 3 * NC};
    sl_metrics_opts mopt = {.include_background = ma->with_bg,
                            .use_ignore_index = ma->use_ignore,
                            .ignore_index = (int32_t)ma->ignore};
    sl_error err;
    sl_status st = sl_metrics(d->yp, d->yt, &d->ls, d->C, ma->nsp >= 0 ? ma->spacing : NULL, &mopt,
                              &mo, d->ws, wsz, &err);
    return st == SL_OK ? CLI_OK : cli_status("metrics", st, &err);
}

static const char *const metric_names[4] = {"dice", "iou", "hd95", "assd"};

/* "[v, ...]" over the classes reported (from c0): image n's values of m [N, C], or with mean
 * their means over images. */
static void json_classes(const metrics_data *d, int64_t c0, const double *m, int64_t n, int mean)
{
    printf("[");
    for (int64_t c = c0; c < d->C; c++) {
        if (c > c0) printf(", ");
        cli_json_number(mean ? class_mean(m, d->N, d->C, c) : m[n * d->C + c], 1);
    }
    printf("]");
}

static void metrics_json(const metrics_args *ma, const metrics_data *d, int64_t c0)
{
    int64_t N = d->N, C = d->C;
    printf("{\"images\": %lld, \"classes\": %lld, \"include_background\": %s, "
           "\"ignore_index\": ",
           (long long)N, (long long)C, c0 ? "false" : "true");
    if (ma->use_ignore)
        printf("%lld", (long long)ma->ignore);
    else
        printf("null");
    printf(", \"class_ids\": [");
    for (int64_t c = c0; c < C; c++)
        printf(c > c0 ? ", %lld" : "%lld", (long long)c);
    printf("], \"spacing\": [");
    for (int i = 0; i < d->ls.ndim - 1; i++) {
        if (i) printf(", ");
        cli_json_number(ma->nsp >= 0 ? ma->spacing[i] : 1.0, 1);
    }
    printf("]");
    for (int k = 0; k < 4; k++) {
        printf(", \"%s\": [", metric_names[k]);
        for (int64_t n = 0; n < N; n++) {
            printf(n ? ", " : "");
            json_classes(d, c0, d->res + k * N * C, n, 0);
        }
        printf("]");
    }
    for (int k = 0; k < 4; k++) {
        printf(", \"mean_%s\": ", metric_names[k]);
        json_classes(d, c0, d->res + k * N * C, 0, 1);
    }
    printf("}\n");
}

static void metrics_table(const metrics_data *d, int64_t c0)
{
    int64_t N = d->N, C = d->C;
    printf("%lld image%s, %lld classes (%s); means over images, undefined values "
           "skipped\n",
           (long long)N, N == 1 ? "" : "s", (long long)C,
           c0 ? "background left out" : "background included");
    printf("%-8s %10s %10s %10s %10s\n", "class", "dice", "iou", "hd95", "assd");
    for (int64_t c = c0; c < C; c++) {
        printf("%-8lld", (long long)c);
        for (int k = 0; k < 4; k++) {
            double v = class_mean(d->res + k * N * C, N, C, c);
            if (isnan(v))
                printf(" %10s", "-");
            else
                printf(" %10.4f", v);
        }
        printf("\n");
    }
}

int cmd_metrics(int argc, char **argv)
{
    metrics_args ma;
    memset(&ma, 0, sizeof ma);
    metrics_data d;
    memset(&d, 0, sizeof d);
    int rc = metrics_parse(argc, argv, &ma);
    if (rc == CLI_OK) rc = metrics_load(&ma, &d);
    if (rc == CLI_OK) rc = metrics_run(&ma, &d);
    if (rc == CLI_OK) {
        /* The classes reported: MONAI leaves the background out only when there is another. */
        int64_t c0 = ma.with_bg || d.C == 1 ? 0 : 1;
        ma.json ? metrics_json(&ma, &d, c0) : metrics_table(&d, c0);
    }
    sl_array_free(&d.pa);
    sl_array_free(&d.ta);
    free(d.yp);
    free(d.yt);
    free(d.res);
    free(d.ws);
    return rc;
}
