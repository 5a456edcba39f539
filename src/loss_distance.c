/* Losses built on distance transforms of the masks (exact EDT, src/edt.c).
 *
 * boundary     - Kervadec et al.'s boundary (surface) loss: mean over (image, class in idc,
 *                pixel) of p_k * phi_k, phi_k the signed distance map of the target's class-k
 *                mask as the authors' one_hot2dist computes it.
 * hausdorff_dt - MONAI's HausdorffDTLoss (Karimi & Salcudean): per (image, class) the mean over
 *                pixels of (p - g)^2 (field(p)^alpha + field(g)^alpha), the fields constants.
 *
 * Both take a softmax over classes of logits, or probabilities as given (no renormalisation,
 * no clip: no log is taken). The distance maps do not depend on the input's values for the
 * gradient (constants), so dL/dp is closed-form. Formulas and gradients: docs/distance.md. */
#include "edt.h"
#include "internal.h"

#include <math.h>
#include <stdint.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* ---------------------------------------------------------------------------------------------
 * Shared pieces
 *
 * Fast path, one image at a time, one class at a time: the class' masks and their squared
 * distance maps (src/edt.c, both sides in one transform, threaded over lines), the loss's
 * per-pixel work in float loops done line by line as the EDT finishes each line of its last
 * pass (while it is in cache; in blocks of PIECE points, each line's sum in its own double
 * slot, added in line order) writing dL/dp of the class, then the chain rule (kernel) into
 * grad. The probabilities come from the softmax kernel (which copies and checks probabilities
 * given as such). It works pixel by pixel, so a piece of an image gets the same bits as the
 * whole image: with a gradient of the call's own, they are computed once per image into that
 * gradient (each class' row then becomes its row of dL/dp); without a gradient, or with one
 * that already holds other terms, they are not kept: each block of a line computes them again
 * where it reads them, and so does the chain rule, block by block. Every piece is split the
 * same way whatever the thread count and wherever p comes from, and the EDT is exact, so the
 * results are the same bits for any number of threads, and the value the same bits with and
 * without a gradient. The losses take SL_LOSS_KERNEL_CHECKS: the softmax kernel checks the
 * input and one pass checks the labels or targets, instead of the common checks' scan.
 *
 * Reference: plain double loops, one image at a time: per class its distance maps by the plain
 * EDT into a [C, P] double buffer, then one pass over the pixels computing the softmax of the
 * pixel, the loss and its gradient side by side.
 */

typedef struct {
    int64_t N, C, P;
    sl__grid grid; /* the spatial axes, unit spacing */
} dims_t;

static void get_dims(const sl_batch *b, dims_t *d)
{
    d->N = b->shape.dim[0];
    d->C = b->shape.dim[1];
    d->P = sl_shape_numel(&b->shape) / (d->N * d->C);
    sl__grid_make(&d->grid, b->shape.ndim - 2, b->shape.dim + 2, NULL);
}

/* The lines of the last axis (what the EDT hands its line consumer). */
static int64_t last_lines(const sl__grid *g)
{
    return g->nd == 1 ? 1 : sl__grid_numel(g) / g->dim[g->nd - 1];
}

/* The most threads the fast path's pieces serve (each has its own piece of the room and its
 * own slot of EDT scratch), and the points of a line's block. */
#define EDT_SLOTS 64
#define PIECE 256

/* The fast path's workspace, in layout order:
 *   room   [C, P] floats + EDT_SLOTS PIECE: the threads' pieces of probabilities computed
 *          again, class c of a piece at + c P (the kernel's stride is the input's): a block
 *          of PIECE points at thread t's offset t PIECE, so that only C x threads x PIECE
 *          floats are touched;
 *   g      [C, P] floats: dL/dp of one image, only when the gradient already holds other terms
 *          (accumulate). Else dL/dp lies in the image's part of the caller's gradient, where
 *          the chain rule then runs in place, or, without a gradient, over the block of
 *          probabilities it was computed from. hausdorff_dt keeps field(p)^2 of a class as
 *          [P] floats (fp) in g's first row, in the gradient's row of class 0 when that is
 *          not scored, or with accumulate in dL/dp's own row (hd_fp);
 *   d1, m1 [P] doubles and [P] bytes: one class' distance map and its mask;
 *   parts, msum: per-chunk or per-line sums, the map's sums [N, C];
 *   and last the EDT's line scratch for `slots` threads (per thread about 56 bytes per point of
 *          the longest axis plus 128 per point of the first).
 * Pages are resident only where touched, and one call touches much less than the layout's
 * size. Nothing of the size of the input is kept, so the peak beside the inputs and outputs
 * is, besides the small pieces: with a gradient of the call's own or none, d1 and m1, 9 P
 * bytes, and hausdorff_dt's fp besides, 13 P, unless it lies in the gradient (include_background
 * false), under the input's size W = 4 N C P whenever N C >= 4
 * (W >= 16 P; with N C <= 2, W <= 8 P cannot hold a double map of the image's size); with
 * accumulate, one image's dL/dp, 4 C P (W / N), + 9 P (fp in it), under W for N >= 2 and
 * C >= 3, or N >= 3 (over it by P bytes for N = C = 2, and for one image, by 9 P). */
typedef struct {
    float *p; /* with a gradient of the call's own: the image's probabilities, in it; else NULL */
    float *room, *g;
    double *d1;
    uint8_t *m1;
    double *parts, *msum;
    void *scratch;
} fast_ws;

static void fast_layout(sl__arena *a, const dims_t *d, int slots, fast_ws *w)
{
    size_t CP = (size_t)(d->C * d->P), P = (size_t)d->P;
    w->p = NULL;
    w->room = sl__take(a, (CP + (size_t)EDT_SLOTS * PIECE) * sizeof(float));
    w->g = sl__take(a, CP * sizeof(float));
    w->d1 = sl__take(a, P * sizeof(double));
    w->m1 = sl__take(a, P);
    int64_t nparts = sl__nchunks(d->N, d->P), nl = last_lines(&d->grid);
    w->parts = sl__take(a, (size_t)(nparts > nl ? nparts : nl) * sizeof(double));
    w->msum = sl__take(a, (size_t)(d->N * d->C) * sizeof(double));
    w->scratch = sl__take(a, sl__edt_scratch_size_t(&d->grid, slots));
}

/* The reference's workspace: G [C, P] doubles (the distance terms of one image), three [P]
 * doubles, a [P] mask, a line of the longest axis, three [C] doubles (one pixel), the map's
 * sums [N, C]. */
typedef struct {
    double *G, *a, *b, *buf, *line, *px, *gx, *lc, *msum;
    uint8_t *mask;
} ref_ws;

static void ref_layout(sl__arena *a, const dims_t *d, ref_ws *w)
{
    size_t C = (size_t)d->C, P = (size_t)d->P, L = 1;
    for (int k = 0; k < d->grid.nd; k++)
        if ((size_t)d->grid.dim[k] > L) L = (size_t)d->grid.dim[k];
    w->G = sl__take(a, C * P * sizeof(double));
    w->a = sl__take(a, P * sizeof(double));
    w->b = sl__take(a, P * sizeof(double));
    w->buf = sl__take(a, P * sizeof(double));
    w->mask = sl__take(a, P);
    w->line = sl__take(a, L * sizeof(double));
    w->px = sl__take(a, C * sizeof(double));
    w->gx = sl__take(a, C * sizeof(double));
    w->lc = sl__take(a, C * sizeof(double));
    w->msum = sl__take(a, (size_t)(d->N * d->C) * sizeof(double));
}

/* The larger of the two layouts; the fast path's EDT scratch has a slot for each of OpenMP's
 * default threads (what threads = 0 runs on), at most EDT_SLOTS. A call with more threads
 * runs its EDTs on as many threads as the workspace has slots for (the results do not depend
 * on it). */
static size_t distance_workspace(const sl_options *o, const sl_batch *b)
{
    (void)o;
    dims_t d;
    get_dims(b, &d);
    fast_ws fw;
    ref_ws rw;
    sl__arena fa = sl__arena_of(NULL), ra = sl__arena_of(NULL);
    int slots = sl__threads(0);
    fast_layout(&fa, &d, slots < EDT_SLOTS ? slots : EDT_SLOTS, &fw);
    ref_layout(&ra, &d, &rw);
    size_t f = sl__arena_size(&fa), r = sl__arena_size(&ra);
    return f > r ? f : r;
}

/* Carve the fast path's workspace; returns the threads its EDT scratch (and the room's line
 * pieces) serve. */
static int fast_carve(const sl_call *c, const dims_t *d, fast_ws *w)
{
    sl__arena a = sl__arena_of(c->ws);
    fast_layout(&a, d, 1, w);
    size_t off = (size_t)((unsigned char *)w->scratch - (unsigned char *)c->ws);
    size_t avail = c->ws_size > off ? c->ws_size - off : 0, slot = sl__edt_slot_size(&d->grid);
    size_t slots = avail > 64 + slot ? (avail - 64) / slot : 1;
    if (slots > EDT_SLOTS) slots = EDT_SLOTS;
    return slots < (size_t)c->threads ? (int)slots : c->threads;
}

/* Whether the kernels take this batch (softmax and chain keep C classes of a tail on the
 * stack); else the fast path runs the reference. */
static int fast_ok(const sl_call *c)
{
    return c->C <= SL_KERN_MAX_C;
}

/* fn on every line of the last axis of d, over `threads` threads (for a map the EDT did not go
 * through: an empty or full mask). */
static void run_lines(int threads, const sl__grid *g, sl__edt_line_fn fn, void *ctx,
                      const double *d)
{
    int64_t nl = last_lines(g), n = sl__grid_numel(g) / nl;
#ifdef _OPENMP
#pragma omp parallel for num_threads(threads) schedule(static) if (nl > 1)
#else
    (void)threads;
#endif
    for (int64_t l = 0; l < nl; l++)
        fn(ctx, l, l * n, n, d + l * n);
}

/* The probabilities of image n's pixels [i, i + len) into q, class c at q + c P: the softmax
 * kernel (it copies and checks probabilities given as such), or logits used as given (checked
 * by the kernel, then copied). Nonzero when the kernel saw a value the checks refuse. */
static int probs_piece(const sl_call *c, int64_t n, int64_t i, int64_t len, int softmax, float *q)
{
    const int64_t C = c->C, P = c->P;
    const float *x = c->b->input + n * C * P + i;
    const int probs = c->b->input_kind == SL_INPUT_PROBS;
    sl__sm_args a = {C, P, x, probs, q};
    double part = 0.0;
    int bad = c->kern->softmax(&a, 0, 0, len, &part);
    if (!softmax && !probs)
        for (int64_t k = 0; k < C; k++)
            memcpy(q + k * P, x + k * P, (size_t)len * sizeof(float));
    return bad;
}

/* Where the per-pixel work of class cls of image n reads its probabilities: the class' row of
 * those kept in the gradient (row), or computed again block by block into the calling thread's
 * piece of the room (the image was checked first). */
typedef struct {
    const sl_call *c;
    float *row, *room;
    int64_t n, cls;
    int softmax;
} prob_src;

static prob_src fast_src(const sl_call *c, const fast_ws *w, int64_t n, int64_t cls, int softmax)
{
    prob_src s = {c, w->p ? w->p + cls * c->P : NULL, w->room, n, cls, softmax};
    return s;
}

/* The class' probabilities of pixels [i, i + len), len <= PIECE; writable (a kept row turns
 * into dL/dp, a piece takes it when there is no gradient). */
static float *src_block(const prob_src *s, int64_t i, int64_t len)
{
    if (s->row) return s->row + i;
    float *q = s->room + (int64_t)sl__edt_thread() * PIECE;
    (void)probs_piece(s->c, s->n, i, len, s->softmax, q);
    return q + s->cls * s->c->P;
}

/* fn on every block of PIECE points of image n with their probabilities (class c at q + c P),
 * over the call's threads (at most EDT_SLOTS, the room's pieces); fn NULL: the kernel's checks
 * only. Nonzero when the kernel saw a value the checks refuse. */
typedef void (*block_fn)(void *ctx, int64_t i, int64_t len, const float *q);

static int for_blocks(const sl_call *c, const fast_ws *w, int64_t n, int softmax, block_fn fn,
                      void *ctx)
{
    const int64_t P = c->P, per = (P + PIECE - 1) / PIECE;
    const int nt = c->threads < EDT_SLOTS ? c->threads : EDT_SLOTS;
    int bad = 0;
#ifdef _OPENMP
#pragma omp parallel for num_threads(nt) schedule(static) reduction(| : bad) if (nt > 1 && per > 1)
#endif
    for (int64_t b = 0; b < per; b++) {
        const int64_t i = b * PIECE, len = P - i < PIECE ? P - i : PIECE;
        float *q = w->room + (int64_t)sl__edt_thread() * PIECE;
        bad |= probs_piece(c, n, i, len, softmax, q);
        if (fn) fn(ctx, i, len, q);
    }
    (void)nt;
    return bad;
}

/* Image n's probabilities before its classes: with a gradient of the call's own, into the
 * image's part of it (w->p); else only checked (they are computed again where they are read).
 * The kernel checks the values as the common checks would (the losses take
 * SL_LOSS_KERNEL_CHECKS); nonzero when it saw one they refuse. */
static int fast_probs(const sl_call *c, fast_ws *w, int64_t n, int softmax)
{
    w->p = NULL;
    if (!c->grad || c->accumulate) return for_blocks(c, w, n, softmax, NULL, NULL);
    const int64_t C = c->C, P = c->P;
    const float *x = c->b->input + n * C * P;
    const int probs = c->b->input_kind == SL_INPUT_PROBS;
    float *out = c->grad + n * C * P;
    sl__sm_args a = {C, P, x, probs, out};
    if (sl__for_chunks(c->threads, 1, P, c->kern->softmax, &a, w->parts, 1)) return 1;
    if (!softmax && !probs) memcpy(out, x, (size_t)(C * P) * sizeof(float));
    w->p = out;
    return 0;
}

/* The rest of the common checks, on every image before anything is written: labels in [0, C)
 * or ignore_index, or per-class targets finite and >= 0. */
typedef struct {
    const int32_t *y;
    const float *t;
    int64_t C, P;
    int32_t ignore;
    int has_ignore;
} chk_ctx;

static int check_chunk(const void *v, int64_t n, int64_t p0, int64_t p1, double *part)
{
    const chk_ctx *k = v;
    int bad = 0;
    part[0] = 0.0;
    if (k->y) {
        const int32_t *y = k->y + n * k->P, ign = k->ignore, C = (int32_t)k->C;
        int hi = k->has_ignore;
#ifdef _OPENMP
#pragma omp simd reduction(| : bad)
#endif
        for (int64_t i = p0; i < p1; i++)
            bad |= (y[i] < 0 || y[i] >= C) && !(hi && y[i] == ign);
        return bad;
    }
    for (int64_t c = 0; c < k->C; c++) {
        const float *t = k->t + (n * k->C + c) * k->P;
#ifdef _OPENMP
#pragma omp simd reduction(| : bad)
#endif
        for (int64_t i = p0; i < p1; i++)
            bad |= !(t[i] >= 0.0f) || t[i] == INFINITY;
    }
    return bad;
}

static int fast_check_targets(const sl_call *c, fast_ws *w)
{
    const sl_batch *b = c->b;
    int64_t ign = c->o->ignore_index;
    chk_ctx k = {NULL, NULL, c->C, c->P, 0, ign >= INT32_MIN && ign <= INT32_MAX};
    k.ignore = k.has_ignore ? (int32_t)ign : 0;
    if (b->target_kind == SL_TARGET_LABELS)
        k.y = b->labels;
    else
        k.t = b->target;
    return sl__for_chunks(c->threads, c->N, c->P, check_chunk, &k, w->parts, 1);
}

/* Where dL/dp of image n goes: the image's part of the gradient (where the chain rule then
 * runs in place), the workspace's g with accumulate, nowhere (NULL) without a gradient. */
static float *fast_g(const sl_call *c, const fast_ws *w, int64_t n)
{
    if (!c->grad) return NULL;
    return c->accumulate ? w->g : c->grad + n * c->C * c->P;
}

/* The chain rule on a block: dL/dx of the block from its probabilities q and g = dL/dp. */
typedef struct {
    const sl_call *c;
    const float *g; /* the image's dL/dp */
    float *grad;    /* the image's part of the gradient */
    int softmax;
} chain_ctx;

static void chain_block(void *v, int64_t i, int64_t len, const float *q)
{
    const chain_ctx *k = v;
    const sl_call *c = k->c;
    double part = 0.0;
    sl__chain_args a = {c->C,        c->P,          q,          k->g + i, k->softmax,
                        (float)c->k, c->accumulate, k->grad + i};
    c->kern->chain(&a, 0, 0, len, &part);
}

/* dL/dx of image n from g = dL/dp (without k), block by block, each block's probabilities
 * computed again (the same kernel: the same bits) into its thread's piece of the room, so that
 * only those pieces are touched. Nonzero when the kernel refused the input. */
static int fast_chain(const sl_call *c, fast_ws *w, const float *g, int64_t n, int softmax)
{
    if (!c->grad) return 0;
    chain_ctx k = {c, g, c->grad + n * c->C * c->P, softmax};
    return for_blocks(c, w, n, softmax, chain_block, &k);
}

/* A mask of one image over chunks: the target's class cls (label == cls, or t > 0.5), or the
 * prediction's (p > 0.5, p the class' probabilities) when p is given. */
typedef struct {
    const int32_t *y;
    const float *t, *p;
    int32_t cls;
    uint8_t *m;
} mask_ctx;

static int mask_chunk(const void *v, int64_t n, int64_t p0, int64_t p1, double *part)
{
    const mask_ctx *k = v;
    const int32_t cls = k->cls;
    uint8_t *m = k->m;
    (void)n;
    part[0] = 0.0;
    if (k->p) {
        const float *p = k->p;
#ifdef _OPENMP
#pragma omp simd
#endif
        for (int64_t i = p0; i < p1; i++)
            m[i] = p[i] > 0.5f;
    } else if (k->y) {
        const int32_t *y = k->y;
#ifdef _OPENMP
#pragma omp simd
#endif
        for (int64_t i = p0; i < p1; i++)
            m[i] = y[i] == cls;
    } else {
        const float *t = k->t;
#ifdef _OPENMP
#pragma omp simd
#endif
        for (int64_t i = p0; i < p1; i++)
            m[i] = t[i] > 0.5f;
    }
    return 0;
}

/* The target's (or, with p, the prediction's) mask of class cls in image n into m. */
static void fast_mask(const sl_call *c, fast_ws *w, int64_t n, int64_t cls, const float *p,
                      uint8_t *m)
{
    const sl_batch *b = c->b;
    mask_ctx k = {NULL, NULL, p, (int32_t)cls, m};
    if (!p) {
        if (b->target_kind == SL_TARGET_LABELS)
            k.y = b->labels + n * c->P;
        else
            k.t = b->target + (n * c->C + cls) * c->P;
    }
    sl__for_chunks(c->threads, 1, c->P, mask_chunk, &k, w->parts, 1);
}

/* The prediction's mask of class cls (p > 0.5) from a block's probabilities. */
typedef struct {
    uint8_t *m;
    int64_t off; /* the class' row in a piece: cls P */
} pred_ctx;

static void pred_block(void *v, int64_t i, int64_t len, const float *q)
{
    const pred_ctx *k = v;
    const float *p = q + k->off;
    uint8_t *m = k->m + i;
#ifdef _OPENMP
#pragma omp simd
#endif
    for (int64_t j = 0; j < len; j++)
        m[j] = p[j] > 0.5f;
}

/* The prediction's mask of class cls in image n into w->m1: from the kept probabilities, or
 * block by block from probabilities computed again. */
static void fast_pred_mask(const sl_call *c, fast_ws *w, int64_t n, int64_t cls, int softmax)
{
    if (w->p) {
        fast_mask(c, w, n, cls, w->p + cls * c->P, w->m1);
        return;
    }
    pred_ctx k = {w->m1, cls * c->P};
    (void)for_blocks(c, w, n, softmax, pred_block, &k);
}

/* Reference: the probabilities of one pixel in double (x: class 0, classes P apart), the
 * softmax or the input as given. */
static void probs_ref(const float *x, int64_t C, int64_t P, int softmax, double *p)
{
    for (int64_t c = 0; c < C; c++)
        p[c] = x[c * P];
    if (softmax) sl__softmax(p, C, 1, 0);
}

/* Reference: both sides of a mask with the plain EDT. out[i]: the distance to the nearest
 * point outside the mask (inside points) or in it (outside points). Returns 0 empty, 2 full
 * (out all 0), else 1. */
static int two_sided_ref(const uint8_t *mask, const sl__grid *g, double *out, double *buf,
                         double *line)
{
    int64_t n = sl__grid_numel(g), in = 0;
    for (int64_t i = 0; i < n; i++)
        in += mask[i] != 0;
    for (int64_t i = 0; i < n; i++)
        out[i] = 0.0;
    if (in == 0 || in == n) return in == 0 ? 0 : 2;
    for (int64_t i = 0; i < n; i++)
        buf[i] = mask[i] ? 0.0 : INFINITY;
    sl__edt_sq_ref(buf, g, line);
    for (int64_t i = 0; i < n; i++)
        if (!mask[i]) out[i] = sqrt(buf[i]);
    for (int64_t i = 0; i < n; i++)
        buf[i] = mask[i] ? INFINITY : 0.0;
    sl__edt_sq_ref(buf, g, line);
    for (int64_t i = 0; i < n; i++)
        if (mask[i]) out[i] = sqrt(buf[i]);
    return 1;
}

/* Reference: the target's mask of class c in image n: label == c, or t_c > 0.5. */
static void target_mask_ref(const sl_batch *b, const dims_t *d, int64_t n, int64_t c, uint8_t *m)
{
    if (b->target_kind == SL_TARGET_LABELS) {
        const int32_t *y = b->labels + n * d->P;
        for (int64_t i = 0; i < d->P; i++)
            m[i] = y[i] == c;
    } else {
        const float *t = b->target + (n * d->C + c) * d->P;
        for (int64_t i = 0; i < d->P; i++)
            m[i] = t[i] > 0.5f;
    }
}

/* Reference: the target's value g_c at pixel i of image n: one-hot of the label, or t_c. */
static double target_value(const sl_batch *b, const dims_t *d, int64_t n, int64_t c, int64_t i)
{
    if (b->target_kind == SL_TARGET_LABELS) return b->labels[n * d->P + i] == c ? 1.0 : 0.0;
    return b->target[(n * d->C + c) * d->P + i];
}

/* Reference: a loss's term at a pixel of class cl, from its probability p, its distance term G
 * and its target t; *gx = dL/dp. */
typedef double (*ref_term_fn)(const void *ctx, int64_t cl, double p, double G, double t,
                              double *gx);

/* Reference: the pixels of image n, the distance terms of every class in w->G: w->lc[cl] the
 * sum of class cl's terms, and the gradient through the softmax (or as given). */
static void ref_pixels(const sl_call *c, const dims_t *d, ref_ws *w, int64_t n, int softmax,
                       ref_term_fn fn, const void *ctx)
{
    const int64_t C = d->C, P = d->P;
    for (int64_t cl = 0; cl < C; cl++)
        w->lc[cl] = 0.0;
    for (int64_t i = 0; i < P; i++) {
        probs_ref(c->b->input + n * C * P + i, C, P, softmax, w->px);
        double t = 0.0;
        for (int64_t cl = 0; cl < C; cl++) {
            double tv = target_value(c->b, d, n, cl, i);
            w->lc[cl] += fn(ctx, cl, w->px[cl], w->G[cl * P + i], tv, &w->gx[cl]);
            t += w->px[cl] * w->gx[cl];
        }
        if (!c->grad) continue;
        float *gr = c->grad + n * C * P + i;
        for (int64_t cl = 0; cl < C; cl++)
            sl__put(c, gr, cl * P, softmax ? w->px[cl] * (w->gx[cl] - t) : w->gx[cl]);
    }
}

/* ---------------------------------------------------------------------------------------------
 * boundary
 */

/* How many times class c is listed in idc (default: every object class once). */
static int64_t idc_count(const sl_options *o, int64_t c)
{
    if (!o->idc) return c >= 1;
    int64_t k = 0;
    for (int64_t j = 0; j < o->nidc; j++)
        k += (int64_t)o->idc[j] == c;
    return k;
}

static int64_t idc_len(const sl_options *o, int64_t C)
{
    return o->idc ? o->nidc : C - 1;
}

/* The mean's factor 1 / (N K) (0 when K = 0), or 1. */
static double boundary_scale(const sl_options *o, int64_t N, int64_t C)
{
    int64_t K = idc_len(o, C);
    if (o->reduction != SL_REDUCE_MEAN) return 1.0;
    return K > 0 ? 1.0 / (double)(N * K) : 0.0;
}

/* e[i] = the square root of (float)d[i], i in [p0, p1) (d < 2^24, the squared distances of
 * images under 4096 pixels a side, is exact as a float). The plain loop does not vectorise
 * (sqrtf has an errno path), so SSE's packed square root where there is one; every path
 * rounds correctly: the same bits. */
static void sqrt_floats(const double *d, float *e, int64_t p0, int64_t p1)
{
    int64_t i = p0;
#if defined(__SSE2__)
    for (; i + 4 <= p1; i += 4) {
        __m128 lo = _mm_cvtpd_ps(_mm_loadu_pd(d + i)), hi = _mm_cvtpd_ps(_mm_loadu_pd(d + i + 2));
        _mm_storeu_ps(e + i, _mm_sqrt_ps(_mm_movelh_ps(lo, hi)));
    }
#endif
    for (; i < p1; i++)
        e[i] = sqrtf((float)d[i]);
}

/* One line of a class, called by the EDT as soon as the line's distances are final (d: their
 * squares): phi = EDT(!G) outside G, 1 - EDT(G) inside; parts[l] = sum p phi; g = gk phi,
 * written over the block's probabilities without a gradient (each point read before it is
 * written; with a gradient of the call's own g is the kept p itself). */
typedef struct {
    prob_src src; /* p of the class */
    const uint8_t *m;
    float *g; /* dL/dp of the class, or NULL */
    float gk;
    double *parts;
} bnd_ctx;

static void bnd_line(void *v, int64_t l, int64_t base, int64_t n, const double *d)
{
    const bnd_ctx *k = v;
    const uint8_t *m = k->m + base;
    float gk = k->gk, e[PIECE];
    double acc = 0.0;
    for (int64_t i0 = 0; i0 < n; i0 += PIECE) {
        const int64_t len = n - i0 < PIECE ? n - i0 : PIECE;
        float *p = src_block(&k->src, base + i0, len);
        float *g = k->g ? k->g + base + i0 : p;
        /* the distances in blocks on the stack */
        sqrt_floats(d + i0, e, 0, len);
#ifdef _OPENMP
#pragma omp simd reduction(+ : acc)
#endif
        for (int64_t i = 0; i < len; i++) {
            /* phi = off + sg e: e, or 1 + (-e) = 1 - e */
            float sg = m[i0 + i] ? -1.0f : 1.0f, off = m[i0 + i] ? 1.0f : 0.0f;
            float phi = off + sg * e[i];
            acc += (double)(p[i] * phi);
            g[i] = gk * phi;
        }
    }
    k->parts[l] = acc;
}

static sl_status boundary_ref(const sl_call *c, double *loss);

static sl_status boundary_fast(const sl_call *c, double *loss)
{
    if (!fast_ok(c)) return sl__fall_back(c, boundary_ref, loss);
    const sl_options *o = c->o;
    dims_t d;
    get_dims(c->b, &d);
    fast_ws w;
    int et = fast_carve(c, &d, &w);
    if (fast_check_targets(c, &w)) return sl__recheck(c);
    int64_t N = d.N, C = d.C, P = d.P, nl = last_lines(&d.grid);
    double scale = boundary_scale(o, N, C), total = 0.0;
    int softmax = c->b->input_kind == SL_INPUT_LOGITS;
    for (int64_t n = 0; n < N; n++) {
        if (fast_probs(c, &w, n, softmax)) return sl__recheck(c);
        float *g = fast_g(c, &w, n);
        for (int64_t cl = 0; cl < C; cl++) {
            int64_t mult = idc_count(o, cl);
            float *gc = g ? g + cl * P : NULL;
            double v = 0.0;
            int r = 0;
            if (mult > 0) {
                /* the per-pixel work on each line of the EDT's last pass, in cache */
                bnd_ctx k = {fast_src(c, &w, n, cl, softmax), w.m1, gc,
                             (float)(scale * (double)mult / (double)P), w.parts};
                fast_mask(c, &w, n, cl, NULL, w.m1);
                r = sl__edt_two_sided_sq_t(w.m1, &d.grid, w.d1, w.scratch, et, bnd_line, &k);
            }
            if (r == 1)
                v = (double)mult * sl__sum_parts(w.parts, nl, 1, 0) / (double)P;
            else if (gc)
                memset(gc, 0, (size_t)P * sizeof(float));
            if (c->map) sl__put(c, c->map, n * C + cl, v);
            total += v;
        }
        if (fast_chain(c, &w, g, n, softmax)) return sl__recheck(c);
    }
    *loss = total * scale;
    return SL_OK;
}
/* loss: sum_i p_k phi_k; dL/dp_k = scale m_k phi_k / P */
typedef struct {
    const sl_options *o;
    double scale;
    int64_t P;
} bnd_ref_ctx;

/* A reference's start: the batch's sizes and its workspace laid out. */
static void ref_begin(const sl_call *c, dims_t *d, ref_ws *w)
{
    get_dims(c->b, d);
    sl__arena a = sl__arena_of(c->ws);
    ref_layout(&a, d, w);
}

static double bnd_ref_term(const void *ctx, int64_t cl, double p, double phi, double t, double *gx)
{
    const bnd_ref_ctx *k = ctx;
    (void)t;
    *gx = k->scale * (double)idc_count(k->o, cl) * phi / (double)k->P;
    return p * phi;
}

static sl_status boundary_ref(const sl_call *c, double *loss)
{
    const sl_options *o = c->o;
    const sl_batch *b = c->b;
    dims_t d;
    ref_ws w;
    ref_begin(c, &d, &w);
    int64_t N = d.N, C = d.C, P = d.P;
    double scale = boundary_scale(o, N, C), total = 0.0;
    int softmax = b->input_kind == SL_INPUT_LOGITS;
    for (int64_t n = 0; n < N; n++) {
        /* phi of every class (0 for a class not scored, an empty or a full mask) */
        for (int64_t cl = 0; cl < C; cl++) {
            double *phi = w.G + cl * P;
            for (int64_t i = 0; i < P; i++)
                phi[i] = 0.0;
            if (idc_count(o, cl) == 0) continue;
            target_mask_ref(b, &d, n, cl, w.mask);
            if (two_sided_ref(w.mask, &d.grid, w.a, w.buf, w.line) == 1)
                for (int64_t i = 0; i < P; i++)
                    phi[i] = w.mask[i] ? 1.0 - w.a[i] : w.a[i];
        }
        bnd_ref_ctx k = {o, scale, P};
        ref_pixels(c, &d, &w, n, softmax, bnd_ref_term, &k);
        for (int64_t cl = 0; cl < C; cl++) {
            double v = (double)idc_count(o, cl) * w.lc[cl] / (double)P;
            if (c->map) sl__put(c, c->map, n * C + cl, v);
            total += v;
        }
    }
    *loss = total * scale;
    return SL_OK;
}

/* Class indices must be whole numbers (the range is checked by sl_options_check). */
static sl_status boundary_check(const sl_loss_info *loss, const sl_options *o, const sl_batch *b,
                                sl_error *err)
{
    (void)b;
    for (int64_t j = 0; o->idc && j < o->nidc; j++)
        if (o->idc[j] != floor(o->idc[j]))
            return sl__fail(err, SL_E_ARG, "%s: idc[%lld] = %g is not a class index", loss->name,
                            (long long)j, o->idc[j]);
    return SL_OK;
}

static const sl__key boundary_params[] = {
    {.id = SL_OPT_idc,
     .help = "class indices scored (none: every object class 1..C-1; repeats count twice)"},
    {.id = SL_OPT_reduction,
     .help = "mean over (image, idc entry) of the per-(image, class) means over pixels"},
};

const sl_loss_info sl__loss_boundary = {
    "boundary",
    "boundary (surface) loss of Kervadec et al.: mean of p_k * signed distance map of class k",
    SL__KEYS(boundary_params),
    SL_MAP_IMAGE_CLASS,
    boundary_fast,
    boundary_ref,
    distance_workspace,
    boundary_check,
    NULL,
    SL_LOSS_KERNEL_CHECKS | SL_LOSS_GRAD_SCRATCH,
};

/* ---------------------------------------------------------------------------------------------
 * hausdorff_dt
 */

/* The first class scored: 1 without background; MONAI ignores include_background=false (and
 * the softmax) for a single channel. */
static int64_t hd_first(const sl_options *o, int64_t C)
{
    return (C > 1 && !o->include_background) ? 1 : 0;
}

static void hd_map_shape(const sl_options *o, const sl_batch *b, sl_shape *out)
{
    int64_t C = b->shape.dim[1];
    out->ndim = 2;
    out->dim[0] = o->batch ? 1 : b->shape.dim[0];
    out->dim[1] = C - hd_first(o, C);
}

/* The factors: per, of each (image, class) term's pixel sum (1 / (P [N])), and scale, of the
 * map's sum (the mean over its rows x Cs entries, or 1). */
static void hd_factors(const sl_options *o, int64_t N, int64_t C, int64_t P, double *per,
                       double *scale)
{
    int64_t rows = o->batch ? 1 : N, Cs = C - hd_first(o, C);
    *per = 1.0 / ((double)P * (o->batch ? (double)N : 1.0));
    *scale = o->reduction == SL_REDUCE_MEAN ? 1.0 / (double)(rows * Cs) : 1.0;
}

/* One line of field(p)^2, called by the first EDT, kept as floats (fp, or with accumulate the
 * class' row of dL/dp, where hd_line reads each point before it writes it). A squared distance is a
 * whole number, a float holds it exactly below 2^24 (2-D images under 2896 pixels a side); a larger
 * one is rounded once more (a relative 6e-8). */
static void f32_line(void *v, int64_t l, int64_t base, int64_t n, const double *d)
{
    float *f = (float *)v + base;
    (void)l;
    for (int64_t i = 0; i < n; i++)
        f[i] = (float)d[i];
}

/* One line of a class, called by the second EDT as soon as the line's field(g)^2 (dt) is
 * final: D = field(p)^alpha + field(g)^alpha from the squared fields; e = p - g;
 * parts[l] = sum e^2 D; g = gk e D, written over the block's probabilities without a gradient
 * (each point read before it is written; dp may be g's own row too). */
typedef struct {
    prob_src src;     /* p of the class */
    const float *dp;  /* field(p)^2 */
    const int32_t *y; /* the image's labels, or t: the target of the class */
    const float *t;
    int32_t cls;
    float *g; /* dL/dp of the class, or NULL */
    float gk;
    float half_alpha; /* field^alpha = (field^2)^(alpha / 2) */
    int squared;      /* alpha = 2: D = dp + dt */
    double *parts;
} hd_ctx;

/* n points from b0 (p, dt and g at b0): returns their sum e^2 D and writes g. */
static double hd_block(const hd_ctx *k, int64_t b0, int64_t n, const float *p, const double *dt,
                       float *g)
{
    const float *t = k->t ? k->t + b0 : NULL, *dp = k->dp + b0;
    const int32_t *y = k->y ? k->y + b0 : NULL, cls = k->cls;
    const float gk = k->gk, ha = k->half_alpha;
    double acc = 0.0;
    if (k->squared && y) {
#ifdef _OPENMP
#pragma omp simd reduction(+ : acc)
#endif
        for (int64_t i = 0; i < n; i++) {
            float D = (float)((double)dp[i] + dt[i]), tv = y[i] == cls ? 1.0f : 0.0f;
            float e = p[i] - tv, eD = e * D;
            acc += (double)(e * eD);
            g[i] = gk * eD;
        }
    } else if (k->squared) {
#ifdef _OPENMP
#pragma omp simd reduction(+ : acc)
#endif
        for (int64_t i = 0; i < n; i++) {
            float D = (float)((double)dp[i] + dt[i]);
            float e = p[i] - t[i], eD = e * D;
            acc += (double)(e * eD);
            g[i] = gk * eD;
        }
    } else {
        for (int64_t i = 0; i < n; i++) {
            float D = powf(dp[i], ha) + powf((float)dt[i], ha);
            float tv = y ? (y[i] == cls ? 1.0f : 0.0f) : t[i];
            float e = p[i] - tv, eD = e * D;
            acc += (double)(e * eD);
            g[i] = gk * eD;
        }
    }
    return acc;
}

static void hd_line(void *v, int64_t l, int64_t base, int64_t n, const double *dt)
{
    const hd_ctx *k = v;
    double acc = 0.0;
    for (int64_t i0 = 0; i0 < n; i0 += PIECE) {
        const int64_t len = n - i0 < PIECE ? n - i0 : PIECE;
        float *p = src_block(&k->src, base + i0, len);
        float *g = k->g ? k->g + base + i0 : p;
        acc += hd_block(k, base + i0, len, p, dt + i0, g);
    }
    k->parts[l] = acc;
}

/* Where hausdorff_dt's field(p)^2 of class cl lies (fp), as floats: with accumulate in dL/dp's
 * own class row gc (hd_line reads each point before it writes it); with the probabilities kept
 * in the gradient and class 0 not scored, in the gradient's row 0 (a part of the output: the
 * chain rule computes p again, and hd_fast zeroes the row after the classes); else in w->g's
 * first row, so that log_hausdorff_dt's two passes (no gradient, then accumulate) touch the
 * same pages. */
static float *hd_fp(const sl_call *c, const fast_ws *w, float *gc)
{
    if (c->grad && c->accumulate) return gc;
    return w->p && hd_first(c->o, c->C) > 0 ? w->p : w->g;
}

/* hausdorff_dt's term of class cl of image n (gc its row of dL/dp, or NULL): field(p)^2 into
 * fp (hd_fp), then field(g)^2 into d1 (0 for an empty or full mask), the per-pixel work on
 * each line of the second EDT's last pass, in cache. Returns the class' sum over pixels. */
static double hd_class(const sl_call *c, fast_ws *w, const dims_t *d, int et, int64_t n, int64_t cl,
                       int softmax, float *gc, float gk)
{
    const sl_batch *b = c->b;
    const int64_t P = d->P;
    float *fpc = hd_fp(c, w, gc);
    fast_pred_mask(c, w, n, cl, softmax);
    if (sl__edt_two_sided_sq_t(w->m1, &d->grid, w->d1, w->scratch, et, f32_line, fpc) != 1)
        run_lines(et, &d->grid, f32_line, fpc, w->d1); /* d1 is all 0 */
    hd_ctx k = {fast_src(c, w, n, cl, softmax),
                fpc,
                NULL,
                NULL,
                (int32_t)cl,
                gc,
                gk,
                (float)(0.5 * c->o->dt_power),
                c->o->dt_power == 2.0,
                w->parts};
    if (b->target_kind == SL_TARGET_LABELS)
        k.y = b->labels + n * P;
    else
        k.t = b->target + (n * d->C + cl) * P;
    fast_mask(c, w, n, cl, NULL, w->m1);
    if (sl__edt_two_sided_sq_t(w->m1, &d->grid, w->d1, w->scratch, et, hd_line, &k) != 1)
        run_lines(et, &d->grid, hd_line, &k, w->d1); /* d1 is all 0 */
    return sl__sum_parts(w->parts, last_lines(&d->grid), 1, 0);
}

static sl_status hd_ref(const sl_call *c, double *loss);

static sl_status hd_fast(const sl_call *c, double *loss)
{
    if (!fast_ok(c)) return sl__fall_back(c, hd_ref, loss);
    const sl_options *o = c->o;
    const sl_batch *b = c->b;
    dims_t d;
    get_dims(b, &d);
    fast_ws w;
    int et = fast_carve(c, &d, &w);
    if (fast_check_targets(c, &w)) return sl__recheck(c);
    int64_t N = d.N, C = d.C, P = d.P, c0 = hd_first(o, C), Cs = C - c0;
    int64_t rows = o->batch ? 1 : N;
    double per, scale, total = 0.0;
    hd_factors(o, N, C, P, &per, &scale);
    int softmax = b->input_kind == SL_INPUT_LOGITS && C > 1;
    for (int64_t k = 0; k < rows * Cs; k++)
        w.msum[k] = 0.0;
    for (int64_t n = 0; n < N; n++) {
        if (fast_probs(c, &w, n, softmax)) return sl__recheck(c);
        float *g = fast_g(c, &w, n);
        for (int64_t cl = c0; cl < C; cl++) {
            float *gc = g ? g + cl * P : NULL;
            double v = hd_class(c, &w, &d, et, n, cl, softmax, gc, (float)(2.0 * per * scale));
            v *= per;
            w.msum[(o->batch ? 0 : n) * Cs + (cl - c0)] += v;
            total += v;
        }
        if (g) memset(g, 0, (size_t)(c0 * P) * sizeof(float)); /* the classes not scored */
        if (fast_chain(c, &w, g, n, softmax)) return sl__recheck(c);
    }
    if (c->map)
        for (int64_t k = 0; k < rows * Cs; k++)
            sl__put(c, c->map, k, w.msum[k]);
    *loss = total * scale;
    return SL_OK;
}
/* loss: sum_i e^2 D with e = p - g; dL/dp = scale 2 e D per (0 below c0) */
typedef struct {
    int64_t c0;
    double scale, per;
} hd_ref_ctx;

static double hd_ref_term(const void *ctx, int64_t cl, double p, double D, double t, double *gx)
{
    const hd_ref_ctx *k = ctx;
    double e = p - t;
    *gx = cl < k->c0 ? 0.0 : k->scale * 2.0 * e * D * k->per;
    return cl < k->c0 ? 0.0 : e * e * D;
}

static sl_status hd_ref(const sl_call *c, double *loss)
{
    const sl_options *o = c->o;
    const sl_batch *b = c->b;
    dims_t d;
    ref_ws w;
    ref_begin(c, &d, &w);
    int64_t N = d.N, C = d.C, P = d.P, c0 = hd_first(o, C), Cs = C - c0;
    int64_t rows = o->batch ? 1 : N;
    double per, scale, total = 0.0;
    hd_factors(o, N, C, P, &per, &scale);
    int softmax = b->input_kind == SL_INPUT_LOGITS && C > 1;
    for (int64_t k = 0; k < rows * Cs; k++)
        w.msum[k] = 0.0;
    for (int64_t n = 0; n < N; n++) {
        const float *x = b->input + n * C * P;
        /* D_c = field(p_c)^alpha + field(g_c)^alpha of every class scored */
        for (int64_t cl = c0; cl < C; cl++) {
            for (int64_t i = 0; i < P; i++) {
                probs_ref(x + i, C, P, softmax, w.px);
                w.mask[i] = w.px[cl] > 0.5;
            }
            two_sided_ref(w.mask, &d.grid, w.a, w.buf, w.line);
            target_mask_ref(b, &d, n, cl, w.mask);
            two_sided_ref(w.mask, &d.grid, w.b, w.buf, w.line);
            for (int64_t i = 0; i < P; i++)
                w.G[cl * P + i] = pow(w.a[i], o->dt_power) + pow(w.b[i], o->dt_power);
        }
        hd_ref_ctx k = {c0, scale, per};
        ref_pixels(c, &d, &w, n, softmax, hd_ref_term, &k);
        for (int64_t cl = c0; cl < C; cl++) {
            double v = w.lc[cl] * per;
            w.msum[(o->batch ? 0 : n) * Cs + (cl - c0)] += v;
            total += v;
        }
    }
    if (c->map)
        for (int64_t k = 0; k < rows * Cs; k++)
            sl__put(c, c->map, k, w.msum[k]);
    *loss = total * scale;
    return SL_OK;
}

/* The keys hausdorff_dt and log_hausdorff_dt share; each adds its reduction. */
#define HD_KEYS                                                                                    \
    {.id = SL_OPT_dt_power, .alias = "alpha"},                                                     \
        {.id = SL_OPT_include_background, .def = "false", .help = "score channel 0 too"},          \
    {                                                                                              \
        .id = SL_OPT_batch,                                                                        \
        .help = "one term per class, averaged over the batch too (map [1, C'])"                    \
    }

static const sl__key hd_params[] = {
    HD_KEYS,
    {.id = SL_OPT_reduction, .help = "mean over the (image, class) matrix, as MONAI"},
};

const sl_loss_info sl__loss_hausdorff_dt = {
    "hausdorff_dt",
    "Hausdorff distance-transform loss (Karimi & Salcudean), as MONAI's HausdorffDTLoss",
    SL__KEYS(hd_params),
    SL_MAP_IMAGE_CLASS,
    hd_fast,
    hd_ref,
    distance_workspace,
    NULL,
    hd_map_shape,
    SL_LOSS_KERNEL_CHECKS | SL_LOSS_ONE_CHANNEL | SL_LOSS_GRAD_SCRATCH,
};

/* ---------------------------------------------------------------------------------------------
 * log_hausdorff_dt: MONAI's LogHausdorffDTLoss, log(HD + 1) of hausdorff_dt's reduced value HD.
 * One pass computes HD and its map into the head of the workspace, and dHD into the gradient
 * when the gradient holds nothing else, then scaled by k / (1 + HD), since d log(1 + HD) = dHD /
 * (1 + HD); with accumulate a second pass adds hausdorff_dt's gradient at that factor. The map
 * holds log(1 + f) of each (image, class) entry f (MONAI's value with reduction="none"); reduction
 * none is not offered: the gradient of a sum of logs of entries would need a factor per entry. */

static size_t loghd_map_bytes(const sl_batch *b)
{
    return sl__align((size_t)(b->shape.dim[0] * b->shape.dim[1]) * sizeof(float) + 64);
}

static size_t loghd_workspace(const sl_options *o, const sl_batch *b)
{
    return loghd_map_bytes(b) + distance_workspace(o, b);
}

static sl_status loghd_run(const sl_call *c, double *loss, sl_loss_fn fn)
{
    size_t mb = loghd_map_bytes(c->b);
    float *m = (float *)(void *)sl__align((size_t)(uintptr_t)c->ws);
    /* with a gradient of its own, dHD goes there at once and is scaled afterwards */
    const int inplace = c->grad && !c->accumulate;
    sl_call c1 = *c;
    c1.ws = (unsigned char *)c->ws + mb;
    c1.ws_size = c->ws_size - mb;
    c1.grad = inplace ? c->grad : NULL;
    c1.map = m;
    c1.k = 1.0;
    c1.accumulate = 0;
    double hd = 0.0;
    sl_status st = fn(&c1, &hd);
    if (st != SL_OK) return st;
    if (c->map) {
        sl_shape ms;
        hd_map_shape(c->o, c->b, &ms);
        for (int64_t e = 0; e < sl_shape_numel(&ms); e++)
            sl__put(c, c->map, e, log1p((double)m[e]));
    }
    *loss = log1p(hd);
    if (!c->grad) return SL_OK;
    if (inplace) {
        const float s = (float)(c->k / (1.0 + hd));
        for (int64_t i = 0; i < c->N * c->C * c->P; i++)
            c->grad[i] *= s;
        return SL_OK;
    }
    c1.grad = c->grad;
    c1.map = NULL;
    c1.k = c->k / (1.0 + hd);
    c1.accumulate = c->accumulate;
    double again;
    return fn(&c1, &again);
}

static sl_status loghd_fast(const sl_call *c, double *loss)
{
    return loghd_run(c, loss, hd_fast);
}

static sl_status loghd_ref(const sl_call *c, double *loss)
{
    return loghd_run(c, loss, hd_ref);
}

static const sl__key loghd_params[] = {
    HD_KEYS,
    {.id = SL_OPT_reduction,
     .words = "mean|sum",
     .help = "log(1 + the mean (or sum) of hausdorff_dt's matrix), as MONAI"},
};

const sl_loss_info sl__loss_log_hausdorff_dt = {
    "log_hausdorff_dt",
    "log(1 + hausdorff_dt), as MONAI's LogHausdorffDTLoss",
    SL__KEYS(loghd_params),
    SL_MAP_IMAGE_CLASS,
    loghd_fast,
    loghd_ref,
    loghd_workspace,
    NULL,
    hd_map_shape,
    SL_LOSS_KERNEL_CHECKS | SL_LOSS_ONE_CHANNEL | SL_LOSS_GRAD_SCRATCH,
};
