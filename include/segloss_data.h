/* segloss_data.h - the blog post's data, and the files and pictures around it.
 *
 * The companion of segloss.h (which it includes; the losses need none of this): the post's
 * synthetic images (an ellipse, a square and a circle per image) drawn pixel-identically to
 * scikit-image, numpy's legacy random numbers, simulated predictions and dropped annotations,
 * .npy files and PNG pictures. The CLI's `masks`, `draw`, `predict`, `drop` and the pictures of
 * `demo`, `play` and `train` are built on it.
 *
 * Shapes are named as in segloss.h: N images, C classes, H x W pixels, P = H * W. Every rule of
 * segloss.h holds here too (callers own buffers, one-line errors, no global state, the
 * threads statement); the array and file functions allocate what they return, and say so.
 * Randomness travels in an explicit sl_rng: two threads may draw at once only from two
 * generators.
 */
#ifndef SEGLOSS_DATA_H
#define SEGLOSS_DATA_H

#include "segloss.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------------
 * Random numbers: MT19937, compatible with numpy's legacy np.random (RandomState):
 * sl_rng_seed(s) then sl_rng_randint(r, 90) gives np.random.seed(s); np.random.randint(90).
 */
typedef struct {
    uint32_t mt[624];
    int mti;
    int has_gauss;
    double gauss;
} sl_rng;

void sl_rng_seed(sl_rng *r, uint32_t seed);
uint32_t sl_rng_u32(sl_rng *r);
double sl_rng_uniform(sl_rng *r);                /* [0, 1), as np.random.random_sample */
int64_t sl_rng_randint(sl_rng *r, int64_t high); /* [0, high), as np.random.randint(high) */
double sl_rng_normal(sl_rng *r);                 /* N(0, 1), as np.random.standard_normal */

/* ---------------------------------------------------------------------------------------------
 * Drawing, pixel-identical to scikit-image 0.19 skimage.draw with shape=(H, W) run with
 * correctly rounded sin and cos: pixels inside the shape are set to 1 in img (uint8 [H, W],
 * row-major); others are left alone. Pixels that lie exactly on an outline depend on the last
 * bit of sin and cos; segloss computes them correctly rounded itself, so every machine draws
 * the same pixels (docs/data.md says where numpy's own sin and cos differ).
 */
sl_status sl_draw_ellipse(uint8_t *img, int64_t H, int64_t W, double r, double c, double r_radius,
                          double c_radius, double rotation, sl_error *err);
sl_status sl_draw_polygon(uint8_t *img, int64_t H, int64_t W, const double *rows,
                          const double *cols, int64_t npoints, sl_error *err);
sl_status sl_draw_disk(uint8_t *img, int64_t H, int64_t W, double r, double c, double radius,
                       sl_error *err);

/* ---------------------------------------------------------------------------------------------
 * The post's data.
 */
#define SL_NOBJ 3   /* ellipse, square, circle */
#define SL_NCLASS 4 /* background + the three objects */

/* The seed's genMasks(N, 3, H, W) exactly as Python 2.7 computes it (integer division, no
 * clipping: negative indices wrap as numpy's do). masks: uint8 [N, 3, H, W], written whole.
 * angles: N rotations in whole degrees 0..89, or NULL to draw them as
 * np.random.randint(90) from rng, one per image in order. */
sl_status sl_masks_generate(uint8_t *masks, int64_t N, int64_t H, int64_t W, const int *angles,
                            sl_rng *rng, sl_error *err);

/* Label map [N, P] from masks [N, nobj, P]: 0 background, object k -> k + 1, later objects on
 * top. */
void sl_masks_to_labels(const uint8_t *masks, int64_t N, int64_t nobj, int64_t P, int32_t *labels);
/* One-hot [N, C, P] of a label map [N, P]; a pixel whose label is outside [0, C) is 0 in every
 * channel. */
void sl_labels_to_onehot(const int32_t *labels, int64_t N, int64_t C, int64_t P, float *onehot);

/* Simulated "typical model predictions": probabilities close to the ground truth with soft
 * edges and noise: per image and class, the one-hot map blurred by a Gaussian of sigma `edge`
 * (truncated at 3 sigma; at the borders, the mean of the taps inside), logits
 * confidence * (2 * blurred - 1) plus Gaussian noise, softmax over classes. They predict every
 * object present in the labels that is larger than the blur. */
typedef struct {
    double edge;       /* Gaussian blur sigma of the class maps, in pixels (default 1.5) */
    double confidence; /* logit scale: larger is more confident (default 5) */
    double noise;      /* std of Gaussian noise added to logits (default 3.5) */
} sl_simulate_options;
void sl_simulate_options_default(sl_simulate_options *o);
/* Bytes of workspace for sl_simulate_predictions. */
size_t sl_simulate_workspace_size(int64_t C, int64_t H, int64_t W);
/* labels [N, H, W] in [0, C) -> probs [N, C, H, W]. o NULL: the defaults; rng may be NULL
 * when o->noise is 0. */
