/* The loss registry, and the checks and dispatch every loss goes through. A new loss is a file
 * in src/ and one line in src/losses.def. A test build may add losses of its own: a file named
 * by SL_EXTRA_LOSSES, of SL_LOSS lines too. */
#include "internal.h"

#include <math.h>
#include <string.h>

#define SL_LOSS(name) extern const sl_loss_info sl__loss_##name;
#include "losses.def"
#ifdef SL_EXTRA_LOSSES
#include SL_EXTRA_LOSSES
#endif
#undef SL_LOSS

#define SL_LOSS(name) &sl__loss_##name,
static const sl_loss_info *const losses[] = {
#include "losses.def"
#ifdef SL_EXTRA_LOSSES
#include SL_EXTRA_LOSSES
#endif
};
#undef SL_LOSS

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

const char *sl_loss_name(const sl_loss_info *loss)
{
    return loss->name;
}

const char *sl_loss_summary(const sl_loss_info *loss)
{
    return loss->summary;
}

sl_map_kind sl_loss_map_kind(const sl_loss_info *loss)
{
    return loss->map;
}

unsigned sl_loss_flags(const sl_loss_info *loss)
{
    return loss->flags;
}

int sl_loss_nparams(const sl_loss_info *loss)
{
    return loss->nkeys;
}

int sl_loss_param(const sl_loss_info *loss, int i, sl_param_info *out)
{
    if (i < 0 || i >= loss->nkeys) return -1;
    sl__key_info(&loss->keys[i], out);
    return 0;
}

int sl_loss_param_find(const sl_loss_info *loss, const char *key)
{
    for (int i = 0; i < loss->nkeys; i++) {
        const sl__key *k = &loss->keys[i];
        if (strcmp(sl_option_info(k->id)->key, key) == 0 || (k->alias && strcmp(k->alias, key) == 0))
            return i;
    }
    return -1;
}

int sl__takes(const sl_loss_info *loss, sl_option_id id)
{
    for (int i = 0; i < loss->nkeys; i++)
        if (loss->keys[i].id == id) return 1;
    return 0;
}

