/* images.h - the trainer's data: grey images rendered from the post's masks, with jitter, a
 * texture and an intensity per object class, background clutter and noise, and their complete
 * label maps; missing annotations dropped from a copy of the labels (docs/train.md, "The data").
 *
 * Image i of a set depends only on (seed, stream, i, H, W): a set of N images is the first N of
 * an endless sequence, reproducible on any machine and thread count. Stream 0 is what
 * `segloss images --seed S` writes and what `segloss train --seed S` trains on; the held-out set
 * is stream 1 of seed 0 (SL_HELDOUT_SEED), so no training seed ever draws it.
 */
#ifndef SEGLOSS_TRAIN_IMAGES_H
#define SEGLOSS_TRAIN_IMAGES_H

#include <stdint.h>

#include "segloss_data.h"

#define SL_IMAGES_TRAIN 0u   /* stream of training (and fresh test) images */
#define SL_IMAGES_HELDOUT 1u /* stream of the held-out set */
#define SL_HELDOUT_SEED 0u
#define SL_IMAGES_MIN_SIDE 16

/* images: float32 [n, 1, h, w] in roughly [0, 1]; labels: int32 [n, h, w], 0 background,
 * 1 ellipse, 2 square, 3 circle (later objects on top), complete. Either may be NULL. h and w
 * must be >= SL_IMAGES_MIN_SIDE. */
sl_status sl_images_render(float *images, int32_t *labels, int64_t n, int64_t h, int64_t w,
                           uint32_t seed, uint32_t stream, sl_error *err);

/* Missing annotations: each object (image i, class c) present in labels [n, p] whose class is in
 * `classes` (bit c set, c = 1..3; 0 means every object class) has its pixels set to background
 * with probability rate, decided by a uniform draw per (seed, i, c) that does not depend on rate
 * (so a higher rate drops a superset). dropped: [n, SL_NCLASS] 0/1 bytes, may be NULL.
 * counts (may be NULL): [SL_NCLASS] objects dropped per class. */
sl_status sl_images_drop(int32_t *labels, int64_t n, int64_t p, double rate, unsigned classes,
                         uint32_t seed, uint8_t *dropped, int64_t *counts, sl_error *err);

#endif
