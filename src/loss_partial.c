/* Losses for partial (missing) annotations.
 *
 * missing_ce  - the post's custom loss: cross-entropy whose background term is switched off at
 *               pixels whose predicted class (argmax, lowest index on ties) is not annotated in
 *               the image. The gate is a constant for the gradient.
 * marginal_ce - marginal cross-entropy (Shi et al., 2021): at background pixels the probability
 *               of "background or any class not annotated in the image" is scored.
 *
 * Formulas and gradients: docs/losses.md, "missing_ce" and "marginal_ce". */
#include "internal.h"

#include <math.h>
#include <stdio.h>

/* Scratch: the pixel machinery, then the [N, C] annotation matrix. */
static size_t partial_workspace(const sl_batch *b)
{
    return sl__scratch_size(b->shape.dim[1]) + (size_t)(b->shape.dim[0] * b->shape.dim[1]);
}

static uint8_t *partial_scratch(const sl_batch *b, sl_output *out, sl__block *blk, sl__pixel *px)
{
    size_t used = sl__scratch_init(out->workspace, b->shape.dim[1], blk, px);
    uint8_t *ann = (uint8_t *)out->workspace + used;
    sl__annotated(b, ann);
    return ann;
}

/* Index of the largest target entry of a pixel (per-class targets). */
static int64_t target_argmax(const float *t, int64_t P, int64_t C)
{
    return sl__argmax_pixel(t, P, C);
}

/* ---------------------------------------------------------------------------------------------
 * missing_ce
 */

/* Loss and unscaled dL/dlogp of one pixel; *gated says whether the pixel is a gated
 * background pixel (left out of the `valid` denominator). */
static double missing_pixel(const sl_options *o, const sl_batch *b, int64_t C, int64_t P,
                            int gate, int64_t y, const float *t, const float *lpf,
                            const double *lpd, float *gf, double *gd, int64_t st, int *gated)
{
    double l = 0.0;
    *gated = 0;
    for (int64_t c = 0; c < C; c++) {
        if (gf)
            gf[c * st] = 0.0f;
        else
            gd[c * st] = 0.0;
    }
    if (b->target_kind == SL_TARGET_LABELS) {
        if (y == o->ignore_index) return 0.0;
        if (y == 0 && gate) {
            *gated = 1;
            return 0.0;
        }
        double lp = lpf ? (double)lpf[y * st] : lpd[y * st];
        double w = sl__w(o, y);
        if (gf)
            gf[y * st] = (float)-w;
        else
            gd[y * st] = -w;
        return -w * lp;
    }
    *gated = gate && target_argmax(t, P, C) == 0;
    for (int64_t c = gate ? 1 : 0; c < C; c++) {
        double gc = -sl__w(o, c) * (double)t[c * P];
        l += gc * (lpf ? (double)lpf[c * st] : lpd[c * st]);
        if (gf)
            gf[c * st] = (float)gc;
        else
            gd[c * st] = gc;
    }
    return l;
}

/* The mean's normaliser; for `valid`, gated pixels leave it (a pass over the input's argmax). */
static double missing_denominator(const sl_options *o, const sl_batch *b, const uint8_t *ann)
{
    int64_t N = b->shape.dim[0], C = b->shape.dim[1];
    int64_t P = sl_shape_numel(&b->shape) / (N * C);
    int valid = o->denominator == SL_DENOM_VALID;
    double d = 0.0;
    for (int64_t n = 0; n < N; n++) {
        for (int64_t i = 0; i < P; i++) {
            int gate = valid && !ann[n * C + sl__argmax_pixel(b->input + n * C * P + i, P, C)];
            if (b->target_kind == SL_TARGET_LABELS) {
                int64_t y = b->labels[n * P + i];
                if (y == o->ignore_index || (y == 0 && gate)) continue;
                d += sl__w(o, y);
            } else {
                if (gate && target_argmax(b->target + n * C * P + i, P, C) == 0) continue;
                d += 1.0;
            }
        }
    }
    return d;
}

