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

typedef struct sl_call sl_call;
typedef sl_status (*sl_loss_fn)(const sl_call *call, double *loss);

/* A key as a loss takes it: a key of SL_OPTIONS, with what this loss gives its own (NULL or
 * lo >= hi: the list's). */
typedef struct {
    sl_option_id id;
    const char *alias; /* the loss's own spelling, also accepted (tversky's "alpha") */
    const char *def;   /* its default, as written in a spec */
    const char *words; /* the words it takes, a subset of the list's */
    const char *help;  /* its own help line */
    double lo, hi;     /* its own range */
} sl__key;
#define SL__KEYS(keys) keys, (int)(sizeof keys / sizeof keys[0])

/* A loss: the entry at the end of its file, named sl__loss_NAME, and the line SL_LOSS(NAME) in
 * src/losses.def. */
struct sl_loss_info {
    const char *name;    /* as written in a spec */
    const char *summary; /* one line */
    const sl__key *keys; /* the keys it takes */
    int nkeys;
    sl_map_kind map; /* the shape of its unreduced map */
    sl_loss_fn fast; /* the fast implementation */
    sl_loss_fn ref;  /* the plain double-precision reference */
    /* Bytes of scratch it needs (NULL: none). */
    size_t (*workspace)(const sl_options *opt, const sl_batch *b);
    /* Checks of its own beyond the common ones (may be NULL). */
    sl_status (*check)(const sl_loss_info *loss, const sl_options *opt, const sl_batch *b,
                       sl_error *err);
    /* Its map's shape when that depends on the options (may be NULL: from `map`). */
    void (*map_shape)(const sl_options *opt, const sl_batch *b, sl_shape *out);
    unsigned flags; /* SL_LOSS_* */
};

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

/* The passes over a batch's data made in one call, so that the terms of a spec share them: each
 * runs at most once per call, and each term reads its answer from here. */
typedef struct {
    int options_checked; /* the options were checked when parsed: only their lists against C */
    int input_done, sums_done, labels_done, target_done;
    int64_t nonfinite, negative; /* first input entry not finite; first one negative (or -1) */
    int64_t zero_sum;            /* first pixel whose probabilities sum to 0 */
    int64_t out1, out2; /* first label outside [0, C) ([0, 2) on one channel), first other one */
    int64_t bad_target; /* first per-class target entry not finite or negative */
} sl__scan;

/* One run of a loss: what sl_loss_eval, sl_spec_eval and the sharded phases hand over. */
typedef struct {
    const sl_loss_info *loss;
    const sl_options *o;
    const sl_batch *b;
    sl_impl impl;
    float *grad, *map;
    double k;       /* factor of grad and map */
    int accumulate; /* add into grad and map */
    void *ws;
    size_t ws_size;
    int threads;
    int phase;      /* 0, SL__PHASE_STATS or SL__PHASE_FINISH */
    double *stats;  /* the statistics of the phases */
    sl__scan *scan; /* the passes this call made already, or NULL */
} sl__run;
/* A run of one loss with out's workspace and threads, k = 1, no gradient or map yet. */
sl__run sl__run_of(const sl_loss_info *loss, const sl_options *opt, const sl_batch *b,
                   sl_impl impl, const sl_output *out);
/* The checks sl__loss_run makes, with the pass over the values and labels even where the
 * loss's kernel would make it (SL_LOSS_KERNEL_CHECKS). */
sl_status sl__loss_check(const sl__run *r, sl_error *err);
/* Check, build the call and run one loss. */
sl_status sl__loss_run(const sl__run *r, sl_error *err, double *value);
/* Sharded evaluation (src/shard.c): set r to run `phase` with its loss's statistics at
 * stats + *at (zeroed, one shard, for SL__PHASE_STATS; checked for SL__PHASE_FINISH), and move
 * *at past them. */
sl_status sl__stats_at(sl__run *r, int phase, double *stats, size_t *at, sl_error *err);
/* Every term of a spec, one pass over the data for all (src/spec.c): phase 0 evaluates; the
 * phases of sharded evaluation read or write each term's statistics in stats in turn. */
