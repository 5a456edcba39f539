/* example: a loss that exists only in a test build, to show that a loss is one file and one
 * line (docs/adding-a-loss.md). The Brier score per pixel,
 *     l = sum_c w_c (p_c - t_c)^2,
 * p the softmax of the logits (or the probabilities, renormalised and clipped to [eps, 1 - eps]),
 * t the one-hot of the label or the per-class target, w the class weights; the mean is over the
 * pixels not ignored. Gradient: dl/dlog p_c = 2 w_c (p_c - t_c) p_c, taken to the input by the
 * cross-entropy family's chain rule (sl__ref_chain). */
#include "internal.h"

#include <math.h>

/* Pixel i of image n: its loss into the map, its gradient at `scale` into the call's. */
static double example_pixel(const sl_call *c, sl__refpx *px, int64_t n, int64_t i, double scale)
{
    const sl_batch *b = c->b;
    int64_t C = c->C, P = c->P, y = -1;
    sl__ref_logp(b->input + n * C * P + i, P, C, b->input_kind, c->o->eps, px);
    if (b->target_kind == SL_TARGET_LABELS) y = b->labels[n * P + i];
    double l = 0.0;
    for (int64_t k = 0; k < C && y != c->o->ignore_index; k++) {
        double p = exp(px->lp[k]), w = sl__w(c->o, k);
        double t = y >= 0 ? (double)(k == y) : (double)b->target[(n * C + k) * P + i];
        l += w * (p - t) * (p - t);
        px->g[k] = 2.0 * w * (p - t) * p;
    }
    if (c->map) sl__put(c, c->map, n * P + i, l);
    sl__ref_chain(c, px, n, i, scale);
    return l;
}

/* The one implementation, fast and reference alike: the mean is over the pixels not ignored. */
static sl_status example_run(const sl_call *c, double *loss)
{
    sl__ce_ws w;
    sl__ce_carve(c, &w);
    int64_t NP = c->N * c->P;
    double D = (double)NP, total = 0.0;
    if (c->b->target_kind == SL_TARGET_LABELS)
        for (int64_t i = 0; i < NP; i++)
            D -= c->b->labels[i] == c->o->ignore_index;
    int mean = c->o->reduction == SL_REDUCE_MEAN;
    for (int64_t q = 0; q < NP; q++)
        total += example_pixel(c, &w.px, q / c->P, q % c->P, mean ? (D > 0 ? 1.0 / D : 0.0) : 1.0);
    *loss = mean ? sl__mean(c, total, D) : total;
    return SL_OK;
}

static const sl__key example_keys[] = {
    {.id = SL_OPT_weight},
    {.id = SL_OPT_ignore_index},
    {.id = SL_OPT_eps},
    {.id = SL_OPT_reduction, .help = "mean over the pixels not ignored"},
};

const sl_loss_info sl__loss_example = {
    "example",
    "Brier score sum_c w_c (p_c - t_c)^2 per pixel (a loss of the test build only)",
    SL__KEYS(example_keys),
    SL_MAP_PIXEL,
    example_run,
    example_run,
    sl__ce_workspace,
    NULL,
    NULL,
    SL_LOSS_RENORMALISES, /* one channel of probabilities would be the constant 1 */
};
