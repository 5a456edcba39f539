/* layers.c - forward and backward of every layer of the network, one image at a time
 * (layers.h; the derivations are in docs/train.md). */
#include "layers.h"

#include <cblas.h>
#include <math.h>
#include <stddef.h>
#include <string.h>

/* col[(c, ky, kx), p - p0] = x[c, p + (ky - 1, kx - 1)] for the np pixels p0 <= p < p0 + np
 * (p = i W + j in the plane), 0 outside the image. In a plane stored row after row, each
 * (ky, kx) row of col is the plane shifted by off = (ky - 1) W + kx - 1: one copy, zeros where
 * the shift leaves the plane, and the column the shift wrapped around to the neighbouring row
 * (j = 0 for kx = 0, j = W - 1 for kx = 2) set to 0. */
static void im2col3(const float *x, int ci, int H, int W, size_t p0, size_t np, float *col)
{
    ptrdiff_t HW = (ptrdiff_t)H * W, s = (ptrdiff_t)p0, e = (ptrdiff_t)(p0 + np);
    for (int c = 0; c < ci; c++) {
        const float *xc = x + (size_t)c * (size_t)HW;
        for (int k = 0; k < 9; k++) {
            int dy = k / 3 - 1, dx = k % 3 - 1;
            float *d = col + ((size_t)c * 9 + k) * np;
            ptrdiff_t off = (ptrdiff_t)dy * W + dx;
            ptrdiff_t lo = s > -off ? s : -off, hi = e < HW - off ? e : HW - off;
            if (lo >= hi) {
                memset(d, 0, np * sizeof *d);
                continue;
            }
            memset(d, 0, (size_t)(lo - s) * sizeof *d);
            memcpy(d + (lo - s), xc + lo + off, (size_t)(hi - lo) * sizeof *d);
            memset(d + (hi - s), 0, (size_t)(e - hi) * sizeof *d);
            if (dx != 0) {
                ptrdiff_t first = (s / W) * W + (dx < 0 ? 0 : W - 1);
                if (first < s) first += W;
                for (ptrdiff_t p = first; p < e; p += W)
                    d[p - s] = 0.0f;
            }
        }
    }
}

/* Pixels per im2col tile: the tile of 9 c rows stays within 256 KB (in the core's L2 cache,
 * where OpenBLAS packs it from), a multiple of 16, at least 16, at most the image. */
static size_t tile_pixels(int c, size_t n)
{
    size_t t = ((size_t)1 << 16) / ((size_t)9 * c);
    t = t / 16 * 16;
    if (t < 16) t = 16;
    return t < n ? t : n;
}

/* y[o, :] += b[o], then max(y, 0) when relu. Branch-free, so that it vectorises. */
static void bias_act(float *y, const float *b, int co, size_t n, int relu)
{
    for (int o = 0; o < co; o++) {
        float *yo = y + (size_t)o * n;
        float bo = b[o];
        if (relu) {
#pragma omp simd
            for (size_t p = 0; p < n; p++) {
                float v = yo[p] + bo;
                yo[p] = v > 0.0f ? v : 0.0f;
            }
        } else {
#pragma omp simd
            for (size_t p = 0; p < n; p++)
                yo[p] += bo;
        }
    }
}

/* db[o] = sum_p dy[o, p]: 16 running sums (p mod 16), added in a fixed order at the end, so the
 * result does not depend on the vector width the compiler picks. */
static void bias_grad(const float *dy, int co, size_t n, float *db)
{
    for (int o = 0; o < co; o++) {
        const float *g = dy + (size_t)o * n;
        float lane[16] = {0};
        size_t p = 0;
        for (; p + 16 <= n; p += 16)
#pragma omp simd
            for (int j = 0; j < 16; j++)
                lane[j] += g[p + j];
        for (int j = 0; p < n; p++, j++)
            lane[j] += g[p];
        double s = 0.0;
        for (int j = 0; j < 16; j++)
            s += lane[j];
        db[o] = (float)s;
    }
}