static sl_status missing_run(const sl_options *o, const sl_batch *b, sl_output *out, int fast)
{
    int64_t N = b->shape.dim[0], C = b->shape.dim[1];
    int64_t P = sl_shape_numel(&b->shape) / (N * C);
    sl__block blk;
    sl__pixel px;
    const uint8_t *ann = partial_scratch(b, out, &blk, &px);
    double D = o->reduction == SL_REDUCE_MEAN ? missing_denominator(o, b, ann) : 1.0;
    double scale = D > 0 ? 1.0 / D : 0.0;
    if (o->reduction != SL_REDUCE_MEAN) scale = 1.0;
    double total = 0.0;
    int gated;
    for (int64_t n = 0; n < N; n++) {
        const float *x = b->input + n * C * P;
        const float *t = b->target_kind == SL_TARGET_PROBS ? b->target + n * C * P : NULL;
        const int32_t *y = b->target_kind == SL_TARGET_LABELS ? b->labels + n * P : NULL;
        float *gr = out->grad ? out->grad + n * C * P : NULL;
        float *map = out->loss_map ? out->loss_map + n * P : NULL;
        const uint8_t *an = ann + n * C;
        if (fast) {
            for (int64_t p0 = 0; p0 < P; p0 += SL_BLOCK) {
                int64_t nb = P - p0 < SL_BLOCK ? P - p0 : SL_BLOCK;
                sl__logp_block(x + p0, P, C, nb, b->input_kind, o->eps, &blk);
                for (int64_t j = 0; j < nb; j++) {
                    int gate = !an[sl__argmax_pixel(x + p0 + j, P, C)];
                    double l = missing_pixel(o, b, C, P, gate, y ? y[p0 + j] : 0,
                                             t ? t + p0 + j : NULL, blk.logp + j, NULL,
                                             blk.g + j, NULL, SL_BLOCK, &gated);
                    if (map) map[p0 + j] = (float)l;
                    total += l;
                    for (int64_t c = 0; c < C; c++) blk.g[c * SL_BLOCK + j] *= (float)scale;
                }
                if (gr) sl__chain_block(&blk, P, C, nb, b->input_kind, o->eps, gr + p0);
            }
        } else {
            for (int64_t i = 0; i < P; i++) {
                int gate = !an[sl__argmax_pixel(x + i, P, C)];
                sl__logp_pixel(x + i, P, C, b->input_kind, o->eps, &px);
                double l = missing_pixel(o, b, C, P, gate, y ? y[i] : 0, t ? t + i : NULL, NULL,
                                         px.logp, NULL, px.g, 1, &gated);
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

static sl_status missing_fast(const sl_loss_info *loss, const sl_options *o, const sl_batch *b,
                              sl_output *out, sl_error *err)
{
    (void)loss;
    (void)err;
    return missing_run(o, b, out, 1);
}

static sl_status missing_ref(const sl_loss_info *loss, const sl_options *o, const sl_batch *b,
                             sl_output *out, sl_error *err)
{
    (void)loss;
    (void)err;
    return missing_run(o, b, out, 0);
}

static const sl_param_info missing_params[] = {
    {"weight", SL_PARAM_LIST, "none", NULL, "one non-negative weight per class"},
    {"ignore_index", SL_PARAM_INT, "-100", NULL, "label whose pixels are left out"},
    {"eps", SL_PARAM_NUMBER, "1e-7", NULL, "probability clip when the input is probabilities"},
    {"reduction", SL_PARAM_WORD, "mean", "mean|sum|none", "mean is the weighted mean"},
    {"denominator", SL_PARAM_WORD, "all", "all|valid",
     "mean over all pixels (the post, Keras) or over pixels not gated"},
};

const sl_loss_info sl__loss_missing_ce = {
    "missing_ce",
    "the post's custom loss: no background penalty where an unannotated class is predicted",
    missing_params,
    (int)(sizeof missing_params / sizeof missing_params[0]),
    SL_MAP_PIXEL,
    missing_fast,
    missing_ref,
    partial_workspace,
    NULL,
};

/* ---------------------------------------------------------------------------------------------
 * marginal_ce
 */

/* Loss and unscaled dL/dlogp of one pixel. The merged background is S = {0} and the classes
 * not annotated; log q0 = logsumexp over S of logp. */
static double marginal_pixel(const sl_options *o, const sl_batch *b, const uint8_t *an,
                             int64_t C, int64_t P, int64_t y, const float *t, const float *lpf,
                             const double *lpd, float *gf, double *gd, int64_t st)
{
#define LP(c) (lpf ? (double)lpf[(c) * st] : lpd[(c) * st])
#define SETG(c, v)                                                                             \
    do {                                                                                       \
        if (gf)                                                                                \
            gf[(c) * st] = (float)(v);                                                         \
        else                                                                                   \
            gd[(c) * st] = (v);                                                                \
    } while (0)
    for (int64_t c = 0; c < C; c++) SETG(c, 0.0);
    if (b->target_kind == SL_TARGET_LABELS && y == o->ignore_index) return 0.0;
    double m = LP(0);
    for (int64_t c = 1; c < C; c++)
        if (!an[c]) m = fmax(m, LP(c));
    double s = 0.0;
    for (int64_t c = 0; c < C; c++)
        if (c == 0 || !an[c]) s += exp(LP(c) - m);
    double lq = m + log(s);
    double t0; /* weight of the merged background */
    double l = 0.0;
    if (b->target_kind == SL_TARGET_LABELS) {
        if (y != 0) {
            SETG(y, -1.0);
            return -LP(y);
        }
        t0 = 1.0;
    } else {
        t0 = 0.0;
        for (int64_t c = 0; c < C; c++) {
            if (c == 0 || !an[c]) {
                t0 += t[c * P];
            } else {
                l -= (double)t[c * P] * LP(c);
                SETG(c, -(double)t[c * P]);
            }
        }
    }
    for (int64_t c = 0; c < C; c++)
        if (c == 0 || !an[c]) SETG(c, -t0 * exp(LP(c) - lq));
    return l - t0 * lq;
#undef LP
#undef SETG
}

static sl_status marginal_run(const sl_options *o, const sl_batch *b, sl_output *out, int fast)
{
    int64_t N = b->shape.dim[0], C = b->shape.dim[1];
    int64_t P = sl_shape_numel(&b->shape) / (N * C);
    sl__block blk;
    sl__pixel px;
    const uint8_t *ann = partial_scratch(b, out, &blk, &px);
    double D = (double)(N * P);
    if (b->target_kind == SL_TARGET_LABELS)
        for (int64_t i = 0; i < N * P; i++) D -= b->labels[i] == o->ignore_index;
    double scale = o->reduction == SL_REDUCE_MEAN ? (D > 0 ? 1.0 / D : 0.0) : 1.0;
    double total = 0.0;
    for (int64_t n = 0; n < N; n++) {
        const float *x = b->input + n * C * P;
        const float *t = b->target_kind == SL_TARGET_PROBS ? b->target + n * C * P : NULL;
        const int32_t *y = b->target_kind == SL_TARGET_LABELS ? b->labels + n * P : NULL;
        float *gr = out->grad ? out->grad + n * C * P : NULL;
        float *map = out->loss_map ? out->loss_map + n * P : NULL;
        const uint8_t *an = ann + n * C;
        if (fast) {
            for (int64_t p0 = 0; p0 < P; p0 += SL_BLOCK) {
                int64_t nb = P - p0 < SL_BLOCK ? P - p0 : SL_BLOCK;
                sl__logp_block(x + p0, P, C, nb, b->input_kind, o->eps, &blk);
                for (int64_t j = 0; j < nb; j++) {
                    double l = marginal_pixel(o, b, an, C, P, y ? y[p0 + j] : 0,
                                              t ? t + p0 + j : NULL, blk.logp + j, NULL,
                                              blk.g + j, NULL, SL_BLOCK);
                    if (map) map[p0 + j] = (float)l;
                    total += l;
                    for (int64_t c = 0; c < C; c++) blk.g[c * SL_BLOCK + j] *= (float)scale;
                }
                if (gr) sl__chain_block(&blk, P, C, nb, b->input_kind, o->eps, gr + p0);
            }
        } else {
            for (int64_t i = 0; i < P; i++) {
                sl__logp_pixel(x + i, P, C, b->input_kind, o->eps, &px);
                double l = marginal_pixel(o, b, an, C, P, y ? y[i] : 0, t ? t + i : NULL, NULL,
                                          px.logp, NULL, px.g, 1);
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

static sl_status marginal_fast(const sl_loss_info *loss, const sl_options *o, const sl_batch *b,
                               sl_output *out, sl_error *err)
{
    (void)loss;
    (void)err;
    return marginal_run(o, b, out, 1);
}

static sl_status marginal_ref(const sl_loss_info *loss, const sl_options *o, const sl_batch *b,
                              sl_output *out, sl_error *err)
{
    (void)loss;
    (void)err;
    return marginal_run(o, b, out, 0);
}

/* A pixel labelled with a class declared not annotated contradicts the annotation matrix. */
static sl_status marginal_check(const sl_loss_info *loss, const sl_options *o, const sl_batch *b,
                                sl_error *err)
{
    (void)loss;
    if (!b->annotated) return SL_OK;
    int64_t N = b->shape.dim[0], C = b->shape.dim[1];
    int64_t P = sl_shape_numel(&b->shape) / (N * C);
    sl_shape ls = b->shape;
    for (int i = 1; i < ls.ndim - 1; i++) ls.dim[i] = ls.dim[i + 1];
    ls.ndim--;
    char where[128];
    for (int64_t n = 0; n < N; n++) {
        for (int64_t i = 0; i < P; i++) {
            if (b->target_kind == SL_TARGET_LABELS) {
                int64_t y = b->labels[n * P + i];
                if (y >= 1 && y < C && y != o->ignore_index && !b->annotated[n * C + y]) {
                    sl__index_str(&ls, n * P + i, where, sizeof where);
                    return sl__fail(err, SL_E_LABEL,
                                    "marginal_ce: label %lld at target%s is a class the "
                                    "annotation matrix declares not annotated in image %lld",
                                    (long long)y, where, (long long)n);
                }
            } else {
                for (int64_t c = 1; c < C; c++)
                    if (!b->annotated[n * C + c] && b->target[(n * C + c) * P + i] > 0.0f) {
                        sl__index_str(&b->shape, (n * C + c) * P + i, where, sizeof where);
                        return sl__fail(err, SL_E_LABEL,
                                        "marginal_ce: target%s > 0 for class %lld, which the "
                                        "annotation matrix declares not annotated in image %lld",
                                        where, (long long)c, (long long)n);
                    }
            }
        }
    }
    return SL_OK;
}

static const sl_param_info marginal_params[] = {
    {"ignore_index", SL_PARAM_INT, "-100", NULL, "label whose pixels are left out"},
    {"eps", SL_PARAM_NUMBER, "1e-7", NULL, "probability clip when the input is probabilities"},
    {"reduction", SL_PARAM_WORD, "mean", "mean|sum|none", "mean over non-ignored pixels"},
};

const sl_loss_info sl__loss_marginal_ce = {
    "marginal_ce",
    "marginal cross-entropy (Shi et al. 2021): background merged with unannotated classes",
    marginal_params,
    (int)(sizeof marginal_params / sizeof marginal_params[0]),
    SL_MAP_PIXEL,
    marginal_fast,
    marginal_ref,
    partial_workspace,
    marginal_check,
};
