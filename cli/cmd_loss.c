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
    "  --input-kind KIND      logits (default: a softmax, or a sigmoid for the sigmoid\n"
    "                         losses) or probs (each loss reads them its own way: ce and\n"
    "                         focal as Keras, renormalised and clipped to [eps, 1 - eps];\n"
    "                         the Dice family as given; the table in include/segloss.h)\n"
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

/* What was asked. */
typedef struct {
    const char *spec, *input, *target, *annot, *grad, *map;
    sl_input_kind kind;
    sl_impl impl;
    int64_t threads;
    int json;
} loss_args;

/* What was read and computed; freed by loss_free. */
typedef struct {
    sl_spec *spec;
    sl_array x, t, a;
    float *xf, *tf, *grad, *map;
    int32_t *labels;
    uint8_t *ann;
    void *ws;
    size_t wsz;
    sl_batch b;
    sl_shape ms;   /* the loss map's shape */
    int per_class; /* the target is a per-class map (else a label map) */
    char sx[160];  /* the input's shape, for messages and the JSON */
} loss_data;

/* s is word a (*which = 0) or word b (*which = 1); otherwise a usage error naming opt. */
static int one_of(const char *opt, const char *s, const char *a, const char *b, int *which)
{
    if (!s) return CLI_OK;
    if (strcmp(s, a) == 0 || strcmp(s, b) == 0) {
        *which = strcmp(s, b) == 0;
        return CLI_OK;
    }
    return cli_fail("loss", CLI_USAGE, "--%s must be %s or %s, got '%s'", opt, a, b, s);
}

static int loss_parse(int argc, char **argv, loss_args *la)
{
    const char *kind = NULL, *impl = NULL, *threads = NULL;
    cli_opt opts[] = {
        {"input", 1, &la->input, NULL}, {"target", 1, &la->target, NULL},
        {"input-kind", 1, &kind, NULL}, {"annotated", 1, &la->annot, NULL},
        {"grad", 1, &la->grad, NULL},   {"loss-map", 1, &la->map, NULL},
        {"impl", 1, &impl, NULL},       {"json", 0, NULL, &la->json},
        {"threads", 1, &threads, NULL},
    };
    const char *pos[1];
    int npos, probs = 0, ref = 0;
    int rc = cli_parse("loss", loss_usage, argc, argv, opts, 9, pos, 1, &npos);
    if (rc != CLI_OK) return rc;
    if (npos < 1)
        return cli_fail("loss", CLI_USAGE, "a loss spec is required (see segloss loss --help)");
    la->spec = pos[0];
    if (!la->input) return cli_missing("loss", "input");
    if (!la->target) return cli_missing("loss", "target");
    if ((rc = one_of("input-kind", kind, "logits", "probs", &probs)) != CLI_OK ||
        (rc = one_of("impl", impl, "fast", "ref", &ref)) != CLI_OK)
        return rc;
    la->kind = probs ? SL_INPUT_PROBS : SL_INPUT_LOGITS;
    la->impl = ref ? SL_IMPL_REF : SL_IMPL_FAST;
    la->threads = 0;
    if (threads && (rc = cli_int("loss", "threads", threads, 1, 1024, &la->threads)) != CLI_OK)
        return rc;
    return CLI_OK;
}

/* A float array as float32: its own data, or a converted copy in *copy. */
static const float *as_f32(sl_array *a, float **copy)
{
    if (a->dtype == SL_DT_F32) return a->data;
    int64_t n = sl_array_numel(a);
    float *f = *copy = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    for (int64_t i = 0; f && i < n; i++)
        f[i] = (float)cli_elem(a, i);
    return f;
}

/* The input as the batch's: float32 or float64 (converted), [N, C, spatial...]; its shape and
 * values are the library's to check. */
static int load_input(const loss_args *la, loss_data *d)
{
    int rc = cli_load("loss", la->input, &d->x);
    if (rc != CLI_OK) return rc;
    cli_shape_str(&d->x, d->sx, sizeof d->sx);
    if (d->x.dtype != SL_DT_F32 && d->x.dtype != SL_DT_F64)
        return cli_fail("loss", CLI_RUNTIME,
                        "%s: input dtype %s is not supported: need float32 "
                        "or float64",
                        la->input, sl_dtype_name(d->x.dtype));
    if (d->x.ndim > SL_MAX_DIMS)
        return cli_fail("loss", CLI_RUNTIME,
                        "%s: input shape %s: need [N, C, spatial...] with 1 "
                        "to 3 spatial axes",
                        la->input, d->sx);
    d->b.shape.ndim = d->x.ndim;
    for (int i = 0; i < d->x.ndim; i++)
        d->b.shape.dim[i] = d->x.shape[i];
    d->b.input_kind = la->kind;
    d->b.input = as_f32(&d->x, &d->xf);
    return d->b.input ? CLI_OK : cli_fail("loss", CLI_RUNTIME, "out of memory");
}

