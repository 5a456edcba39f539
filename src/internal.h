/* Internal helpers shared by the library's files. Not part of the public API. */
#ifndef SEGLOSS_INTERNAL_H
#define SEGLOSS_INTERNAL_H

#include "segloss.h"

#include <math.h>
#include <stdarg.h>
#include <string.h>

/* Fill err (when not NULL) with a printf-style message and return s. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
sl_status sl__fail(sl_error *err, sl_status s, const char *fmt, ...);

/* Write "[i0, i1, ...]" for a flat index of a shape into buf (for messages). */
void sl__index_str(const sl_shape *s, int64_t flat, char *buf, size_t len);

/* Write "[d0, d1, ...]" for a shape into buf. */
void sl__shape_str(const sl_shape *s, char *buf, size_t len);

/* Create a new temporary file in the folder of path, with a short random name (".sl-" and 12
 * letters), exclusively (O_CREAT | O_EXCL | O_NOFOLLOW): an existing name or a planted symbolic
 * link is skipped, never opened. Returns the descriptor and *tmp (malloc'd name), or -1 with
 * errno. */
int sl__temp_open(const char *path, char **tmp);
/* write() all of data, retrying short writes and EINTR; 0, or -1 with errno. */
int sl__write_all(int fd, const void *data, size_t len);
/* Write data of len bytes (in up to two pieces). With fd >= 0, to that descriptor (left open).
 * Otherwise atomically to path: into a new temporary file in its folder (sl__temp_open), renamed
 * over path when everything is written; on failure nothing is left behind. */
sl_status sl__write_out(const char *path, int fd, const void *a, size_t alen, const void *b,
                        size_t blen, sl_error *err);

/* ---------------------------------------------------------------------------------------------
 * One call of a loss (src/registry.c builds it after the checks; implementations receive it).
 *
 * An implementation writes k times its gradient and map into grad and map, or adds them to what
 * those buffers hold when `accumulate` is set: that is how a spec of several terms sums its
 * terms in place, without a buffer per term. It returns its own (unscaled) loss value.
 */
#include "kernels/kern.h"

struct sl_call {
    const sl_loss_info *loss;
    const sl_options *o;
    const sl_batch *b;
    int64_t N, C, P;      /* batch, classes, pixels per image */
    float *grad;          /* [N, C, P] or NULL */
    float *map;           /* the loss's map, or NULL */
    double k;             /* factor of grad and map */
    int accumulate;       /* add into grad and map instead of writing them */
    void *ws;             /* workspace, sl_loss_workspace_size bytes */
    size_t ws_size;
    int threads;          /* >= 1 */
    const sl__kern *kern; /* the vector kernels of the chosen ISA */
    int fast;             /* the fast path (else the reference) */
    sl_error *err;
    int *empty_mean; /* out: set when the value is a mean over nothing (sl__mean) */
    /* Sharded evaluation (src/shard.c): 0 a whole evaluation; SL__PHASE_STATS: compute this
     * shard's statistics into stats and stop; SL__PHASE_FINISH: value and gradient with the
     * statistics in stats (summed over the shards) in place of this shard's own. */
    int phase;
    double *stats; /* stats[0]: the number of shards; the loss's own from stats[1] */
};
#define SL__PHASE_STATS 1
#define SL__PHASE_FINISH 2

/* A mean's normaliser under sharding: with SL__PHASE_STATS stores *D as the statistic and
 * returns 1 (the caller stops there); with SL__PHASE_FINISH replaces *D by the global one. */
static inline int sl__shard_norm(const sl_call *c, double *D)
{
    if (c->phase == SL__PHASE_STATS) {
        c->stats[1] = *D;
        return 1;
    }
    if (c->phase == SL__PHASE_FINISH) *D = c->stats[1];
    return 0;
}

/* A mean: total / D. A mean over nothing (D == 0: every pixel ignored, or every weight zero)
 * is NaN, as in PyTorch; it is recorded so that this NaN is told apart from an overflow. */
static inline double sl__mean(const sl_call *c, double total, double D)
{
    if (D == 0.0) {
        *c->empty_mean = 1;
        return (double)NAN;
    }
    return total / D;
}

/* Store k * v at dst[i] (or add it, with accumulate). */
static inline void sl__put(const sl_call *c, float *dst, int64_t i, double v)
{
    float kv = (float)(c->k * v);
    dst[i] = c->accumulate ? dst[i] + kv : kv;
}

/* Check, build the call and run one loss (sl_loss_eval and sl_spec_eval). */
sl_status sl__loss_run(const sl_loss_info *loss, const sl_options *opt, const sl_batch *b,
                       sl_impl impl, float *grad, float *map, double k, int accumulate, void *ws,
                       size_t ws_size, int threads, sl_error *err, double *value);
/* The same with a phase of sharded evaluation and its statistics (src/shard.c). */
sl_status sl__loss_run_phase(const sl_loss_info *loss, const sl_options *opt, const sl_batch *b,
                             sl_impl impl, float *grad, float *map, double k, int accumulate,
                             void *ws, size_t ws_size, int threads, sl_error *err, double *value,
                             int phase, double *stats);