/* The ReLU's backward: the gradient passes where the output is positive. */
static void relu_mask(const float *y, float *dy, size_t n)
{
#pragma omp simd
    for (size_t i = 0; i < n; i++)
        dy[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

size_t sl__conv3x3_scratch(int ci, int co, size_t pixels)
{
    int c = ci > co ? ci : co;
    return (size_t)c * 9 * tile_pixels(c, pixels) + (size_t)ci * co * 9;
}

/* The products run over tiles of pixels, im2col of a tile then sgemm on it, so that the im2col
 * matrix is still in cache when OpenBLAS packs it. */
void sl__conv3x3_forward(const float *x, int ci, int H, int W, const float *w, const float *b,
                         int co, int relu, float *y, float *col)
{
    size_t n = (size_t)H * W, t = tile_pixels(ci > co ? ci : co, n);
    int k = ci * 9;
    for (size_t p0 = 0; p0 < n; p0 += t) {
        size_t np = n - p0 < t ? n - p0 : t;
        im2col3(x, ci, H, W, p0, np, col);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, co, (int)np, k, 1.0f, w, k, col,
                    (int)np, 0.0f, y + p0, (int)n);
    }
    bias_act(y, b, co, n, relu);
}

void sl__conv3x3_backward(const float *x, int ci, int H, int W, const float *w, int co,
                          const float *y, int relu, float *dy, float *dw, float *db, float *dx,
                          float *col)
{
    size_t n = (size_t)H * W, t = tile_pixels(ci > co ? ci : co, n);
    int k = ci * 9;
    if (relu) relu_mask(y, dy, (size_t)co * n);
    bias_grad(dy, co, n, db);
    /* dw = dy col^T, summed tile after tile (a fixed order) */
    for (size_t p0 = 0; p0 < n; p0 += t) {
        size_t np = n - p0 < t ? n - p0 : t;
        im2col3(x, ci, H, W, p0, np, col);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, co, k, (int)np, 1.0f, dy + p0, (int)n,
                    col, (int)np, p0 ? 1.0f : 0.0f, dw, k);
    }
    if (dx) {
        /* dx[c, p] = sum_{o, ky, kx} w[o, c, ky, kx] dy[o, p - (ky - 1, kx - 1)]: a 3x3
         * convolution of dy with the weights transposed (c <-> o) and flipped (ky, kx ->
         * 2 - ky, 2 - kx), computed as the forward is */
        int kt = co * 9;
        float *wf = col + (size_t)(ci > co ? ci : co) * 9 * t;
        for (int c = 0; c < ci; c++)
            for (int o = 0; o < co; o++)
                for (int q = 0; q < 9; q++)
                    wf[(size_t)c * kt + (size_t)o * 9 + q] = w[((size_t)o * ci + c) * 9 + 8 - q];
        for (size_t p0 = 0; p0 < n; p0 += t) {
            size_t np = n - p0 < t ? n - p0 : t;
            im2col3(dy, co, H, W, p0, np, col);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, ci, (int)np, kt, 1.0f, wf, kt,
                        col, (int)np, 0.0f, dx + p0, (int)n);
        }
    }
}

void sl__conv1x1_forward(const float *x, int ci, int n, const float *w, const float *b, int co,
                         float *y)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, co, n, ci, 1.0f, w, ci, x, n, 0.0f, y,
                n);
    bias_act(y, b, co, (size_t)n, 0);
}

void sl__conv1x1_backward(const float *x, int ci, int n, const float *w, int co, const float *dy,
                          float *dw, float *db, float *dx)
{
    bias_grad(dy, co, (size_t)n, db);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, co, ci, n, 1.0f, dy, n, x, n, 0.0f, dw,
                ci);
    if (dx)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, ci, n, co, 1.0f, w, ci, dy, n, 0.0f,
                    dx, n);
}

