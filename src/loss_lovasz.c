/* lovasz: the Lovasz-softmax loss of Berman, Rannen Triki and Blaschko (CVPR 2018), with the
 * values and gradients of the authors' PyTorch code (lovasz_losses.py, lovasz_softmax).
 *
 * A group is the whole batch (per_image=false) or one image. In a group, for each counted class
 * c (classes=present: those present in the group's target; all: every class), the errors
 * e_i = |fg_i - p_ic| of the group's non-ignored pixels are sorted in decreasing order (ties:
 * lower pixel index first, a stable sort) and
 *     loss_c = sum_k e_(k) g_k,   g_k = J_k - J_{k-1},   J_k = 1 - I_k / U_k,
 *     I_k = G - cumsum(fg sorted)_k,   U_k = G + cumsum(1 - fg sorted)_k,   G = sum fg.
 * The group's loss is the mean over its counted classes (0 when none); per_image then averages
 * the images. The gradient treats the sort as a constant: dloss_c/dp_ic = sign(p_ic - fg_i) g_k
 * at pixel i's rank k. Formulas: docs/focal.md, "lovasz".
 *
 * Both paths write k times the gradient and the map (or add them, with accumulate) and return
 * the unscaled value. */
#include "internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* Shapes of the problem. */
typedef struct {
    int64_t N, C, P;
    int64_t G, M; /* groups, and pixels per group */
    int64_t ipg;  /* images per group */
    double nmean; /* images in per_image's mean: N, or every shard's (sharded evaluation) */
} lz_dims;

static void lz_dims_of(const sl_options *o, const sl_batch *b, lz_dims *d)
{
    d->N = b->shape.dim[0];
    d->C = b->shape.dim[1];
    d->P = sl_shape_numel(&b->shape) / (d->N * d->C);
    d->G = o->per_image ? d->N : 1;
    d->M = o->per_image ? d->P : d->N * d->P;
    d->ipg = o->per_image ? 1 : d->N;
    d->nmean = (double)d->N;
}

/* A call's dimensions into d, and with per_image=true the number of images its mean divides by
 * (the statistics phase of sharded evaluation: returns 1 when that phase is all the call is). */
static int lz_begin(const sl_call *c, lz_dims *d)
{
    lz_dims_of(c->o, c->b, d);
    return c->o->per_image && sl__shard_norm(c, &d->nmean);
}

static void lovasz_map_shape(const sl_options *o, const sl_batch *b, sl_shape *out)
{
    out->ndim = 2;
    out->dim[0] = o->per_image ? b->shape.dim[0] : 1;
    out->dim[1] = b->shape.dim[1];
}

/* The factor of a counted (group, class) loss in the reduced value, K counted classes. */
static double lz_factor(const sl_options *o, const lz_dims *d, int64_t K)
{
    if (o->reduction != SL_REDUCE_MEAN) return 1.0;
    if (K == 0) return 0.0;
    return o->per_image ? 1.0 / (d->nmean * (double)K) : 1.0 / (double)K;
}

/* ---------------------------------------------------------------------------------------------
 * Fast path.
 *
 * 1. Probabilities into a float buffer p [N, C, P]: the softmax kernel (logits), or x / sum x
 *    (probabilities; the kernel's probability mode does not renormalise).
 * 2. One sweep over pixels (over threads, in fixed chunks) writes for every element a 32-bit
 *    word: bits(1) - bits(e), with a flag in the top bit (fg for labels, p > t for per-class
 *    targets), or LZ_SKIP for an ignored pixel; and counts the valid pixels and, per class, the
 *    pixels with fg > 0 (integers: the same for any order of addition). bits(e), the float's
 *    bits, order errors in [0, 1] as unsigned integers, so ascending words are descending
 *    errors; they take 30 bits.
 *    A float p can be exactly 1 while the true one is 1 - 1e-9: 1 - p would then be 0, and the
 *    sign of p - fg with it, which with probabilities as input (no softmax to damp it) would
 *    lose a whole term of the gradient. So where fg == 1 (or t == 1) and p > 0.5, the error is
 *    om, the sum of the pixel's other probabilities (those <= 0.5), which keeps its digits.
 * 3. The (group, class) pairs in parallel. A pair sorts the 64-bit keys
 *        (uint64_t)word << 32 | j
 *    (j: the element's offset from the pair's first element, (n - n0) C P + i, or the pixel's
 *    index in the group, (n - n0) P + i, where offsets would pass 32 bits; either grows with
 *    pixel order, so that equal errors keep pixel order) with a radix sort, most significant
 *    digit first, that never looks at the flag: one sweep counts the first digit (the top 11
 *    bits of the 30), a second writes the keys, in pixel order, straight into their buckets, and
 *    each bucket, small enough to stay in cache, is sorted on the other two digits, least
 *    significant first. Every step is stable, so the keys end in ascending order: descending
 *    error, then ascending pixel. Then a walk along them gives the loss and writes dL/dp at each
 *    element. A pair's loss goes to its own slot; the slots are summed in pair order afterwards,
 *    so the value has the same bits for any thread count. At most LZ_SLOTS pairs are sorted at
 *    once, each in its own sort buffers (two key arrays of the group's size and the digits'
 *    counts): the workspace holds min(pairs, LZ_SLOTS) of them, and min(threads, that) threads
 *    take pairs.
 * 4. The chain rule back to the input, with k and accumulate: for logits the softmax again, as
 *    many images at a time as the sort buffers' room holds, and the chain kernel; for
 *    probabilities, or where not one image fits, pixel by pixel, the pixel's probabilities
 *    recomputed in double (lz_chain_pixel, which the reference shares).
 *
 * The words and then dL/dp (a pair reads its class rows' words before it writes them) live in
 * the caller's gradient, where the chain runs in place; with accumulate the gradient holds other
 * terms, so they replace p in the probability buffer. Beside the inputs and outputs the peak is
 * then the sort buffers (at most three quarters of the input's size: where one pair's keys would
 * pass that, 2 classes over the batch, lz_grad_pairs sorts them in ranges within it), and with
 * accumulate the input's size more. Without a gradient no dL/dp is kept and the words of every
 * class are not needed at once: lz_value below keeps at most three quarters of the input's size.
 */

#define LZ_SLOTS 16         /* (group, class) pairs sorted at once, at most */
#define LZ_ONE 0x3F800000u  /* bits of 1.0f */
#define LZ_FLAG 0x80000000u /* in a word: fg (labels) or p > t (targets) */
#define LZ_SKIP 0xFFFFFFFFu /* the word of an ignored pixel (a valid word is below that) */
#define LZ_TBITS 11         /* the first digit: the top 11 of the 30 bits of an error */
#define LZ_TBUCKETS (1 << LZ_TBITS)
#define LZ_ABITS 10 /* then, in each bucket, the low 10 bits and the middle 9 */
#define LZ_BBITS (30 - LZ_TBITS - LZ_ABITS)
#define LZ_SMALL 32 /* a bucket up to this size: insertion sort */

/* The sort buffers. A pair sorts its keys in one array of the group's size; each bucket of the
 * first digit is then sorted with a scratch array of LZ_SCRATCH(M) keys as room (a larger
 * bucket, which takes an unusual pile of nearly equal errors, is sorted in place by sl__sort: the
 * keys are unique, so any sort orders them the same way). A scratch slot also holds the
 * digits' counts. */
#define LZ_SCRATCH(M) ((M) / 4 + 1)

typedef struct {
    uint64_t *ka;  /* [LZ_SCRATCH(M)] room for one bucket */
    uint32_t *top; /* [LZ_TBUCKETS] */
    uint32_t *ca;  /* [1 << LZ_ABITS] */
    uint32_t *cb;  /* [1 << LZ_BBITS] */
    int64_t room;  /* keys ka holds */
} lz_slot;

/* Sizes (mem NULL) and carves one scratch slot with room for `room` keys (0: the counts only,
 * the keys' room found elsewhere); mem is 64-byte aligned. */
static size_t lz_slot_carve(int64_t room, void *mem, lz_slot *s)
{
    sl__arena a = {(unsigned char *)mem, 0};
    s->room = room;
    s->ka = room > 0 ? sl__take(&a, (size_t)room * sizeof(uint64_t)) : NULL;
    s->top = sl__take(&a, (size_t)LZ_TBUCKETS * sizeof(uint32_t));
    s->ca = sl__take(&a, (size_t)(1 << LZ_ABITS) * sizeof(uint32_t));
    s->cb = sl__take(&a, (size_t)(1 << LZ_BBITS) * sizeof(uint32_t));
    return a.used;
}

typedef struct {
    double *parts;         /* per-chunk sums, nchunks * (C + 1) */
    uint8_t *flags;        /* [G, C]: pair counted */
    double *fac;           /* [G]: factor of a counted loss */
    double *lc;            /* [G, C]: each pair's loss */
    unsigned char *region; /* the sort buffers */
    float *p;              /* [N, C, P] probabilities (or the words, see above); last, and
                              untouched when the gradient holds them */
    int64_t nk;            /* key arrays: pairs sorted at once */
    int64_t ns;            /* scratch slots: nk, or (nk = 1) threads sorting one pair's buckets */
    int64_t room;          /* keys a slot's scratch holds (0 with nk = 1: lz_dead_room) */
    size_t key_bytes, slot_bytes, region_bytes;
    /* without a gradient only (lz_value) */
    uint32_t *hist;   /* [LZ_HIST] */
    int64_t K;        /* keys the key array holds */
    int64_t L, nbuf;  /* the word sweep's chunk buffers: stride, count */
    size_t buf_bytes; /* each; they start the region */
    float *bufs;
} lz_fast_ws;

/* The same code sizes (mem NULL) and carves the fast path's workspace. The sort buffers take at
 * most three quarters of the input's size (beside a little for the counts) where two pairs fit: as
 * many pairs at once as fit (at most LZ_SLOTS), each with its keys and one scratch slot; or, when
 * fewer fit, one pair at a time, its keys alone (where those pass three quarters of the input's
 * size, with C = 2, lz_grad_pairs takes them in ranges instead), its buckets sorted by up to
 * LZ_SLOTS threads, each with its own digit counts, and as room for its bucket's
 * keys a piece of the pair's own words, which are dead once its keys are placed (lz_dead_room). */
static size_t lz_fast_carve(const lz_dims *d, void *mem, lz_fast_ws *w)
{
    sl__arena a = sl__arena_of(mem);
    int64_t numel = d->N * d->C * d->P, pairs = d->G * d->C;
    lz_slot sl;
    w->parts = sl__take(&a, (size_t)(sl__nchunks(d->N, d->P) * (d->C + 1)) * sizeof(double));
    w->flags = sl__take(&a, (size_t)pairs);
    w->fac = sl__take(&a, (size_t)d->G * sizeof(double));
    w->lc = sl__take(&a, (size_t)pairs * sizeof(double));
    w->key_bytes = ((size_t)d->M * sizeof(uint64_t) + 63) & ~(size_t)63;
    w->room = LZ_SCRATCH(d->M);
    w->slot_bytes = lz_slot_carve(w->room, NULL, &sl);
    const size_t budget = (size_t)numel * sizeof(float) / 4 * 3;
    int64_t most = pairs < LZ_SLOTS ? pairs : LZ_SLOTS;
    int64_t nk = (int64_t)(budget / (w->key_bytes + w->slot_bytes));
    if (nk >= 2) {
        w->nk = w->ns = nk < most ? nk : most;
    } else {
        w->nk = 1;
        w->ns = LZ_SLOTS;
        w->room = 0;
        w->slot_bytes = lz_slot_carve(0, NULL, &sl);
    }
    w->region_bytes = (size_t)w->nk * w->key_bytes + (size_t)w->ns * w->slot_bytes;
    w->region = sl__take(&a, w->region_bytes);
    w->p = sl__take(&a, (size_t)numel * sizeof(float));
    return sl__arena_size(&a);
}