/* After a loss ran: the value must be finite (or the NaN of a mean over nothing, `empty`), and
 * every entry of grad and map (when not NULL) finite; otherwise SL_E_OVERFLOW naming the loss,
 * what overflowed and where. */
sl_status sl__check_finite(const sl_loss_info *loss, const sl_batch *b, double value, int empty,
                           const float *grad, const float *map, const sl_options *opt,
                           sl_error *err);

/* The batch as term i of a spec reads it: the spec's input=logits|probs for that term, when it
 * names one, in place of the batch's input kind (tmp holds the copy). */
const sl_batch *sl__spec_term_batch(const sl_spec *s, int i, const sl_batch *b, sl_batch *tmp);

/* Threads for a call: the caller's request, or OpenMP's default (OMP_NUM_THREADS). */
int sl__threads(int requested);

/* Work is split into chunks of SL_CHUNK pixels of one image, always the same way whatever the
 * thread count; each chunk's partial sums are kept apart and added in chunk order, so results
 * are the same bits for any number of threads. */
#define SL_CHUNK 4096
#define SL_MIN_PIXELS 16384
static inline int64_t sl__nchunks(int64_t N, int64_t P)
{
    return N * ((P + SL_CHUNK - 1) / SL_CHUNK);
}

/* fn(ctx, n, p0, p1, part) for every chunk, over `threads` threads; part points at `width`
 * doubles of that chunk's partial sums in parts[nchunks * width]. Returns the OR of what the
 * calls returned (a kernel's "bad input seen" flag). */
typedef int (*sl__chunk_fn)(const void *ctx, int64_t n, int64_t p0, int64_t p1, double *part);
int sl__for_chunks(int threads, int64_t N, int64_t P, sl__chunk_fn fn, const void *ctx,
                   double *parts, int width);
/* Column j of parts summed in chunk order. */
double sl__sum_parts(const double *parts, int64_t nchunks, int width, int j);

/* A workspace carved in 64-byte aligned pieces. With base NULL it only counts: the same code
 * sizes a workspace and carves it. */
typedef struct {
    unsigned char *base;
    size_t used;
} sl__arena;
static inline sl__arena sl__arena_of(void *mem)
{
    sl__arena a = {(unsigned char *)mem, 0};
    if (mem) a.used = (size_t)(-(uintptr_t)mem & 63u);
    return a;
}
static inline void *sl__take(sl__arena *a, size_t bytes)
{
    void *p = a->base ? a->base + a->used : NULL;
    a->used += (bytes + 63) & ~(size_t)63;
    return p;
}
/* Bytes an arena that counted needs, alignment slack included. */
static inline size_t sl__arena_size(const sl__arena *a)
{
    return a->used + 64;
}

/* Label counts per image and class, counts[N * C], from the kernels over threads (parts:
 * sl__nchunks * C doubles of scratch). Refuses a label that is neither in [0, C) nor
 * ignore_index with the checks' message. */
sl_status sl__label_counts(const sl_call *c, double *parts, double *counts);
/* sum over images and classes of w[c] * counts (w NULL: 1): a mean's normaliser. */
double sl__counts_weighted(const sl_call *c, const double *counts, const double *w);
/* The annotation matrix [N * C]: the batch's own if given, else the classes with a pixel. */
void sl__annotated_from_counts(const sl_call *c, const double *counts, uint8_t *ann);

/* The first of the batch's values v (input or target; NULL: none) above 1, refused with
 * SL_E_VALUE: "LOSS: WHAT V at [i, ...] is above 1WHY" (src/loss_sigmoid.c). */
sl_status sl__refuse_above_one(const sl_loss_info *loss, const sl_batch *b, const float *v,
                               const char *what, const char *why, sl_error *err);

/* Whether a loss with these options is per-channel sigmoid (SL_LOSS_SIGMOID, or its `sigmoid`
 * key set); such a loss takes a binary label map {0, 1} on a one-channel input. */
int sl__sigmoid_based(const sl_loss_info *loss, const sl_options *o);
/* Labels a map may hold: [0, C), or {0, 1} for a sigmoid loss on one channel (the label is then
 * the channel's target: class c's target is [y == c + binary], binary = 1 there). */
/* With a per-class target and 0 <= ignore < C: whether pixel i of image n is ignored, i.e. its
 * target's first largest channel is `ignore` (torch.argmax's tie rule). 0 otherwise. */
int sl__probs_ignored(const sl_batch *b, int64_t ignore, int64_t n, int64_t i);
/* Whether the argmax rule is in force for this batch (a per-class target, 0 <= ignore < C). */
int sl__probs_ignore_on(const sl_batch *b, int64_t ignore);
int64_t sl__label_classes(const sl_loss_info *loss, const sl_options *o, int64_t C);

/* The full checks of a batch, for the message when a kernel saw input it must refuse (an error
 * always). */