/* Whether a loss takes a key with this flag (SL_KEY_*). */
static int takes_flag(const sl_loss_info *loss, unsigned flag)
{
    for (int i = 0; i < loss->nkeys; i++)
        if (sl_option_info(loss->keys[i].id)->flags & flag) return 1;
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

sl_status sl__input_shape_check(const sl_shape *s, sl_error *err)
{
    char sh[160];
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
    return SL_OK;
}

/* A batch of another shape is refused by sl_loss_eval before any workspace is read: its
 * workspace size is 0 (the losses' own sizes divide by N and C). */
size_t sl_loss_workspace_size(const sl_loss_info *loss, const sl_options *opt,
                              const sl_batch *b)
{
    if (!loss->workspace || sl__input_shape_check(&b->shape, NULL) != SL_OK) return 0;
    return loss->workspace(opt, b);
}

int sl__sigmoid_based(const sl_loss_info *loss, const sl_options *o)
{
    return (loss->flags & SL_LOSS_SIGMOID) || (sl__takes(loss, SL_OPT_sigmoid) && o->sigmoid);
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

/* A softmax over one channel is 1 whatever the input, and so is one channel of probabilities
 * renormalised (SL_LOSS_RENORMALISES): such a loss is constant and its gradient zero. Say which
 * sigmoid form does what the user meant. A loss with SL_LOSS_ONE_CHANNEL takes one channel as
 * given (MONAI's single-channel rule). */
static sl_status one_channel_check(const sl_loss_info *loss, const sl_options *o,
                                   const sl_batch *b, int64_t C, sl_error *err)
{
    if (C != 1 || sl__sigmoid_based(loss, o) || (loss->flags & SL_LOSS_ONE_CHANNEL))
        return SL_OK;
    int probs = b->input_kind == SL_INPUT_PROBS;
    if (probs && !(loss->flags & SL_LOSS_RENORMALISES)) return SL_OK;
    const char *what = probs ? "renormalised probabilities are" : "a softmax is";
    const char *alt = sl__takes(loss, SL_OPT_sigmoid)      ? NULL
                      : strcmp(loss->name, "focal") == 0  ? "sigmoid_focal"
                      : strcmp(loss->name, "lovasz") == 0 ? "lovasz_hinge"
                                                          : "bce";
    if (!alt)
        return sl__fail(err, SL_E_ARG,
                        "%s: the input has one channel, where %s constant (the gradient would "
                        "be 0); for binary segmentation use %s(sigmoid=true)",
                        loss->name, what, loss->name);
    return sl__fail(err, SL_E_ARG,
                    "%s: the input has one channel, where %s constant (the gradient would be "
                    "0); for binary segmentation use the sigmoid form %s",
                    loss->name, what, alt);
}

/* ignore_index with a per-class target: only the losses that take the argmax rule, not with
 * sigmoid channels, and a channel of the target. */
static sl_status probs_ignore_check(const sl_loss_info *loss, const sl_options *o,
                                    const sl_batch *b, int64_t C, sl_error *err)
{
    if (b->target_kind == SL_TARGET_LABELS || !takes_flag(loss, SL_KEY_IGNORE) ||
        o->ignore_index < 0)
        return SL_OK;
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
    return SL_OK;
}

/* The shape, the buffers, the options and the rules of ignore_index and of one channel: what
 * each term of a call checks for itself. */
static sl_status setup_check(const sl_loss_info *loss, const sl_options *o, const sl_batch *b,
                             const sl__scan *sc, sl_error *err)
{
    const sl_shape *s = &b->shape;
    sl_status st = sl__input_shape_check(s, err);
    if (st != SL_OK) return st;
    if (!b->input) return sl__fail(err, SL_E_ARG, "no input");
    int64_t N = s->dim[0], C = s->dim[1];
    st = sl__options_check(loss, o, C, sc && sc->options_checked, err);
    if (st != SL_OK) return st;
    if ((st = one_channel_check(loss, o, b, C, err)) != SL_OK) return st;
    if (b->target_kind == SL_TARGET_LABELS ? !b->labels : !b->target)
        return sl__fail(err, SL_E_ARG, "no target");
    if ((st = probs_ignore_check(loss, o, b, C, err)) != SL_OK) return st;
    if (b->annotated) {
        for (int64_t i = 0; i < N * C; i++)
            if (b->annotated[i] > 1)
                return sl__fail(err, SL_E_VALUE, "annotation matrix [%lld, %lld] = %d: must be 0 "
                                "or 1", (long long)(i / C), (long long)(i % C), b->annotated[i]);
    }
    return SL_OK;
}

/* The first index of x[0..n) that fails, or -1 (the scans' one loop). */
#define FIRST(n, bad)                                                                            \
    do {                                                                                         \
        for (int64_t i_ = 0; i_ < (n); i_++)                                                     \
            if (bad) return i_;                                                                  \
        return -1;                                                                               \
    } while (0)

static int64_t first_negative(const float *x, int64_t n)
{
    FIRST(n, x[i_] < 0.0f);
}

static int64_t first_bad_target(const float *x, int64_t n)
{
    FIRST(n, !isfinite(x[i_]) || x[i_] < 0.0f);
}

/* The first label outside [0, bound) other than `skip` (skip_any: none is skipped). */
static int64_t first_outside(const int32_t *y, int64_t n, int64_t bound, int skip_any, int64_t skip)
{
    FIRST(n, (y[i_] < 0 || y[i_] >= bound) && (skip_any || y[i_] != skip));
}

/* The first pixel whose probabilities sum to 0 over classes, as a flat index of the input. */
static int64_t first_zero_sum(const sl_batch *b)
{
    int64_t N = b->shape.dim[0], C = b->shape.dim[1];
    int64_t P = sl_shape_numel(&b->shape) / (N * C);
    for (int64_t n = 0; n < N; n++)
        for (int64_t i = 0; i < P; i++) {
            double sum = 0.0;
            for (int64_t c = 0; c < C; c++) sum += b->input[(n * C + c) * P + i];
            if (!(sum > 0.0)) return n * C * P + i;
        }
    return -1;
}

static int64_t first_nonfinite(const float *x, int64_t n);

/* The input's values: finite, and not negative when they are probabilities. Each pass runs at
 * most once per call (sc). */
static sl_status input_check(const sl_loss_info *loss, const sl_options *o, const sl_batch *b,
                             sl__scan *sc, sl_error *err)
{
    const sl_shape *s = &b->shape;
    int64_t numel = sl_shape_numel(s);
    char where[160];
    if (!sc->input_done) {
        sc->nonfinite = first_nonfinite(b->input, numel);
        sc->negative = first_negative(b->input, numel);
        sc->input_done = 1;
    }
    int64_t neg = b->input_kind == SL_INPUT_PROBS ? sc->negative : -1;
    if (sc->nonfinite >= 0 && (neg < 0 || sc->nonfinite < neg)) {
        float v = b->input[sc->nonfinite];
        sl__index_str(s, sc->nonfinite, where, sizeof where);
        return sl__fail(err, SL_E_VALUE, "input has %s at %s", isnan(v) ? "NaN" : "Inf", where);
    }
    if (neg >= 0) {
        sl__index_str(s, neg, where, sizeof where);
        return sl__fail(err, SL_E_VALUE,
                        "input is probabilities but has a negative value %g at %s", b->input[neg],
                        where);
    }
    /* Softmax-family losses renormalise a pixel's probabilities; per-element (sigmoid) losses
     * take each channel on its own, where all zeros is a valid pixel. */
    if (b->input_kind != SL_INPUT_PROBS || loss->map == SL_MAP_ELEMENT ||
        sl__sigmoid_based(loss, o))
        return SL_OK;
    if (!sc->sums_done) {
        sc->zero_sum = first_zero_sum(b);
        sc->sums_done = 1;
    }
    if (sc->zero_sum < 0) return SL_OK;
    sl__index_str(s, sc->zero_sum, where, sizeof where);
    return sl__fail(err, SL_E_VALUE, "input probabilities of the pixel at %s sum to 0 over classes",
                    where);
}

/* The first label a loss refuses: outside [0, L) and not ignore_index. One pass finds the first
 * label outside [0, C) (or [0, 2) on one channel) and the first one outside that differs from it,
 * which answers every term; a term with another bound scans on its own. */
static int64_t bad_label(const sl_batch *b, int64_t L, int64_t ignore, sl__scan *sc)
{
    int64_t C = b->shape.dim[1], n = sl_shape_numel(&b->shape) / C;
    int64_t bound = C > 1 ? C : 2;
    if (L != bound) return first_outside(b->labels, n, L, 0, ignore);
    if (!sc->labels_done) {
        sc->out1 = first_outside(b->labels, n, bound, 1, 0);
        sc->out2 = sc->out1 < 0 ? -1
                                : sc->out1 + 1 + first_outside(b->labels + sc->out1 + 1,
                                                               n - sc->out1 - 1, bound, 0,
                                                               b->labels[sc->out1]);
        if (sc->out1 >= 0 && sc->out2 == sc->out1) sc->out2 = -1;
        sc->labels_done = 1;
    }
    if (sc->out1 < 0) return -1;
    return b->labels[sc->out1] != ignore ? sc->out1 : sc->out2;
}

static sl_status target_check(const sl_loss_info *loss, const sl_options *o, const sl_batch *b,
                              sl__scan *sc, sl_error *err)
{
    const sl_shape *s = &b->shape;
    char where[160];
    if (b->target_kind == SL_TARGET_LABELS) {
        int64_t L = sl__label_classes(loss, o, s->dim[1]); /* 2 for a binary map of one channel */
        int64_t i = bad_label(b, L, o->ignore_index, sc);
        if (i < 0) return SL_OK;
        sl_shape ls = *s; /* the label map's shape: the input's without its class axis */
        for (int d = 1; d + 1 < s->ndim; d++) ls.dim[d] = s->dim[d + 1];
        ls.ndim = s->ndim - 1;
        sl__index_str(&ls, i, where, sizeof where);
        return sl__fail(err, SL_E_LABEL,
                        "label %lld at target%s is out of range [0, %lld) and is not "
                        "ignore_index (%lld)",
                        (long long)b->labels[i], where, (long long)L, (long long)o->ignore_index);
    }
    if (!sc->target_done) {
        sc->bad_target = first_bad_target(b->target, sl_shape_numel(s));
        sc->target_done = 1;
    }
    if (sc->bad_target < 0) return SL_OK;
    float v = b->target[sc->bad_target];
    sl__index_str(s, sc->bad_target, where, sizeof where);
    return sl__fail(err, SL_E_VALUE, "target has %s at %s",
                    isnan(v)   ? "NaN"
                    : isinf(v) ? "Inf"
                               : "a negative value",
                    where);
}

/* The checks; with scan == 0 the pass over the input's values, labels and targets is left to
 * the loss's kernel (SL_LOSS_KERNEL_CHECKS). sc carries the passes already made in this call
 * (NULL: none). */
static sl_status batch_check(const sl_loss_info *loss, const sl_options *o, const sl_batch *b,
                             int scan, sl__scan *sc, sl_error *err)
{
    sl__scan own;
    if (!sc) {
        memset(&own, 0, sizeof own);
        sc = &own;
    }
    sl_status st = setup_check(loss, o, b, sc, err);
    if (st == SL_OK && scan) st = input_check(loss, o, b, sc, err);
    if (st == SL_OK && scan) st = target_check(loss, o, b, sc, err);
    if (st == SL_OK && loss->check) st = loss->check(loss, o, b, err);
    return st;
}

sl_status sl_batch_check(const sl_loss_info *loss, const sl_options *o, const sl_batch *b,
                         sl_error *err)
{
    return batch_check(loss, o, b, 1, NULL, err);
}

sl_status sl__recheck(const sl_call *c)
{
    sl_status st = batch_check(c->loss, c->o, c->b, 1, NULL, c->err);
    if (st != SL_OK) return st;
    return sl__fail(c->err, SL_E_VALUE, "%s: the input has a value the kernel cannot take",
                    c->loss->name);
}

sl_status sl__recheck_values(const sl_call *c)
{
    return batch_check(c->loss, c->o, c->b, 1, NULL, c->err);
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

static const char *nonfinite_name(double v)
{
    return isnan(v) ? "NaN" : v > 0 ? "+Inf" : "-Inf";
}

/* SL_E_OVERFLOW when x (of shape s, may be NULL) has an entry that is not finite. */
static sl_status finite_check(const sl_loss_info *loss, const char *what, const float *x,
                              const sl_shape *s, sl_error *err)
{
    int64_t i = x ? first_nonfinite(x, sl_shape_numel(s)) : -1;
    if (i < 0) return SL_OK;
    char at[128];
    sl__index_str(s, i, at, sizeof at);
    return sl__fail(err, SL_E_OVERFLOW, "%s: the %s overflowed (%s at %s)", loss->name, what,
                    nonfinite_name(x[i]), at);
}

sl_status sl__check_finite(const sl_loss_info *loss, const sl_batch *b, double value, int empty,
                           const float *grad, const float *map, const sl_options *opt,
                           sl_error *err)
{
    if (!isfinite(value) && !(isnan(value) && empty))
        return sl__fail(err, SL_E_OVERFLOW, "%s: the loss value overflowed (%s) on finite inputs",
                        loss->name, nonfinite_name(value));
    sl_status st = finite_check(loss, "gradient", grad, &b->shape, err);
    if (st != SL_OK || !map) return st;
    sl_shape ms;
    sl_loss_map_shape(loss, opt, b, &ms);
    return finite_check(loss, "loss map", map, &ms, err);
}

sl_status sl__loss_check(const sl__run *r, sl_error *err)
{
    return batch_check(r->loss, r->o, r->b, 1, r->scan, err);
}

sl_status sl__loss_run(const sl__run *r, sl_error *err, double *value)
{
    const sl_loss_info *loss = r->loss;
    const sl_batch *b = r->b;
    int fast = r->impl != SL_IMPL_REF;
    sl_status st = batch_check(loss, r->o, b, !(fast && (loss->flags & SL_LOSS_KERNEL_CHECKS)),
                               r->scan, err);
    if (st != SL_OK) return st;
    size_t need = sl_loss_workspace_size(loss, r->o, b);
    if (r->ws_size < need || (need && !r->ws))
        return sl__fail(err, SL_E_ARG, "%s: workspace of %zu bytes is too small: need %zu",
                        loss->name, r->ws_size, need);
    int empty = 0;
    sl_call c = {.loss = loss, .o = r->o, .b = b, .N = b->shape.dim[0], .C = b->shape.dim[1],
                 .grad = r->grad, .map = r->map, .k = r->k, .accumulate = r->accumulate,
                 .ws = r->ws, .ws_size = r->ws_size, .threads = sl__threads(r->threads),
                 .kern = sl__kern_select(), .fast = fast, .err = err, .empty_mean = &empty,
                 .phase = r->phase, .stats = r->stats};
    c.P = sl_shape_numel(&b->shape) / (c.N * c.C);
    *value = 0.0;
    st = (fast ? loss->fast : loss->ref)(&c, value);
    if (st != SL_OK) return st;
    /* The statistics phase writes no value, gradient or map: nothing to check yet. */
    if (r->phase == SL__PHASE_STATS) return SL_OK;
    return sl__check_finite(loss, b, *value, empty, r->grad, r->map, r->o, err);
}

sl__run sl__run_of(const sl_loss_info *loss, const sl_options *opt, const sl_batch *b,
                   sl_impl impl, const sl_output *out)
{
    sl__run r = {.loss = loss, .o = opt, .b = b, .impl = impl, .k = 1.0, .ws = out->workspace,
                 .ws_size = out->workspace_size, .threads = out->threads};
    return r;
}

sl_status sl_loss_eval(const sl_loss_info *loss, const sl_options *opt, const sl_batch *b,
                       sl_impl impl, sl_output *out, sl_error *err)
{
    sl__run r = sl__run_of(loss, opt, b, impl, out);
    r.grad = out->grad;
    r.map = out->loss_map;
    return sl__loss_run(&r, err, &out->loss);
}