/* The calling thread's number in its team (its slot). */
static inline int64_t lz_thread(void)
{
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

/* Scratch slot s of the workspace. */
static void lz_slot_of(const lz_dims *d, const lz_fast_ws *w, int64_t s, lz_slot *out)
{
    (void)d;
    lz_slot_carve(w->room, w->region + (size_t)w->nk * w->key_bytes + (size_t)s * w->slot_bytes,
                  out);
}

static inline uint32_t lz_fbits(float e)
{
    uint32_t u;
    memcpy(&u, &e, sizeof u);
    return u;
}

static inline float lz_bitsf(uint32_t u)
{
    float e;
    memcpy(&e, &u, sizeof e);
    return e;
}

/* The word of an element with a label: for fg = 0 the error is p; for fg = 1, om where p > 0.5,
 * else 1 - p; at most 1 (a float p may pass 1 by a rounding). Chosen without branches: which
 * way each goes is a coin toss. */
static inline uint32_t lz_word_label(float pv, float omv, uint32_t fg)
{
    uint32_t f = 0u - fg, dom = 0u - (uint32_t)(pv > 0.5f);
    uint32_t eb =
        (lz_fbits(pv) & ~f) | (f & ((lz_fbits(omv) & dom) | (lz_fbits(1.0f - pv) & ~dom)));
    eb = eb < LZ_ONE ? eb : LZ_ONE;
    return (LZ_ONE - eb) | (fg << 31);
}

/* The same for a per-class target t: |p - t|, or as for fg = 1 where t == 1; the flag says
 * p > t. */
static inline uint32_t lz_word_target(float pv, float omv, float tv)
{
    uint32_t one = 0u - (uint32_t)(tv == 1.0f), dom = 0u - (uint32_t)(pv > 0.5f);
    uint32_t eb = (lz_fbits(fabsf(pv - tv)) & ~one) |
                  (one & ((lz_fbits(omv) & dom) | (lz_fbits(1.0f - pv) & ~dom)));
    eb = eb < LZ_ONE ? eb : LZ_ONE;
    return (LZ_ONE - eb) | ((~one & 1u & (uint32_t)(pv > tv)) << 31);
}

/* Four lanes of GCC's generic vectors (SSE2 on x86-64; plain code elsewhere): the words of
 * four elements at once, lane by lane the same IEEE operations as lz_word_*, without
 * branches. */
typedef float lz_vf __attribute__((vector_size(16)));
typedef int32_t lz_vi __attribute__((vector_size(16)));

static inline lz_vf lz_vload(const float *p)
{
    lz_vf v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline lz_vi lz_viload(const void *p)
{
    lz_vi v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* m ? a : b lane by lane, m all ones or zeros */
static inline lz_vi lz_vsel(lz_vi m, lz_vi a, lz_vi b)
{
    return (m & a) | (~m & b);
}

/* om[i] = the sum of the C probabilities p[c P + i] that are <= 0.5. */
static void lz_om(float *restrict om, const float *restrict p, int64_t C, int64_t P, int64_t n)
{
    const lz_vf half = {0.5f, 0.5f, 0.5f, 0.5f};
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        lz_vf o = {0.0f, 0.0f, 0.0f, 0.0f};
        for (int64_t j = 0; j < C; j++) {
            lz_vf v = lz_vload(p + j * P + i);
            o += (lz_vf)((lz_vi)v & (v <= half));
        }
        memcpy(om + i, &o, sizeof o);
    }
    for (; i < n; i++) {
        float o = 0.0f;
        for (int64_t j = 0; j < C; j++)
            o += p[j * P + i] <= 0.5f ? p[j * P + i] : 0.0f;
        om[i] = o;
    }
}

/* The words of n elements of class k with labels y (see lz_word_label); LZ_SKIP where y is
 * ign (has_ign). wd may be p itself: four elements are read before they are written. */
static void lz_words_label(uint32_t *wd, const float *p, const float *restrict om,
                           const int32_t *restrict y, int32_t k, int has_ign, int32_t ign,
                           int64_t n)
{
    const lz_vf half = {0.5f, 0.5f, 0.5f, 0.5f}, one = {1.0f, 1.0f, 1.0f, 1.0f};
    const lz_vi kv = {k, k, k, k}, iv = {ign, ign, ign, ign};
    const lz_vi ob = {(int32_t)LZ_ONE, (int32_t)LZ_ONE, (int32_t)LZ_ONE, (int32_t)LZ_ONE};
    const lz_vi flag = {INT32_MIN, INT32_MIN, INT32_MIN, INT32_MIN}, skip = {-1, -1, -1, -1};
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        lz_vf pv = lz_vload(p + i);
        lz_vi yv = lz_viload(y + i);
        lz_vi fg = yv == kv, dom = pv > half;
        lz_vi a = lz_vsel(dom, lz_viload(om + i), (lz_vi)(one - pv));
        lz_vi e = lz_vsel(fg, a, (lz_vi)pv);
        e = lz_vsel((lz_vf)e < one, e, (lz_vi)one);
        lz_vi v = (ob - e) | (fg & flag);
        if (has_ign) v = lz_vsel(yv == iv, skip, v);
        memcpy(wd + i, &v, sizeof v);
    }
    for (; i < n; i++) {
        uint32_t v = lz_word_label(p[i], om[i], (uint32_t)(y[i] == k));
        wd[i] = has_ign && y[i] == ign ? LZ_SKIP : v;
    }
}

/* The words of n elements of class k with per-class targets t (see lz_word_target). */
static void lz_words_target(uint32_t *wd, const float *p, const float *restrict om,
                            const float *restrict t, int64_t n)
{
    const lz_vf half = {0.5f, 0.5f, 0.5f, 0.5f}, one = {1.0f, 1.0f, 1.0f, 1.0f};
    const lz_vi ob = {(int32_t)LZ_ONE, (int32_t)LZ_ONE, (int32_t)LZ_ONE, (int32_t)LZ_ONE};
    const lz_vi flag = {INT32_MIN, INT32_MIN, INT32_MIN, INT32_MIN};
    const lz_vi absm = {INT32_MAX, INT32_MAX, INT32_MAX, INT32_MAX};
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        lz_vf pv = lz_vload(p + i), tv = lz_vload(t + i);
        lz_vi is1 = tv == one, dom = pv > half;
        lz_vi a = lz_vsel(dom, lz_viload(om + i), (lz_vi)(one - pv));
        lz_vi e = lz_vsel(is1, a, (lz_vi)(pv - tv) & absm);
        e = lz_vsel((lz_vf)e < one, e, (lz_vi)one);
        lz_vi v = (ob - e) | (~is1 & (pv > tv) & flag);
        memcpy(wd + i, &v, sizeof v);
    }
    for (; i < n; i++)
        wd[i] = lz_word_target(p[i], om[i], t[i]);
}

/* The probabilities and om of len pixels from x (the input at the chunk's first pixel, stride
 * P): p = x / sum x into p (stride ps) for probabilities; for logits p already holds the
 * softmax. */
static void lz_chunk_om(const sl_call *c, const float *x, float *p, int64_t ps, float *om,
                        int64_t len)
{
    const int64_t C = c->C, P = c->P;
    if (c->b->input_kind != SL_INPUT_PROBS) {
        lz_om(om, p, C, ps, len);
        return;
    }
    for (int64_t i = 0; i < len; i++) {
        double s = 0.0, o = 0.0;
        for (int64_t j = 0; j < C; j++)
            s += (double)x[j * P + i];
        for (int64_t j = 0; j < C; j++) {
            float u = (float)((double)x[j * P + i] / s);
            p[j * ps + i] = u;
            if (u <= 0.5f) o += (double)x[j * P + i];
        }
        om[i] = (float)(o / s);
    }
}

/* The counts of pixels [p0, p0 + len) of image n: part[0] += valid pixels, part[1 + c] +=
 * pixels with fg_c > 0 (integers: the same for any order of addition). */
static void lz_chunk_counts(const sl_call *c, int64_t n, int64_t p0, int64_t len, double *part)
{
    const sl_batch *b = c->b;
    const int64_t C = c->C, P = c->P;
    if (b->target_kind == SL_TARGET_LABELS) {
        /* labels are in [0, C) or ignore_index (checked); C <= SL_KERN_MAX_C here */
        int64_t cnt[SL_KERN_MAX_C + 1];
        memset(cnt, 0, sizeof cnt);
        const int32_t *y = b->labels + n * P + p0;
        const int64_t ign = c->o->ignore_index;
        for (int64_t i = 0; i < len; i++) {
            if (y[i] == ign) continue;
            cnt[0]++;
            cnt[1 + y[i]]++;
        }
        for (int64_t j = 0; j <= C; j++)
            part[j] += (double)cnt[j];
        return;
    }
    part[0] += (double)len;
    for (int64_t j = 0; j < C; j++) {
        const float *t = b->target + (n * C + j) * P + p0;
        int64_t cnt = 0;
        for (int64_t i = 0; i < len; i++)
            cnt += t[i] > 0.0f;
        part[1 + j] += (double)cnt;
    }
}

/* The words of class k at pixels [p0, p0 + len) of image n into wd, from its probabilities pk
 * and om. wd may be pk itself. */
static void lz_chunk_words(const sl_call *c, int64_t n, int64_t p0, int64_t len, int64_t k,
                           const float *pk, const float *om, uint32_t *wd)
{
    const sl_batch *b = c->b;
    const int64_t C = c->C, P = c->P;
    if (b->target_kind == SL_TARGET_LABELS) {
        const int64_t ign = c->o->ignore_index;
        const int has_ign = ign >= INT32_MIN && ign <= INT32_MAX;
        lz_words_label(wd, pk, om, b->labels + n * P + p0, (int32_t)k, has_ign,
                       has_ign ? (int32_t)ign : 0, len);
    } else {
        lz_words_target(wd, pk, om, b->target + (n * C + k) * P + p0, len);
    }
}

typedef struct {
    const sl_call *c;
    float *p;        /* [N, C, P] the probabilities (may be the words' buffer) */
    uint32_t *words; /* [N, C, P] */
} lz_ctx;

/* Step 2 over pixels [p0, p1) of image n: (probabilities: p = x / sum x), the words of every
 * class, and the counts. The words may take the place of p: each is written after its p is
 * read. */
static int lz_prep_chunk(const void *vctx, int64_t n, int64_t p0, int64_t p1, double *part)
{
    const lz_ctx *k = vctx;
    const sl_call *c = k->c;
    const int64_t C = c->C, P = c->P, len = p1 - p0;
    float *p = k->p + n * C * P + p0;
    uint32_t *wd = k->words + n * C * P + p0;
    float om[SL_CHUNK];
    lz_chunk_om(c, c->b->input + n * C * P + p0, p, P, om, len);
    lz_chunk_counts(c, n, p0, len, part);
    for (int64_t j = 0; j < C; j++)
        lz_chunk_words(c, n, p0, len, j, p + j * P, om, wd + j * P);
    return 0;
}

/* The probabilities of pixel i of image n in double into pix: the softmax (sl__softmax), or
 * x / sum x; returns sum x for probabilities (1 for logits). */
static double lz_pixel_probs(const sl_batch *b, const lz_dims *d, int64_t n, int64_t i, double *pix)
{
    const int64_t C = d->C, P = d->P;
    const float *x = b->input + n * C * P + i;
    double s = 0.0;
    for (int64_t k = 0; k < C; k++) {
        pix[k] = (double)x[k * P];
        s += pix[k];
    }
    if (b->input_kind == SL_INPUT_LOGITS) {
        sl__softmax(pix, C, 1, 0);
        return 1.0;
    }
    for (int64_t k = 0; k < C; k++)
        pix[k] = (double)x[k * P] / s;
    return s;
}

/* Step 4 (both paths) at pixel i of image n, the chain rule from gv = dL/dp (C values):
 * dL/dz_k = p_k (G_k - sum_j p_j G_j) for logits, dL/dx_k = (G_k - sum_j u_j G_j) / s for
 * probabilities; pix: room for C doubles. */
