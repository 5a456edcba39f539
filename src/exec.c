/* How a call runs: its thread count, the fixed chunking that makes results independent of it,
 * and the label pre-pass of the mean's normaliser. */
#include "internal.h"

#include <stdlib.h>
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

/* A thread is worth its start only for at least SL_MIN_PIXELS pixels of work; the result is
 * the same for any count, so small batches simply run on one. */
static int chunk_threads(int threads, int64_t N, int64_t P)
{
    int64_t useful = (N * P) / SL_MIN_PIXELS;
    return threads > useful ? (useful > 1 ? (int)useful : 1) : threads;
}

int sl__for_chunks(int threads, int64_t N, int64_t P, sl__chunk_fn fn, const void *ctx,
                   double *parts, int width)
{
    int64_t per = (P + SL_CHUNK - 1) / SL_CHUNK, total = N * per;
    int bad = 0;
    memset(parts, 0, (size_t)total * (size_t)width * sizeof(double));
    threads = chunk_threads(threads, N, P);
#ifdef _OPENMP
#pragma omp parallel for num_threads(threads) schedule(static) reduction(| : bad) if (threads > 1)
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

sl_status sl__label_counts(const sl_call *c, double *parts, double *counts)
{
    sl__ce_args a;
    memset(&a, 0, sizeof a);
    a.C = c->C;
    a.P = c->P;
    a.y = c->b->labels;
    a.has_ignore = c->o->ignore_index >= INT32_MIN && c->o->ignore_index <= INT32_MAX;
    a.ignore = a.has_ignore ? (int32_t)c->o->ignore_index : 0;
    int w = (int)c->C;
    if (sl__for_chunks(c->threads, c->N, c->P, c->kern->count, &a, parts, w))
        return sl__recheck(c);
    int64_t per = sl__nchunks(1, c->P);
    memset(counts, 0, (size_t)(c->N * c->C) * sizeof(double));
    for (int64_t n = 0; n < c->N; n++)
        for (int64_t q = n * per; q < (n + 1) * per; q++)
            for (int64_t k = 0; k < c->C; k++) counts[n * c->C + k] += parts[q * w + k];
    return SL_OK;
}

double sl__counts_weighted(const sl_call *c, const double *counts, const double *w)
{
    double d = 0.0;
    for (int64_t n = 0; n < c->N; n++)
        for (int64_t k = 0; k < c->C; k++)
            if (k != c->o->ignore_index) /* an ignore_index inside [0, C) leaves the mean */
                d += counts[n * c->C + k] * (w ? w[k] : 1.0);
    return d;
}

void sl__annotated_from_counts(const sl_call *c, const double *counts, uint8_t *ann)
{
    if (c->b->annotated) {
        sl__annotated(c->b, ann);
        return;
    }
    for (int64_t n = 0; n < c->N; n++)
        for (int64_t k = 0; k < c->C; k++) ann[n * c->C + k] = k == 0 || counts[n * c->C + k] > 0;
}

sl_status sl_bench_floor(const sl_batch *b, float *grad, int threads, double *checksum,
                         sl_error *err)
{
    sl_status st = sl__input_shape_check(&b->shape, err);
    if (st != SL_OK) return st;
    if (!b->input || !b->labels || !grad || b->target_kind != SL_TARGET_LABELS)
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
    int64_t nchunks = sl__nchunks(N, P);
    double *parts = malloc((size_t)nchunks * sizeof(double));
    if (!parts) return sl__fail(err, SL_E_NOMEM, "bench floor: out of memory");
    sl__for_chunks(sl__threads(threads), N, P, sl__kern_select()->floor, &a, parts, 1);
    double total = sl__sum_parts(parts, nchunks, 1, 0);
    free(parts);
    *checksum = total;
    return SL_OK;
}
