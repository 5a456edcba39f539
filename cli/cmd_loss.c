/* segloss loss: evaluate a loss spec on .npy files; segloss list: the registry. */
#include "cli.h"
#include "out.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char loss_usage[] =
    "usage: segloss loss SPEC --input X.npy --target T.npy [options]\n"
    "\n"
    "Evaluates SPEC (e.g. 'ce', 'ce(weight=[0.2,1,1,2],ignore_index=255)',\n"
    "'0.5*ce + missing_ce(denominator=valid)'; see segloss list) on the input and target.\n"
    "\n"
    "  --input X.npy          float32/float64 [N, C, spatial...], 1 to 3 spatial axes\n"
    "  --target T.npy         label map [N, spatial...] or [N, 1, spatial...] (integers; {0, 1}\n"
    "                         for a sigmoid loss on one channel), or a per-class map of the\n"
    "                         input's shape (one-hot, probabilities, or multi-label 0/1)\n"
    "  --input-kind KIND      logits (default; softmax inside) or probs (Keras: renormalised,\n"
    "                         clipped to [eps, 1 - eps])\n"
    "  --annotated A.npy      [N, C] 0/1: which classes are annotated in which image\n"
    "                         (default: inferred from the target)\n"
    "  --grad G.npy           write d(loss)/d(input), float32 of the input's shape\n"
    "                         (reduction=none: the gradient of the sum of the map)\n"
    "  --loss-map M.npy       write the unreduced losses, float32: per pixel [N, spatial...],\n"
    "                         per (image, class) or per element, as `segloss list` shows\n"
    "  --impl fast|ref        the fast implementation (default) or the double-precision\n"
    "                         reference\n"
    "  --threads T            threads to run on (default: OMP_NUM_THREADS, else every core);\n"
    "                         the result is the same for any T\n"
    "  --json                 print one JSON object; its field `loss` is the reduced value\n";

/* Convert a numeric array to float32 (a new buffer). */
static float *to_f32(const sl_array *a)
{
    int64_t n = sl_array_numel(a);
    float *f = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    if (!f) return NULL;
    for (int64_t i = 0; i < n; i++) {
        switch (a->dtype) {
        case SL_DT_F32: f[i] = ((const float *)a->data)[i]; break;
        case SL_DT_F64: f[i] = (float)((const double *)a->data)[i]; break;
        case SL_DT_U8: f[i] = ((const uint8_t *)a->data)[i]; break;
        case SL_DT_I32: f[i] = (float)((const int32_t *)a->data)[i]; break;
        case SL_DT_I64: f[i] = (float)((const int64_t *)a->data)[i]; break;
        }
    }
    return f;
}