void sl__maxpool2_forward(const float *x, int c, int H, int W, float *y, uint8_t *arg)
{
    int h = H / 2, w = W / 2;
    for (int ch = 0; ch < c; ch++) {
        const float *xc = x + (size_t)ch * H * W;
        float *yc = y + (size_t)ch * h * w;
        uint8_t *ac = arg + (size_t)ch * h * w;
        for (int i = 0; i < h; i++) {
            const float *r0 = xc + (size_t)(2 * i) * W, *r1 = r0 + W;
            for (int j = 0; j < w; j++) {
                float v[4] = {r0[2 * j], r0[2 * j + 1], r1[2 * j], r1[2 * j + 1]};
                int best = 0;
                /* PyTorch's rule: a later value wins when greater, or when it is NaN */
                for (int q = 1; q < 4; q++)
                    if (v[q] > v[best] || isnan(v[q])) best = q;
                yc[(size_t)i * w + j] = v[best];
                ac[(size_t)i * w + j] = (uint8_t)best;
            }
        }
    }
}

void sl__maxpool2_backward(const float *dy, const uint8_t *arg, int c, int H, int W, float *dx)
{
    int h = H / 2, w = W / 2;
    for (int ch = 0; ch < c; ch++) {
        float *gc = dx + (size_t)ch * H * W;
        const float *dc = dy + (size_t)ch * h * w;
        const uint8_t *ac = arg + (size_t)ch * h * w;
        for (int i = 0; i < h; i++)
            for (int j = 0; j < w; j++) {
                int q = ac[(size_t)i * w + j];
                gc[(size_t)(2 * i + (q >> 1)) * W + 2 * j + (q & 1)] += dc[(size_t)i * w + j];
            }
    }
}

void sl__upconv2_forward(const float *x, int ci, int h, int w, const float *wt, const float *b,
                         int co, float *y, float *t)
{
    int n = h * w, W2 = 2 * w;
    /* t[(o, a, b), p] = sum_c wt[c, (o, a, b)] x[c, p] */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, co * 4, n, ci, 1.0f, wt, co * 4, x, n,
                0.0f, t, n);
    for (int o = 0; o < co; o++) {
        float *yo = y + (size_t)o * 4 * n;
        float bo = b[o];
        for (int a = 0; a < 2; a++)
            for (int bb = 0; bb < 2; bb++) {
                const float *tq = t + ((size_t)o * 4 + a * 2 + bb) * n;
                for (int i = 0; i < h; i++) {
                    float *yr = yo + (size_t)(2 * i + a) * W2 + bb;
                    const float *tr = tq + (size_t)i * w;
                    for (int j = 0; j < w; j++)
                        yr[2 * j] = tr[j] + bo;
                }
            }
    }
}

void sl__upconv2_backward(const float *x, int ci, int h, int w, const float *wt, int co,
                          const float *dy, float *dw, float *db, float *dx, float *t)
{
    int n = h * w, W2 = 2 * w;
    bias_grad(dy, co, (size_t)4 * n, db);
    for (int o = 0; o < co; o++) {
        const float *go = dy + (size_t)o * 4 * n;
        for (int a = 0; a < 2; a++)
            for (int bb = 0; bb < 2; bb++) {
                float *tq = t + ((size_t)o * 4 + a * 2 + bb) * n;
                for (int i = 0; i < h; i++) {
                    const float *gr = go + (size_t)(2 * i + a) * W2 + bb;
                    float *tr = tq + (size_t)i * w;
                    for (int j = 0; j < w; j++)
                        tr[j] = gr[2 * j];
                }
            }
    }
    /* dw[c, q] = sum_p x[c, p] dt[q, p];  dx[c, p] = sum_q wt[c, q] dt[q, p] */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, ci, co * 4, n, 1.0f, x, n, t, n, 0.0f, dw,
                co * 4);
    if (dx)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, ci, n, co * 4, 1.0f, wt, co * 4, t,
                    n, 0.0f, dx, n);
}
