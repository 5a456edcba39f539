/* ce: categorical cross-entropy, torch.nn.functional.cross_entropy exactly (weight,
 * ignore_index, label_smoothing, reduction; label-map and probability targets); with
 * probabilities as input, log p is log(clip(p / sum_c p, eps, 1 - eps)) as in Keras.
 * Formula and gradient: docs/losses.md, "ce". */
#include "internal.h"

#include <math.h>

/* The mean's normaliser: sum of w_y over non-ignored pixels (label map) or N*P (per-class). */
static double ce_denominator(const sl_options *o, const sl_batch *b, int64_t NP)
{
    if (b->target_kind == SL_TARGET_PROBS) return (double)NP;
    double d = 0.0;
    for (int64_t i = 0; i < NP; i++)
        if (b->labels[i] != o->ignore_index) d += sl__w(o, b->labels[i]);
    return d;
}

typedef struct {
    const sl_options *o;
    const sl_batch *b;
    int64_t C, P;
} ce_ctx;

/* One pixel: its loss and g = dl/dlogp. */
static double ce_pixel(const void *vctx, int64_t n, int64_t i, const float *x, const sl__lp *lp)
{
    const ce_ctx *k = vctx;
    const sl_options *o = k->o;
    int64_t C = k->C, P = k->P;
    double ls = o->label_smoothing, l = 0.0;
    (void)x;
    if (k->b->target_kind == SL_TARGET_LABELS) {
        int64_t y = k->b->labels[n * P + i];
        if (y == o->ignore_index) {
            for (int64_t c = 0; c < C; c++) sl__lp_set(lp, c, 0.0);
            return 0.0;
        }
        for (int64_t c = 0; c < C; c++) {
            /* -(1 - ls) w_y logp_y - (ls / C) sum_c w_c logp_c */
            double gc = -(ls / (double)C) * sl__w(o, c);
            if (c == y) gc -= (1.0 - ls) * sl__w(o, y);
            l += gc * sl__lp_get(lp, c);
            sl__lp_set(lp, c, gc);
        }
        return l;
    }
    const float *t = k->b->target + n * C * P + i;
    for (int64_t c = 0; c < C; c++) {
        double tc = (double)t[c * P] * (1.0 - ls) + ls / (double)C;
        double gc = -sl__w(o, c) * tc;
        l += gc * sl__lp_get(lp, c);
        sl__lp_set(lp, c, gc);
    }
    return l;
}

static sl_status ce_run(const sl_options *o, const sl_batch *b, sl_output *out, int fast)
{
    int64_t N = b->shape.dim[0], C = b->shape.dim[1];
    int64_t P = sl_shape_numel(&b->shape) / (N * C);
    ce_ctx k = {o, b, C, P};
    double D = ce_denominator(o, b, N * P);
    /* The gradient is written in the same pass as the loss, so the mean's scale comes first. */
    double scale = o->reduction == SL_REDUCE_MEAN ? (D > 0 ? 1.0 / D : 0.0) : 1.0;
    double total = sl__run_pixels(b, o->eps, out, fast, scale, ce_pixel, &k);
    out->loss = o->reduction == SL_REDUCE_MEAN ? total / D : total;
    return SL_OK;
}

static sl_status ce_fast(const sl_loss_info *loss, const sl_options *o, const sl_batch *b,
                         sl_output *out, sl_error *err)
{
    (void)loss;
    (void)err;
    return ce_run(o, b, out, 1);
}

static sl_status ce_ref(const sl_loss_info *loss, const sl_options *o, const sl_batch *b,
                        sl_output *out, sl_error *err)
{
    (void)loss;
    (void)err;
    return ce_run(o, b, out, 0);
}

static size_t ce_workspace(const sl_options *o, const sl_batch *b)
{
    (void)o;
    return sl__scratch_size(b->shape.dim[1]);
}

static const sl_param_info ce_params[] = {
    {"weight", SL_PARAM_LIST, "none", NULL, "one non-negative weight per class", 0, 1e300},
    {"ignore_index", SL_PARAM_INT, "-100", NULL, "label whose pixels are left out", 0, 0},
    {"label_smoothing", SL_PARAM_NUMBER, "0", NULL, "mix the target with uniform", 0, 1},
    {"eps", SL_PARAM_NUMBER, "1e-7", NULL, "probability clip when the input is probabilities", 1e-300,
     0.4999},
    {"reduction", SL_PARAM_WORD, "mean", "mean|sum|none", "mean is the weighted mean", 0, 0},
};

const sl_loss_info sl__loss_ce = {
    "ce",
    "categorical cross-entropy, as torch.nn.functional.cross_entropy (Keras on probabilities)",
    ce_params,
    (int)(sizeof ce_params / sizeof ce_params[0]),
    SL_MAP_PIXEL,
    ce_fast,
    ce_ref,
    ce_workspace,
    NULL,
    NULL,
};
