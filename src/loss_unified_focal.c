/* asymmetric_unified_focal: MONAI's AsymmetricUnifiedFocalLoss (Yeung et al., the unified focal
 * loss), in its multi-class form: channel 0 is the background, channels 1.. the foreground.
 *
 * With p the softmax of logits (or probabilities as given), clipped to [eps, 1 - eps] (the
 * gradient is 0 through a clipped entry), t the one-hot label map or per-class target, P pixels:
 *   AFL[n, c]  = (1/P) sum_i  (1 - delta) (1 - p)^gamma (-t log p)   c = 0
 *                             delta (-t log p)                       c >= 1
 *   TP = sum t p,  FN = sum t (1 - p),  FP = sum (1 - t) p   (per image and class)
 *   D = (TP + eps) / (TP + delta FN + (1 - delta) FP + eps)
 *   AFTL[n, c] = 1 - D  (c = 0),   max(1 - D, eps)^(1 - gamma)  (c >= 1)
 *   f[n, c] = weight AFL + (1 - weight) AFTL;  include_background=false drops c = 0; the mean,
 *   the sum, or the map f. Formulas and gradients: docs/focal.md.
 * Both paths are the same plain double-precision loops (no vector kernel). */
#include "internal.h"

#include <math.h>
#include <string.h>

typedef struct {
    double *tp, *fn, *fp, *afl; /* [N * C] */
    double *kd;                 /* [N * C]: d f / d D times the reduction's scale */
    double *p, *t, *g;          /* [C]: one pixel */
} uf_ws;

static void uf_layout(sl__arena *a, int64_t N, int64_t C, uf_ws *w)
{
    size_t nc = (size_t)(N * C) * sizeof(double), c = (size_t)C * sizeof(double);
    w->tp = sl__take(a, nc);
    w->fn = sl__take(a, nc);
    w->fp = sl__take(a, nc);
    w->afl = sl__take(a, nc);
    w->kd = sl__take(a, nc);
    w->p = sl__take(a, c);
    w->t = sl__take(a, c);
    w->g = sl__take(a, c);
}

static size_t uf_workspace(const sl_options *o, const sl_batch *b)
{
    (void)o;
    uf_ws w;
    sl__arena a = sl__arena_of(NULL);
    uf_layout(&a, b->shape.dim[0], b->shape.dim[1], &w);
    return sl__arena_size(&a);
}

/* Pixel i of image n: the probabilities p (softmax or as given), the targets t; 0 when the
 * pixel is ignored. */
static int uf_pixel(const sl_call *c, int64_t n, int64_t i, uf_ws *w)
{
    const sl_batch *b = c->b;
    int64_t C = c->C, P = c->P;
    if (b->target_kind == SL_TARGET_LABELS) {
        int64_t y = b->labels[n * P + i];
        if (y == c->o->ignore_index) return 0;
        for (int64_t k = 0; k < C; k++)
            w->t[k] = k == y;
    } else {
        for (int64_t k = 0; k < C; k++)
            w->t[k] = b->target[(n * C + k) * P + i];
    }
    const float *x = b->input + n * C * P + i;
    for (int64_t k = 0; k < C; k++)
        w->p[k] = x[k * P];
    if (b->input_kind == SL_INPUT_LOGITS) sl__softmax(w->p, C, 1, 0);
    return 1;
}

/* Pass 1: the sums TP, FN, FP and AFL's of every (image, class). */
static void uf_sums(const sl_call *c, uf_ws *w)
{
    const int64_t N = c->N, C = c->C, P = c->P;
    const double eps = c->o->eps, de = c->o->delta, ga = c->o->gamma;
    size_t nc = (size_t)(N * C) * sizeof(double);
    memset(w->tp, 0, nc);
    memset(w->fn, 0, nc);
    memset(w->fp, 0, nc);
    memset(w->afl, 0, nc);
    for (int64_t n = 0; n < N; n++)
        for (int64_t i = 0; i < P; i++) {
            if (!uf_pixel(c, n, i, w)) continue;
            for (int64_t k = 0; k < C; k++) {
                double p = fmin(fmax(w->p[k], eps), 1.0 - eps), t = w->t[k];
                double ce = -t * log(p);
                w->afl[n * C + k] += k == 0 ? (1.0 - de) * pow(1.0 - p, ga) * ce : de * ce;
                w->tp[n * C + k] += t * p;
                w->fn[n * C + k] += t * (1.0 - p);
                w->fp[n * C + k] += (1.0 - t) * p;
            }
        }
}

/* The matrix f (its map, and the value), and per entry the factors of the gradient: tp and fn
 * become A and B, kd d f / d D / B^2 times the reduction's scale. */
static double uf_matrix(const sl_call *c, uf_ws *w, double scale)
{
    const sl_options *o = c->o;
    const int64_t N = c->N, C = c->C, P = c->P, c0 = o->include_background ? 0 : 1;
    const double eps = o->eps, de = o->delta, ga = o->gamma, wt = o->focal_weight;
    double total = 0.0;
    for (int64_t n = 0; n < N; n++)
        for (int64_t k = 0; k < C; k++) {
            int64_t e = n * C + k;
            double A = w->tp[e] + eps, B = w->tp[e] + de * w->fn[e] + (1.0 - de) * w->fp[e] + eps;
            double D = A / B, aftl, dD;
            if (k == 0) {
                aftl = 1.0 - D;
                dD = -1.0;
            } else {
                /* max(1 - D, eps)^(1 - gamma): 0 gradient where the clamp holds */
                double u = 1.0 - D;
                aftl = pow(fmax(u, eps), 1.0 - ga);
                dD = u > eps ? -(1.0 - ga) * pow(u, -ga) : 0.0;
            }
            /* dD/dp at a pixel = (t B - A (1 - delta)) / B^2: kept as dD / B^2 */
            w->kd[e] = k < c0 ? 0.0 : scale * (1.0 - wt) * dD / (B * B);
            w->tp[e] = A; /* A and B for pass 2 */
            w->fn[e] = B;
            if (k < c0) continue;
            double f = wt * w->afl[e] / (double)P + (1.0 - wt) * aftl;
            if (c->map) sl__put(c, c->map, n * (C - c0) + k - c0, f);
            total += f;
        }
    return total;
}

