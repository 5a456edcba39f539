/* ce: categorical cross-entropy, torch.nn.functional.cross_entropy exactly (weight,
 * ignore_index, label_smoothing, reduction; label-map and probability targets); with
 * probabilities as input, log p is log(clip(p / sum_c p, eps, 1 - eps)) as in Keras.
 *
 * This file also holds what the cross-entropy family (ce, focal, missing_ce, marginal_ce)
 * shares: the driver of its fast kernel (src/kernels/body.h, ce_vec) and the reference's
 * log-probabilities and chain rule, in double precision, one pixel at a time.
 * Formula and gradient: docs/losses.md, "ce". */
#include "internal.h"

#include <math.h>

/* ---------------------------------------------------------------------------------------------
 * The family's reference pieces
 */

void sl__ref_logp(const float *x, int64_t P, int64_t C, sl_input_kind kind, double eps,
                  sl__refpx *px)
{
    if (kind == SL_INPUT_LOGITS) {
        for (int64_t c = 0; c < C; c++) {
            px->lp[c] = x[c * P];
            px->g[c] = 0.0;
        }
        sl__softmax(px->lp, C, 1, 1);
        return;
    }
    double s = 0.0;
    for (int64_t c = 0; c < C; c++) s += x[c * P];
    px->s = s;
    for (int64_t c = 0; c < C; c++) {
        px->u[c] = x[c * P] / s;
        px->lp[c] = log(fmin(fmax(px->u[c], eps), 1.0 - eps));
        px->g[c] = 0.0;
    }
}

void sl__ref_chain(const sl_call *c, const sl__refpx *px, int64_t n, int64_t i, double scale)
{
    if (!c->grad) return;
    int64_t C = c->C, P = c->P;
    float *grad = c->grad + n * C * P + i;
    double t = 0.0, eps = c->o->eps;
    if (c->b->input_kind == SL_INPUT_LOGITS) {
        /* dL/dz_k = g_k - p_k sum_j g_j */
        for (int64_t k = 0; k < C; k++) t += px->g[k];
        for (int64_t k = 0; k < C; k++)
            sl__put(c, grad, k * P, scale * (px->g[k] - exp(px->lp[k]) * t));
        return;
    }
    /* G_k = g_k / u_k inside [eps, 1 - eps], else 0; dL/dx_m = (G_m - sum_k G_k u_k) / s */
    for (int64_t k = 0; k < C; k++)
        if (px->u[k] >= eps && px->u[k] <= 1.0 - eps) t += px->g[k];
    for (int64_t k = 0; k < C; k++) {
        double u = px->u[k];
        double G = (u >= eps && u <= 1.0 - eps) ? px->g[k] / u : 0.0;
        sl__put(c, grad, k * P, scale * ((G - t) / px->s));
    }
}

size_t sl__ce_workspace(const sl_options *o, const sl_batch *b)
{
    (void)o;
    int64_t N = b->shape.dim[0], C = b->shape.dim[1];
    int64_t P = sl_shape_numel(&b->shape) / (N * C);
    sl__arena a = sl__arena_of(NULL);
    sl__take(&a, (size_t)(sl__nchunks(N, P) * C) * sizeof(double)); /* per-chunk sums */
    sl__take(&a, (size_t)(N * C) * sizeof(double));                 /* label counts */
    sl__take(&a, (size_t)C * sizeof(float));                        /* weights as floats */
    sl__take(&a, (size_t)(N * C));                            /* annotation matrix */
    sl__take(&a, (size_t)C * 4 * sizeof(double));             /* one reference pixel */
    return sl__arena_size(&a);
}

void sl__ce_carve(const sl_call *c, sl__ce_ws *w)
{
    sl__arena a = sl__arena_of(c->ws);
    w->parts = sl__take(&a, (size_t)(sl__nchunks(c->N, c->P) * c->C) * sizeof(double));
    w->counts = sl__take(&a, (size_t)(c->N * c->C) * sizeof(double));
    w->wf = sl__take(&a, (size_t)c->C * sizeof(float));
    w->ann = sl__take(&a, (size_t)(c->N * c->C));
    double *px = sl__take(&a, (size_t)c->C * 4 * sizeof(double));
    w->px.lp = px;
    w->px.g = px + c->C;
    w->px.u = px + 2 * c->C;
    w->px.s = 0.0;
}