/* Which form the target's shape has: the input's (a per-class map), [N, spatial...] or
 * [N, 1, spatial...] (a label map); -1 for neither. With one channel an integer [N, 1, ...] is
 * a label map, a float one a per-class map; both give the same numbers for a {0, 1} target. */
static int target_form(const sl_array *x, const sl_array *t)
{
    int same = t->ndim == x->ndim, lab = t->ndim == x->ndim - 1, lab1 = t->ndim == x->ndim;
    for (int i = 0; same && i < x->ndim; i++)
        same = t->shape[i] == x->shape[i];
    for (int i = 0; lab && i < t->ndim; i++)
        lab = t->shape[i] == x->shape[i ? i + 1 : 0];
    for (int i = 0; lab1 && i < t->ndim; i++)
        lab1 = t->shape[i] == (i == 1 ? 1 : x->shape[i]);
    int is_float = t->dtype == SL_DT_F32 || t->dtype == SL_DT_F64;
    if (lab1 && (!same || !is_float)) return 0;
    return same ? 1 : lab ? 0 : -1;
}

/* The target fits neither form. When the input's own shape is wrong, that is the problem to
 * report: the library's message (its checks look at the input's shape first). */
static int target_mismatch(const loss_args *la, loss_data *d)
{
    double k;
    const sl_loss_info *li;
    const sl_options *o;
    sl_error err;
    sl_spec_term(d->spec, 0, &k, &li, &o);
    sl_status st = sl_batch_check(li, o, &d->b, &err); /* no target yet */
    if (st == SL_E_SHAPE) return cli_status("loss", st, &err);
    char st_s[160];
    cli_shape_str(&d->t, st_s, sizeof st_s);
    return cli_fail("loss", CLI_RUNTIME,
                    "%s: target shape %s matches neither the input's %s (per-class map) nor "
                    "[N, spatial...] or [N, 1, spatial...] (label map)",
                    la->target, st_s, d->sx);
}

/* The target: a per-class map as float32, or a label map as int32 (integers of any dtype);
 * the library checks its values. */
static int load_target(const loss_args *la, loss_data *d)
{
    int rc = cli_load("loss", la->target, &d->t);
    if (rc != CLI_OK) return rc;
    int form = target_form(&d->x, &d->t);
    if (form < 0) return target_mismatch(la, d);
    d->per_class = form;
    if (form == 1) {
        d->b.target_kind = SL_TARGET_PROBS;
        d->b.target = as_f32(&d->t, &d->tf);
        return d->b.target ? CLI_OK : cli_fail("loss", CLI_RUNTIME, "out of memory");
    }
    d->b.target_kind = SL_TARGET_LABELS;
    if (d->t.dtype == SL_DT_I32) { /* used in place */
        d->b.labels = d->t.data;
        return CLI_OK;
    }
    d->labels = malloc((size_t)sl_array_numel(&d->t) * sizeof(int32_t) + 1);
    if (!d->labels) return cli_fail("loss", CLI_RUNTIME, "out of memory");
    d->b.labels = d->labels;
    return cli_labels("loss", la->target, &d->t, 1, d->labels);
}

/* --annotated: [N, C] flags, as bytes; the library refuses a flag that is not 0 or 1 (a value
 * that is no byte at all is refused here, with the same words). */
static int load_annotated(const loss_args *la, loss_data *d)
{
    if (!la->annot) return CLI_OK;
    sl_array *a = &d->a;
    int rc = cli_load("loss", la->annot, a);
    if (rc != CLI_OK) return rc;
    int64_t N = d->b.shape.dim[0], C = d->b.shape.ndim > 1 ? d->b.shape.dim[1] : 0;
    if (a->ndim != 2 || a->shape[0] != N || a->shape[1] != C) {
        char sa[160];
        cli_shape_str(a, sa, sizeof sa);
        return cli_fail("loss", CLI_RUNTIME,
                        "%s: annotation matrix shape %s: need [N, C] = "
                        "[%lld, %lld]",
                        la->annot, sa, (long long)N, (long long)C);
    }
    d->ann = malloc((size_t)(N * C) + 1);
    if (!d->ann) return cli_fail("loss", CLI_RUNTIME, "out of memory");
    for (int64_t i = 0; i < N * C; i++) {
        double v = cli_elem(a, i);
        if (!(v >= 0 && v <= 255 && v == floor(v)))
            return cli_fail("loss", CLI_RUNTIME,
                            "%s: annotation matrix [%lld, %lld] = %g: "
                            "must be 0 or 1",
                            la->annot, (long long)(i / C), (long long)(i % C), v);
        d->ann[i] = (uint8_t)v;
    }
    d->b.annotated = d->ann;
    return CLI_OK;
}

