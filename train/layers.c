/* layers.c - forward and backward of every layer of the network, one image at a time
 * (layers.h; the derivations are in docs/train.md). */
#include "layers.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

/* col[(c, ky, kx), p] = x[c, p + (ky - 1, kx - 1)], 0 outside the image. */
static void im2col3(const float *x, int ci, int H, int W, float *col)
{
    size_t HW = (size_t)H * W;
    for (int c = 0; c < ci; c++) {
        const float *xc = x + (size_t)c * HW;
        for (int k = 0; k < 9; k++) {
            int dy = k / 3 - 1, dx = k % 3 - 1;
            float *d = col + ((size_t)c * 9 + k) * HW;
            for (int y = 0; y < H; y++) {
                float *dr = d + (size_t)y * W;
                int sy = y + dy;
                if (sy < 0 || sy >= H) {
                    memset(dr, 0, (size_t)W * sizeof *dr);
                    continue;
                }
                const float *sr = xc + (size_t)sy * W;
                if (dx == 0) {
                    memcpy(dr, sr, (size_t)W * sizeof *dr);
                } else if (dx < 0) {
                    dr[0] = 0.0f;
                    memcpy(dr + 1, sr, (size_t)(W - 1) * sizeof *dr);
                } else {
                    memcpy(dr, sr + 1, (size_t)(W - 1) * sizeof *dr);
                    dr[W - 1] = 0.0f;
                }
            }
        }
    }
}

/* The adjoint of im2col3: dx[c, q] = sum of col entries that copied x[c, q]. */
static void col2im3(const float *col, int ci, int H, int W, float *dx)
{
    size_t HW = (size_t)H * W;
    memset(dx, 0, (size_t)ci * HW * sizeof *dx);
    for (int c = 0; c < ci; c++) {
        float *gc = dx + (size_t)c * HW;
        for (int k = 0; k < 9; k++) {
            int dy = k / 3 - 1, ddx = k % 3 - 1;
            const float *d = col + ((size_t)c * 9 + k) * HW;
            for (int y = 0; y < H; y++) {
                int sy = y + dy;
                if (sy < 0 || sy >= H) continue;
                const float *dr = d + (size_t)y * W;
                float *gr = gc + (size_t)sy * W;
                if (ddx == 0) {
                    for (int j = 0; j < W; j++)
                        gr[j] += dr[j];
                } else if (ddx < 0) {
                    for (int j = 0; j < W - 1; j++)
                        gr[j] += dr[j + 1];
                } else {
                    for (int j = 1; j < W; j++)
                        gr[j] += dr[j - 1];
                }
            }
        }
    }
}

/* y[o, :] += b[o], then max(y, 0) when relu. */
static void bias_act(float *y, const float *b, int co, size_t n, int relu)
{
    for (int o = 0; o < co; o++) {
        float *yo = y + (size_t)o * n;
        float bo = b[o];
        if (relu) {
            for (size_t p = 0; p < n; p++) {
                float v = yo[p] + bo;
                yo[p] = v > 0.0f ? v : 0.0f;
            }
        } else {
            for (size_t p = 0; p < n; p++)
                yo[p] += bo;
        }
    }
}

/* db[o] = sum_p dy[o, p] (in double, one fixed order). */
static void bias_grad(const float *dy, int co, size_t n, float *db)
{
    for (int o = 0; o < co; o++) {
        const float *g = dy + (size_t)o * n;
        double s = 0.0;
        for (size_t p = 0; p < n; p++)
            s += g[p];
        db[o] = (float)s;
    }
}

void sl__conv3x3_forward(const float *x, int ci, int H, int W, const float *w, const float *b,
                         int co, int relu, float *y, float *col)
{
    int n = H * W, k = ci * 9;
    im2col3(x, ci, H, W, col);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, co, n, k, 1.0f, w, k, col, n, 0.0f, y,
                n);
    bias_act(y, b, co, (size_t)n, relu);
}

void sl__conv3x3_backward(const float *x, int ci, int H, int W, const float *w, int co,
                          const float *y, int relu, float *dy, float *dw, float *db, float *dx,
                          float *col)
{
    int n = H * W, k = ci * 9;
    if (relu) {
        size_t total = (size_t)co * n;
        for (size_t i = 0; i < total; i++)
            if (!(y[i] > 0.0f)) dy[i] = 0.0f;
    }
    bias_grad(dy, co, (size_t)n, db);
    im2col3(x, ci, H, W, col);
    /* dw = dy col^T */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, co, k, n, 1.0f, dy, n, col, n, 0.0f, dw,
                k);
    if (dx) {
        /* dcol = w^T dy, then folded back onto the image */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, k, n, co, 1.0f, w, k, dy, n, 0.0f, col,
                    n);
        col2im3(col, ci, H, W, dx);
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
