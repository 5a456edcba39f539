/* How a call runs: its thread count, the fixed chunking that makes results independent of it,
 * and the label pre-pass of the mean's normaliser. */
#include "internal.h"

#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

int sl__threads(int requested)
{
    if (requested > 0) return requested;
#ifdef _OPENMP
    int t = omp_get_max_threads();
    return t > 0 ? t : 1;
#else
    return 1;
#endif
}

int sl__for_chunks(int threads, int64_t N, int64_t P, sl__chunk_fn fn, const void *ctx,
                   double *parts, int width)
{
    int64_t per = (P + SL_CHUNK - 1) / SL_CHUNK, total = N * per;
    int bad = 0;
    memset(parts, 0, (size_t)total * (size_t)width * sizeof(double));
#ifdef _OPENMP
#pragma omp parallel for num_threads(threads) schedule(static) reduction(| : bad) if (total > 1)
#else
    (void)threads;
#endif
    for (int64_t q = 0; q < total; q++) {
        int64_t n = q / per, p0 = (q % per) * SL_CHUNK;
        int64_t p1 = p0 + SL_CHUNK < P ? p0 + SL_CHUNK : P;
        bad |= fn(ctx, n, p0, p1, parts + q * width);
    }
    return bad;
}

double sl__sum_parts(const double *parts, int64_t nchunks, int width, int j)
{
    double s = 0.0;
    for (int64_t q = 0; q < nchunks; q++) s += parts[q * width + j];
    return s;
}

typedef struct {
    const sl_call *c;
    const double *w;
} lw_ctx;

static int label_chunk(const void *vctx, int64_t n, int64_t p0, int64_t p1, double *part)
{
    const lw_ctx *k = vctx;
    const int32_t *y = k->c->b->labels + n * k->c->P;
    int64_t C = k->c->C, ign = k->c->o->ignore_index;
    double s = 0.0;
    if (!k->w) {
        int64_t cnt = 0;
        for (int64_t i = p0; i < p1; i++) cnt += y[i] != ign && y[i] >= 0 && y[i] < C;
        s = (double)cnt;
    } else {
        for (int64_t i = p0; i < p1; i++)
            if (y[i] != ign && y[i] >= 0 && y[i] < C) s += k->w[y[i]];
    }
    part[0] = s;
    return 0;
}

double sl__label_weight_sum(const sl_call *c, const double *w, double *parts)
{
    lw_ctx k = {c, w};
    int64_t nch = sl__nchunks(c->N, c->P);
    sl__for_chunks(c->threads, c->N, c->P, label_chunk, &k, parts, 1);
    return sl__sum_parts(parts, nch, 1, 0);
}

sl_status sl_bench_floor(const sl_batch *b, float *grad, int threads, double *checksum,
                         sl_error *err)
{
    if (b->shape.ndim < 3 || b->shape.ndim > 5 || !b->input || !b->labels || !grad ||
        b->target_kind != SL_TARGET_LABELS)
        return sl__fail(err, SL_E_ARG, "bench floor: needs an input, a label map and a gradient");
    int64_t N = b->shape.dim[0], C = b->shape.dim[1];
    int64_t P = sl_shape_numel(&b->shape) / (N * C);
    if (C > SL_KERN_MAX_C)
        return sl__fail(err, SL_E_ARG, "bench floor: at most %d classes", SL_KERN_MAX_C);
    sl__ce_args a;
    memset(&a, 0, sizeof a);
    a.C = C;
    a.P = P;
    a.x = b->input;
    a.y = b->labels;
    a.grad = grad;
    /* the same chunks and threads as the kernels; the label sums are integers, exact in any
     * order */
    const sl__kern *k = sl__kern_select();
    int64_t per = (P + SL_CHUNK - 1) / SL_CHUNK, total_chunks = N * per;
    double total = 0.0;
#ifdef _OPENMP
#pragma omp parallel for num_threads(sl__threads(threads)) schedule(static) reduction(+ : total)
#else
    (void)threads;
#endif
    for (int64_t q = 0; q < total_chunks; q++) {
        int64_t n = q / per, p0 = (q % per) * SL_CHUNK;
        int64_t p1 = p0 + SL_CHUNK < P ? p0 + SL_CHUNK : P;
        double part = 0.0;
        k->floor(&a, n, p0, p1, &part);
        total += part;
    }
    *checksum = total;
    return SL_OK;
}