/* The spec on the batch: the value, and the gradient and the map when asked. */
static int loss_run(const loss_args *la, loss_data *d, double *value)
{
    sl_error err;
    sl_status st;
    if (la->map && (st = sl_spec_map_shape(d->spec, &d->b, &d->ms, &err)) != SL_OK)
        return cli_status("loss", st, &err);
    d->wsz = sl_spec_workspace_size(d->spec, &d->b);
    d->ws = malloc(d->wsz ? d->wsz : 1);
    if (la->grad) d->grad = malloc((size_t)sl_shape_numel(&d->b.shape) * sizeof(float) + 1);
    if (la->map) d->map = malloc((size_t)sl_shape_numel(&d->ms) * sizeof(float) + 1);
    if (!d->ws || (la->grad && !d->grad) || (la->map && !d->map))
        return cli_fail("loss", CLI_RUNTIME, "out of memory");
    sl_output out = {0.0, d->grad, d->map, d->ws, d->wsz, (int)la->threads};
    if ((st = sl_spec_eval(d->spec, &d->b, la->impl, &out, &err)) != SL_OK)
        return cli_status("loss", st, &err);
    *value = out.loss;
    return CLI_OK;
}

/* A float32 .npy of a library shape into the output transaction. */
static int write_shaped(cli_outs *outs, const char *path, const sl_shape *s, const float *v)
{
    int64_t dims[SL_MAX_DIMS];
    for (int i = 0; i < s->ndim; i++)
        dims[i] = s->dim[i];
    return cli_outs_npy(outs, path, SL_DT_F32, s->ndim, dims, v);
}

static void loss_print(const loss_args *la, const loss_data *d, double value)
{
    if (!la->json) {
        cli_print_number(value);
        putchar('\n');
        return;
    }
    printf("{\"loss\": ");
    cli_json_number(value, 1);
    printf(", \"spec\": ");
    cli_json_string(la->spec);
    printf(", \"impl\": \"%s\", \"input_kind\": \"%s\", \"target\": \"%s\", \"shape\": %s}\n",
           la->impl == SL_IMPL_REF ? "ref" : "fast",
           la->kind == SL_INPUT_PROBS ? "probs" : "logits", d->per_class ? "per-class" : "labels",
           d->sx);
}

static void loss_free(loss_data *d)
{
    sl_spec_free(d->spec);
    sl_array_free(&d->x);
    sl_array_free(&d->t);
    sl_array_free(&d->a);
    void *bufs[] = {d->xf, d->tf, d->labels, d->ann, d->ws, d->grad, d->map};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        free(bufs[i]);
}

int cmd_loss(int argc, char **argv)
{
    loss_args la;
    memset(&la, 0, sizeof la);
    int rc = loss_parse(argc, argv, &la);
    if (rc != CLI_OK) return rc;
    /* every output is named before any work: two options naming one file are refused */
    cli_outs outs;
    cli_outs_init(&outs, "loss");
    loss_data d;
    memset(&d, 0, sizeof d);
    sl_error err;
    sl_status st;
    double value = 0;
    if ((rc = cli_outs_add(&outs, "grad", la.grad)) == CLI_OK &&
        (rc = cli_outs_add(&outs, "loss-map", la.map)) == CLI_OK)
        rc = (st = sl_spec_parse(la.spec, &d.spec, &err)) == SL_OK ? CLI_OK
                                                                   : cli_status("loss", st, &err);
    if (rc == CLI_OK) rc = load_input(&la, &d);
    if (rc == CLI_OK) rc = load_target(&la, &d);
    if (rc == CLI_OK) rc = load_annotated(&la, &d);
    if (rc == CLI_OK) rc = loss_run(&la, &d, &value);
    if (rc == CLI_OK && la.grad) rc = write_shaped(&outs, la.grad, &d.b.shape, d.grad);
    if (rc == CLI_OK && la.map) rc = write_shaped(&outs, la.map, &d.ms, d.map);
    if (rc == CLI_OK) rc = cli_outs_commit(&outs); /* all outputs or none */
    if (rc == CLI_OK) loss_print(&la, &d, value);
    cli_outs_end(&outs);
    loss_free(&d);
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
        for (int d = 0; d < ms.ndim; d++)
            printf(d ? ", %lld" : "%lld", (long long)ms.dim[d]);
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
