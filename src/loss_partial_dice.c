/* Overlap losses for partial (missing) annotations (Shi et al., MedIA 2021):
 *
 * marginal_dice - the dice loss on the merged distribution: channel 0 is background plus every
 *                 class not annotated in the image (probabilities and targets summed), then the
 *                 annotated classes. Mean over the (image, channel) entries that exist.
 * exclusion     - for each image and each object class not annotated in it, the soft Dice of
 *                 that class's probability with the union of the annotated objects; the mean of
 *                 those Dice values (minimising it pushes unannotated classes off annotated
 *                 objects).
 *
 * Both use the machinery of src/dice.h. Formulas and gradients: docs/dice.md. */
#include "dice.h"

#include <math.h>

/* ---------------------------------------------------------------------------------------------
 * marginal_dice
 */

static sl_status marginal_dice_run(const sl_call *c, double *loss)
{
    const sl_options *o = c->o;
    sl__ov v;
    sl__ov_setup(&v, c, SL__OV_MERGE, o->squared, !o->include_background, o->batch,
                 o->ignore_index);
    sl_status st = sl__ov_sums(&v);
    if (st != SL_OK) return st;
    *loss = sl__ov_matrix(&v, o, SL__OVF_DICE);
    return sl__ov_grad(&v);
}

static void marginal_dice_map_shape(const sl_options *o, const sl_batch *b, sl_shape *out)
{
    out->ndim = 2;
    out->dim[0] = o->batch ? 1 : b->shape.dim[0];
    out->dim[1] = b->shape.dim[1];
}

static const sl__key marginal_dice_params[] = {
    {.id = SL_OPT_include_background, .help = "false drops the merged background channel"},
    {.id = SL_OPT_squared, .help = "denominator sum q^2 + sum g^2"},
    {.id = SL_OPT_jaccard},
    {.id = SL_OPT_batch},
    {.id = SL_OPT_smooth_nr},
    {.id = SL_OPT_smooth_dr},
    {.id = SL_OPT_weight, .help = "one non-negative weight per class; w_0 weighs the merged background"},
    {.id = SL_OPT_ignore_index, .help = "label whose pixels leave every sum"},
    {.id = SL_OPT_reduction, .help = "mean over the (image, channel) entries that exist; none: the [N, C] map"},
};

const sl_loss_info sl__loss_marginal_dice = {
    "marginal_dice",
    "marginal Dice (Shi et al. 2021): Dice on background merged with unannotated classes",
    SL__KEYS(marginal_dice_params),
    SL_MAP_IMAGE_CLASS,
    marginal_dice_run,
    marginal_dice_run,
    sl__ov_workspace,
    sl__annotation_check,
    marginal_dice_map_shape,
    0,
};

/* ---------------------------------------------------------------------------------------------
 * exclusion
 */

static sl_status exclusion_run(const sl_call *cl, double *loss)
{
    const sl_options *o = cl->o;
    sl__ov v;
    sl__ov_setup(&v, cl, SL__OV_UNION, 0, 0, 0, o->ignore_index);
    sl_status st = sl__ov_sums(&v);
    if (st != SL_OK) return st;
    int64_t N = v.N, C = v.C, M = 0;
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 1; c < C; c++) M += !v.ann[n * C + c];
    double scale = o->reduction == SL_REDUCE_MEAN ? (M > 0 ? 1.0 / (double)M : 0.0) : 1.0;
    double total = 0.0;
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++) {
            int64_t e = n * C + c;
            double D = 0.0;
            if (c > 0 && !v.ann[e]) {
                /* D = (2 I + s_nr) / (S + G + s_dr), I = sum p_c u, S = sum p_c, G = sum u */
                double num = 2.0 * v.I[e] + o->smooth_nr;
                double den = v.S[e] + v.G[e] + o->smooth_dr;
                D = num / den;
                v.kI[e] = scale * 2.0 / den;
                v.kS[e] = -scale * num / (den * den);
            }
            if (cl->map) sl__put(cl, cl->map, e, D);
            total += D;
        }
    *loss = o->reduction == SL_REDUCE_MEAN ? (M > 0 ? total / (double)M : 0.0) : total;
    return sl__ov_grad(&v);
}

static const sl__key exclusion_params[] = {
    {.id = SL_OPT_smooth_nr},
    {.id = SL_OPT_smooth_dr},
    {.id = SL_OPT_ignore_index, .help = "label whose pixels leave every sum"},
    {.id = SL_OPT_reduction, .help = "mean over the (image, unannotated class) pairs (0 when none); none: the [N, C] map"},
};

const sl_loss_info sl__loss_exclusion = {
    "exclusion",
    "exclusion Dice (Shi et al. 2021): unannotated classes against the annotated objects",
    SL__KEYS(exclusion_params),
    SL_MAP_IMAGE_CLASS,
    exclusion_run,
    exclusion_run,
    sl__ov_workspace,
    NULL,
    NULL,
    0,
};
