/* PLACEHOLDER: being written; replaced whole by its owner. */
#include "internal.h"

static sl_status todo(const sl_loss_info *loss, const sl_options *o, const sl_batch *b,
                      sl_output *out, sl_error *err)
{
    (void)o;
    (void)b;
    (void)out;
    return sl__fail(err, SL_E_ARG, "%s is not built yet", loss->name);
}

static const sl_param_info todo_params[] = {
    {"reduction", SL_PARAM_WORD, "mean", "mean|sum|none", "reduction", 0, 0},
};

const sl_loss_info sl__loss_dice = {
    "dice", "(being written)", todo_params, 1, SL_MAP_PIXEL, todo, todo, NULL, NULL, NULL,
};

const sl_loss_info sl__loss_tversky = {
    "tversky", "(being written)", todo_params, 1, SL_MAP_PIXEL, todo, todo, NULL, NULL, NULL,
};

const sl_loss_info sl__loss_focal_tversky = {
    "focal_tversky", "(being written)", todo_params, 1, SL_MAP_PIXEL, todo, todo, NULL, NULL, NULL,
};

const sl_loss_info sl__loss_generalized_dice = {
    "generalized_dice", "(being written)", todo_params, 1, SL_MAP_PIXEL, todo, todo, NULL, NULL, NULL,
};

const sl_loss_info sl__loss_log_cosh_dice = {
    "log_cosh_dice", "(being written)", todo_params, 1, SL_MAP_PIXEL, todo, todo, NULL, NULL, NULL,
};
