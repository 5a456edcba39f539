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

const sl_loss_info sl__loss_focal = {
    "focal", "(being written)", todo_params, 1, SL_MAP_PIXEL, todo, todo, NULL, NULL, NULL,
};