static void lz_chain_pixel(const sl_call *c, const lz_dims *d, int64_t n, int64_t i, double *pix,
                           const double *gv)
{
    const int64_t C = d->C, P = d->P;
    double s = lz_pixel_probs(c->b, d, n, i, pix), t = 0.0;
    for (int64_t k = 0; k < C; k++)
        t += pix[k] * gv[k];
    for (int64_t k = 0; k < C; k++) {
        double v = c->b->input_kind == SL_INPUT_LOGITS ? pix[k] * (gv[k] - t) : (gv[k] - t) / s;
        sl__put(c, c->grad, (n * C + k) * P + i, v);
    }
}

/* Step 4 of the fast path over pixels [p0, p1) of image n, from dL/dp in g (floats; it may be
 * the gradient itself: a pixel's are read before they are written). */
typedef struct {
    const sl_call *c;
    const lz_dims *d;
    const float *g;
} lz_chain_ctx;

static int lz_chain_chunk(const void *vctx, int64_t n, int64_t p0, int64_t p1, double *part)
{
    const lz_chain_ctx *k = vctx;
    const int64_t C = k->d->C, P = k->d->P;
    double pix[SL_KERN_MAX_C], gv[SL_KERN_MAX_C];
    (void)part;
    for (int64_t i = p0; i < p1; i++) {
        for (int64_t j = 0; j < C; j++)
            gv[j] = (double)k->g[(n * C + j) * P + i];
        lz_chain_pixel(k->c, k->d, n, i, pix, gv);
    }
    return 0;
}

/* A key without its flag: ascending is descending error, then pixel order. */
#define LZ_KEYMASK (~((uint64_t)LZ_FLAG << 32))

/* One stable counting pass over n keys of src into dst by the digit at `shift` (of `bits`
 * bits) whose counts are in cnt (turned into offsets). */
static void lz_pass(const uint64_t *restrict src, uint64_t *restrict dst, int64_t n,
                    uint32_t *restrict cnt, int shift, int bits)
{
    uint32_t pos = 0, mask = (1u << bits) - 1;
    for (uint32_t v = 0; v <= mask; v++) {
        uint32_t t = cnt[v];
        cnt[v] = pos;
        pos += t;
    }
    for (int64_t r = 0; r < n; r++) {
        uint64_t kk = src[r];
        uint32_t q = cnt[(kk >> shift) & mask]++;
        dst[q] = kk;
        if (q + 16 < n) __builtin_prefetch(dst + q + 16, 1, 3); /* the bucket's next line */
    }
}

static int lz_key_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a & LZ_KEYMASK, y = *(const uint64_t *)b & LZ_KEYMASK;
    return (x > y) - (x < y);
}

/* Sort the n keys of one first-digit bucket, kb[0, n), on the rest of their 30 bits, with the
 * slot's scratch as room; the result ends in kb. An LSD radix sort of two digits (a digit
 * every key shares is skipped), an insertion sort for a few keys, or, for more than the scratch
 * holds, a check that they are in order already (a pile of equal errors keeps pixel order) and
 * else an in-place heapsort (sl__sort). Keys are unique (the index), so each sorts them the same
 * way. */

static void lz_bucket_sort(uint64_t *restrict kb, int64_t n, lz_slot *s)
{
    uint64_t *restrict ka = s->ka;
    if (n > s->room) {
        int64_t r = 1;
        while (r < n && (kb[r - 1] & LZ_KEYMASK) < (kb[r] & LZ_KEYMASK))
            r++;
        if (r < n) sl__sort(kb, (size_t)n, sizeof *kb, lz_key_cmp);
        return;
    }
    if (n <= LZ_SMALL) {
        for (int64_t r = 1; r < n; r++) {
            uint64_t kk = kb[r], key = kk & LZ_KEYMASK;
            int64_t q = r;
            for (; q > 0 && (kb[q - 1] & LZ_KEYMASK) > key; q--)
                kb[q] = kb[q - 1];
            kb[q] = kk;
        }
        return;
    }
    const int sa = 32, sb = 32 + LZ_ABITS;
    const uint32_t ma = (1u << LZ_ABITS) - 1, mb = (1u << LZ_BBITS) - 1;
    memset(s->ca, 0, (size_t)(ma + 1) * sizeof(uint32_t));
    memset(s->cb, 0, (size_t)(mb + 1) * sizeof(uint32_t));
    for (int64_t r = 0; r < n; r++) {
        s->ca[(kb[r] >> sa) & ma]++;
        s->cb[(kb[r] >> sb) & mb]++;
    }
    uint64_t *cur = kb, *other = ka;
    if (s->ca[(kb[0] >> sa) & ma] != (uint32_t)n) {
        lz_pass(cur, other, n, s->ca, sa, LZ_ABITS);
        cur = other;
        other = cur == ka ? kb : ka;
    }
    if (s->cb[(kb[0] >> sb) & mb] != (uint32_t)n) {
        lz_pass(cur, other, n, s->cb, sb, LZ_BBITS);
        cur = other;
    }
    if (cur != kb) memcpy(kb, cur, (size_t)n * sizeof(uint64_t));
}

/* j / P for j < 2^32, without a division instruction. */
static inline uint64_t lz_div(uint64_t j, uint64_t P, double inv)
{
    uint64_t q = (uint64_t)((double)j * inv);
    if (q * P > j)
        q--;
    else if ((q + 1) * P <= j)
        q++;
    return q;
}

/* One (group, class) pair of the fast path: where its words are, its key array, the first
 * digit's counts, and what the sweeps find. */
typedef struct {
    const sl_call *c;
    const lz_dims *d;
    const uint32_t *wbase; /* the words of the pair's first image; image n0 + r's at r wrow */
    int64_t wrow;
    int64_t g, k, n0, n1;
    uint64_t *kb;  /* the keys */
    uint32_t *top; /* [LZ_TBUCKETS] */
    float *gd;     /* dL/dp, or NULL */
    uint32_t m;    /* keys */
    double gts;    /* sum of the target */
    int direct;    /* a key's low word is the element's offset (else the pixel's index) */
    int dense;     /* dL/dp goes to gd[j], j the pixel's index in the group (direct 0) */
} lz_pt;

/* Pair (g, k) with its words at wbase (rows wrow apart), key array kb and counts top. */
static void lz_pt_init(lz_pt *q, const sl_call *c, const lz_dims *d, const uint32_t *wbase,
                       int64_t wrow, int64_t g, int64_t k, uint64_t *kb, uint32_t *top, float *gd)
{
    const int64_t C = d->C, P = d->P;
    lz_pt t = {c, d, wbase, wrow, g, k, g * d->ipg, (g + 1) * d->ipg, kb, top, gd, 0, 0.0,
               /* the element's offset from the pair's first element, (n - n0) C P + i, when every
                  one fits in 32 bits, else the pixel's index in the group, (n - n0) P + i:
                  either grows with pixel order */
               (d->ipg - 1) * C * P + P <= (int64_t)UINT32_MAX + 1, 0};
    *q = t;
}

/* The key of word v at pixel i of image n0 + r. */
static inline uint64_t lz_key(const lz_pt *q, uint32_t v, int64_t r, int64_t i)
{
    const int64_t row = q->direct ? q->d->C * q->d->P : q->d->P;
    return (uint64_t)v << 32 | (uint64_t)(r * row + i);
}

/* Sweep 1: the counts of the top `bits` of the 30 into top; the target's sum. */
static inline void lz_pair_count_top(lz_pt *q, uint32_t *restrict top, int bits)
{
    const int64_t C = q->d->C, P = q->d->P, k = q->k;
    const int labels = q->c->b->target_kind == SL_TARGET_LABELS, tshift = 30 - bits;
    const uint32_t mask = (1u << bits) - 1;
    memset(top, 0, ((size_t)1 << bits) * sizeof(uint32_t));
    double gts = 0.0;
    for (int64_t n = q->n0; n < q->n1; n++) {
        const uint32_t *restrict wr = q->wbase + (n - q->n0) * q->wrow;
        if (labels) {
            uint64_t nfg = 0;
            for (int64_t i = 0; i < P; i++) {
                uint32_t v = wr[i];
                if (v == LZ_SKIP) continue;
                nfg += v >> 31;
                top[(v >> tshift) & mask]++;
            }
            gts += (double)nfg;
        } else {
            const float *restrict t = q->c->b->target + (n * C + k) * P;
            for (int64_t i = 0; i < P; i++) {
                gts += (double)t[i];
                top[(wr[i] >> tshift) & mask]++;
            }
        }
    }
    q->gts = gts;
}

/* Sweep 1: the first digit's counts, turned into the buckets' starts; the target's sum. */
static void lz_pair_count(lz_pt *q)
{
    uint32_t *restrict top = q->top;
    lz_pair_count_top(q, top, LZ_TBITS);
    uint32_t m = 0;
    for (int v = 0; v < LZ_TBUCKETS; v++) {
        uint32_t t = top[v];
        top[v] = m;
        m += t;
    }
    q->m = m;
}

/* Sweep 2: the keys into their buckets (top[v] ends as the end of bucket v); 0 into dL/dp at
 * ignored pixels, once their words are read. */
static void lz_pair_place(lz_pt *q)
{
    const int64_t C = q->d->C, P = q->d->P, k = q->k, n0 = q->n0;
    const int tshift = 30 - LZ_TBITS, direct = q->direct;
    const uint32_t m = q->m;
    uint32_t *restrict top = q->top;
    uint64_t *restrict kb = q->kb;
    float *gd = q->gd;
    for (int64_t n = n0; n < q->n1; n++) {
        const uint32_t *wr = q->wbase + (n - n0) * q->wrow;
        float *gz = gd ? gd + (n * C + k) * P : NULL;
        const uint64_t j0 = (uint64_t)((n - n0) * (direct ? C * P : P));
        for (int64_t i = 0; i < P; i++) {
            uint32_t v = wr[i];
            if (v == LZ_SKIP) {
                if (gz) gz[i] = 0.0f;
                continue;
            }
            uint32_t at = top[(v >> tshift) & (LZ_TBUCKETS - 1)]++;
            kb[at] = (uint64_t)v << 32 | (j0 + (uint64_t)i);
            if (at + 16 < m) __builtin_prefetch(kb + at + 16, 1, 3); /* the bucket's next line */
        }
    }
}

/* One pair at a time (w->room 0): thread t of nt's room for a bucket's keys, a piece of the
 * pair's own rows of words (ipg rows of P words), read for the last time by lz_pair_place. */
static void lz_dead_room(const lz_pt *q, int t, int nt, lz_slot *s)
{
    const int64_t P = q->d->P, rows = q->n1 - q->n0;
    const int64_t per = (nt + rows - 1) / rows; /* pieces of a row */
    const size_t bytes = (size_t)P * sizeof(uint32_t) / (size_t)per;
    unsigned char *at = (unsigned char *)(uintptr_t)(q->wbase + (t / per) * q->wrow);
    at += (size_t)(t % per) * bytes;
    size_t pad = (size_t)(-(uintptr_t)at & 7u);
    s->ka = (uint64_t *)(void *)(at + pad);
    s->room = bytes > pad ? (int64_t)((bytes - pad) / sizeof(uint64_t)) : 0;
}

/* The buckets on the other digits, on slot s or (nt > 1) over nt threads, each on its own slot
 * (thread t on slot t). Either way the same order. */
static void lz_pair_sort(const lz_pt *q, const lz_fast_ws *w, lz_slot *s, int nt)
{
    const lz_dims *d = q->d;
    const uint32_t *top = q->top;
    uint64_t *restrict kb = q->kb;
    if (!w->room) lz_dead_room(q, 0, 1, s);
    if (nt <= 1) {
        uint32_t start = 0;
        for (int v = 0; v < LZ_TBUCKETS; v++) {
            if (top[v] - start > 1) lz_bucket_sort(kb + start, top[v] - start, s);
            start = top[v];
        }
    } else {
#ifdef _OPENMP
#pragma omp parallel for num_threads(nt) schedule(dynamic, 16)
#endif
        for (int v = 0; v < LZ_TBUCKETS; v++) {
            uint32_t start = v ? top[v - 1] : 0;
            if (top[v] - start > 1) {
                lz_slot st;
                lz_slot_of(d, w, lz_thread(), &st);
                if (!w->room) lz_dead_room(q, (int)lz_thread(), nt, &st);
                lz_bucket_sort(kb + start, top[v] - start, &st);
            }
        }
    }
}

