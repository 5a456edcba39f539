/* The loss registry, and the checks and dispatch every loss goes through. A new loss is a file
 * in src/ and one line in `losses` below. */
#include "internal.h"

#include <math.h>
#include <string.h>

extern const sl_loss_info sl__loss_ce;
extern const sl_loss_info sl__loss_focal;
extern const sl_loss_info sl__loss_bce;
extern const sl_loss_info sl__loss_sigmoid_focal;
extern const sl_loss_info sl__loss_dice;
extern const sl_loss_info sl__loss_tversky;
extern const sl_loss_info sl__loss_focal_tversky;
extern const sl_loss_info sl__loss_generalized_dice;
extern const sl_loss_info sl__loss_log_cosh_dice;
extern const sl_loss_info sl__loss_lovasz;
extern const sl_loss_info sl__loss_lovasz_hinge;
extern const sl_loss_info sl__loss_boundary;
extern const sl_loss_info sl__loss_hausdorff_dt;
extern const sl_loss_info sl__loss_log_hausdorff_dt;
extern const sl_loss_info sl__loss_missing_ce;
extern const sl_loss_info sl__loss_marginal_ce;
extern const sl_loss_info sl__loss_marginal_dice;
extern const sl_loss_info sl__loss_exclusion;
extern const sl_loss_info sl__loss_asymmetric_unified_focal;

static const sl_loss_info *const losses[] = {
    &sl__loss_ce,
    &sl__loss_focal,
    &sl__loss_bce,
    &sl__loss_sigmoid_focal,
    &sl__loss_dice,
    &sl__loss_tversky,
    &sl__loss_focal_tversky,
    &sl__loss_generalized_dice,
    &sl__loss_log_cosh_dice,
    &sl__loss_lovasz,
    &sl__loss_lovasz_hinge,
    &sl__loss_boundary,
    &sl__loss_hausdorff_dt,
    &sl__loss_log_hausdorff_dt,
    &sl__loss_missing_ce,
    &sl__loss_marginal_ce,
    &sl__loss_marginal_dice,
    &sl__loss_exclusion,
    &sl__loss_asymmetric_unified_focal,
};

int sl_loss_count(void)
{
    return (int)(sizeof losses / sizeof losses[0]);
}

const sl_loss_info *sl_loss_at(int i)
{
    return i >= 0 && i < sl_loss_count() ? losses[i] : NULL;
}

const sl_loss_info *sl_loss_find(const char *name)
{
    for (int i = 0; i < sl_loss_count(); i++)
        if (strcmp(losses[i]->name, name) == 0) return losses[i];
    return NULL;
}

static int takes(const sl_loss_info *loss, const char *key)
{
    for (int i = 0; i < loss->nparams; i++)
        if (strcmp(loss->params[i].key, key) == 0) return 1;
    return 0;
}

void sl_loss_map_shape(const sl_loss_info *loss, const sl_options *opt, const sl_batch *b,
                       sl_shape *out)
{
    if (loss->map_shape) {
        loss->map_shape(opt, b, out);
        return;
    }
    switch (loss->map) {
    case SL_MAP_IMAGE_CLASS:
        out->ndim = 2;
        out->dim[0] = b->shape.dim[0];
        out->dim[1] = b->shape.dim[1];
        return;
    case SL_MAP_ELEMENT:
        *out = b->shape;
        return;
    case SL_MAP_PIXEL:
        break;
    }
    out->ndim = b->shape.ndim - 1;
    out->dim[0] = b->shape.dim[0];
    for (int i = 2; i < b->shape.ndim; i++) out->dim[i - 1] = b->shape.dim[i];
}

size_t sl_loss_workspace_size(const sl_loss_info *loss, const sl_options *opt,
                              const sl_batch *b)
{
    return loss->workspace ? loss->workspace(opt, b) : 0;
}

int sl__sigmoid_based(const sl_loss_info *loss, const sl_options *o)
{
    return (loss->flags & SL_LOSS_SIGMOID) || (takes(loss, "sigmoid") && o->sigmoid);
}

int64_t sl__label_classes(const sl_loss_info *loss, const sl_options *o, int64_t C)
{
    return C == 1 && sl__sigmoid_based(loss, o) ? 2 : C;
}

int sl__probs_ignore_on(const sl_batch *b, int64_t ignore)
{
    return b->target_kind == SL_TARGET_PROBS && ignore >= 0 && ignore < b->shape.dim[1];
}

