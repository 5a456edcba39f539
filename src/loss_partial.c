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

/* Index of the largest target entry of a pixel (per-class targets). */
static int64_t target_argmax(const float *t, int64_t P, int64_t C)
{
    return sl__argmax_pixel(t, P, C);
}

/* ---------------------------------------------------------------------------------------------
 * missing_ce
 */

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

/* One pixel of the reference. The gate (the predicted class is not annotated) switches the
 * background term off; it is a constant for the gradient. */
static double missing_term(const sl_call *c, sl__ce_ws *w, int64_t n, int64_t i)
{
    const sl_options *o = c->o;
    const sl_batch *b = c->b;
    int64_t C = c->C, P = c->P;
    sl__refpx *px = &w->px;
    int gate = !w->ann[n * C + sl__argmax_pixel(b->input + n * C * P + i, P, C)];
    double l = 0.0;
    if (b->target_kind == SL_TARGET_LABELS) {
        int64_t y = b->labels[n * P + i];
        if (y != o->ignore_index && !(y == 0 && gate)) {
            px->g[y] = -sl__w(o, y);
            l = px->g[y] * px->lp[y];
        }
        return l;
    }
    for (int64_t k = gate ? 1 : 0; k < C; k++) {
        px->g[k] = -sl__w(o, k) * (double)b->target[(n * C + k) * P + i];
        l += px->g[k] * px->lp[k];
    }
    return l;
}

static sl_status missing_ref(const sl_call *c, double *loss)
{
    sl__ce_ws w;
    sl__ce_carve(c, &w);
    sl__annotated(c->b, w.ann);
    int mean = c->o->reduction == SL_REDUCE_MEAN;
    return sl__ce_ref(c, &w, mean ? missing_denominator(c->o, c->b, w.ann) : 1.0, missing_term,
                      loss);
}

static sl_status missing_fast(const sl_call *c, double *loss)
{
    if (!sl__ce_can_vectorise(c)) return sl__fall_back(c, missing_ref, loss);
    const sl_options *o = c->o;
    sl__ce_ws w;
    sl__ce_carve(c, &w);
    int mean = o->reduction == SL_REDUCE_MEAN;
    double D;
    sl_status st = sl__ce_counts(c, &w, o->weight, 1, &D);
    if (st != SL_OK) return st;
    if (mean && o->denominator == SL_DENOM_VALID) {
        /* the gated pixels leave the normaliser: a pass over the input's argmax */
        st = sl__recheck_values(c);
        if (st != SL_OK) return st;
        D = missing_denominator(o, c->b, w.ann);
    }
    return sl__ce_fast(c, &w, SL__CE_MISSING, o->weight, mean ? D : 1.0, mean, loss);
}

static const sl__key missing_params[] = {
    {.id = SL_OPT_weight},
    {.id = SL_OPT_ignore_index, .help = "label whose pixels are left out"},
    {.id = SL_OPT_eps},
    {.id = SL_OPT_reduction, .help = "mean is the weighted mean"},
    {.id = SL_OPT_denominator, .help = "mean over all pixels (the post, Keras) or over pixels not gated"},
};

const sl_loss_info sl__loss_missing_ce = {
    "missing_ce",
    "the post's custom loss: no background penalty where an unannotated class is predicted",
    SL__KEYS(missing_params),
    SL_MAP_PIXEL,
    missing_fast,
    missing_ref,
    sl__ce_workspace,
    NULL,
    NULL,
    SL_LOSS_KERNEL_CHECKS | SL_LOSS_SHARD_NORM | SL_LOSS_RENORMALISES,
};

/* ---------------------------------------------------------------------------------------------
 * marginal_ce
 */

/* One pixel of the reference. The merged background is S = {0} and the classes not annotated;
 * log q0 = logsumexp over S of logp. */