/* Where the walk along a pair's keys stands: keys walked (r), of them with fg (cf, labels),
 * the running sums (targets), J_{r-1} and the loss so far. A walk may go in pieces. */
typedef struct {
    uint64_t r, cf;
    double cumfg, cumbg, jprev, lc;
} lz_walk;

/* The walk along m sorted keys ks, from where st stands: J_k along the sorted order, the loss,
 * dL/dp = fac g_k sign(p - fg). The element of a key's low word j is at base + j, or (pixel
 * index) at base + j + (j / P) (C - 1) P; dense: its dL/dp at gd[j]. */
static void lz_walk_keys(const lz_pt *q, lz_walk *st, const uint64_t *restrict ks, uint32_t m,
                         double fac)
{
    const int64_t C = q->d->C, P = q->d->P, k = q->k, n0 = q->n0;
    const double gts = q->gts;
    const int direct = q->direct;
    const double inv = 1.0 / (double)P;
    const uint64_t skip = (uint64_t)((C - 1) * P), up = (uint64_t)P;
    const int64_t base = (n0 * C + k) * P;
    float *gb = q->gd ? q->gd + (q->dense ? 0 : base) : NULL;
    double jprev = st->jprev, lc = st->lc;
    const uint64_t r0 = st->r;
    if (q->c->b->target_kind == SL_TARGET_LABELS) {
        /* fg is 0 or 1: the running sums are counts */
        uint64_t cf = st->cf;
        const int jd = direct | q->dense; /* dL/dp at gb[j] */
        for (uint32_t s = 0; s < m; s++) {
            uint64_t kk = ks[s], j = (uint32_t)kk, r = r0 + s;
            uint32_t hi = (uint32_t)(kk >> 32), fg = hi >> 31, eb = LZ_ONE - (hi & ~LZ_FLAG);
            cf += fg;
            double jk = 1.0 - (gts - (double)cf) / (gts + (double)(r + 1 - cf));
            double gk = jk - jprev;
            jprev = jk;
            lc += (double)lz_bitsf(eb) * gk;
            if (gb) {
                uint64_t at = jd ? j : j + lz_div(j, up, inv) * skip;
                /* sign(p - fg): - for fg = 1, + for fg = 0, 0 where e = 0; without branches */
                uint32_t gbits = lz_fbits((float)(fac * gk)) ^ (fg << 31);
                gb[at] = lz_bitsf(gbits & (0u - (uint32_t)(eb != 0)));
            }
        }
        st->cf = cf;
    } else {
        const float *tg = q->c->b->target + base;
        double cumfg = st->cumfg, cumbg = st->cumbg;
        const int dense = q->dense;
        for (uint32_t s = 0; s < m; s++) {
            uint64_t kk = ks[s], j = (uint32_t)kk;
            uint32_t hi = (uint32_t)(kk >> 32), eb = LZ_ONE - (hi & ~LZ_FLAG);
            uint64_t at = direct ? j : j + lz_div(j, up, inv) * skip;
            double fg = (double)tg[at];
            cumfg += fg;
            cumbg += 1.0 - fg;
            double jk = 1.0 - (gts - cumfg) / (gts + cumbg);
            double gk = jk - jprev;
            jprev = jk;
            lc += (double)lz_bitsf(eb) * gk;
            if (gb) {
                /* sign(p - t): the flag says p > t; 0 where e = 0 */
                uint32_t gbits = lz_fbits((float)(fac * gk)) ^ (~hi & LZ_FLAG);
                gb[dense ? j : at] = lz_bitsf(gbits & (0u - (uint32_t)(eb != 0)));
            }
        }
        st->cumfg = cumfg;
        st->cumbg = cumbg;
    }
    st->r = r0 + m;
    st->jprev = jprev;
    st->lc = lc;
}

/* Pair (g, k) with its words at wbase (rows wrow apart), on key array kslot and scratch slot
 * `slot` (nt > 1: slots 0 to nt - 1, its buckets over nt threads): its loss; dL/dp into gd
 * (NULL: none; else the words' own buffer), 0 at ignored pixels and in classes that are not
 * counted. */
static double lz_pair(const sl_call *c, const lz_dims *d, const lz_fast_ws *w,
                      const uint32_t *wbase, int64_t wrow, int64_t g, int64_t k, int64_t kslot,
                      int64_t slot, int nt, float *gd)
{
    const int64_t C = d->C, P = d->P, n0 = g * d->ipg, n1 = n0 + d->ipg;
    if (!w->flags[g * C + k]) {
        if (gd)
            for (int64_t n = n0; n < n1; n++)
                memset(gd + (n * C + k) * P, 0, (size_t)P * sizeof(float));
        return 0.0;
    }
    lz_slot s;
    lz_slot_of(d, w, slot, &s);
    lz_pt q;
    lz_pt_init(&q, c, d, wbase, wrow, g, k,
               (uint64_t *)(void *)(w->region + (size_t)kslot * w->key_bytes), s.top, gd);
    lz_pair_count(&q);
    lz_pair_place(&q);
    lz_pair_sort(&q, w, &s, nt);
    if (gd && !w->room) /* the sort's room was these rows: their zeros again (ignored pixels) */
        for (int64_t n = n0; n < n1; n++)
            memset(gd + (n * C + k) * P, 0, (size_t)P * sizeof(float));
    lz_walk st = {0, 0, 0.0, 0.0, 0.0, 0.0};
    lz_walk_keys(&q, &st, q.kb, q.m, w->fac[g]);
    return st.lc;
}

static sl_status lovasz_ref(const sl_call *c, double *loss);

/* Which pairs count, and the factor of each group's losses, from the counts of step 2. */
static void lz_count_pairs(const sl_options *o, const lz_dims *d, lz_fast_ws *w)
{
    const int64_t C = d->C, P = d->P;
    const int64_t per = (P + SL_CHUNK - 1) / SL_CHUNK;
    for (int64_t g = 0; g < d->G; g++) {
        const double *q0 = w->parts + g * d->ipg * per * (C + 1);
        double nv = 0.0;
        for (int64_t q = 0; q < d->ipg * per; q++)
            nv += q0[q * (C + 1)];
        int64_t K = 0;
        for (int64_t k = 0; k < C; k++) {
            double cnt = 0.0;
            for (int64_t q = 0; q < d->ipg * per; q++)
                cnt += q0[q * (C + 1) + 1 + k];
            int counted = nv > 0.0 && (o->classes == SL_CLASSES_ALL || cnt > 0.0);
            w->flags[g * C + k] = (uint8_t)counted;
            K += counted;
        }
        w->fac[g] = lz_factor(o, d, K);
    }
}

/* The first row of pair q's words in the words of every class, [N, C, P]. */
static const uint32_t *lz_rows(const lz_dims *d, const uint32_t *words, int64_t q)
{
    const int64_t g = q / d->C, k = q % d->C;
    return words + (g * d->ipg * d->C + k) * d->P;
}

/* Step 3: every pair's loss into w->lc. */
static void lz_run_pairs(const sl_call *c, const lz_dims *d, lz_fast_ws *w, uint32_t *words,
                         float *gd)
{
    const int64_t C = d->C, pairs = d->G * C;
    if (w->nk == 1) {
        /* one pair at a time, its buckets over the threads */
        int nt = c->threads < w->ns ? c->threads : (int)w->ns;
        for (int64_t q = 0; q < pairs; q++)
            w->lc[q] = lz_pair(c, d, w, lz_rows(d, words, q), C * d->P, q / C, q % C, 0, 0, nt, gd);
    } else {
        int nt = c->threads < w->nk ? c->threads : (int)w->nk;
#ifdef _OPENMP
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1) if (nt > 1)
#endif
        for (int64_t q = 0; q < pairs; q++) {
            int64_t slot = lz_thread();
            w->lc[q] =
                lz_pair(c, d, w, lz_rows(d, words, q), C * d->P, q / C, q % C, slot, slot, 1, gd);
        }
        (void)nt;
    }
}

/* The value from the pairs' losses, in pair order, and the map. */
static void lz_total(const sl_call *c, const lz_dims *d, const lz_fast_ws *w, double *loss)
{
    const int64_t C = d->C, pairs = d->G * C;
    double total = 0.0;
    for (int64_t q = 0; q < pairs; q++) {
        if (w->flags[q])
            total += c->o->reduction == SL_REDUCE_MEAN ? w->fac[q / C] * w->lc[q] : w->lc[q];
        if (c->map) sl__put(c, c->map, q, w->lc[q]);
    }
    *loss = total;
}

/* Step 4: the softmax again into the sort buffers' room, as many images at a time as it holds,
 * and the chain kernel; where not one image fits (one image per_image=false), pixel by pixel
 * in double. */
static void lz_chain(const sl_call *c, const lz_dims *d, const lz_fast_ws *w, const float *gd)
{
    const int64_t N = d->N, C = d->C, P = d->P;
    const int64_t fit = (int64_t)(w->region_bytes / ((size_t)(C * P) * sizeof(float)));
    if (c->b->input_kind == SL_INPUT_PROBS || fit < 1) {
        lz_chain_ctx cc = {c, d, gd};
        sl__for_chunks(c->threads, N, P, lz_chain_chunk, &cc, w->parts, 1);
        return;
    }
    float *pc = (float *)(void *)w->region;
    for (int64_t n0 = 0; n0 < N; n0 += fit) {
        const int64_t ni = N - n0 < fit ? N - n0 : fit, at = n0 * C * P;
        sl__sm_args sa = {C, P, c->b->input + at, 0, pc};
        sl__for_chunks(c->threads, ni, P, c->kern->softmax, &sa, w->parts, 1);
        sl__chain_args ca = {C, P, pc, gd + at, 1, (float)c->k, c->accumulate, c->grad + at};
        sl__for_chunks(c->threads, ni, P, c->kern->chain, &ca, w->parts, 1);
    }
}

/* ---------------------------------------------------------------------------------------------
 * The fast path without a gradient. No dL/dp is kept, so the words of every class need not exist
 * at once: the pairs run one at a time, each from its own words, M of them (a quarter of the
 * input's size at C = 4, half at C = 2, per_image an image's share of that), which a sweep over
 * the input makes afresh for the pair (the softmax kernel on chunks of pixels copied into a
 * per-thread buffer, then lz_chunk_om and lz_chunk_words: every step is per pixel, so the words
 * have the bits of the other path's). Its keys then go in ranges (lz_ext): one sweep of the words
 * counts their first digit (the top LZ_XBITS of the 30 bits), and then each run of consecutive
 * buckets whose keys fit the key array (K keys) takes a sweep that places those keys alone into
 * their buckets; each bucket is sorted on the rest of its bits (lz_bucket_sort, in the slot's room
 * of R keys), and the range is walked. A bucket larger than R is refined the same way on the next
 * 8 bits, and one of those on the last 9, where a bucket is a single word, all of whose keys are
 * already in order (pixel order, the sweep's): one larger than K is walked straight from a sweep.
 * The ranges go in ascending order and the walk runs on from one to the next, so the keys are
 * walked in the same order, with the same arithmetic, as the other path's, and the value has the
 * same bits. The sizes: the words, the key array, the room, the counts and the histograms are
 * given three quarters of the input's size (K and R are what the words leave, an eighth of it
 * room; with C = 2 that is a quarter of the input, so a few ranges), and the chunk buffers (2 C
 * SL_CHUNK floats per thread) lie where the keys go later. So beside the inputs the peak is at
 * most three quarters of an input-sized workspace, plus the per-chunk sums, by construction and
 * whatever the data (piles of tied errors only make more sweeps), for inputs large enough that the
 * smallest sizes (K >= 4096, R >= 1024) do not decide, i.e. a few hundred KiB and up. */