int sl__probs_ignored(const sl_batch *b, int64_t ignore, int64_t n, int64_t i)
{
    if (!sl__probs_ignore_on(b, ignore)) return 0;
    int64_t C = b->shape.dim[1], P = sl_shape_numel(&b->shape) / (b->shape.dim[0] * C);
    const float *t = b->target + n * C * P + i;
    int64_t best = 0;
    for (int64_t c = 1; c < C; c++)
        if (t[c * P] > t[best * P]) best = c;
    return best == ignore;
}

/* A softmax over one channel is 1 whatever the input: such a loss is constant and its
 * gradient zero. Say which sigmoid form does what the user meant. Probabilities of one channel
 * are a softmax only for the losses that renormalise them (those that clip with eps); a loss
 * with SL_LOSS_ONE_CHANNEL takes one channel as given (MONAI's single-channel rule). */
static sl_status one_channel_check(const sl_loss_info *loss, const sl_options *o,
                                   const sl_batch *b, int64_t C, sl_error *err)
{
    if (C != 1 || sl__sigmoid_based(loss, o) || (loss->flags & SL_LOSS_ONE_CHANNEL))
        return SL_OK;
    if (b->input_kind == SL_INPUT_PROBS && !takes(loss, "eps")) return SL_OK;
    const char *alt = takes(loss, "sigmoid")              ? NULL
                      : strcmp(loss->name, "focal") == 0  ? "sigmoid_focal"
                      : strcmp(loss->name, "lovasz") == 0 ? "lovasz_hinge"
                                                          : "bce";
    if (!alt)
        return sl__fail(err, SL_E_ARG,
                        "%s: the input has one channel, where a softmax is constant (the "
                        "gradient would be 0); for binary segmentation use %s(sigmoid=true)",
                        loss->name, loss->name);
    return sl__fail(err, SL_E_ARG,
                    "%s: the input has one channel, where a softmax is constant (the gradient "
                    "would be 0); for binary segmentation use the sigmoid form %s",
                    loss->name, alt);
}

/* The checks; with scan == 0 the pass over the input's values, labels and targets is left to
 * the loss's kernel (SL_LOSS_KERNEL_CHECKS). */