int sl__ce_can_vectorise(const sl_call *c)
{
    return c->C <= SL_KERN_MAX_C;
}

sl_status sl__ce_fast(const sl_call *c, sl__ce_ws *w, sl__ce_kind kind, const double *weight,
                      double D, int mean, double *loss)
{
    const sl_options *o = c->o;
    const sl_batch *b = c->b;
    if (sl__shard_norm(c, &D)) return SL_OK;
    sl__ce_args a;
    memset(&a, 0, sizeof a);
    a.kind = kind;
    a.C = c->C;
    a.P = c->P;
    a.x = b->input;
    a.y = b->target_kind == SL_TARGET_LABELS ? b->labels : NULL;
    a.t = b->target_kind == SL_TARGET_LABELS ? NULL : b->target;
    a.probs = b->input_kind == SL_INPUT_PROBS;
    a.eps = (float)o->eps;
    a.has_ignore = o->ignore_index >= INT32_MIN && o->ignore_index <= INT32_MAX;
    a.ignore = a.has_ignore ? (int32_t)o->ignore_index : 0;
    if (weight) {
        for (int64_t k = 0; k < c->C; k++) w->wf[k] = (float)weight[k];
        a.w = w->wf;
    }
    a.smoothing = (float)o->label_smoothing;
    a.gamma = (float)o->gamma;
    a.ann = w->ann;
    a.gk = (float)(c->k * (mean ? (D > 0 ? 1.0 / D : 0.0) : 1.0));
    a.mk = (float)c->k;
    a.accumulate = c->accumulate;
    a.grad = c->grad;
    a.map = c->map;
    if (sl__for_chunks(c->threads, c->N, c->P, c->kern->ce, &a, w->parts, 1))
        return sl__recheck(c);
    double total = sl__sum_parts(w->parts, sl__nchunks(c->N, c->P), 1, 0);
    *loss = mean ? sl__mean(c, total, D) : total;
    return SL_OK;
}

sl_status sl__ce_counts(const sl_call *c, sl__ce_ws *w, const double *weight, int ann, double *D)
{
    *D = (double)(c->N * c->P);
    if (c->b->target_kind != SL_TARGET_LABELS) {
        if (ann) sl__annotated(c->b, w->ann);
        return SL_OK;
    }
    sl_status st = sl__label_counts(c, w->parts, w->counts);
    if (st != SL_OK) return st;
    if (ann) sl__annotated_from_counts(c, w->counts, w->ann);
    *D = sl__counts_weighted(c, w->counts, weight);
    return SL_OK;
}

double sl__ce_kept(const sl_call *c)
{
    double D = (double)(c->N * c->P);
    if (c->b->target_kind == SL_TARGET_LABELS)
        for (int64_t i = 0; i < c->N * c->P; i++)
            D -= c->b->labels[i] == c->o->ignore_index;
    return D;
}

sl_status sl__ce_ref(const sl_call *c, sl__ce_ws *w, double D, sl__ce_term term, double *loss)
{
    const sl_batch *b = c->b;
    int64_t C = c->C, P = c->P;
    int mean = c->o->reduction == SL_REDUCE_MEAN;
    if (sl__shard_norm(c, &D)) return SL_OK;
    double scale = mean ? (D > 0 ? 1.0 / D : 0.0) : 1.0, total = 0.0;
    for (int64_t n = 0; n < c->N; n++)
        for (int64_t i = 0; i < P; i++) {
            sl__ref_logp(b->input + n * C * P + i, P, C, b->input_kind, c->o->eps, &w->px);
            double l = term(c, w, n, i);
            if (c->map) sl__put(c, c->map, n * P + i, l);
            total += l;
            sl__ref_chain(c, &w->px, n, i, scale);
        }
    *loss = mean ? sl__mean(c, total, D) : total;
    return SL_OK;
}

