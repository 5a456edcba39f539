/* focal: softmax focal loss (Lin et al. 2017) over classes, per pixel
 *     l = -sum_c alpha_c t_c (1 - p_c)^gamma log p_c
 * with t the one-hot of the label (label map) or the per-class target. Logits go through
 * log-softmax, probabilities are renormalised and clipped to [eps, 1 - eps] as Keras'
 * categorical_focal_crossentropy does. The fast path is the family's kernel (src/kernels/).
 * Formula and gradient: docs/focal.md, "focal". */
#include "internal.h"

#include <math.h>

static double focal_alpha(const sl_options *o, int64_t c)
{
    return o->class_alpha ? o->class_alpha[c] : 1.0;
}

/* One class's term f(lp) = -(1 - e^lp)^gamma lp and its derivative df/dlp. q = 1 - p is
 * computed as -expm1(lp) (accurate as p -> 1). The derivative
 *     df/dlp = -q^gamma + gamma p q^(gamma - 1) lp
 * has a second term of the form q^(gamma-1) * lp, with lp ~ -q as q -> 0: its limit is
 * -gamma q^gamma -> 0, so where q == 0 (or gamma == 0) it is taken as 0, which keeps the
 * gradient finite for gamma < 1 too. */
static double focal_term(double lp, double gamma, double *dfdlp)
{
    double p = exp(lp), q = -expm1(lp);
    if (q < 0.0) q = 0.0;
    double qg = gamma == 0.0 ? 1.0 : pow(q, gamma);
    double second = 0.0;
    if (gamma != 0.0 && q > 0.0) second = gamma * p * (qg / q) * lp;
    *dfdlp = -qg + second;
    return -qg * lp;
}

/* One pixel of the reference, forward and backward together. */
static double focal_pixel(const sl_call *c, sl__ce_ws *w, int64_t n, int64_t i)
{
    const sl_options *o = c->o;
    const sl_batch *b = c->b;
    int64_t C = c->C, P = c->P;
    sl__refpx *px = &w->px;
    double l = 0.0, d;
    if (b->target_kind == SL_TARGET_LABELS) {
        int64_t y = b->labels[n * P + i];
        if (y == o->ignore_index) return 0.0;
        double a = focal_alpha(o, y);
        l = a * focal_term(px->lp[y], o->gamma, &d);
        px->g[y] = a * d;
        return l;
    }
    for (int64_t k = 0; k < C; k++) {
        double wk = focal_alpha(o, k) * (double)b->target[(n * C + k) * P + i];
        if (wk == 0.0) continue;
        l += wk * focal_term(px->lp[k], o->gamma, &d);
        px->g[k] = wk * d;
    }
    return l;
}

/* The mean is over non-ignored pixels (alpha is not a normaliser). */
static sl_status focal_ref(const sl_call *c, double *loss)
{
    sl__ce_ws w;
    sl__ce_carve(c, &w);
    return sl__ce_ref(c, &w, sl__ce_kept(c), focal_pixel, loss);
}

static sl_status focal_fast(const sl_call *c, double *loss)
{
    if (!sl__ce_can_vectorise(c)) return sl__fall_back(c, focal_ref, loss);
    sl__ce_ws w;
    sl__ce_carve(c, &w);
    int mean = c->o->reduction == SL_REDUCE_MEAN;
    double D = (double)(c->N * c->P);
    if (mean) {
        sl_status st = sl__ce_counts(c, &w, NULL, 0, &D);
        if (st != SL_OK) return st;
    }
    return sl__ce_fast(c, &w, SL__CE_FOCAL, c->o->class_alpha, D, mean, loss);
}

static const sl__key focal_params[] = {
    {.id = SL_OPT_class_alpha, .alias = "alpha"},
    {.id = SL_OPT_gamma, .help = "focusing exponent of (1 - p)"},
    {.id = SL_OPT_ignore_index, .help = "label whose pixels are left out"},
    {.id = SL_OPT_eps},
    {.id = SL_OPT_reduction, .help = "mean over non-ignored pixels"},
};

const sl_loss_info sl__loss_focal = {
    "focal",
    "softmax focal loss -alpha_y (1 - p_y)^gamma log p_y (Lin et al.; Keras on probabilities)",
    SL__KEYS(focal_params),
    SL_MAP_PIXEL,
    focal_fast,
    focal_ref,
    sl__ce_workspace,
    NULL,
    NULL,
    SL_LOSS_KERNEL_CHECKS | SL_LOSS_SHARD_NORM | SL_LOSS_RENORMALISES,
};