static double marginal_term(const sl_call *c, sl__ce_ws *w, int64_t n, int64_t i)
{
    const sl_batch *b = c->b;
    int64_t C = c->C, P = c->P;
    const uint8_t *an = w->ann + n * C;
    sl__refpx *px = &w->px;
    int labels = b->target_kind == SL_TARGET_LABELS;
    int64_t y = labels ? b->labels[n * P + i] : 0;
    if (labels && y == c->o->ignore_index) return 0.0; /* left out */
    if (labels && y != 0) {
        px->g[y] = -1.0;
        return -px->lp[y];
    }
    double m = px->lp[0], s = 0.0, l = 0.0;
    for (int64_t k = 1; k < C; k++)
        if (!an[k]) m = fmax(m, px->lp[k]);
    for (int64_t k = 0; k < C; k++)
        if (k == 0 || !an[k]) s += exp(px->lp[k] - m);
    double lq = m + log(s), t0 = 1.0; /* the merged background's target */
    if (!labels) {
        const float *t = b->target + n * C * P + i;
        t0 = 0.0;
        for (int64_t k = 0; k < C; k++) {
            if (k == 0 || !an[k]) {
                t0 += t[k * P];
            } else {
                l -= (double)t[k * P] * px->lp[k];
                px->g[k] = -(double)t[k * P];
            }
        }
    }
    for (int64_t k = 0; k < C; k++)
        if (k == 0 || !an[k]) px->g[k] = -t0 * exp(px->lp[k] - lq);
    return l - t0 * lq;
}

static sl_status marginal_ref(const sl_call *c, double *loss)
{
    sl__ce_ws w;
    sl__ce_carve(c, &w);
    sl__annotated(c->b, w.ann);
    return sl__ce_ref(c, &w, sl__ce_kept(c), marginal_term, loss);
}

static sl_status marginal_fast(const sl_call *c, double *loss)
{
    if (!sl__ce_can_vectorise(c)) return sl__fall_back(c, marginal_ref, loss);
    sl__ce_ws w;
    sl__ce_carve(c, &w);
    double D;
    sl_status st = sl__ce_counts(c, &w, NULL, 1, &D);
    if (st != SL_OK) return st;
    return sl__ce_fast(c, &w, SL__CE_MARGINAL, NULL, D, c->o->reduction == SL_REDUCE_MEAN, loss);
}

/* The label map's shape [N, d1, ...] (the batch's without its class axis), for messages. */
static sl_shape label_shape(const sl_batch *b)
{
    sl_shape ls = b->shape;
    for (int d = 1; d + 1 < ls.ndim; d++)
        ls.dim[d] = ls.dim[d + 1];
    ls.ndim--;
    return ls;
}

sl_status sl__annotation_check(const sl_loss_info *loss, const sl_options *o, const sl_batch *b,
                               sl_error *err)
{
    if (!b->annotated) return SL_OK;
    int64_t N = b->shape.dim[0], C = b->shape.dim[1];
    int64_t P = sl_shape_numel(&b->shape) / (N * C);
    char where[160];
    if (b->target_kind == SL_TARGET_LABELS) {
        sl_shape ls = label_shape(b);
        for (int64_t i = 0; i < N * P; i++) {
            int64_t y = b->labels[i];
            if (y == o->ignore_index || y < 1 || y >= C || b->annotated[i / P * C + y]) continue;
            sl__index_str(&ls, i, where, sizeof where);
            return sl__fail(err, SL_E_LABEL,
                            "%s: label %lld at target%s is a class the annotation matrix "
                            "declares not annotated in image %lld",
                            loss->name, (long long)y, where, (long long)(i / P));
        }
        return SL_OK;
    }
    for (int64_t e = 0; e < N * C; e++) { /* e = n * C + c */
        if (e % C == 0 || b->annotated[e]) continue;
        for (int64_t i = 0; i < P; i++)
            if (b->target[e * P + i] > 0.0f) {
                sl__index_str(&b->shape, e * P + i, where, sizeof where);
                return sl__fail(err, SL_E_LABEL,
                                "%s: target%s > 0 for class %lld, which the annotation matrix "
                                "declares not annotated in image %lld",
                                loss->name, where, (long long)(e % C), (long long)(e / C));
            }
    }
    return SL_OK;
}

static const sl__key marginal_params[] = {
    {.id = SL_OPT_ignore_index, .help = "label whose pixels are left out"},
    {.id = SL_OPT_eps},
    {.id = SL_OPT_reduction, .help = "mean over non-ignored pixels"},
};

const sl_loss_info sl__loss_marginal_ce = {
    "marginal_ce",
    "marginal cross-entropy (Shi et al. 2021): background merged with unannotated classes",
    SL__KEYS(marginal_params),
    SL_MAP_PIXEL,
    marginal_fast,
    marginal_ref,
    sl__ce_workspace,
    sl__annotation_check,
    NULL,
    SL_LOSS_KERNEL_CHECKS | SL_LOSS_SHARD_NORM | SL_LOSS_RENORMALISES,
};
