/* focal: softmax focal loss (Lin et al. 2017) over classes, per pixel
 *     l = -sum_c alpha_c t_c (1 - p_c)^gamma log p_c
 * with t the one-hot of the label (label map) or the per-class target. Built on the CE-family
 * pixel driver (src/pixel.c): logits go through log-softmax, probabilities are renormalised and
 * clipped to [eps, 1 - eps] as Keras' categorical_focal_crossentropy does.
 * Formula and gradient: docs/focal.md, "focal". */
#include "internal.h"

#include <math.h>

typedef struct {
    const sl_options *o;
    const sl_batch *b;
    int64_t C, P;
} focal_ctx;

static double focal_alpha(const sl_options *o, int64_t c)
{
    return o->alpha_list ? o->alpha_list[c] : 1.0;
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

static double focal_pixel(const void *vctx, int64_t n, int64_t i, const float *x,
                          const sl__lp *lp)
{
    const focal_ctx *k = vctx;
    const sl_options *o = k->o;
    int64_t C = k->C, P = k->P;
    double gamma = o->gamma, l = 0.0, d;
    (void)x;
    for (int64_t c = 0; c < C; c++) sl__lp_set(lp, c, 0.0);
    if (k->b->target_kind == SL_TARGET_LABELS) {
        int64_t y = k->b->labels[n * P + i];
        if (y == o->ignore_index) return 0.0;
        double a = focal_alpha(o, y);
        l = a * focal_term(sl__lp_get(lp, y), gamma, &d);
        sl__lp_set(lp, y, a * d);
        return l;
    }
    const float *t = k->b->target + n * C * P + i;
    for (int64_t c = 0; c < C; c++) {
        double w = focal_alpha(o, c) * (double)t[c * P];
        if (w == 0.0) continue;
        l += w * focal_term(sl__lp_get(lp, c), gamma, &d);
        sl__lp_set(lp, c, w * d);
    }
    return l;
}

static sl_status focal_run(const sl_options *o, const sl_batch *b, sl_output *out, int fast)
{
    int64_t N = b->shape.dim[0], C = b->shape.dim[1];
    int64_t P = sl_shape_numel(&b->shape) / (N * C);
    focal_ctx k = {o, b, C, P};
    /* The mean is over non-ignored pixels (alpha is not a normaliser). */
    double D = (double)(N * P);
    if (b->target_kind == SL_TARGET_LABELS)
        for (int64_t i = 0; i < N * P; i++) D -= b->labels[i] == o->ignore_index;
    double scale = o->reduction == SL_REDUCE_MEAN ? (D > 0 ? 1.0 / D : 0.0) : 1.0;
    double total = sl__run_pixels(b, o->eps, out, fast, scale, focal_pixel, &k);
    out->loss = o->reduction == SL_REDUCE_MEAN ? total / D : total;
    return SL_OK;
}

static sl_status focal_fast(const sl_loss_info *loss, const sl_options *o, const sl_batch *b,
                            sl_output *out, sl_error *err)
{
    (void)loss;
    (void)err;
    return focal_run(o, b, out, 1);
}

static sl_status focal_ref(const sl_loss_info *loss, const sl_options *o, const sl_batch *b,
                           sl_output *out, sl_error *err)
{
    (void)loss;
    (void)err;
    return focal_run(o, b, out, 0);
}

static size_t focal_workspace(const sl_options *o, const sl_batch *b)
{
    (void)o;
    return sl__scratch_size(b->shape.dim[1]);
}

static const sl_param_info focal_params[] = {
    {"alpha", SL_PARAM_LIST, "none", NULL, "one non-negative factor per class (none: all 1)", 0,
     1e300},
    {"gamma", SL_PARAM_NUMBER, "2", NULL, "focusing exponent of (1 - p)", 0, 1e300},
    {"ignore_index", SL_PARAM_INT, "-100", NULL, "label whose pixels are left out", 0, 0},
    {"eps", SL_PARAM_NUMBER, "1e-7", NULL, "probability clip when the input is probabilities",
     1e-300, 0.4999},
    {"reduction", SL_PARAM_WORD, "mean", "mean|sum|none", "mean over non-ignored pixels", 0, 0},
};

const sl_loss_info sl__loss_focal = {
    "focal",
    "softmax focal loss -alpha_y (1 - p_y)^gamma log p_y (Lin et al.; Keras on probabilities)",
    focal_params,
    (int)(sizeof focal_params / sizeof focal_params[0]),
    SL_MAP_PIXEL,
    focal_fast,
    focal_ref,
    focal_workspace,
    NULL,
    NULL,
};