/* dL/dp of class k at a pixel (w->p, w->t), 0 through a clipped entry. */
static double uf_dp(const sl_call *c, const uf_ws *w, int64_t n, int64_t k, double scale)
{
    const sl_options *o = c->o;
    const double eps = o->eps, de = o->delta, ga = o->gamma, wt = o->focal_weight;
    const int64_t e = n * c->C + k, c0 = o->include_background ? 0 : 1;
    double pr = w->p[k], t = w->t[k];
    if (!(pr >= eps && pr <= 1.0 - eps) || k < c0) return 0.0;
    double p = pr, dce = -t / p, fl = (1.0 - de) * pow(1.0 - p, ga);
    double dfl = ga == 0.0 ? 0.0 : -ga * pow(1.0 - p, ga - 1.0);
    double dafl = k == 0 ? fl * dce + (1.0 - de) * dfl * (-t * log(p)) : de * dce;
    return scale * wt * dafl / (double)c->P + w->kd[e] * (t * w->fn[e] - w->tp[e] * (1.0 - de));
}

/* Pass 2: dL/dp per class, then through the softmax. */
static void uf_grad(const sl_call *c, uf_ws *w, double scale)
{
    const int64_t N = c->N, C = c->C, P = c->P;
    for (int64_t n = 0; n < N; n++)
        for (int64_t i = 0; i < P; i++) {
            int valid = uf_pixel(c, n, i, w);
            double sg = 0.0;
            for (int64_t k = 0; k < C; k++) {
                w->g[k] = valid ? uf_dp(c, w, n, k, scale) : 0.0;
                sg += w->p[k] * w->g[k];
            }
            for (int64_t k = 0; k < C; k++) {
                double v = c->b->input_kind == SL_INPUT_LOGITS && valid ? w->p[k] * (w->g[k] - sg)
                                                                        : w->g[k];
                sl__put(c, c->grad, (n * C + k) * P + i, v);
            }
        }
}

static sl_status uf_run(const sl_call *c, double *loss)
{
    const sl_options *o = c->o;
    uf_ws w;
    sl__arena a = sl__arena_of(c->ws);
    uf_layout(&a, c->N, c->C, &w);
    int64_t M = c->N * (c->C - (o->include_background ? 0 : 1));
    double scale = o->reduction == SL_REDUCE_MEAN ? 1.0 / (double)M : 1.0;
    uf_sums(c, &w);
    *loss = uf_matrix(c, &w, scale) * scale;
    if (c->grad) uf_grad(c, &w, scale);
    return SL_OK;
}

static void uf_map_shape(const sl_options *o, const sl_batch *b, sl_shape *out)
{
    out->ndim = 2;
    out->dim[0] = b->shape.dim[0];
    out->dim[1] = b->shape.dim[1] - (o->include_background ? 0 : 1);
}

/* Probabilities as given must be at most 1 (1 - p is raised to gamma); targets in [0, 1]. */
static sl_status uf_check(const sl_loss_info *loss, const sl_options *o, const sl_batch *b,
                          sl_error *err)
{
    if (!o->include_background && b->shape.dim[1] < 2)
        return sl__fail(err, SL_E_ARG,
                        "%s: include_background=false needs at least 2 classes; the input has 1",
                        loss->name);
    sl_status st = sl__refuse_above_one(loss, b, b->input_kind == SL_INPUT_PROBS ? b->input : NULL,
                                        "input probability", "", err);
    if (st != SL_OK) return st;
    return sl__refuse_above_one(loss, b, b->target_kind == SL_TARGET_PROBS ? b->target : NULL,
                                "target", "", err);
}

static const sl__key uf_params[] = {
    {.id = SL_OPT_focal_weight, .alias = "weight"},
    {.id = SL_OPT_delta, .help = "background (1 - delta) vs foreground (delta) balance; delta on false negatives"},
    {.id = SL_OPT_gamma, .def = "0.5", .help = "focal exponent (> 0)", .lo = 1e-300, .hi = 1e300},
    {.id = SL_OPT_include_background},
    {.id = SL_OPT_eps, .help = "probability clip and smoothing"},
    {.id = SL_OPT_ignore_index, .help = "label whose pixels leave every sum"},
    {.id = SL_OPT_reduction, .help = "over the (image, class) matrix; none: the map is that matrix"},
};

const sl_loss_info sl__loss_asymmetric_unified_focal = {
    "asymmetric_unified_focal",
    "asymmetric unified focal loss (Yeung et al.), as MONAI's AsymmetricUnifiedFocalLoss",
    SL__KEYS(uf_params),
    SL_MAP_IMAGE_CLASS,
    uf_run,
    uf_run,
    uf_workspace,
    uf_check,
    uf_map_shape,
    0,
};