int cmd_loss(int argc, char **argv)
{
    const char *input = NULL, *target = NULL, *kind = NULL, *annot = NULL, *gradp = NULL,
               *mapp = NULL, *impl_s = NULL, *threads_s = NULL;
    int json = 0;
    cli_opt opts[] = {
        {"input", 1, &input, NULL},       {"target", 1, &target, NULL},
        {"input-kind", 1, &kind, NULL},   {"annotated", 1, &annot, NULL},
        {"grad", 1, &gradp, NULL},        {"loss-map", 1, &mapp, NULL},
        {"impl", 1, &impl_s, NULL},       {"json", 0, NULL, &json},
        {"threads", 1, &threads_s, NULL},
    };
    const char *pos[1];
    int npos;
    int rc = cli_parse("loss", loss_usage, argc, argv, opts, 9, pos, 1, &npos);
    if (rc != CLI_OK) return rc;
    if (npos < 1)
        return cli_fail("loss", CLI_USAGE, "a loss spec is required (see segloss loss --help)");
    if (!input) return cli_missing("loss", "input");
    if (!target) return cli_missing("loss", "target");
    sl_input_kind ik = SL_INPUT_LOGITS;
    if (kind) {
        if (strcmp(kind, "logits") == 0) ik = SL_INPUT_LOGITS;
        else if (strcmp(kind, "probs") == 0) ik = SL_INPUT_PROBS;
        else
            return cli_fail("loss", CLI_USAGE, "--input-kind must be logits or probs, got '%s'",
                            kind);
    }
    sl_impl impl = SL_IMPL_FAST;
    if (impl_s) {
        if (strcmp(impl_s, "fast") == 0) impl = SL_IMPL_FAST;
        else if (strcmp(impl_s, "ref") == 0) impl = SL_IMPL_REF;
        else return cli_fail("loss", CLI_USAGE, "--impl must be fast or ref, got '%s'", impl_s);
    }
    int64_t threads = 0;
    if (threads_s && (rc = cli_int("loss", "threads", threads_s, 1, 1024, &threads)) != CLI_OK)
        return rc;
    /* every output is named before any work: two options naming one file are refused */
    cli_outs outs;
    cli_outs_init(&outs, "loss");
    if ((rc = cli_outs_add(&outs, "grad", gradp)) != CLI_OK ||
        (rc = cli_outs_add(&outs, "loss-map", mapp)) != CLI_OK) {
        cli_outs_end(&outs);
        return rc;
    }
    sl_error err;
    sl_spec *spec = NULL;
    sl_status st = sl_spec_parse(pos[0], &spec, &err);
    if (st != SL_OK) {
        cli_outs_end(&outs);
        return cli_status("loss", st, &err);
    }

    sl_array x = {0}, t = {0}, a = {0};
    float *xf = NULL, *tf = NULL, *grad = NULL, *map = NULL;
    int32_t *labels = NULL;
    uint8_t *ann = NULL;
    void *ws = NULL;
    char sx[160], stt[160], sa[160];
    sl_batch b;
    memset(&b, 0, sizeof b);

    if ((rc = cli_load("loss", input, &x)) != CLI_OK) goto done;
    cli_shape_str(&x, sx, sizeof sx);
    if (x.dtype != SL_DT_F32 && x.dtype != SL_DT_F64) {
        rc = cli_fail("loss", CLI_RUNTIME, "%s: input dtype %s is not supported: need float32 "
                      "or float64", input, sl_dtype_name(x.dtype));
        goto done;
    }
    if (x.ndim < 3 || x.ndim > 5) {
        rc = cli_fail("loss", CLI_RUNTIME, "%s: input shape %s: need [N, C, spatial...] with 1 "
                      "to 3 spatial axes", input, sx);
        goto done;
    }
    for (int i = 0; i < x.ndim; i++)
        if (x.shape[i] < 1) {
            rc = cli_fail("loss", CLI_RUNTIME, "%s: input shape %s has an empty axis %d", input,
                          sx, i);
            goto done;
        }
    if ((rc = cli_load("loss", target, &t)) != CLI_OK) goto done;
    cli_shape_str(&t, stt, sizeof stt);
    int same = t.ndim == x.ndim, lab = t.ndim == x.ndim - 1, lab1 = t.ndim == x.ndim;
    for (int i = 0; same && i < x.ndim; i++) same = t.shape[i] == x.shape[i];
    for (int i = 0; lab && i < t.ndim; i++) lab = t.shape[i] == x.shape[i ? i + 1 : 0];
    /* MONAI's label map [N, 1, spatial...]: the same pixels as [N, spatial...] */
    for (int i = 0; lab1 && i < t.ndim; i++) lab1 = t.shape[i] == (i == 1 ? 1 : x.shape[i]);
    /* With one channel an integer [N, 1, spatial...] is a label map, a float one a per-class
     * map; both give the same numbers for a {0, 1} target. */
    if (lab1 && (!same || !(t.dtype == SL_DT_F32 || t.dtype == SL_DT_F64))) {
        lab = 1;
        same = 0;
    }
    if (!same && !lab) {
        rc = cli_fail("loss", CLI_RUNTIME,
                      "%s: target shape %s matches neither the input's %s (per-class map) nor "
                      "[N, spatial...] or [N, 1, spatial...] (label map)", target, stt, sx);
        goto done;
    }
    b.shape.ndim = x.ndim;
    for (int i = 0; i < x.ndim; i++) b.shape.dim[i] = x.shape[i];
    b.input_kind = ik;
    /* float32 is used in place; float64 is converted */
    if (x.dtype == SL_DT_F32) {
        b.input = x.data;
    } else {
        xf = to_f32(&x);
        if (!xf) {
            rc = cli_fail("loss", CLI_RUNTIME, "out of memory");
            goto done;
        }
        sl_array_free(&x);
        b.input = xf;
    }
    if (same) {
        b.target_kind = SL_TARGET_PROBS;
        if (t.dtype == SL_DT_F32) {
            b.target = t.data;
        } else {
            if (!(tf = to_f32(&t))) {
                rc = cli_fail("loss", CLI_RUNTIME, "out of memory");
                goto done;
            }
            sl_array_free(&t);
            b.target = tf;
        }
    } else {
        b.target_kind = SL_TARGET_LABELS;
        if (t.dtype == SL_DT_I32) /* used in place; the library checks the labels */
            b.labels = t.data;
    }
    if (!same && !b.labels) {
        int64_t nl = sl_array_numel(&t);
        if (!(labels = malloc((size_t)nl * sizeof(int32_t)))) {
            rc = cli_fail("loss", CLI_RUNTIME, "out of memory");
            goto done;
        }
        if ((rc = cli_labels("loss", target, &t, 1, labels)) != CLI_OK) goto done;
        sl_array_free(&t);
        b.labels = labels;
    }
    if (annot) {
        if ((rc = cli_load("loss", annot, &a)) != CLI_OK) goto done;
        cli_shape_str(&a, sa, sizeof sa);
        if (a.ndim != 2 || a.shape[0] != b.shape.dim[0] || a.shape[1] != b.shape.dim[1]) {
            rc = cli_fail("loss", CLI_RUNTIME, "%s: annotation matrix shape %s: need [N, C] = "
                          "[%lld, %lld]", annot, sa, (long long)b.shape.dim[0],
                          (long long)b.shape.dim[1]);
            goto done;
        }
        int64_t na = sl_array_numel(&a);
        ann = malloc((size_t)na);
        if (!ann) {
            rc = cli_fail("loss", CLI_RUNTIME, "out of memory");
            goto done;
        }
        for (int64_t i = 0; i < na; i++) {
            double v = cli_elem(&a, i);
            if (v != 0.0 && v != 1.0) {
                rc = cli_fail("loss", CLI_RUNTIME, "%s: annotation matrix [%lld, %lld] = %g: "
                              "must be 0 or 1", annot, (long long)(i / a.shape[1]),
                              (long long)(i % a.shape[1]), v);
                goto done;
            }
            ann[i] = (uint8_t)v;
        }
        b.annotated = ann;
    }

    sl_shape ms;
    if (mapp) {
        st = sl_spec_map_shape(spec, &b, &ms, &err);
        if (st != SL_OK) {
            rc = cli_status("loss", st, &err);
            goto done;
        }
    }
    int64_t numel = sl_shape_numel(&b.shape);
    size_t wsz = sl_spec_workspace_size(spec, &b);
    ws = malloc(wsz ? wsz : 1);
    if (gradp) grad = malloc((size_t)numel * sizeof(float));
    if (mapp) map = malloc((size_t)sl_shape_numel(&ms) * sizeof(float));
    if (!ws || (gradp && !grad) || (mapp && !map)) {
        rc = cli_fail("loss", CLI_RUNTIME, "out of memory");
        goto done;
    }
    sl_output out = {0.0, grad, map, ws, wsz, (int)threads};
    st = sl_spec_eval(spec, &b, impl, &out, &err);
    if (st != SL_OK) {
        rc = cli_status("loss", st, &err);
        goto done;
    }
    if (gradp) {
        int64_t gs[SL_MAX_DIMS];
        for (int i = 0; i < b.shape.ndim; i++)
            gs[i] = b.shape.dim[i];
        if ((rc = cli_outs_npy(&outs, gradp, SL_DT_F32, b.shape.ndim, gs, grad)) != CLI_OK)
            goto done;
    }
    if (mapp) {
        int64_t mshape[SL_MAX_DIMS];
        for (int i = 0; i < ms.ndim; i++)
            mshape[i] = ms.dim[i];
        if ((rc = cli_outs_npy(&outs, mapp, SL_DT_F32, ms.ndim, mshape, map)) != CLI_OK) goto done;
    }
    if ((rc = cli_outs_commit(&outs)) != CLI_OK) goto done; /* all outputs or none */
    if (json) {
        printf("{\"loss\": ");
        cli_json_number(out.loss, 1);
        printf(", \"spec\": ");
        cli_json_string(pos[0]);
        printf(", \"impl\": \"%s\", \"input_kind\": \"%s\", \"target\": \"%s\", "
               "\"shape\": %s}\n",
               impl == SL_IMPL_REF ? "ref" : "fast", ik == SL_INPUT_PROBS ? "probs" : "logits",
               same ? "per-class" : "labels", sx);
    } else {
        cli_print_number(out.loss);
        putchar('\n');
    }
    rc = CLI_OK;
done:
    cli_outs_end(&outs);
    sl_spec_free(spec);
    sl_array_free(&x);
    sl_array_free(&t);
    sl_array_free(&a);
    free(xf);
    free(tf);
    free(labels);
    free(ann);
    free(ws);
    free(grad);
    free(map);
    return rc;
}

