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

/* Scratch: the pixel machinery, then the [N, C] annotation matrix. */
static size_t partial_workspace(const sl_options *o, const sl_batch *b)
{
    (void)o;
    return sl__scratch_size(b->shape.dim[1]) + (size_t)(b->shape.dim[0] * b->shape.dim[1]);
}

/* The annotation matrix, built in the workspace after the pixel scratch. */
static const uint8_t *partial_annotated(const sl_batch *b, sl_output *out)
{
    uint8_t *ann = (uint8_t *)out->workspace + sl__scratch_size(b->shape.dim[1]);
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

typedef struct {
    const sl_options *o;
    const sl_batch *b;
    const uint8_t *ann; /* [N, C] */
    int64_t C, P;
} partial_ctx;

/* One pixel of missing_ce: its loss and g = dl/dlogp. The gate (the predicted class is not
 * annotated) switches the background term off; it is a constant for the gradient. */
static double missing_pixel(const void *vctx, int64_t n, int64_t i, const float *x,
                            const sl__lp *lp)
{
    const partial_ctx *k = vctx;
    const sl_options *o = k->o;
    int64_t C = k->C, P = k->P;
    int gate = !k->ann[n * C + sl__argmax_pixel(x, P, C)];
    for (int64_t c = 0; c < C; c++) sl__lp_set(lp, c, 0.0);
    if (k->b->target_kind == SL_TARGET_LABELS) {
        int64_t y = k->b->labels[n * P + i];
        if (y == o->ignore_index || (y == 0 && gate)) return 0.0;
        double w = sl__w(o, y);
        sl__lp_set(lp, y, -w);
        return -w * sl__lp_get(lp, y);
    }
    const float *t = k->b->target + n * C * P + i;
    double l = 0.0;
    for (int64_t c = gate ? 1 : 0; c < C; c++) {
        double gc = -sl__w(o, c) * (double)t[c * P];
        l += gc * sl__lp_get(lp, c);
        sl__lp_set(lp, c, gc);
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
    partial_ctx k = {o, b, partial_annotated(b, out), C, P};
    double D = o->reduction == SL_REDUCE_MEAN ? missing_denominator(o, b, k.ann) : 1.0;
    double scale = o->reduction == SL_REDUCE_MEAN ? (D > 0 ? 1.0 / D : 0.0) : 1.0;
    double total = sl__run_pixels(b, o->eps, out, fast, scale, missing_pixel, &k);
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
    {"weight", SL_PARAM_LIST, "none", NULL, "one non-negative weight per class", 0, 1e300},
    {"ignore_index", SL_PARAM_INT, "-100", NULL, "label whose pixels are left out", 0, 0},
    {"eps", SL_PARAM_NUMBER, "1e-7", NULL, "probability clip when the input is probabilities", 1e-300,
     0.4999},
    {"reduction", SL_PARAM_WORD, "mean", "mean|sum|none", "mean is the weighted mean", 0, 0},
    {"denominator", SL_PARAM_WORD, "all", "all|valid",
     "mean over all pixels (the post, Keras) or over pixels not gated", 0, 0},
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
    NULL,
};

/* ---------------------------------------------------------------------------------------------
 * marginal_ce
 */

/* One pixel of marginal_ce. The merged background is S = {0} and the classes not annotated;
 * log q0 = logsumexp over S of logp. */
static double marginal_pixel(const void *vctx, int64_t n, int64_t i, const float *x,
                             const sl__lp *lp)
{
    const partial_ctx *k = vctx;
    const sl_options *o = k->o;
    const uint8_t *an = k->ann + n * k->C;
    int64_t C = k->C, P = k->P;
    (void)x;
    for (int64_t c = 0; c < C; c++) sl__lp_set(lp, c, 0.0);
    int64_t y = k->b->target_kind == SL_TARGET_LABELS ? k->b->labels[n * P + i] : 0;
    if (k->b->target_kind == SL_TARGET_LABELS && y == o->ignore_index) return 0.0;
    if (k->b->target_kind == SL_TARGET_LABELS && y != 0) {
        sl__lp_set(lp, y, -1.0);
        return -sl__lp_get(lp, y);
    }
    double m = sl__lp_get(lp, 0);
    for (int64_t c = 1; c < C; c++)
        if (!an[c]) m = fmax(m, sl__lp_get(lp, c));
    double s = 0.0;
    for (int64_t c = 0; c < C; c++)
        if (c == 0 || !an[c]) s += exp(sl__lp_get(lp, c) - m);
    double lq = m + log(s);
    double t0 = 1.0; /* the merged background's target */
    double l = 0.0;
    if (k->b->target_kind == SL_TARGET_PROBS) {
        const float *t = k->b->target + n * C * P + i;
        t0 = 0.0;
        for (int64_t c = 0; c < C; c++) {
            if (c == 0 || !an[c]) {
                t0 += t[c * P];
            } else {
                l -= (double)t[c * P] * sl__lp_get(lp, c);
                sl__lp_set(lp, c, -(double)t[c * P]);
            }
        }
    }
    for (int64_t c = 0; c < C; c++)
        if (c == 0 || !an[c]) sl__lp_set(lp, c, -t0 * exp(sl__lp_get(lp, c) - lq));
    return l - t0 * lq;
}

static sl_status marginal_run(const sl_options *o, const sl_batch *b, sl_output *out, int fast)
{
    int64_t N = b->shape.dim[0], C = b->shape.dim[1];
    int64_t P = sl_shape_numel(&b->shape) / (N * C);
    partial_ctx k = {o, b, partial_annotated(b, out), C, P};
    double D = (double)(N * P);
    if (b->target_kind == SL_TARGET_LABELS)
        for (int64_t i = 0; i < N * P; i++) D -= b->labels[i] == o->ignore_index;
    double scale = o->reduction == SL_REDUCE_MEAN ? (D > 0 ? 1.0 / D : 0.0) : 1.0;
    double total = sl__run_pixels(b, o->eps, out, fast, scale, marginal_pixel, &k);
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
    {"ignore_index", SL_PARAM_INT, "-100", NULL, "label whose pixels are left out", 0, 0},
    {"eps", SL_PARAM_NUMBER, "1e-7", NULL, "probability clip when the input is probabilities", 1e-300,
     0.4999},
    {"reduction", SL_PARAM_WORD, "mean", "mean|sum|none", "mean over non-ignored pixels", 0, 0},
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
    NULL,
};
