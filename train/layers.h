/* layers.h - the network's layers, one image at a time (internal to train/; docs/train.md).
 *
 * Tensors are one image's [channels, height, width] in C order. Weights are laid out as
 * PyTorch's: conv [co, ci, k, k], transposed conv [ci, co, 2, 2], biases [co]. Forward
 * functions overwrite their output. Backward functions take the gradient with respect to the
 * layer's output and overwrite the parameter gradients (dw, db) and the input gradient (dx;
 * NULL: not wanted), except where a comment says "adds". The matrix products run through
 * OpenBLAS's sgemm (the caller keeps OpenBLAS on one thread).
 */
#ifndef SEGLOSS_TRAIN_LAYERS_H
#define SEGLOSS_TRAIN_LAYERS_H

#include <stddef.h>
#include <stdint.h>

/* 3x3 convolution, padding 1, stride 1, with bias, then ReLU when relu != 0:
 * y[o, p] = act(b[o] + sum_{c, ky, kx} w[o, c, ky, kx] x[c, p + (ky - 1, kx - 1)]).
 * col: scratch of sl__conv3x3_scratch(ci, co, H * W) floats. */
size_t sl__conv3x3_scratch(int ci, int co, size_t pixels);
void sl__conv3x3_forward(const float *x, int ci, int H, int W, const float *w, const float *b,
                         int co, int relu, float *y, float *col);
/* dy: gradient with respect to y (the output of the forward, after the ReLU when relu != 0);
 * with relu, dy is turned in place into the gradient before the ReLU (zero where y == 0).
 * dw [co, ci, 3, 3], db [co] and dx [ci, H, W] (may be NULL) are overwritten. */
void sl__conv3x3_backward(const float *x, int ci, int H, int W, const float *w, int co,
                          const float *y, int relu, float *dy, float *dw, float *db, float *dx,
                          float *col);

/* 1x1 convolution with bias: y[o, p] = b[o] + sum_c w[o, c] x[c, p]; n = pixels. */
void sl__conv1x1_forward(const float *x, int ci, int n, const float *w, const float *b, int co,
                         float *y);
void sl__conv1x1_backward(const float *x, int ci, int n, const float *w, int co, const float *dy,
                          float *dw, float *db, float *dx);

/* 2x2 max-pool, stride 2 (H, W even): y [c, H/2, W/2]; arg keeps which of the four inputs
 * (0..3, row-major within the window; the first of equal maxima) won. */
void sl__maxpool2_forward(const float *x, int c, int H, int W, float *y, uint8_t *arg);
/* Adds dy to dx [c, H, W] at the winning positions. */
void sl__maxpool2_backward(const float *dy, const uint8_t *arg, int c, int H, int W, float *dx);

/* Transposed convolution 2x2, stride 2, with bias: x [ci, h, w] -> y [co, 2h, 2w],
 * y[o, 2i + a, 2j + b] = bias[o] + sum_c x[c, i, j] wt[c, o, a, b].
 * t: scratch of co * 4 * h * w floats. */
void sl__upconv2_forward(const float *x, int ci, int h, int w, const float *wt, const float *b,
                         int co, float *y, float *t);
void sl__upconv2_backward(const float *x, int ci, int h, int w, const float *wt, int co,
                          const float *dy, float *dw, float *db, float *dx, float *t);

#endif
