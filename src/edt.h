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

/* Bytes of scratch sl__edt_sq needs for the grid (includes alignment slack). */
size_t sl__edt_scratch_size(const sl__grid *g);

/* The fast transform: Felzenszwalb & Huttenlocher's lower envelope of parabolas, one pass per
 * axis, O(points) in all. d as above; scratch of sl__edt_scratch_size bytes. */
void sl__edt_sq(double *d, const sl__grid *g, void *scratch);

/* The plain reference: the same separable passes, each line by the direct minimum
 * out(q) = min_p f(p) + (s (q - p))^2 (O(points * longest axis)). line: the longest axis'
 * size doubles. */
void sl__edt_sq_ref(double *d, const sl__grid *g, double *line);

/* Both sides of a binary mask at once (the fast transform), scipy's semantics: out[i] is the
 * distance from i to the nearest point outside the mask where mask[i] != 0 (EDT(mask)), and
 * to the nearest point of the mask where mask[i] == 0 (EDT(!mask)). buf: numel doubles;
 * scratch: sl__edt_scratch_size bytes. Returns 0 when the mask is empty and 2 when it is full
 * (out is then all 0: one of the two sides has no feature point), 1 otherwise. */
int sl__edt_two_sided(const uint8_t *mask, const sl__grid *g, double *out, double *buf,
                      void *scratch);

#endif