static sl_status batch_check(const sl_loss_info *loss, const sl_options *o, const sl_batch *b,
                             int scan, sl_error *err)
{
    const sl_shape *s = &b->shape;
    char where[160], sh[160];
    if (s->ndim < 3 || s->ndim > 5) {
        sl__shape_str(s, sh, sizeof sh);
        return sl__fail(err, SL_E_SHAPE,
                        "input shape %s: need [N, C, spatial...] with 1 to 3 spatial axes", sh);
    }
    for (int i = 0; i < s->ndim; i++)
        if (s->dim[i] < 1) {
            sl__shape_str(s, sh, sizeof sh);
            return sl__fail(err, SL_E_SHAPE, "input shape %s: axis %d is empty", sh, i);
        }
    if (!b->input) return sl__fail(err, SL_E_ARG, "no input");
    int64_t N = s->dim[0], C = s->dim[1], numel = sl_shape_numel(s), P = numel / (N * C);
    sl_status st = sl_options_check(loss, o, C, err);
    if (st != SL_OK) return st;
    if ((st = one_channel_check(loss, o, b, C, err)) != SL_OK) return st;
    if (b->target_kind == SL_TARGET_LABELS ? !b->labels : !b->target)
        return sl__fail(err, SL_E_ARG, "no target");
    if (b->target_kind != SL_TARGET_LABELS && takes(loss, "ignore_index") && o->ignore_index >= 0) {
        if (!(loss->flags & SL_LOSS_PROBS_IGNORE))
            return sl__fail(err, SL_E_ARG,
                            "%s: ignore_index = %lld is not supported with a per-class target "
                            "(only ce and the Dice family take one there; use a label map)",
                            loss->name, (long long)o->ignore_index);
        if (sl__sigmoid_based(loss, o))
            return sl__fail(err, SL_E_ARG,
                            "%s: ignore_index = %lld is not supported with sigmoid=true and a "
                            "per-class target (its channels overlap, so no channel is a pixel's "
                            "label; use a label map)",
                            loss->name, (long long)o->ignore_index);
        if (o->ignore_index >= C)
            return sl__fail(err, SL_E_ARG,
                            "%s: ignore_index = %lld names no channel of the per-class target "
                            "(it has %lld); a pixel is ignored where that channel is its "
                            "target's largest",
                            loss->name, (long long)o->ignore_index, (long long)C);
    }
    if (b->annotated) {
        for (int64_t i = 0; i < N * C; i++)
            if (b->annotated[i] > 1)
                return sl__fail(err, SL_E_VALUE, "annotation matrix [%lld, %lld] = %d: must be 0 "
                                "or 1", (long long)(i / C), (long long)(i % C), b->annotated[i]);
    }
    if (!scan) return loss->check ? loss->check(loss, o, b, err) : SL_OK;

    for (int64_t i = 0; i < numel; i++) {
        float v = b->input[i];
        if (!isfinite(v)) {
            sl__index_str(s, i, where, sizeof where);
            return sl__fail(err, SL_E_VALUE, "input has %s at %s", isnan(v) ? "NaN" : "Inf",
                            where);
        }
        if (b->input_kind == SL_INPUT_PROBS && v < 0.0f) {
            sl__index_str(s, i, where, sizeof where);
            return sl__fail(err, SL_E_VALUE,
                            "input is probabilities but has a negative value %g at %s", v, where);
        }
    }
    /* Softmax-family losses renormalise a pixel's probabilities; per-element (sigmoid) losses
     * take each channel on its own, where all zeros is a valid pixel. */
    if (b->input_kind == SL_INPUT_PROBS && loss->map != SL_MAP_ELEMENT &&
        !sl__sigmoid_based(loss, o)) {
        for (int64_t n = 0; n < N; n++)
            for (int64_t i = 0; i < P; i++) {
                double sum = 0.0;
                for (int64_t c = 0; c < C; c++) sum += b->input[(n * C + c) * P + i];
                if (!(sum > 0.0)) {
                    sl__index_str(s, n * C * P + i, where, sizeof where);
                    return sl__fail(err, SL_E_VALUE,
                                    "input probabilities of the pixel at %s sum to 0 over classes",
                                    where);
                }
            }
    }

    if (b->target_kind == SL_TARGET_LABELS) {
        sl_shape ls = *s; /* the label map's shape: the input's without its class axis */
        for (int i = 1; i + 1 < s->ndim; i++) ls.dim[i] = s->dim[i + 1];
        ls.ndim = s->ndim - 1;
        int64_t L = sl__label_classes(loss, o, C); /* 2 for a binary map of one channel */
        for (int64_t i = 0; i < N * P; i++) {
            int64_t y = b->labels[i];
            if (y != o->ignore_index && (y < 0 || y >= L)) {
                sl__index_str(&ls, i, where, sizeof where);
                return sl__fail(err, SL_E_LABEL,
                                "label %lld at target%s is out of range [0, %lld) and is not "
                                "ignore_index (%lld)",
                                (long long)y, where, (long long)L, (long long)o->ignore_index);
            }
        }
    } else {
        for (int64_t i = 0; i < numel; i++) {
            float v = b->target[i];
            if (!isfinite(v) || v < 0.0f) {
                sl__index_str(s, i, where, sizeof where);
                return sl__fail(err, SL_E_VALUE, "target has %s at %s",
                                isnan(v)    ? "NaN"
                                : isinf(v)  ? "Inf"
                                            : "a negative value",
                                where);
            }
        }
    }
    if (loss->check) return loss->check(loss, o, b, err);
    return SL_OK;
}

sl_status sl_batch_check(const sl_loss_info *loss, const sl_options *o, const sl_batch *b,
                         sl_error *err)
{
    return batch_check(loss, o, b, 1, err);
}

sl_status sl__recheck(const sl_call *c)
{
    sl_status st = batch_check(c->loss, c->o, c->b, 1, c->err);
    if (st != SL_OK) return st;
    return sl__fail(c->err, SL_E_VALUE, "%s: the input has a value the kernel cannot take",
                    c->loss->name);
}

sl_status sl__recheck_values(const sl_call *c)
{
    return batch_check(c->loss, c->o, c->b, 1, c->err);
}

sl_status sl__fall_back(const sl_call *c, sl_loss_fn ref, double *loss)
{
    sl_status st = sl__recheck_values(c);
    return st != SL_OK ? st : ref(c, loss);
}

const char *sl_isa(void)
{
    return sl__kern_select()->name;
}

/* The first entry of x[0..n) that is not finite, or -1. A bit test on the exponent, so that the
 * pass vectorises. */
static int64_t first_nonfinite(const float *x, int64_t n)
{
    const int64_t block = 4096;
    for (int64_t i0 = 0; i0 < n; i0 += block) {
        int64_t i1 = i0 + block < n ? i0 + block : n;
        uint32_t any = 0;
        for (int64_t i = i0; i < i1; i++) {
            uint32_t u;
            memcpy(&u, &x[i], 4);
            any |= (uint32_t)((u & 0x7f800000u) == 0x7f800000u);
        }
        if (any)
            for (int64_t i = i0; i < i1; i++)
                if (!isfinite(x[i])) return i;
    }
    return -1;
}