static const char list_usage[] =
    "usage: segloss list\n\nEvery loss with its parameters, their defaults and a description.\n";

int cmd_list(int argc, char **argv)
{
    const char *pos[1];
    int npos;
    int rc = cli_parse("list", list_usage, argc, argv, NULL, 0, pos, 0, &npos);
    if (rc != CLI_OK) return rc;
    for (int i = 0; i < sl_loss_count(); i++) {
        const sl_loss_info *l = sl_loss_at(i);
        printf("%s\n    %s\n", sl_loss_name(l), sl_loss_summary(l));
        /* The unreduced map's shape, shown on an example input. */
        sl_batch ex;
        memset(&ex, 0, sizeof ex);
        ex.shape.ndim = 4;
        ex.shape.dim[0] = 2;
        ex.shape.dim[1] = 4;
        ex.shape.dim[2] = ex.shape.dim[3] = 8;
        sl_options o;
        sl_options_for(l, &o);
        sl_shape ms;
        sl_loss_map_shape(l, &o, &ex, &ms);
        printf("    unreduced map of an input [2, 4, 8, 8]: [");
        for (int d = 0; d < ms.ndim; d++) printf(d ? ", %lld" : "%lld", (long long)ms.dim[d]);
        printf("]\n");
        for (int k = 0; k < sl_loss_nparams(l); k++) {
            sl_param_info p;
            sl_loss_param(l, k, &p);
            char def[96], also[64] = "";
            snprintf(def, sizeof def, "%s=%s", p.key, p.def);
            if (p.alias) snprintf(also, sizeof also, " (also spelt %s)", p.alias);
            const char *words = p.type == SL_PARAM_BOOL ? "true|false" : p.words;
            printf("    %-24s %s%s%s%s%s\n", def, p.help, also, words ? " (" : "",
                   words ? words : "", words ? ")" : "");
        }
        if (i + 1 < sl_loss_count()) printf("\n");
    }
    return CLI_OK;
}