/* ---------------------------------------------------------------------------------------------
 * ce
 */

/* One pixel: -(1 - ls) w_y logp_y - (ls / C) sum_c w_c logp_c (label map), or
 * -sum_c w_c t_c logp_c with t mixed with uniform (per-class target). */
static double ce_term(const sl_call *c, sl__ce_ws *w, int64_t n, int64_t i)
{
    const sl_options *o = c->o;
    const sl_batch *b = c->b;
    int64_t C = c->C, P = c->P, y = -1;
    double l = 0.0, ls = o->label_smoothing;
    sl__refpx *px = &w->px;
    if (b->target_kind == SL_TARGET_LABELS) {
        y = b->labels[n * P + i];
        if (y == o->ignore_index) return 0.0;
    } else if (sl__probs_ignored(b, o->ignore_index, n, i)) {
        return 0.0;
    }
    for (int64_t k = 0; k < C; k++) {
        if (y >= 0)
            px->g[k] = -(ls / (double)C) * sl__w(o, k) - (k == y ? (1.0 - ls) * sl__w(o, y) : 0.0);
        else
            px->g[k] = -sl__w(o, k) *
                       ((double)b->target[(n * C + k) * P + i] * (1.0 - ls) + ls / (double)C);
        l += px->g[k] * px->lp[k];
    }
    return l;
}

static sl_status ce_ref(const sl_call *c, double *loss)
{
    const sl_options *o = c->o;
    const sl_batch *b = c->b;
    sl__ce_ws w;
    sl__ce_carve(c, &w);
    double D = 0.0;
    if (b->target_kind == SL_TARGET_PROBS) {
        /* a mean over the pixels left in (all of them without the argmax rule) */
        for (int64_t n = 0; n < c->N; n++)
            for (int64_t i = 0; i < c->P; i++)
                D += !sl__probs_ignored(b, o->ignore_index, n, i);
    } else
        for (int64_t i = 0; i < c->N * c->P; i++)
            if (b->labels[i] != o->ignore_index) D += sl__w(o, b->labels[i]);
    return sl__ce_ref(c, &w, D, ce_term, loss);
}

static sl_status ce_fast(const sl_call *c, double *loss)
{
    /* a per-class target with ignore_index (argmax rule): the reference, one thread */
    if (!sl__ce_can_vectorise(c) || sl__probs_ignore_on(c->b, c->o->ignore_index))
        return sl__fall_back(c, ce_ref, loss);
    sl__ce_ws w;
    sl__ce_carve(c, &w);
    int mean = c->o->reduction == SL_REDUCE_MEAN;
    double D = 1.0;
    if (mean) {
        sl_status st = sl__ce_counts(c, &w, c->o->weight, 0, &D);
        if (st != SL_OK) return st;
    }
    return sl__ce_fast(c, &w, SL__CE, c->o->weight, D, mean, loss);
}

static const sl__key ce_params[] = {
    {.id = SL_OPT_weight},
    {.id = SL_OPT_ignore_index, .help = "label (per-class target: argmax channel) whose pixels are left out"},
    {.id = SL_OPT_label_smoothing},
    {.id = SL_OPT_eps},
    {.id = SL_OPT_reduction, .help = "mean is the weighted mean"},
};

const sl_loss_info sl__loss_ce = {
    "ce",
    "categorical cross-entropy, as torch.nn.functional.cross_entropy (Keras on probabilities)",
    SL__KEYS(ce_params),
    SL_MAP_PIXEL,
    ce_fast,
    ce_ref,
    sl__ce_workspace,
    NULL,
    NULL,
    SL_LOSS_KERNEL_CHECKS | SL_LOSS_PROBS_IGNORE | SL_LOSS_SHARD_NORM | SL_LOSS_RENORMALISES,
};