sl_status sl__spec_run(const sl_spec *s, const sl_batch *b, sl_impl impl, int phase,
                       double *stats, sl_output *out, sl_error *err);

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
/* The input's shape: 3 to 5 axes ([N, C, spatial...]), none empty; else SL_E_SHAPE and a message
 * naming the shape (err may be NULL). */
sl_status sl__input_shape_check(const sl_shape *s, sl_error *err);

/* The one softmax of the tree, in double, in place over C values at stride `stride`: v_c becomes
 * exp(v_c - m) / sum_k exp(v_k - m), m the largest (log_form: (v_c - m) - log sum_k exp(v_k - m),
 * the log-softmax). Every reference path, the data generator, the CLI and the trainer call it;
 * the vector kernels have their own fused forms. */
void sl__softmax(double *v, int64_t C, int64_t stride, int log_form);

/* qsort's contract, in place with no memory of its own (a heapsort; the C library's qsort may
 * take a temporary buffer as large as the array): n items of `size` bytes (at most 64). Not
 * stable: the callers' keys are unique, or equal keys are equal items. */
void sl__sort(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *));
/* The one sigmoid of the references, 1 / (1 + exp(-x)) in a form exact for either sign. */
double sl__sigmoid(double x);

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

/* The fast paths' pass over a label map: label counts (refusing bad labels), the annotation
 * matrix from them when `ann` is set, and *D = sum of weight[y] over the labelled pixels (weight
 * NULL: 1). A per-class target: *D = N * P, the annotation matrix from the batch. */
sl_status sl__ce_counts(const sl_call *c, sl__ce_ws *w, const double *weight, int ann, double *D);
/* Pixels not labelled ignore_index (N * P for a per-class target): a plain mean's normaliser. */
double sl__ce_kept(const sl_call *c);
/* One pixel of a member's reference: fills w->px.g with dL/dlogp (w->px.lp holds the pixel's
 * log-probabilities, g is zero) and returns the pixel's loss. */
typedef double (*sl__ce_term)(const sl_call *c, sl__ce_ws *w, int64_t n, int64_t i);
/* The family's reference loop: per pixel the log-probabilities, term, the map, the chain rule;
 * then the total (a mean over D with reduction=mean). */
sl_status sl__ce_ref(const sl_call *c, sl__ce_ws *w, double D, sl__ce_term term, double *loss);
/* The check of an annotation matrix the batch gives: a label (or a positive target) of a class
 * it declares not annotated in that image is an error (marginal_ce, marginal_dice). */
sl_status sl__annotation_check(const sl_loss_info *loss, const sl_options *o, const sl_batch *b,
                               sl_error *err);

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

/* The one Gaussian blur of the tree (src/blur.c), in place on an h x w plane of doubles: the
 * kernel truncated at 3 sigma and renormalised at the borders (each output the weighted mean of
 * the taps inside the image). sigma <= 0 leaves the plane as it is. scratch: caller-owned,
 * sl__blur_scratch(h, w) doubles. */
size_t sl__blur_scratch(int64_t h, int64_t w);
void sl__blur(double *plane, int64_t h, int64_t w, double sigma, double *scratch);

/* Align a byte count up to 64. */
static inline size_t sl__align(size_t n)
{
    return (n + 63) & ~(size_t)63;
}

/* Options (src/options.c): a loss's key resolved into *out; the name a message gives it (the
 * loss's own spelling when it has one); storage by key. */
void sl__key_info(const sl__key *k, sl_param_info *out);
const char *sl__key_name(const sl_param_info *pi);
int sl__word_index(const char *words, const char *w, size_t wl); /* -1 when not a word */
void sl__set_scalar(sl_options *o, const sl_param_info *pi, double v);
double sl__get_scalar(const sl_options *o, const sl_param_info *pi);
void sl__set_list(sl_options *o, const sl_param_info *pi, const double *v, int64_t n);
void sl__get_list(const sl_options *o, const sl_param_info *pi, const double **v, int64_t *n);
/* sl_options_check; with lists_only, only the lists (their lengths and class indices against C:
 * what a parsed spec could not check). */
sl_status sl__options_check(const sl_loss_info *loss, const sl_options *o, int64_t C,
                            int lists_only, sl_error *err);
/* Whether a loss takes a key. */
int sl__takes(const sl_loss_info *loss, sl_option_id id);

#endif