/* The histograms of the three digits, one after the other. */
#define LZ_XBITS 13 /* the ranges' first digit: the top 13 of the 30 bits; then 8, then 9 */
#define LZ_HIST ((1 << LZ_XBITS) + (1 << 8) + (1 << 9))

static size_t lz_value_carve(const lz_dims *d, void *mem, lz_fast_ws *w)
{
    sl__arena a = sl__arena_of(mem);
    const int64_t C = d->C, pairs = d->G * C, chunks = sl__nchunks(d->ipg, d->P);
    const size_t input = (size_t)(d->N * C * d->P) * sizeof(float);
    const size_t words = ((size_t)d->M * sizeof(uint32_t) + 63) & ~(size_t)63;
    lz_slot sl;
    w->parts = sl__take(&a, (size_t)(sl__nchunks(d->N, d->P) * (C + 1)) * sizeof(double));
    w->flags = sl__take(&a, (size_t)pairs);
    w->fac = sl__take(&a, (size_t)d->G * sizeof(double));
    w->lc = sl__take(&a, (size_t)pairs * sizeof(double));
    w->hist = sl__take(&a, (size_t)LZ_HIST * sizeof(uint32_t));
    w->p = sl__take(&a, words); /* the pair's words */
    w->L = d->P < SL_CHUNK ? d->P : SL_CHUNK;
    w->nbuf = chunks < LZ_SLOTS ? chunks : LZ_SLOTS;
    w->buf_bytes = ((size_t)(2 * C * w->L) * sizeof(float) + 63) & ~(size_t)63;
    w->nk = w->ns = 1;
    /* words, keys, room, counts and histograms in three quarters of the input's size; an
       eighth of what is left for keys is room */
    size_t part = input / 4 * 3, fixed = words + lz_slot_carve(0, NULL, &sl) + 64 + LZ_HIST * 4;
    int64_t keys = part > fixed ? (int64_t)((part - fixed) / 8) : 0;
    w->room = keys / 8 > 1024 ? keys / 8 : 1024;
    w->K = keys - w->room > 4096 ? keys - w->room : 4096;
    w->key_bytes = ((size_t)(w->K + 1) * sizeof(uint64_t) + 63) & ~(size_t)63; /* + a spare */
    w->slot_bytes = lz_slot_carve(w->room, NULL, &sl);
    w->region_bytes = w->key_bytes + (size_t)w->ns * w->slot_bytes;
    if (w->region_bytes < (size_t)w->nbuf * w->buf_bytes)
        w->region_bytes = (size_t)w->nbuf * w->buf_bytes;
    w->region = sl__take(&a, w->region_bytes);
    w->bufs = (float *)(void *)w->region;
    return sl__arena_size(&a);
}

/* The counts of step 2 alone. */
static int lz_count_chunk(const void *vctx, int64_t n, int64_t p0, int64_t p1, double *part)
{
    lz_chunk_counts(vctx, n, p0, p1 - p0, part);
    return 0;
}

/* A pair's words, [ipg, P], over pixels [p0, p1) of image n0 + n. */
typedef struct {
    const sl_call *c;
    const lz_fast_ws *w;
    int64_t n0, k;
} lz_word_ctx;

static int lz_word_chunk(const void *vctx, int64_t n, int64_t p0, int64_t p1, double *part)
{
    const lz_word_ctx *k = vctx;
    const sl_call *c = k->c;
    const int64_t C = c->C, P = c->P, L = k->w->L, len = p1 - p0, img = k->n0 + n;
    float *xb = (float *)(void *)(k->w->region + (size_t)lz_thread() * k->w->buf_bytes);
    float *pb = xb + C * L, om[SL_CHUNK];
    const float *x = c->b->input + img * C * P + p0;
    if (c->b->input_kind != SL_INPUT_PROBS) {
        for (int64_t j = 0; j < C; j++)
            memcpy(xb + j * L, x + j * P, (size_t)len * sizeof(float));
        sl__sm_args sa = {C, L, xb, 0, pb};
        if (c->kern->softmax(&sa, 0, 0, len, part)) return 1;
    }
    lz_chunk_om(c, x, pb, L, om, len);
    uint32_t *wd = (uint32_t *)(void *)k->w->p + n * P + p0;
    lz_chunk_words(c, img, p0, len, k->k, pb + k->k * L, om, wd);
    return 0;
}

/* One sweep over pair q's words whose bits above digit lv are pre: with kb NULL, the digit's
 * counts into h; else the keys whose digit is in [v0, v1) into kb at h[digit]++, without
 * branches (the others to kb[K], a spare key). */
static const int lz_dshift[3] = {30 - LZ_XBITS, 9, 0};
static const int lz_dbits[3] = {LZ_XBITS, 8, 9};

static void lz_ext_sweep(const lz_pt *q, int lv, uint32_t pre, uint32_t v0, uint32_t v1,
                         uint32_t *restrict h, uint64_t *restrict kb, int64_t K)
{
    const int sh = lz_dshift[lv], hi = sh + lz_dbits[lv];
    const uint32_t mask = (1u << lz_dbits[lv]) - 1, spare = (uint32_t)K, P = (uint32_t)q->d->P;
    const uint64_t row = (uint64_t)(q->direct ? q->d->C * q->d->P : q->d->P);
    for (int64_t r = 0; r < q->n1 - q->n0; r++) {
        const uint32_t *restrict wr = q->wbase + r * q->wrow;
        const uint64_t j0 = (uint64_t)r * row;
        if (!kb) {
            for (uint32_t i = 0; i < P; i++) {
                uint32_t val = wr[i] & ~LZ_FLAG; /* LZ_SKIP: never pre */
                h[(val >> sh) & mask] += val >> hi == pre;
            }
            continue;
        }
        for (uint32_t i = 0; i < P; i++) {
            uint32_t v = wr[i], val = v & ~LZ_FLAG, dg = (val >> sh) & mask;
            uint32_t in = (val >> hi == pre) & (dg - v0 < v1 - v0), cur = h[dg];
            kb[in ? cur : spare] = (uint64_t)v << 32 | (j0 + i);
            h[dg] = cur + in;
        }
    }
}

/* The keys of the single word val (bits 0 to 29), walked in the sweep's order, which is
 * theirs. */
static void lz_ext_value(const lz_pt *q, uint32_t val, lz_walk *st, double fac)
{
    uint64_t kb[256];
    uint32_t nb = 0;
    for (int64_t r = 0; r < q->n1 - q->n0; r++) {
        const uint32_t *wr = q->wbase + r * q->wrow;
        for (int64_t i = 0; i < q->d->P; i++) {
            if ((wr[i] & ~LZ_FLAG) != val) continue;
            kb[nb++] = lz_key(q, wr[i], r, i);
            if (nb == 256) {
                lz_walk_keys(q, st, kb, nb, fac);
                nb = 0;
            }
        }
    }
    if (nb) lz_walk_keys(q, st, kb, nb, fac);
}

/* Pair q's keys whose bits above digit lv are pre, in ranges of that digit (see above). */
static void lz_ext(const lz_pt *q, const lz_fast_ws *w, lz_slot *s, int lv, uint32_t pre,
                   lz_walk *st, double fac)
{
    static const int at[3] = {0, 1 << LZ_XBITS, (1 << LZ_XBITS) + (1 << 8)};
    uint32_t *h = w->hist + at[lv];
    const uint32_t nv = 1u << lz_dbits[lv], K = (uint32_t)w->K;
    const uint32_t most = lv < 2 ? (uint32_t)w->room : K; /* a bucket taken whole */
    uint64_t *kb = (uint64_t *)(void *)w->region;
    if (lv > 0) { /* the first digit's counts are lz_value_pair's */
        memset(h, 0, nv * sizeof(uint32_t));
        lz_ext_sweep(q, lv, pre, 0, 0, h, NULL, 0);
    }
    for (uint32_t v = 0; v < nv;) {
        if (h[v] > most) {
            if (lv == 2)
                lz_ext_value(q, pre << lz_dbits[lv] | v, st, fac);
            else
                lz_ext(q, w, s, lv + 1, pre << lz_dbits[lv] | v, st, fac);
            v++;
            continue;
        }
        uint32_t v1 = v, tot = 0;
        for (; v1 < nv && h[v1] <= most && tot + h[v1] <= K; v1++) {
            uint32_t t = h[v1];
            h[v1] = tot;
            tot += t;
        }
        lz_ext_sweep(q, lv, pre, v, v1, h, kb, w->K);
        for (uint32_t u = v, start = 0; lv < 2 && u < v1; start = h[u++])
            if (h[u] - start > 1) lz_bucket_sort(kb + start, h[u] - start, s);
        lz_walk_keys(q, st, kb, tot, fac);
        v = v1;
    }
}

/* Pair (g, k) without a gradient: its words (always, for the check the softmax makes), then
 * (counted) its loss into *lc. Returns nonzero where the kernel saw a value it cannot take. */
static int lz_value_pair(const sl_call *c, const lz_dims *d, const lz_fast_ws *w, int64_t g,
                         int64_t k, double *lc)
{
    lz_word_ctx ctx = {c, w, g * d->ipg, k};
    int nt = c->threads < w->nbuf ? c->threads : (int)w->nbuf;
    if (sl__for_chunks(nt, d->ipg, d->P, lz_word_chunk, &ctx, w->parts, 1)) return 1;
    const uint32_t *words = (const uint32_t *)(void *)w->p;
    *lc = 0.0;
    if (!w->flags[g * d->C + k]) return 0;
    lz_slot s;
    lz_slot_of(d, w, 0, &s);
    lz_pt q;
    lz_pt_init(&q, c, d, words, d->P, g, k, (uint64_t *)(void *)w->region, s.top, NULL);
    lz_pair_count_top(&q, w->hist, LZ_XBITS);
    lz_walk st = {0, 0, 0.0, 0.0, 0.0, 0.0};
    lz_ext(&q, w, &s, 0, 0, &st, w->fac[g]);
    *lc = st.lc;
    return 0;
}

/* The value alone: the counts, then the pairs one at a time; a group none of whose pairs
 * counts (every pixel ignored) still has its first pair's words made, for the softmax's
 * check of the input. */
static sl_status lz_value(const sl_call *c, const lz_dims *d, double *loss)
{
    const int64_t C = d->C, pairs = d->G * C;
    lz_fast_ws w;
    lz_value_carve(d, c->ws, &w);
    sl__for_chunks(c->threads, d->N, d->P, lz_count_chunk, c, w.parts, (int)(C + 1));
    lz_count_pairs(c->o, d, &w);
    for (int64_t q = 0; q < pairs; q++) {
        int any = 0;
        for (int64_t k = 0; k < C; k++)
            any |= w.flags[q - q % C + k];
        w.lc[q] = 0.0;
        if ((w.flags[q] || (!any && q % C == 0)) && lz_value_pair(c, d, &w, q / C, q % C, &w.lc[q]))
            return sl__recheck(c);
    }
    lz_total(c, d, &w, loss);
    return SL_OK;
}

/* Whether the gradient path takes a pair's keys in ranges (lz_grad_pairs): with a gradient
 * that holds nothing else, where one pair's keys (8 bytes a pixel of its group) and counts do
 * not fit in three quarters of the input's size (2 classes, per_image=false or one image). */
static int lz_grad_in_ranges(const sl_call *c, const lz_dims *d)
{
    lz_slot sl;
    if (!c->grad || c->accumulate) return 0;
    const size_t budget = (size_t)(d->N * d->C * d->P) * sizeof(float) / 4 * 3;
    const size_t keys = ((size_t)d->M * sizeof(uint64_t) + 63) & ~(size_t)63;
    return keys + lz_slot_carve(0, NULL, &sl) > budget;
}

