/* Internal helpers shared by the library's files. Not part of the public API. */
#ifndef SEGLOSS_INTERNAL_H
#define SEGLOSS_INTERNAL_H

#include "segloss.h"

#include <stdarg.h>

/* Fill err (when not NULL) with a printf-style message and return s. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
sl_status sl__fail(sl_error *err, sl_status s, const char *fmt, ...);

/* Write "[i0, i1, ...]" for a flat index of a shape into buf (for messages). */
void sl__index_str(const sl_shape *s, int64_t flat, char *buf, size_t len);

/* Write "[d0, d1, ...]" for a shape into buf. */
void sl__shape_str(const sl_shape *s, char *buf, size_t len);

/* Write a file atomically: data of len bytes (in up to two pieces) goes to a temporary file in
 * the same directory, then is renamed over path. On failure nothing is left behind. */
sl_status sl__write_atomic(const char *path, const void *a, size_t alen, const void *b,
                           size_t blen, sl_error *err);

/* ---------------------------------------------------------------------------------------------
 * Per-pixel machinery of the cross-entropy family (src/pixel.c).
 *
 * A loss of this family is a function of each pixel's log-probability vector logp[C]. The fast
 * path works on blocks of SL_BLOCK pixels of one image: sl__logp_block fills logp (and what the
 * backward pass needs), the loss writes g = dL/dlogp for the block, and sl__chain_block turns g
 * into dL/dinput in the same pass. The reference path does the same one pixel at a time in
 * double precision.
 */
#define SL_BLOCK 64

typedef struct {
    float *logp; /* [C][SL_BLOCK] */
    float *g;    /* [C][SL_BLOCK] dL/dlogp */
    float *u;    /* [C][SL_BLOCK] probabilities: renormalised, unclipped (SL_INPUT_PROBS) */
    float *s;    /* [SL_BLOCK] per-pixel sum of the input probabilities */
} sl__block;

typedef struct {
    double *logp, *g, *u; /* [C] each */
    double s;
} sl__pixel;

/* Bytes of block + pixel scratch for C classes (includes alignment slack). */
size_t sl__scratch_size(int64_t C);
/* Carve the scratch out of mem (at least sl__scratch_size bytes). Returns the bytes used. */
size_t sl__scratch_init(void *mem, int64_t C, sl__block *blk, sl__pixel *px);

/* x points at pixel 0 of the block in class 0 of one image; classes are P apart. */
void sl__logp_block(const float *x, int64_t P, int64_t C, int64_t nb, sl_input_kind kind,
                    double eps, sl__block *blk);
/* grad points like x; writes dL/dinput for nb pixels from blk->g. */
void sl__chain_block(const sl__block *blk, int64_t P, int64_t C, int64_t nb, sl_input_kind kind,
                     double eps, float *grad);

/* The same for one pixel in double precision (reference path). */
void sl__logp_pixel(const float *x, int64_t P, int64_t C, sl_input_kind kind, double eps,
                    sl__pixel *px);
void sl__chain_pixel(const sl__pixel *px, int64_t P, int64_t C, sl_input_kind kind, double eps,
                     float *grad);

/* One pixel's log-probabilities and gradient slots, in a block (float, stride SL_BLOCK) or on
 * the reference path (double, stride 1). A loss reads logp and writes g = dl/dlogp through
 * sl__lp_get and sl__lp_set, so one function serves both paths. */
typedef struct {
    const float *lpf;
    const double *lpd;
    float *gf;
    double *gd;
    int64_t st;
} sl__lp;

static inline double sl__lp_get(const sl__lp *lp, int64_t c)
{
    return lp->lpf ? (double)lp->lpf[c * lp->st] : lp->lpd[c];
}

static inline void sl__lp_set(const sl__lp *lp, int64_t c, double v)
{
    if (lp->gf)
        lp->gf[c * lp->st] = (float)v;
    else
        lp->gd[c] = v;
}

/* A per-pixel loss: pixel i of image n, x its input in class 0 (classes P apart). Returns the
 * pixel's loss and sets every g_c. */
typedef double (*sl__pixel_loss)(const void *ctx, int64_t n, int64_t i, const float *x,
                                 const sl__lp *lp);

/* Run a per-pixel loss over the batch: the fast path in blocks of SL_BLOCK pixels, the
 * reference one pixel at a time in double precision. Writes the map and, scaled by `scale`,
 * the gradient; returns the sum of the pixel losses. `out->workspace` holds the scratch
 * (sl__scratch_size) at its start. */
double sl__run_pixels(const sl_batch *b, double eps, sl_output *out, int fast, double scale,
                      sl__pixel_loss fn, const void *ctx);

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