sl_status sl__recheck(const sl_call *c);
/* The full checks, for a fast path that does not use its kernel (SL_OK when they pass). */
sl_status sl__recheck_values(const sl_call *c);
/* A fast path that cannot take this batch (more classes than its kernel keeps, probabilities
 * its kernel does not take): the full checks, then the reference. */
sl_status sl__fall_back(const sl_call *c, sl_loss_fn ref, double *loss);

/* ---------------------------------------------------------------------------------------------
 * The cross-entropy family (src/loss_ce.c): its kernel driver and its reference pieces.
 */
/* One pixel of the reference, in double: log-probabilities, g = dL/dlogp, and for probability
 * input the renormalised u and the sum s. */
typedef struct {
    double *lp, *g, *u;
    double s;
} sl__refpx;

/* lp (and u, s) of the pixel whose class 0 is at x (classes P apart); zeroes g. */
/* The one softmax of the tree, in double, in place over C values at stride `stride`: v_c becomes
 * exp(v_c - m) / sum_k exp(v_k - m), m the largest (log_form: (v_c - m) - log sum_k exp(v_k - m),
 * the log-softmax). Every reference path, the data generator, the CLI and the trainer call it;
 * the vector kernels have their own fused forms. */
void sl__softmax(double *v, int64_t C, int64_t stride, int log_form);

void sl__ref_logp(const float *x, int64_t P, int64_t C, sl_input_kind kind, double eps,
                  sl__refpx *px);
/* scale * dL/dinput of pixel i of image n from px->g, through sl__put. */
void sl__ref_chain(const sl_call *c, const sl__refpx *px, int64_t n, int64_t i, double scale);

/* The family's workspace: per-chunk sums (C per chunk), label counts [N * C], weights as
 * floats, the annotation matrix, one reference pixel. */
typedef struct {
    double *parts, *counts;
    float *wf;
    uint8_t *ann;
    sl__refpx px;
} sl__ce_ws;
size_t sl__ce_workspace(const sl_options *o, const sl_batch *b);
void sl__ce_carve(const sl_call *c, sl__ce_ws *w);
/* Whether the kernel takes this batch (C <= SL_KERN_MAX_C). */
int sl__ce_can_vectorise(const sl_call *c);
/* Run the kernel: weight per class (NULL: 1), D the mean's normaliser. w->ann must hold the
 * annotation matrix for missing_ce and marginal_ce. */
sl_status sl__ce_fast(const sl_call *c, sl__ce_ws *w, sl__ce_kind kind, const double *weight,
                      double D, int mean, double *loss);

/* Index of the largest input value of a pixel (lowest index on ties). */
int64_t sl__argmax_pixel(const float *x, int64_t P, int64_t C);

/* Annotation matrix of a batch: b->annotated if given (column 0 forced to 1), else inferred
 * from the target: class c >= 1 is annotated in image n when some pixel is labelled c (label
 * map) or has target_c > 0 (per-class map). ann: [N * C] bytes. */
void sl__annotated(const sl_batch *b, uint8_t *ann);

/* Weight of class c. */
static inline double sl__w(const sl_options *o, int64_t c)
{
    return o->weight ? o->weight[c] : 1.0;
}

/* skimage's ellipse and polygon as pixel visitors (src/draw.c), shared by the drawing functions
 * and the post's genMasks (src/masks.c). Each calls put(ctx, row, col) for every pixel; with
 * shape == NULL nothing is clipped (skimage's shape=None) and rows and columns may be negative.
 * They return 0 when done, -1 when the bounding box holds more than max_box pixels (nothing is
 * visited then), or the first nonzero value put returned. */
int sl__ellipse_visit(double r, double c, double r_radius, double c_radius, double rotation,
                      const int64_t *shape, int64_t max_box,
                      int (*put)(void *ctx, int64_t row, int64_t col), void *ctx);
int sl__polygon_visit(const double *rows, const double *cols, int64_t npoints,
                      const int64_t *shape, int64_t max_box,
                      int (*put)(void *ctx, int64_t row, int64_t col), void *ctx);

/* sin(x) and cos(x), correctly rounded on [0, pi) and the same bits on every machine
 * (src/trig.c): the drawing's one source of sine and cosine. */
void sl__sincos(double x, double *s, double *c);

/* Align a byte count up to 64. */
static inline size_t sl__align(size_t n)
{
    return (n + 63) & ~(size_t)63;
}

/* Option storage by registry key (src/options.c). */
int sl__word_index(const char *words, const char *w, size_t wl); /* -1 when not a word */
void sl__set_scalar(sl_options *o, const sl_param_info *pi, double v);
double sl__get_scalar(const sl_options *o, const sl_param_info *pi);
void sl__set_list(sl_options *o, const sl_param_info *pi, const double *v, int64_t n);
void sl__get_list(const sl_options *o, const sl_param_info *pi, const double **v, int64_t *n);
int sl__param_has_storage(const sl_param_info *pi);

#endif