sl_status sl_simulate_predictions(const int32_t *labels, int64_t N, int64_t C, int64_t H, int64_t W,
                                  const sl_simulate_options *o, sl_rng *rng, float *probs,
                                  void *workspace, size_t workspace_size, sl_error *err);

/* Drop k annotations as in the post: k distinct (image, object class) pairs, chosen uniformly
 * from those present in labels [N, P] (labels in [0, C)), are set to background. dropped
 * (2 * k int64_t values, may be NULL) receives the pairs as (image, class), in that order.
 * SL_E_ARG when fewer than k objects are present. */
sl_status sl_drop_annotations(int32_t *labels, int64_t N, int64_t C, int64_t P, int64_t k,
                              sl_rng *rng, int64_t *dropped, sl_error *err);

/* Annotation matrix [N, C] inferred from a label map [N, P]: background always, class c
 * when some pixel of image n is labelled c. Labels outside [0, C) are skipped. */
void sl_annotated_from_labels(const int32_t *labels, int64_t N, int64_t C, int64_t P,
                              uint8_t *annotated);

/* ---------------------------------------------------------------------------------------------
 * Arrays and .npy files (numpy format versions 1 to 3; little-endian; C order).
 */
typedef enum { SL_DT_F32 = 0, SL_DT_F64, SL_DT_U8, SL_DT_I32, SL_DT_I64 } sl_dtype;
#define SL_NPY_MAX_DIMS 32

typedef struct {
    sl_dtype dtype;
    int ndim;
    int64_t shape[SL_NPY_MAX_DIMS];
    void *data; /* numel * sl_dtype_size(dtype) bytes, owned by the array */
} sl_array;

size_t sl_dtype_size(sl_dtype t);
const char *sl_dtype_name(sl_dtype t); /* "float32", ... */
int64_t sl_array_numel(const sl_array *a);
/* Allocate a zeroed array (free with sl_array_free). */
sl_status sl_array_alloc(sl_array *a, sl_dtype t, int ndim, const int64_t *shape, sl_error *err);
void sl_array_free(sl_array *a);

/* Parse a .npy image in memory; the array gets its own copy of the data (allocated). */
sl_status sl_npy_parse(const void *buf, size_t len, sl_array *out, sl_error *err);
/* Read a .npy file into a new array (allocated). Errors name the file. */
sl_status sl_npy_read(const char *path, sl_array *out, sl_error *err);
/* Write a .npy file (version 1.0) atomically: a new temporary file in the same directory, made
 * exclusively with a short name (".sl-" and 12 random letters or digits; an existing name or a
 * planted symbolic link is skipped, never followed), then renamed over path; on failure nothing
 * is left behind and an existing file at path is untouched. */
sl_status sl_npy_write(const char *path, const sl_array *a, sl_error *err);
/* The same file written to an open descriptor (left open; nothing is renamed): for callers that
 * make their own temporary files, as the CLI does to commit several outputs together. */
sl_status sl_npy_write_fd(int fd, const sl_array *a, sl_error *err);

/* ---------------------------------------------------------------------------------------------
 * Pictures, like the post's figures: one colour per class, images side by side.
 */
/* RGB of class c: background black, then distinct colours (cycling after 15); a negative c
 * (an ignore label) mid grey. */
void sl_class_colour(int64_t c, uint8_t rgb[3]);
/* Size of a strip of N images of H x W with a gap of `gap` pixels between them (light grey). */
void sl_strip_size(int64_t N, int64_t H, int64_t W, int64_t gap, int64_t *out_h, int64_t *out_w);
/* Render label maps [N, H, W] into rgb (out_h * out_w * 3 bytes, from sl_strip_size). */
void sl_render_labels(const int32_t *labels, int64_t N, int64_t H, int64_t W, int64_t gap,
                      uint8_t *rgb);
/* Render per-class probabilities [N, C, H, W]: each pixel mixes class colours by p (non-finite
 * values are skipped). */
void sl_render_probs(const float *probs, int64_t N, int64_t C, int64_t H, int64_t W, int64_t gap,
                     uint8_t *rgb);
/* Write an 8-bit RGB image [H, W, 3] as a PNG, atomically as sl_npy_write does. */
sl_status sl_png_write(const char *path, const uint8_t *rgb, int64_t H, int64_t W, sl_error *err);
/* The same PNG written to an open descriptor (left open). */
sl_status sl_png_write_fd(int fd, const uint8_t *rgb, int64_t H, int64_t W, sl_error *err);

#ifdef __cplusplus
}
#endif
#endif /* SEGLOSS_DATA_H */
