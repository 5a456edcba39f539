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

/* Per-pixel loss and dL/dlogp (unscaled) at one pixel, for both paths. logp and g are strided
 * by `st` (SL_BLOCK in a block, 1 for a pixel); t points at the pixel's class-0 target. */
static double ce_pixel(const sl_options *o, const sl_batch *b, int64_t C, int64_t P, int64_t y,
                       const float *t, const float *logpf, const double *logpd, float *gf,
                       double *gd, int64_t st)
{
    double ls = o->label_smoothing, l = 0.0;
#define LOGP(c) (logpf ? (double)logpf[(c) * st] : logpd[(c) * st])
#define SETG(c, v)                                                                             \
    do {                                                                                       \
        if (gf)                                                                                \
            gf[(c) * st] = (float)(v);                                                         \
        else                                                                                   \
            gd[(c) * st] = (v);                                                                \
    } while (0)
    if (b->target_kind == SL_TARGET_LABELS) {
        if (y == o->ignore_index) {
            for (int64_t c = 0; c < C; c++) SETG(c, 0.0);
            return 0.0;
        }
        for (int64_t c = 0; c < C; c++) {
            double gc = -(ls / (double)C) * sl__w(o, c);
            l += gc * LOGP(c);
            if (c == y) {
                double gy = -(1.0 - ls) * sl__w(o, y);
                l += gy * LOGP(y);
                gc += gy;
            }
            SETG(c, gc);
        }
        return l;
    }
    for (int64_t c = 0; c < C; c++) {
        double tc = (double)t[c * P] * (1.0 - ls) + ls / (double)C;
        double gc = -sl__w(o, c) * tc;
        l += gc * LOGP(c);
        SETG(c, gc);
    }
    return l;
#undef LOGP
#undef SETG
}

static sl_status ce_run(const sl_options *o, const sl_batch *b, sl_output *out, int fast)
{
    int64_t N = b->shape.dim[0], C = b->shape.dim[1];
    int64_t P = sl_shape_numel(&b->shape) / (N * C);
    sl__block blk;
    sl__pixel px;
    sl__scratch_init(out->workspace, C, &blk, &px);
    double D = ce_denominator(o, b, N * P);
    /* The gradient is written in the same pass as the loss, so the mean's scale comes first. */
    double scale = o->reduction == SL_REDUCE_MEAN ? (D > 0 ? 1.0 / D : 0.0) : 1.0;
    double total = 0.0;
    for (int64_t n = 0; n < N; n++) {
        const float *x = b->input + n * C * P;
        const float *t = b->target_kind == SL_TARGET_PROBS ? b->target + n * C * P : NULL;
        const int32_t *y = b->target_kind == SL_TARGET_LABELS ? b->labels + n * P : NULL;
        float *gr = out->grad ? out->grad + n * C * P : NULL;
        float *map = out->loss_map ? out->loss_map + n * P : NULL;
        if (fast) {
            for (int64_t p0 = 0; p0 < P; p0 += SL_BLOCK) {
                int64_t nb = P - p0 < SL_BLOCK ? P - p0 : SL_BLOCK;
                sl__logp_block(x + p0, P, C, nb, b->input_kind, o->eps, &blk);
                double part = 0.0;
                for (int64_t j = 0; j < nb; j++) {
                    double l = ce_pixel(o, b, C, P, y ? y[p0 + j] : 0, t ? t + p0 + j : NULL,
                                        blk.logp + j, NULL, blk.g + j, NULL, SL_BLOCK);
                    if (map) map[p0 + j] = (float)l;
                    part += l;
                    for (int64_t c = 0; c < C; c++) blk.g[c * SL_BLOCK + j] *= (float)scale;
                }
                total += part;
                if (gr) sl__chain_block(&blk, P, C, nb, b->input_kind, o->eps, gr + p0);
            }
        } else {
            for (int64_t i = 0; i < P; i++) {
                sl__logp_pixel(x + i, P, C, b->input_kind, o->eps, &px);
                double l = ce_pixel(o, b, C, P, y ? y[i] : 0, t ? t + i : NULL, NULL, px.logp,
                                    NULL, px.g, 1);
                if (map) map[i] = (float)l;
                total += l;
                for (int64_t c = 0; c < C; c++) px.g[c] *= scale;
                if (gr) sl__chain_pixel(&px, P, C, b->input_kind, o->eps, gr + i);
            }
        }
    }
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

static size_t ce_workspace(const sl_batch *b)
{
    return sl__scratch_size(b->shape.dim[1]);
}

static const sl_param_info ce_params[] = {
    {"weight", SL_PARAM_LIST, "none", NULL, "one non-negative weight per class"},
    {"ignore_index", SL_PARAM_INT, "-100", NULL, "label whose pixels are left out"},
    {"label_smoothing", SL_PARAM_NUMBER, "0", NULL, "in [0, 1]: mix the target with uniform"},
    {"eps", SL_PARAM_NUMBER, "1e-7", NULL, "probability clip when the input is probabilities"},
    {"reduction", SL_PARAM_WORD, "mean", "mean|sum|none", "mean is the weighted mean"},
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
};