/* Step 3 where a pair's keys do not fit (lz_grad_in_ranges), on lz_value's workspace: the pairs
 * one at a time, each pair's words (in the gradient) sorted and walked in ranges as lz_value
 * does (lz_ext), its dL/dp into a row of M floats in the words' place of that workspace (the
 * pair's words must stay while later ranges sweep them), copied over the pair's rows of words
 * once the pair is done. The same walk in the same order: the bits of the one-range walk. Beside
 * the gradient the peak is the row and the keys' ranges, three quarters of the input's size. */
static void lz_grad_pairs(const sl_call *c, const lz_dims *d, lz_fast_ws *w, float *gd)
{
    const int64_t C = d->C, P = d->P, pairs = d->G * C;
    float *row = w->p;
    for (int64_t qi = 0; qi < pairs; qi++) {
        const int64_t g = qi / C, k = qi % C, n0 = g * d->ipg;
        w->lc[qi] = 0.0;
        if (w->flags[qi]) {
            lz_slot s;
            lz_slot_of(d, w, 0, &s);
            lz_pt q;
            lz_pt_init(&q, c, d, lz_rows(d, (const uint32_t *)(void *)gd, qi), C * P, g, k,
                       (uint64_t *)(void *)w->region, s.top, row);
            q.direct = 0, q.dense = 1; /* keys of pixel indices, dL/dp at row[j] */
            memset(row, 0, (size_t)d->M * sizeof(float)); /* 0 at ignored pixels */
            lz_pair_count_top(&q, w->hist, LZ_XBITS);
            lz_walk st = {0, 0, 0.0, 0.0, 0.0, 0.0};
            lz_ext(&q, w, &s, 0, 0, &st, w->fac[g]);
            w->lc[qi] = st.lc;
        }
        for (int64_t r = 0; r < d->ipg; r++) {
            float *dst = gd + ((n0 + r) * C + k) * P;
            if (w->flags[qi])
                memcpy(dst, row + r * P, (size_t)P * sizeof(float));
            else
                memset(dst, 0, (size_t)P * sizeof(float));
        }
    }
}

