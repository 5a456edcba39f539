/* Exact Euclidean distance transforms (src/edt.c), shared by the distance losses
 * (src/loss_distance.c) and the metrics (src/metrics.c). Not part of the public API.
 *
 * A grid is 1 to 3 axes in C order with a spacing per axis. A transform works on a double array
 * of the grid's size that holds, on entry, 0 at the "feature" points (the points distances are
 * measured to) and INFINITY everywhere else; on return it holds, at every point, the squared
 * Euclidean distance to the nearest feature point (INFINITY when there is none).
 *
 * scipy.ndimage.distance_transform_edt(mask, sampling=spacing) is the square root of this with
 * the feature points where mask == 0.
 */
#ifndef SEGLOSS_EDT_H
#define SEGLOSS_EDT_H

#include <stddef.h>
#include <stdint.h>

#define SL_EDT_MAX_AXES 3

typedef struct {
    int nd;                         /* 1 to 3 */
    int64_t dim[SL_EDT_MAX_AXES];   /* sizes, >= 1 */
    double spacing[SL_EDT_MAX_AXES]; /* > 0 */
} sl__grid;

/* A grid from nd sizes and optional spacing (NULL: all 1). */
void sl__grid_make(sl__grid *g, int nd, const int64_t *dim, const double *spacing);
/* Number of points. */
int64_t sl__grid_numel(const sl__grid *g);

/* Threads. Every point's value is computed by the same operations whatever the split of the
 * work (and on a unit grid every value is an integer, computed exactly), so a transform's
 * result does not depend on the thread count. The `_t` functions run each pass's independent
 * lines over `threads` OpenMP threads, each with its own slot of line scratch; the scratch
 * holds `threads` slots. The functions without `_t` are the same transforms on one thread
 * (scratch of one slot). */

/* Bytes of one thread's line scratch (one slot). */
size_t sl__edt_slot_size(const sl__grid *g);
/* Bytes of scratch for `threads` (>= 1) threads: 64 + threads * slot (alignment slack included).
 * Conversely, scratch of S bytes serves (S - 64) / slot threads. */
size_t sl__edt_scratch_size_t(const sl__grid *g, int threads);
/* Bytes of scratch sl__edt_sq and sl__edt_two_sided need (one thread; alignment included). */
size_t sl__edt_scratch_size(const sl__grid *g);

/* The fast transform. The first axis is done by two sweeps over its lines (forward and back,
 * the distance to the nearest feature point on the line), vectorised across the lines; every
 * further axis by Felzenszwalb & Huttenlocher's lower envelope of parabolas, one line at a
 * time. O(points) in all. d as above (entries other than 0 count as INFINITY); scratch of
 * sl__edt_scratch_size_t(g, threads) bytes. */
void sl__edt_sq_t(double *d, const sl__grid *g, void *scratch, int threads);
void sl__edt_sq(double *d, const sl__grid *g, void *scratch); /* one thread */

/* The plain reference: the same separable passes, each line by the direct minimum
 * out(q) = min_p f(p) + (s (q - p))^2 (O(points * longest axis)). line: the longest axis'
 * size doubles. */
void sl__edt_sq_ref(double *d, const sl__grid *g, double *line);

/* A consumer of the lines of a transform's last axis, called once each is final (while it is
 * in cache): line l of the lines along the last axis (in C order of the other axes), its first
 * point's flat index base, its n points d[0..n-1] (contiguous: the last axis has stride 1).
 * Called from the threads of the transform, each line once: it must only write what belongs
 * to its line. */
typedef void (*sl__edt_line_fn)(void *ctx, int64_t l, int64_t base, int64_t n, const double *d);

/* The calling thread's number in its OpenMP team (0 without OpenMP): inside a line consumer,
 * 0 to threads - 1, for scratch of its own per thread. */
int sl__edt_thread(void);

/* Both sides of a binary mask in one transform, squared: out[i] is the squared distance from i
 * to the nearest point whose mask value differs from mask[i] (inside the mask: EDT(mask)^2,
 * outside: EDT(!mask)^2, scipy's semantics). This costs about one one-sided transform: the
 * first axis' sweeps measure to the nearest point of the other value, and on the further axes
 * each run of equal mask values along a line needs only its own points and the two points of
 * the other value that bound it (any farther point is farther than those). Returns 0 when the
 * mask is empty and 2 when it is full (out is then all 0: one of the two sides has no feature
 * point; fn is not called), 1 otherwise. scratch: sl__edt_scratch_size_t(g, threads) bytes.
 * fn (may be NULL) sees every line of the last axis once it is final, with ctx. */
int sl__edt_two_sided_sq_t(const uint8_t *mask, const sl__grid *g, double *out, void *scratch,
                           int threads, sl__edt_line_fn fn, void *ctx);

/* The same, one thread, with the distances themselves (square roots) in out. buf is not used
 * any more (kept for the callers; may be NULL). */
int sl__edt_two_sided(const uint8_t *mask, const sl__grid *g, double *out, double *buf,
                      void *scratch);

#endif