sl_status sl__check_finite(const sl_loss_info *loss, const sl_batch *b, double value, int empty,
                           const float *grad, const float *map, const sl_options *opt,
                           sl_error *err)
{
    if (!isfinite(value) && !(isnan(value) && empty))
        return sl__fail(err, SL_E_OVERFLOW, "%s: the loss value overflowed (%s) on finite inputs",
                        loss->name,
                        isnan(value) ? "NaN"
                        : value > 0  ? "+Inf"
                                     : "-Inf");
    char at[128];
    if (grad) {
        int64_t i = first_nonfinite(grad, sl_shape_numel(&b->shape));
        if (i >= 0) {
            sl__index_str(&b->shape, i, at, sizeof at);
            return sl__fail(err, SL_E_OVERFLOW, "%s: the gradient overflowed (%s at %s)",
                            loss->name,
                            isnan(grad[i]) ? "NaN"
                            : grad[i] > 0  ? "+Inf"
                                           : "-Inf",
                            at);
        }
    }
    if (map) {
        sl_shape ms;
        sl_loss_map_shape(loss, opt, b, &ms);
        int64_t i = first_nonfinite(map, sl_shape_numel(&ms));
        if (i >= 0) {
            sl__index_str(&ms, i, at, sizeof at);
            return sl__fail(err, SL_E_OVERFLOW, "%s: the loss map overflowed (%s at %s)",
                            loss->name,
                            isnan(map[i]) ? "NaN"
                            : map[i] > 0  ? "+Inf"
                                          : "-Inf",
                            at);
        }
    }
    return SL_OK;
}

sl_status sl__loss_run(const sl_loss_info *loss, const sl_options *opt, const sl_batch *b,
                       sl_impl impl, float *grad, float *map, double k, int accumulate,
                       void *ws, size_t ws_size, int threads, sl_error *err, double *value)
{
    return sl__loss_run_phase(loss, opt, b, impl, grad, map, k, accumulate, ws, ws_size, threads,
                              err, value, 0, NULL);
}

sl_status sl__loss_run_phase(const sl_loss_info *loss, const sl_options *opt, const sl_batch *b,
                             sl_impl impl, float *grad, float *map, double k, int accumulate,
                             void *ws, size_t ws_size, int threads, sl_error *err, double *value,
                             int phase, double *stats)
{
    int fast = impl != SL_IMPL_REF;
    sl_status st = batch_check(loss, opt, b, !(fast && (loss->flags & SL_LOSS_KERNEL_CHECKS)),
                               err);
    if (st != SL_OK) return st;
    size_t need = sl_loss_workspace_size(loss, opt, b);
    if (ws_size < need || (need && !ws))
        return sl__fail(err, SL_E_ARG, "%s: workspace of %zu bytes is too small: need %zu",
                        loss->name, ws_size, need);
    sl_call c;
    memset(&c, 0, sizeof c);
    c.loss = loss;
    c.o = opt;
    c.b = b;
    c.N = b->shape.dim[0];
    c.C = b->shape.dim[1];
    c.P = sl_shape_numel(&b->shape) / (c.N * c.C);
    c.grad = grad;
    c.map = map;
    c.k = k;
    c.accumulate = accumulate;
    c.ws = ws;
    c.ws_size = ws_size;
    c.threads = sl__threads(threads);
    c.kern = sl__kern_select();
    c.fast = fast;
    c.err = err;
    int empty = 0;
    c.empty_mean = &empty;
    c.phase = phase;
    c.stats = stats;
    *value = 0.0;
    st = (fast ? loss->fast : loss->ref)(&c, value);
    if (st != SL_OK) return st;
    /* The statistics phase writes no value, gradient or map: nothing to check yet. */
    if (phase == SL__PHASE_STATS) return SL_OK;
    return sl__check_finite(loss, b, *value, empty, grad, map, opt, err);
}

sl_status sl_loss_eval(const sl_loss_info *loss, const sl_options *opt, const sl_batch *b,
                       sl_impl impl, sl_output *out, sl_error *err)
{
    return sl__loss_run(loss, opt, b, impl, out->grad, out->loss_map, 1.0, 0, out->workspace,
                        out->workspace_size, out->threads, err, &out->loss);
}