static sl_status lovasz_fast(const sl_call *c, double *loss)
{
    /* The kernels keep C classes on their stack. */
    if (c->C > SL_KERN_MAX_C) return lovasz_ref(c, loss);
    const sl_options *o = c->o;
    const sl_batch *b = c->b;
    lz_dims d;
    if (lz_begin(c, &d)) return SL_OK;
    const int64_t N = d.N, C = d.C, P = d.P;
    const int probs = b->input_kind == SL_INPUT_PROBS;
    if (!c->grad) return lz_value(c, &d, loss);
    const int ranges = lz_grad_in_ranges(c, &d);
    lz_fast_ws w;
    if (ranges)
        lz_value_carve(&d, c->ws, &w);
    else
        lz_fast_carve(&d, c->ws, &w);
    /* where the words and dL/dp go */
    float *gd = c->grad ? (c->accumulate ? w.p : c->grad) : NULL;
    uint32_t *words = (uint32_t *)(void *)(gd ? gd : w.p);
    /* the probabilities: in the words' buffer, which the words then replace */
    float *pb = (float *)(void *)words;

    /* 1, 2: probabilities, the words and the counts */
    if (!probs) {
        sl__sm_args sa = {C, P, b->input, 0, pb};
        if (sl__for_chunks(c->threads, N, P, c->kern->softmax, &sa, w.parts, 1))
            return sl__recheck(c);
    }
    lz_ctx ctx = {c, pb, words};
    sl__for_chunks(c->threads, N, P, lz_prep_chunk, &ctx, w.parts, (int)(C + 1));

    lz_count_pairs(o, &d, &w);
    if (ranges) /* 3 */
        lz_grad_pairs(c, &d, &w, gd);
    else
        lz_run_pairs(c, &d, &w, words, gd);

    lz_total(c, &d, &w, loss);
    if (ranges) { /* the chain's room: the row and the key ranges, dead by now */
        w.region_bytes += (size_t)(w.region - (unsigned char *)(void *)w.p);
        w.region = (unsigned char *)(void *)w.p;
    }
    lz_chain(c, &d, &w, gd);
    return SL_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Reference: double precision, plain loops, a sort (sl__sort) of (error, index) items; the
 * probabilities of a pixel are recomputed where needed. Forward and backward side by side: each pair's walk
 * writes dL/dp, and the chain rule runs at the end.
 */

typedef struct {
    double e;  /* |fg - p| */
    double d;  /* p - fg */
    int64_t j; /* pixel index within the group */
} ref_item;

typedef struct {
    double *dp;       /* [N, C, P] dL/dp */
    ref_item *items;  /* [M] */
    double *pix, *gv; /* [C] one pixel's probabilities and dL/dp */
} lz_ref_ws;

static size_t lz_ref_carve(const lz_dims *d, void *mem, lz_ref_ws *w)
{
    sl__arena a = sl__arena_of(mem);
    w->dp = sl__take(&a, (size_t)(d->N * d->C * d->P) * sizeof(double));
    w->items = sl__take(&a, (size_t)d->M * sizeof(ref_item));
    w->pix = sl__take(&a, (size_t)d->C * sizeof(double));
    w->gv = sl__take(&a, (size_t)d->C * sizeof(double));
    return sl__arena_size(&a);
}

/* The target of class k at pixel i of image n; 0 when the pixel is ignored. */
static int ref_fg(const sl_options *o, const sl_batch *b, const lz_dims *d, int64_t n, int64_t i,
                  int64_t k, double *fg)
{
    if (b->target_kind == SL_TARGET_LABELS) {
        int64_t y = b->labels[n * d->P + i];
        if (y == o->ignore_index) return 0;
        *fg = y == k ? 1.0 : 0.0;
        return 1;
    }
    *fg = (double)b->target[(n * d->C + k) * d->P + i];
    return 1;
}

static int ref_cmp(const void *a, const void *b)
{
    const ref_item *x = a, *y = b;
    if (x->e > y->e) return -1;
    if (x->e < y->e) return 1;
    return (x->j > y->j) - (x->j < y->j);
}

/* Group g: the classes counted (none when every pixel is ignored). */
static int64_t ref_counted(const sl_options *o, const sl_batch *b, const lz_dims *d, int64_t g)
{
    const int64_t n0 = g * d->ipg, P = d->P;
    int64_t nv = 0, K = 0;
    for (int64_t j = 0; j < d->M; j++) {
        double fg;
        if (ref_fg(o, b, d, n0 + j / P, j % P, 0, &fg)) nv++;
    }
    for (int64_t k = 0; k < d->C; k++) {
        int present = 0;
        for (int64_t j = 0; j < d->M && !present; j++) {
            double fg = 0.0;
            present = ref_fg(o, b, d, n0 + j / P, j % P, k, &fg) && fg > 0.0;
        }
        K += nv > 0 && (o->classes == SL_CLASSES_ALL || present);
    }
    return K;
}

/* Pair (g, k): its loss, and dL/dp = fac g_k sign(p - fg) into w->dp; *counted whether it
 * counts. */
static double ref_pair(const sl_call *c, const lz_dims *d, lz_ref_ws *w, int64_t g, int64_t k,
                       double fac, int *counted)
{
    const sl_options *o = c->o;
    const sl_batch *b = c->b;
    const int64_t n0 = g * d->ipg, C = d->C, P = d->P;
    /* Errors of the valid pixels, sorted. */
    int64_t m = 0;
    double gts = 0.0, lc = 0.0;
    int present = 0;
    for (int64_t j = 0; j < d->M; j++) {
        int64_t n = n0 + j / P, i = j % P;
        double fg;
        if (!ref_fg(o, b, d, n, i, k, &fg)) continue;
        lz_pixel_probs(b, d, n, i, w->pix);
        w->items[m].e = fabs(fg - w->pix[k]);
        w->items[m].d = w->pix[k] - fg;
        w->items[m].j = j;
        gts += fg;
        present |= fg > 0.0;
        m++;
    }
    *counted = m > 0 && (o->classes == SL_CLASSES_ALL || present);
    if (!*counted) return 0.0;
    sl__sort(w->items, (size_t)m, sizeof *w->items, ref_cmp);
    /* Forward (the loss) and backward (dL/dp) along the sorted order. */
    double cumfg = 0.0, cumbg = 0.0, jprev = 0.0;
    for (int64_t r = 0; r < m; r++) {
        int64_t n = n0 + w->items[r].j / P, i = w->items[r].j % P;
        double fg = 0.0;
        ref_fg(o, b, d, n, i, k, &fg);
        cumfg += fg;
        cumbg += 1.0 - fg;
        double jk = 1.0 - (gts - cumfg) / (gts + cumbg);
        double gk = jk - jprev;
        jprev = jk;
        lc += w->items[r].e * gk;
        double dd = w->items[r].d;
        double sg = dd > 0.0 ? 1.0 : (dd < 0.0 ? -1.0 : 0.0);
        w->dp[(n * C + k) * P + i] = fac * gk * sg;
    }
    return lc;
}

static sl_status lovasz_ref(const sl_call *c, double *loss)
{
    const sl_options *o = c->o;
    const sl_batch *b = c->b;
    lz_dims d;
    if (lz_begin(c, &d)) return SL_OK;
    const int64_t N = d.N, C = d.C, P = d.P;
    lz_ref_ws w;
    lz_ref_carve(&d, c->ws, &w);
    for (int64_t at = 0; at < N * C * P; at++)
        w.dp[at] = 0.0;

    double total = 0.0;
    for (int64_t g = 0; g < d.G; g++) {
        double fac = lz_factor(o, &d, ref_counted(o, b, &d, g));
        for (int64_t k = 0; k < C; k++) {
            int counted;
            double lc = ref_pair(c, &d, &w, g, k, fac, &counted);
            if (counted) total += o->reduction == SL_REDUCE_MEAN ? fac * lc : lc;
            if (c->map) sl__put(c, c->map, g * C + k, lc);
        }
    }
    *loss = total;
    if (!c->grad) return SL_OK;

    /* Chain rule */
    for (int64_t n = 0; n < N; n++)
        for (int64_t i = 0; i < P; i++) {
            for (int64_t k = 0; k < C; k++)
                w.gv[k] = w.dp[(n * C + k) * P + i];
            lz_chain_pixel(c, &d, n, i, w.pix, w.gv);
        }
    return SL_OK;
}

static size_t lovasz_workspace(const sl_options *o, const sl_batch *b)
{
    lz_dims d;
    lz_dims_of(o, b, &d);
    lz_fast_ws fw;
    lz_ref_ws rw;
    size_t f = lz_fast_carve(&d, NULL, &fw), v = lz_value_carve(&d, NULL, &fw);
    size_t r = lz_ref_carve(&d, NULL, &rw);
    f = f > v ? f : v;
    return f > r ? f : r;
}

/* Per-class targets are fractions of membership (<= 1, so every union stays positive); a group
 * is indexed with 32 bits on the fast path. */
static sl_status lovasz_check(const sl_loss_info *loss, const sl_options *o, const sl_batch *b,
                              sl_error *err)
{
    lz_dims d;
    lz_dims_of(o, b, &d);
    if (d.M > (int64_t)UINT32_MAX)
        return sl__fail(err, SL_E_SHAPE,
                        "lovasz: a group of %lld pixels is too large (at most 2^32 - 1; try "
                        "per_image=true)",
                        (long long)d.M);
    return sl__refuse_above_one(loss, b, b->target_kind == SL_TARGET_PROBS ? b->target : NULL,
                                "target", " (per-class targets must be in [0, 1])", err);
}

static const sl__key lovasz_params[] = {
    {.id = SL_OPT_classes, .help = "average the classes present in the target, or all classes"},
    {.id = SL_OPT_per_image},
    {.id = SL_OPT_ignore_index, .help = "label whose pixels are left out"},
    {.id = SL_OPT_reduction,
     .help = "mean: the authors' value; sum: the sum of the counted (group, class) losses"},
};

const sl_loss_info sl__loss_lovasz = {
    "lovasz",
    "Lovasz-softmax (Berman et al. 2018), as the authors' lovasz_softmax",
    SL__KEYS(lovasz_params),
    SL_MAP_IMAGE_CLASS,
    lovasz_fast,
    lovasz_ref,
    lovasz_workspace,
    lovasz_check,
    lovasz_map_shape,
    SL_LOSS_SHARD_PER_IMAGE | SL_LOSS_RENORMALISES | SL_LOSS_GRAD_SCRATCH,
};

/* ---------------------------------------------------------------------------------------------
 * lovasz_hinge: the binary Lovasz hinge of Berman et al., with the values and gradients of the
 * authors' lovasz_hinge (lovasz_losses.py).
 *
 * Each element (channel, pixel) is a binary problem with score x (the logit; probabilities are
 * taken as given) and target t in [0, 1]: a label map is one-hot over C > 1 channels and, on one
 * channel, the {0, 1} label itself (binary segmentation). A group is one image (per_image=true,
 * the authors' default) or the whole batch; all its non-ignored elements are one flat problem,
 * as the authors flatten theirs (and as smp's multilabel mode does over channels):
 *     s = 2 t - 1,   e = 1 - x s,   e sorted in decreasing order (ties: lower index first),
 *     loss = sum_k relu(e_(k)) g_k,  g = lovasz_grad(t sorted)   (as in lovasz),
 * and the gradient treats the sort as a constant: dloss/dx_i = -s_i g_k [e_i > 0] at i's rank
 * k (relu'(0) = 0, as torch). An empty group (every pixel ignored) scores 0 and still counts
 * in the mean over images. Both paths run the same plain code; the fast one takes the errors
 * in float, as the authors' float32 code does, the reference in double, and groups run in
 * parallel. Formulas: docs/focal.md, "lovasz_hinge". Its peak memory beside the inputs and
 * outputs is 4 bytes per element with a gradient, 3 without one, and the counts (the sort
 * below). */

/* Target of element (n, ch, i), or -1 when its pixel is ignored. */
static double lh_target(const sl_call *c, int64_t n, int64_t ch, int64_t i)
{
    const sl_batch *b = c->b;
    if (b->target_kind == SL_TARGET_PROBS) return (double)b->target[(n * c->C + ch) * c->P + i];
    int64_t y = b->labels[n * c->P + i];
    if (y == c->o->ignore_index) return -1.0;
    return (double)(y == ch + (c->C == 1));
}

static void lh_map_shape(const sl_options *o, const sl_batch *b, sl_shape *out)
{
    out->ndim = 1;
    out->dim[0] = o->per_image ? b->shape.dim[0] : 1;
}

/* The sort. An element with e <= 0 adds nothing to the loss or the gradient and comes after
 * every e > 0, so only the non-ignored elements with e > 0 are sorted, held as 32-bit offsets
 * j from the group's first element (a group has fewer than 2^32 elements: lh_check). A
 * counting pass on the top LH_BITS bits of (float)(e - emin), emin the smallest, which is
 * monotone in e and spreads errors crowded near one value (logits near 0), puts the offsets in
 * buckets of decreasing e, each in increasing j; a bucket is then sorted on (e, j) in a
 * per-thread buffer of (e, j) pairs (1/16 of the group, at least 4096), or, when larger, checked
 * for being in order already (equal errors) and else sorted in place with e recomputed from j (an
 * unusual pile of nearly equal errors). The keys (e, j) are unique, so every sort orders them the
 * same way. The workspace: 4 bytes per element for the offsets (only those of elements with e > 0
 * are touched) and, per group sorted at once, the counts and the pair buffer; with a gradient
 * that holds nothing else, each group's counts and pairs lie in its own part of the gradient
 * instead (written only after the sort), so that the offsets alone (at most three quarters of
 * the group's elements, see below) are beside the outputs.
 * Without a gradient there is no such room, so a group holds at most half its elements' offsets
 * (lh_group's cap): the buckets go in ranges of at most that many, each range's offsets placed
 * (a sweep of the group that keeps those in the range alone), sorted and walked before the
 * next, the walk running on from one range to the next; a bucket larger than the cap goes in
 * batches of the cap's size (lh_big: a bounded heap keeps the first of those after the last
 * batch; a pile of equal errors, as with logits 0, is walked straight from a sweep). The order
 * and the arithmetic of the walk are the same, so the value has the bits of the value with a
 * gradient, and beside the inputs the peak is the offsets (at most half a group's elements, 2
 * bytes an element), the pair buffer (touched up to the largest bucket sorted in it, at most
 * 1/16 of the group at 16 bytes a pair: 1 byte an element) and the counts: at most three
 * quarters of an input-sized workspace and 256 KiB a thread, whatever the data. With a gradient
 * the same ranges serve where more than three quarters of a group's errors are positive (logits
 * 0), the counts and pairs then in the workspace's slot, as the walk writes the gradient while
 * later ranges still need them (lh_group), and so do they with a gradient that holds other terms
 * (a later term of a spec); elsewhere the group is one range, its offsets at most three quarters
 * of its elements. */
#define LH_BITS 16
#define LH_PAIRS 4096 /* pairs in a slot's buffer, at least (else 1/16 of a group) */
#define LH_SLOTS 16   /* groups sorted at once, at most */
#define LH_SMALL 24   /* a bucket up to this size: insertion sort */

typedef struct {
    double e;
    uint32_t j;
} lh_pair;

typedef struct {
    uint32_t *cnt; /* [1 << LH_BITS] */
    lh_pair *pair; /* [npair] */
    int64_t npair;
} lh_slot;

typedef struct {
    uint32_t *off; /* [N, C, P]: each group's offsets at its own elements' place */
    double *gl;    /* [N] the groups' losses */
    unsigned char *slots;
    size_t slot_bytes;
    int64_t ns;
} lh_ws;

/* One group: the call, its elements [base, base + len) of the input, and its smallest error
 * sorted (the buckets are on e - emin, which spreads errors that crowd near one value). */
typedef struct {
    const sl_call *c;
    int64_t base, len;
    double emin;
    int zeros;       /* pass 0 writes the gradient's zeros (else the walk's caller fills them) */
    uint32_t v0, v1; /* pass 2 places the buckets [v0, v1) alone */
} lh_group_t;

static size_t lh_slot_carve(void *mem, int64_t group, lh_slot *s)
{
    s->npair = group / 16 > LH_PAIRS ? group / 16 : LH_PAIRS;
    sl__arena a = {(unsigned char *)mem, 0};
    s->cnt = sl__take(&a, ((size_t)1 << LH_BITS) * sizeof(uint32_t));
    s->pair = sl__take(&a, (size_t)s->npair * sizeof(lh_pair));
    return a.used;
}

/* The same code sizes (mem NULL) and carves the workspace. */
static size_t lh_carve(const sl_options *o, const sl_batch *b, void *mem, lh_ws *w)
{
    int64_t N = b->shape.dim[0], G = o->per_image ? N : 1;
    lh_slot s;
    sl__arena a = sl__arena_of(mem);
    w->off = sl__take(&a, (size_t)sl_shape_numel(&b->shape) * sizeof(uint32_t));
    w->gl = sl__take(&a, (size_t)N * sizeof(double));
    w->slot_bytes = lh_slot_carve(NULL, sl_shape_numel(&b->shape) / G, &s);
    w->ns = G < LH_SLOTS ? G : LH_SLOTS;
    w->slots = sl__take(&a, (size_t)w->ns * w->slot_bytes);
    return sl__arena_size(&a);
}

static size_t lh_workspace(const sl_options *o, const sl_batch *b)
{
    lh_ws w;
    return lh_carve(o, b, NULL, &w);
}

/* Target of element idx (flat), or -1 when its pixel is ignored. */
static double lh_target_at(const sl_call *c, int64_t idx)
{
    int64_t CP = c->C * c->P;
    return lh_target(c, idx / CP, idx % CP / c->P, idx % c->P);
}

/* e = 1 - x s of element idx with target t: in float on the fast path, as the authors' float32
 * code, in double in the reference. */
static double lh_err(const sl_call *c, int64_t idx, double t)
{
    double s = 2.0 * t - 1.0;
    float x = c->b->input[idx];
    return c->fast ? (double)(1.0f - x * (float)s) : 1.0 - (double)x * s;
}

/* The bucket of an error e >= emin: decreasing in e. */
static uint32_t lh_digit(double e, double emin)
{
    float f = (float)(e - emin);
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return ((1u << LH_BITS) - 1u) - (u >> (31 - LH_BITS));
}

/* The passes over a group's elements. pass 0: the smallest error sorted into gr->emin, the
 * gradient's zeros where nothing is sorted, and sum t over the non-ignored elements into *G;
 * pass 1: the count of each bucket into cnt; pass 2: the offsets into off at their bucket's
 * next place (cnt: each bucket's start, then its end). Returns the number of elements sorted. */
static int64_t lh_bucket(lh_group_t *gr, uint32_t *cnt, uint32_t *off, int pass, double *G)
{
    const sl_call *c = gr->c;
    const int64_t C = c->C, P = c->P, n0 = gr->base / (C * P), n1 = n0 + gr->len / (C * P);
    int64_t m = 0;
    double sum = 0.0, emin = INFINITY;
    for (int64_t n = n0; n < n1; n++)
        for (int64_t ch = 0; ch < C; ch++)
            for (int64_t i = 0; i < P; i++) {
                int64_t idx = (n * C + ch) * P + i;
                double t = lh_target(c, n, ch, i), e = t < 0.0 ? 0.0 : lh_err(c, idx, t);
                sum += t < 0.0 ? 0.0 : t;
                if (!(e > 0.0)) {
                    if (pass == 0 && gr->zeros) sl__put(c, c->grad, idx, 0.0);
                    continue;
                }
                m++;
                if (pass == 0) {
                    emin = e < emin ? e : emin;
                    continue;
                }
                uint32_t v = lh_digit(e, gr->emin);
                if (pass == 2) {
                    if (v - gr->v0 < gr->v1 - gr->v0) off[cnt[v]++] = (uint32_t)(idx - gr->base);
                } else {
                    cnt[v]++;
                }
            }
    if (pass == 0) {
        gr->emin = emin;
        *G = sum;
    }
    return m;
}

/* Whether pair a comes before pair b: the larger error first, then the lower offset. */
static inline int lh_before(const lh_pair *a, const lh_pair *b)
{
    return a->e > b->e || (a->e == b->e && a->j < b->j);
}

static lh_pair lh_pair_of(const lh_group_t *gr, uint32_t j)
{
    int64_t idx = gr->base + j;
    lh_pair p = {lh_err(gr->c, idx, lh_target_at(gr->c, idx)), j};
    return p;
}

/* A heapsort of n offsets into the order of lh_before, in place: pairs holds their keys and is
 * what is permuted (the caller copies the offsets back), or is NULL and each key is recomputed
 * from its offset. */
static lh_pair lh_key(const lh_group_t *gr, const uint32_t *off, const lh_pair *pairs, int64_t k)
{
    return pairs ? pairs[k] : lh_pair_of(gr, off[k]);
}

static void lh_swap(uint32_t *off, lh_pair *pairs, int64_t a, int64_t b)
{
    if (pairs) {
        lh_pair t = pairs[a];
        pairs[a] = pairs[b];
        pairs[b] = t;
    } else {
        uint32_t t = off[a];
        off[a] = off[b];
        off[b] = t;
    }
}

static void lh_sift(const lh_group_t *gr, uint32_t *off, lh_pair *pairs, int64_t root, int64_t n)
{
    const lh_pair r = lh_key(gr, off, pairs, root); /* the item that moves down */
    for (int64_t ch = 2 * root + 1; ch < n; ch = 2 * root + 1) {
        lh_pair a = lh_key(gr, off, pairs, ch);
        if (ch + 1 < n) {
            lh_pair b = lh_key(gr, off, pairs, ch + 1);
            if (lh_before(&a, &b)) {
                a = b;
                ch++;
            }
        }
        if (!lh_before(&r, &a)) return;
        lh_swap(off, pairs, root, ch);
        root = ch;
    }
}

static void lh_heapify(const lh_group_t *gr, uint32_t *off, lh_pair *pairs, int64_t n)
{
    for (int64_t i = n / 2; i-- > 0;)
        lh_sift(gr, off, pairs, i, n);
}

static void lh_heapsort(const lh_group_t *gr, uint32_t *off, lh_pair *pairs, int64_t n)
{
    lh_heapify(gr, off, pairs, n);
    for (int64_t end = n - 1; end > 0; end--) {
        lh_swap(off, pairs, 0, end);
        lh_sift(gr, off, pairs, 0, end);
    }
}

/* One bucket of n offsets sorted (see above). A large one is often already in order (equal
 * errors keep their offsets' order): that is checked first. */
static void lh_sort_bucket(const lh_group_t *gr, uint32_t *off, int64_t n, const lh_slot *s)
{
    lh_pair *pair = s->pair;
    if (n > s->npair) {
        lh_pair prev = lh_pair_of(gr, off[0]);
        for (int64_t k = 1; k < n; k++) {
            lh_pair cur = lh_pair_of(gr, off[k]);
            if (lh_before(&cur, &prev)) {
                lh_heapsort(gr, off, NULL, n);
                return;
            }
            prev = cur;
        }
        return;
    }
    for (int64_t k = 0; k < n; k++)
        pair[k] = lh_pair_of(gr, off[k]);
    if (n > LH_SMALL) {
        lh_heapsort(gr, off, pair, n);
    } else {
        for (int64_t i = 1; i < n; i++) {
            lh_pair v = pair[i];
            int64_t k = i;
            for (; k > 0 && lh_before(&v, &pair[k - 1]); k--)
                pair[k] = pair[k - 1];
            pair[k] = v;
        }
    }
    for (int64_t k = 0; k < n; k++)
        off[k] = pair[k].j;
}

/* Where a walk along a group's sorted offsets stands; a walk may go in pieces. */
typedef struct {
    double loss, cfg, cbg, jprev;
} lh_walk_t;

/* The walk along m sorted offsets from where st stands: the group's loss, and scale times its
 * gradient. */
static void lh_walk(const lh_group_t *gr, lh_walk_t *st, const uint32_t *off, int64_t m, double G,
                    double scale)
{
    const sl_call *c = gr->c;
    double loss = st->loss, cfg = st->cfg, cbg = st->cbg, jprev = st->jprev;
    for (int64_t k = 0; k < m; k++) {
        int64_t idx = gr->base + off[k];
        double t = lh_target_at(c, idx), e = lh_err(c, idx, t);
        /* J_k = 1 - (G - cumsum t) / (G + cumsum (1 - t)); g_k = J_k - J_{k-1} */
        cfg += t;
        cbg += 1.0 - t;
        double J = 1.0 - (G - cfg) / (G + cbg), g = J - jprev;
        jprev = J;
        loss += e * g;
        if (c->grad) sl__put(c, c->grad, idx, -(2.0 * t - 1.0) * g * scale);
    }
    st->loss = loss, st->cfg = cfg, st->cbg = cbg, st->jprev = jprev;
}

/* Whether element j of the group is sorted and in bucket v; its key into *p. */
static int lh_in(const lh_group_t *gr, uint32_t j, uint32_t v, lh_pair *p)
{
    double t = lh_target_at(gr->c, gr->base + j);
    if (t < 0.0) return 0;
    p->e = lh_err(gr->c, gr->base + j, t);
    p->j = j;
    return p->e > 0.0 && lh_digit(p->e, gr->emin) == v;
}

/* The offsets of bucket v (more than cap of them) in order, at most cap at a time, and walked:
 * if all their errors are equal, straight from a sweep (their order is the sweep's); else each
 * batch is the first cap of those after the last one walked, kept in a heap at off whose root
 * comes last (lh_sift), then sorted. */
static void lh_big(const lh_group_t *gr, uint32_t v, uint32_t *off, int64_t cap, lh_walk_t *st,
                   double G, double scale)
{
    double lo = INFINITY, hi = -INFINITY;
    lh_pair p, last = {INFINITY, 0};
    for (uint32_t j = 0; j < (uint32_t)gr->len; j++)
        if (lh_in(gr, j, v, &p)) lo = p.e < lo ? p.e : lo, hi = p.e > hi ? p.e : hi;
    for (int first = 1;; first = 0) {
        int64_t n = 0;
        for (uint32_t j = 0; j < (uint32_t)gr->len; j++) {
            if (!lh_in(gr, j, v, &p) || (!first && !lh_before(&last, &p))) continue;
            if (lo == hi) {
                off[n++] = j;
                if (n == cap) lh_walk(gr, st, off, n, G, scale), n = 0;
            } else if (n < cap) {
                off[n++] = j;
                if (n == cap) lh_heapify(gr, off, NULL, n);
            } else {
                lh_pair r = lh_pair_of(gr, off[0]);
                if (lh_before(&p, &r)) off[0] = j, lh_sift(gr, off, NULL, 0, n);
            }
        }
        if (lo != hi) lh_heapsort(gr, off, NULL, n);
        lh_walk(gr, st, off, n, G, scale);
        if (lo == hi || n < cap) return;
        last = lh_pair_of(gr, off[n - 1]);
    }
}

/* The gradient's zeros over group gr, as pass 0's sl__put would write them (no accumulate). */
static void lh_zeros(const lh_group_t *gr)
{
    const float z = (float)(gr->c->k * 0.0);
    float *gz = gr->c->grad + gr->base;
    for (int64_t i = 0; i < gr->len; i++)
        gz[i] = z;
}

/* Group g (images [g ipg, (g + 1) ipg)) with its offsets at off: returns its loss and writes
 * scale times its gradient. in_grad: slot s lies in the group's own part of the gradient, which
 * the walk then writes: its zeros are filled in after the sort, not in pass 0; but where more
 * than three quarters of the group's errors are positive, the group goes in ranges as without a
 * gradient, its counts and pairs in the thread's slot ws of the workspace instead (the walk
 * writes the gradient while later ranges still need them), and the zeros are filled in before
 * the first range. Wherever the slot lies in the workspace (no gradient, one that holds other
 * terms, or that switch), the ranges hold at most half the group's offsets. */
static double lh_group(const sl_call *c, int64_t g, int64_t ipg, uint32_t *off, const lh_slot *s,
                       const lh_slot *ws, double scale, int in_grad)
{
    const uint32_t nb = 1u << LH_BITS;
    lh_group_t gr = {c, g * ipg * c->C * c->P, ipg * c->C * c->P, 0.0, c->grad && !in_grad, 0, nb};
    double G;
    int64_t m = lh_bucket(&gr, NULL, off, 0, &G);
    if (in_grad && m > gr.len / 4 * 3 && gr.len >= 2) {
        in_grad = 0, s = ws;
        lh_zeros(&gr);
    }
    /* offsets held at once: the whole group where the slot lies in the gradient, else half */
    int64_t cap = in_grad || gr.len < 2 ? gr.len : gr.len / 2;
    uint32_t *cnt = s->cnt;
    memset(cnt, 0, nb * sizeof(uint32_t));
    lh_bucket(&gr, cnt, off, 1, &G);
    lh_walk_t st = {0.0, 0.0, 0.0, 0.0};
    for (uint32_t v = 0; v < nb;) {
        if (cnt[v] > cap) {
            lh_big(&gr, v++, off, cap, &st, G, scale);
            continue;
        }
        uint32_t v1 = v, at = 0;
        for (; v1 < nb && at + cnt[v1] <= cap; v1++) {
            uint32_t n = cnt[v1];
            cnt[v1] = at;
            at += n;
        }
        gr.v0 = v, gr.v1 = v1;
        lh_bucket(&gr, cnt, off, 2, &G);
        for (uint32_t u = v, start = 0; u < v1; start = cnt[u++])
            if (cnt[u] - start > 1) lh_sort_bucket(&gr, off + start, cnt[u] - start, s);
        if (in_grad) lh_zeros(&gr); /* one range: every bucket is sorted */
        lh_walk(&gr, &st, off, at, G, scale);
        v = v1;
    }
    return st.loss;
}

/* Group g's slot: in its own part of the gradient, 64-byte aligned, where there is one that
 * nothing else is in (no accumulate) and the slot fits (returns 1), else the workspace's slot
 * of the calling thread, which goes to *ws in either case. The gradient is written only after
 * the group's sort. */
static int lh_slot_at(const sl_call *c, const lh_ws *w, int64_t g, int64_t per, lh_slot *s,
                      lh_slot *ws)
{
    lh_slot_carve(w->slots + (size_t)lz_thread() * w->slot_bytes, per, ws);
    if (c->grad && !c->accumulate) {
        unsigned char *at = (unsigned char *)(c->grad + g * per);
        size_t pad = (size_t)(-(uintptr_t)at & 63);
        if ((size_t)per * sizeof(float) >= pad + w->slot_bytes) {
            lh_slot_carve(at + pad, per, s);
            return 1;
        }
    }
    *s = *ws;
    return 0;
}

static sl_status lh_run(const sl_call *c, double *loss)
{
    const sl_options *o = c->o;
    int64_t ipg = o->per_image ? 1 : c->N, G = c->N / ipg, per = ipg * c->C * c->P;
    lh_ws w;
    lh_carve(o, c->b, c->ws, &w);
    double scale = o->reduction == SL_REDUCE_MEAN ? 1.0 / (double)G : 1.0;
    int threads = (int)(G < c->threads ? G : c->threads);
    threads = threads < w.ns ? threads : (int)w.ns;
#ifdef _OPENMP
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
#endif
    for (int64_t g = 0; g < G; g++) {
        lh_slot s, ws;
        int in_grad = lh_slot_at(c, &w, g, per, &s, &ws);
        w.gl[g] = lh_group(c, g, ipg, w.off + g * per, &s, &ws, scale, in_grad);
    }
    double total = 0.0;
    for (int64_t g = 0; g < G; g++) {
        if (c->map) sl__put(c, c->map, g, w.gl[g]);
        total += w.gl[g];
    }
    *loss = total * scale;
    (void)threads;
    return SL_OK;
}

/* Per-channel targets are in [0, 1] (the hinge's sign 2 t - 1). */
static sl_status lh_check(const sl_loss_info *loss, const sl_options *o, const sl_batch *b,
                          sl_error *err)
{
    int64_t numel = sl_shape_numel(&b->shape),
            group = o->per_image ? numel / b->shape.dim[0] : numel;
    if (group > (int64_t)UINT32_MAX)
        return sl__fail(err, SL_E_SHAPE,
                        "%s: a group of %lld elements is too large (at most 2^32 - 1; try "
                        "per_image=true)",
                        loss->name, (long long)group);
    return sl__refuse_above_one(loss, b, b->target_kind == SL_TARGET_PROBS ? b->target : NULL,
                                "target", " (targets must be in [0, 1])", err);
}

static const sl__key lh_params[] = {
    {.id = SL_OPT_per_image,
     .def = "true",
     .help =
         "per image, then the mean over images (the authors' default); false: one batch problem"},
    {.id = SL_OPT_ignore_index, .help = "label whose pixels are left out"},
    {.id = SL_OPT_reduction,
     .help = "over the per-image values (one value with per_image=false); none: the map"},
};

const sl_loss_info sl__loss_lovasz_hinge = {
    "lovasz_hinge",
    "binary Lovasz hinge (Berman et al. 2018) per channel, as the authors' lovasz_hinge",
    SL__KEYS(lh_params),
    SL_MAP_IMAGE_CLASS,
    lh_run,
    lh_run,
    lh_workspace,
    lh_check,
    lh_map_shape,
    SL_LOSS_SIGMOID | SL_LOSS_GRAD_SCRATCH,
};
