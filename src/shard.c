/* Sharded evaluation: one batch split across processes (data-parallel training), each shard's
 * loss statistics summed across them, then every shard's value part and gradient of the loss of
 * the whole batch. A loss's flags (SL_LOSS_SHARD_*) say whether it can be evaluated this way
 * and the size of its statistics; a loss runs its two phases through sl_call.phase. */
#include "internal.h"

#include <string.h>

/* Statistics of a loss for C classes beyond stats[0] (the number of shards), as its flags say;
 * -1: none exist. Lovasz over the batch sorts every shard's errors together: no sums can stand
 * for that, so it has statistics only per image. */
static int64_t own_stats(const sl_loss_info *loss, const sl_options *o, int64_t C)
{
    if (loss->flags & SL_LOSS_SHARD_NORM) return 1;
    if (loss->flags & SL_LOSS_SHARD_SUMS) return o->batch ? 3 * C : 2;
    if (loss->flags & SL_LOSS_SHARD_PER_IMAGE) return o->per_image ? 1 : -1;
    return -1;
}

static sl_status stats_size(const sl_loss_info *loss, const sl_options *o, const sl_batch *b,
                            size_t *n, sl_error *err)
{
    if (b->shape.ndim < 3 || b->shape.ndim > 5 || b->shape.dim[1] < 1)
        return sl__fail(err, SL_E_SHAPE, "input: need [N, C, spatial...] with 1 to 3 spatial axes");
    int64_t k = own_stats(loss, o, b->shape.dim[1]);
    if (k < 0)
        return sl__fail(err, SL_E_ARG,
                        "%s cannot be evaluated in shards: its value is not a function of sums "
                        "over the shards",
                        loss->name);
    *n = (size_t)(1 + k);
    return SL_OK;
}

sl_status sl_loss_stats_size(const sl_loss_info *loss, const sl_options *opt, const sl_batch *b,
                             size_t *n, sl_error *err)
{
    return stats_size(loss, opt, b, n, err);
}

sl_status sl__stats_at(sl__run *r, int phase, double *stats, size_t *at, sl_error *err)
{
    size_t n;
    sl_status st = stats_size(r->loss, r->o, r->b, &n, err);
    if (st != SL_OK) return st;
    double *own = stats + *at;
    if (phase == SL__PHASE_STATS) {
        memset(own, 0, n * sizeof *own);
        own[0] = 1.0;
    } else if (!(own[0] >= 1.0)) {
        return sl__fail(err, SL_E_ARG, "%s: statistics of %g shards: need at least 1",
                        r->loss->name, own[0]);
    }
    r->phase = phase;
    r->stats = own;
    *at += n;
    return SL_OK;
}

/* One loss's phase. */
static sl_status loss_phase(const sl_loss_info *loss, const sl_options *opt, const sl_batch *b,
                            sl_impl impl, int phase, double *stats, sl_output *out, sl_error *err)
{
    sl__run r = sl__run_of(loss, opt, b, impl, out);
    size_t at = 0;
    sl_status st = sl__stats_at(&r, phase, stats, &at, err);
    if (st != SL_OK) return st;
    if (phase == SL__PHASE_STATS) {
        double v;
        return sl__loss_run(&r, err, &v);
    }
    r.grad = out->grad;
    r.map = out->loss_map;
    return sl__loss_run(&r, err, &out->loss);
}

sl_status sl_loss_stats(const sl_loss_info *loss, const sl_options *opt, const sl_batch *b,
                        sl_impl impl, double *stats, sl_output *out, sl_error *err)
{
    return loss_phase(loss, opt, b, impl, SL__PHASE_STATS, stats, out, err);
}

sl_status sl_loss_finish(const sl_loss_info *loss, const sl_options *opt, const sl_batch *b,
                         sl_impl impl, const double *stats, sl_output *out, sl_error *err)
{
    return loss_phase(loss, opt, b, impl, SL__PHASE_FINISH, (double *)(uintptr_t)stats, out,
                      err);
}

sl_status sl_spec_stats_size(const sl_spec *s, const sl_batch *b, size_t *n, sl_error *err)
{
    *n = 0;
    for (int i = 0; i < sl_spec_nterms(s); i++) {
        const sl_loss_info *loss;
        const sl_options *o;
        sl_spec_term(s, i, NULL, &loss, &o);
        sl_batch tb;
        size_t k;
        sl_status st = stats_size(loss, o, sl__spec_term_batch(s, i, b, &tb), &k, err);
        if (st != SL_OK) return st;
        *n += k;
    }
    return SL_OK;
}

sl_status sl_spec_stats(const sl_spec *s, const sl_batch *b, sl_impl impl, double *stats,
                        sl_output *out, sl_error *err)
{
    return sl__spec_run(s, b, impl, SL__PHASE_STATS, stats, out, err);
}

sl_status sl_spec_finish(const sl_spec *s, const sl_batch *b, sl_impl impl, const double *stats,
                         sl_output *out, sl_error *err)
{
    return sl__spec_run(s, b, impl, SL__PHASE_FINISH, (double *)(uintptr_t)stats, out, err);
}
