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

int cmd_metrics(int argc, char **argv)
{
    const char *predp = NULL, *targp = NULL, *kind = NULL, *classes_s = NULL, *spacing_s = NULL,
               *ignore_s = NULL;
    int json = 0, with_bg = 0;
    cli_opt opts[] = {
        {"pred", 1, &predp, NULL},
        {"target", 1, &targp, NULL},
        {"pred-kind", 1, &kind, NULL},
        {"classes", 1, &classes_s, NULL},
        {"spacing", 1, &spacing_s, NULL},
        {"json", 0, NULL, &json},
        {"include-background", 0, NULL, &with_bg},
        {"ignore-index", 1, &ignore_s, NULL},
    };
    const char *pos[1];
    int npos;
    int rc = cli_parse("metrics", metrics_usage, argc, argv, opts, 8, pos, 0, &npos);
    if (rc != CLI_OK) return rc;
    if (!predp) return cli_missing("metrics", "pred");
    if (!targp) return cli_missing("metrics", "target");
    int scores_kind = -1; /* -1: by dtype */
    if (kind) {
        if (strcmp(kind, "scores") == 0)
            scores_kind = 1;
        else if (strcmp(kind, "labels") == 0)
            scores_kind = 0;
        else
            return cli_fail("metrics", CLI_USAGE, "--pred-kind must be scores or labels, got '%s'",
                            kind);
    }
    int64_t classes_opt = 0;
    if (classes_s && (rc = cli_int("metrics", "classes", classes_s, 1, MAX_CLASSES, &classes_opt)))
        return rc;
    int64_t ignore_v = 0;
    if (ignore_s &&
        (rc = cli_int("metrics", "ignore-index", ignore_s, INT32_MIN, INT32_MAX, &ignore_v)))
        return rc;
    double spacing[3];
    int nsp = 0;
    if (spacing_s && (rc = cli_doubles("metrics", "spacing", spacing_s, 0, 3, spacing, &nsp)))
        return rc;
    for (int i = 0; i < nsp; i++)
        if (!(spacing[i] > 0.0))
            return cli_fail("metrics", CLI_USAGE, "--spacing: value %d is %g: must be > 0", i + 1,
                            spacing[i]);

    sl_array pa = {0}, ta = {0};
    int32_t *yp = NULL, *yt = NULL;
    double *res = NULL;
    void *ws = NULL;
    char sp[160], st[160];
    if ((rc = cli_load("metrics", predp, &pa)) != CLI_OK) goto done;
    if ((rc = cli_load("metrics", targp, &ta)) != CLI_OK) goto done;
    cli_shape_str(&pa, sp, sizeof sp);
    cli_shape_str(&ta, st, sizeof st);
    int pscores = scores_kind >= 0 ? scores_kind : is_float(&pa);
    int nd = pa.ndim - (pscores ? 2 : 1); /* spatial axes */
    if (nd < 1 || nd > 3) {
        rc = cli_fail("metrics", CLI_RUNTIME,
                      "%s: prediction shape %s: need %s with 1 to 3 spatial axes", predp, sp,
                      pscores ? "scores [N, C, spatial...]" : "a label map [N, spatial...]");
        goto done;
    }
    for (int i = 0; i < pa.ndim; i++)
        if (pa.shape[i] < 1) {
            rc = cli_fail("metrics", CLI_RUNTIME, "%s: prediction shape %s has an empty axis",
                          predp, sp);
            goto done;
        }
    const int64_t *S = pa.shape + (pscores ? 2 : 1);
    int64_t N = pa.shape[0], P = 1;
    for (int i = 0; i < nd; i++)
        P *= S[i];
    /* The target: a label map [N, S] or a per-class map [N, C', S]. */
    int tlab = ta.ndim == nd + 1 && ta.shape[0] == N, tone = ta.ndim == nd + 2 && ta.shape[0] == N;
    for (int i = 0; i < nd; i++) {
        tlab = tlab && ta.shape[1 + i] == S[i];
        tone = tone && ta.shape[2 + i] == S[i];
    }
    if (!tlab && !tone) {
        rc = cli_fail("metrics", CLI_RUNTIME,
                      "%s: target shape %s matches neither a label map nor a one-hot map of the "
                      "prediction %s's images",
                      targp, st, sp);
        goto done;
    }
    int64_t C = 0;
    if (pscores) C = pa.shape[1];
    if (tone) {
        if (C && ta.shape[1] != C) {
            rc = cli_fail("metrics", CLI_RUNTIME,
                          "target shape %s has %lld classes but the prediction %s has %lld", st,
                          (long long)ta.shape[1], sp, (long long)C);
            goto done;
        }
        C = ta.shape[1];
    }
    if (C && classes_opt && classes_opt != C) {
        rc = cli_fail("metrics", CLI_USAGE,
                      "--classes %lld contradicts the %lld classes of the "
                      "arrays",
                      (long long)classes_opt, (long long)C);
        goto done;
    }
    yp = malloc((size_t)(N * P) * sizeof(int32_t));
    yt = malloc((size_t)(N * P) * sizeof(int32_t));
    if (!yp || !yt) {
        rc = cli_fail("metrics", CLI_RUNTIME, "out of memory");
        goto done;
    }
    if (pscores) {
        if ((rc = argmax_classes(predp, &pa, N, pa.shape[1], P, yp)) != CLI_OK) goto done;
    } else if ((rc = cli_labels("metrics", predp, &pa, 1, yp)) != CLI_OK) {
        goto done;
    }
    if (tone) {
        if ((rc = argmax_classes(targp, &ta, N, C, P, yt)) != CLI_OK) goto done;
    } else if ((rc = cli_labels("metrics", targp, &ta, 1, yt)) != CLI_OK) {
        goto done;
    }
    if (!C) {
        if (classes_opt) {
            C = classes_opt;
        } else {
            int64_t mx = 1, at = 0;
            int which = 0;
            for (int64_t i = 0; i < N * P; i++) {
                if (yp[i] > mx) mx = yp[i], at = i, which = 0;
                if (yt[i] > mx && !(ignore_s && yt[i] == ignore_v)) mx = yt[i], at = i, which = 1;
            }
            if (mx >= MAX_INFERRED_CLASSES) {
                rc = cli_fail("metrics", CLI_RUNTIME,
                              "%s: label %lld at flat index %lld would make %lld classes, more "
                              "than the %d reported without --classes (give --classes, at most "
                              "%d)",
                              which ? targp : predp, (long long)mx, (long long)at,
                              (long long)mx + 1, MAX_INFERRED_CLASSES, MAX_CLASSES);
                goto done;
            }
            C = mx + 1;
        }
    }
    /* what the classes will cost, before anything is allocated for them */
    if (C > MAX_CLASSES || N * C > MAX_RESULTS ||
        (double)N * (double)C * (double)P > (double)MAX_SWEEP) {
        rc = cli_fail("metrics", CLI_RUNTIME,
                      "%lld images x %lld classes x %lld pixels is too much work (at most %d "
                      "classes, 2^22 image-class results and 2^34 pixel visits)",
                      (long long)N, (long long)C, (long long)P, MAX_CLASSES);
        goto done;
    }
    for (int k = 0; k < 2; k++) {
        const int32_t *y = k ? yt : yp;
        for (int64_t i = 0; i < N * P; i++)
            if ((y[i] < 0 || y[i] >= C) && !(k && ignore_s && y[i] == ignore_v)) {
                rc = cli_fail("metrics", CLI_RUNTIME,
                              "%s: label %d at flat index %lld is out of range [0, %lld)",
                              k ? targp : predp, y[i], (long long)i, (long long)C);
                goto done;
            }
    }
    if (spacing_s && nsp != nd) {
        rc = cli_fail("metrics", CLI_USAGE,
                      "--spacing has %d values but the images have %d "
                      "spatial axes",
                      nsp, nd);
        goto done;
    }

    sl_shape ls;
    ls.ndim = nd + 1;
    ls.dim[0] = N;
    for (int i = 0; i < nd; i++)
        ls.dim[i + 1] = S[i];
    size_t wsz = sl_metrics_workspace_size(&ls, C);
    ws = malloc(wsz ? wsz : 1);
    res = malloc((size_t)(4 * N * C) * sizeof(double));
    if (!ws || !res) {
        rc = cli_fail("metrics", CLI_RUNTIME, "out of memory");
        goto done;
    }
    sl_metrics_out mo = {res, res + N * C, res + 2 * N * C, res + 3 * N * C};
    sl_metrics_opts mopt = {.include_background = with_bg,
                            .use_ignore_index = ignore_s != NULL,
                            .ignore_index = (int32_t)ignore_v};
    sl_error err;
    sl_status sst =
        sl_metrics(yp, yt, &ls, C, spacing_s ? spacing : NULL, &mopt, &mo, ws, wsz, &err);
    if (sst != SL_OK) {
        rc = cli_status("metrics", sst, &err);
        goto done;
    }
    static const char *const names[4] = {"dice", "iou", "hd95", "assd"};
    const double *m[4] = {mo.dice, mo.iou, mo.hd95, mo.assd};
    /* The classes reported: MONAI leaves the background out only when there is another. */
    int64_t c0 = with_bg || C == 1 ? 0 : 1;
    if (json) {
        printf("{\"images\": %lld, \"classes\": %lld, \"include_background\": %s, "
               "\"ignore_index\": ",
               (long long)N, (long long)C, c0 ? "false" : "true");
        if (ignore_s)
            printf("%lld", (long long)ignore_v);
        else
            printf("null");
        printf(", \"class_ids\": [");
        for (int64_t c = c0; c < C; c++)
            printf(c > c0 ? ", %lld" : "%lld", (long long)c);
        printf("], \"spacing\": [");
        for (int i = 0; i < nd; i++) {
            if (i) printf(", ");
            cli_json_number(spacing_s ? spacing[i] : 1.0, 1);
        }
        printf("]");
        for (int k = 0; k < 4; k++) {
            printf(", \"%s\": [", names[k]);
            for (int64_t n = 0; n < N; n++) {
                printf(n ? ", [" : "[");
                for (int64_t c = c0; c < C; c++) {
                    if (c > c0) printf(", ");
                    cli_json_number(m[k][n * C + c], 1);
                }
                printf("]");
            }
            printf("]");
        }
        for (int k = 0; k < 4; k++) {
            printf(", \"mean_%s\": [", names[k]);
            for (int64_t c = c0; c < C; c++) {
                if (c > c0) printf(", ");
                cli_json_number(class_mean(m[k], N, C, c), 1);
            }
            printf("]");
        }
        printf("}\n");
    } else {
        printf("%lld image%s, %lld classes (%s); means over images, undefined values "
               "skipped\n",
               (long long)N, N == 1 ? "" : "s", (long long)C,
               c0 ? "background left out" : "background included");
        printf("%-8s %10s %10s %10s %10s\n", "class", "dice", "iou", "hd95", "assd");
        for (int64_t c = c0; c < C; c++) {
            printf("%-8lld", (long long)c);
            for (int k = 0; k < 4; k++) {
                double v = class_mean(m[k], N, C, c);
                if (isnan(v))
                    printf(" %10s", "-");
                else
                    printf(" %10.4f", v);
            }
            printf("\n");
        }
    }
    rc = CLI_OK;
done:
    sl_array_free(&pa);
    sl_array_free(&ta);
    free(yp);
    free(yt);
    free(res);
    free(ws);
    return rc;
}
