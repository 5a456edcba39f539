/* Log-probabilities of a pixel block and the chain rule back to the input, for logits (log-
 * softmax) and for probabilities (Keras: renormalise, clip to [eps, 1 - eps], zero gradient
 * through clipped entries). See docs/losses.md, "Inputs". */
#include "internal.h"

#include <math.h>
#include <string.h>

size_t sl__scratch_size(int64_t C)
{
    size_t c = (size_t)C;
    return sl__align(3 * c * SL_BLOCK * sizeof(float)) + sl__align(SL_BLOCK * sizeof(float)) +
           sl__align(3 * c * sizeof(double)) + 64;
}

size_t sl__scratch_init(void *mem, int64_t C, sl__block *blk, sl__pixel *px)
{
    size_t c = (size_t)C;
    unsigned char *base = mem;
    unsigned char *p = (unsigned char *)sl__align((size_t)(uintptr_t)base);
    if (p < base) p += 64; /* never: sl__align rounds up */
    blk->logp = (float *)(void *)p;
    blk->g = blk->logp + c * SL_BLOCK;
    blk->u = blk->g + c * SL_BLOCK;
    p += sl__align(3 * c * SL_BLOCK * sizeof(float));
    blk->s = (float *)(void *)p;
    p += sl__align(SL_BLOCK * sizeof(float));
    px->logp = (double *)(void *)p;
    px->g = px->logp + c;
    px->u = px->g + c;
    p += sl__align(3 * c * sizeof(double));
    return (size_t)(p - base);
}

void sl__logp_block(const float *x, int64_t P, int64_t C, int64_t nb, sl_input_kind kind,
                    double eps, sl__block *blk)
{
    float *lp = blk->logp;
    if (kind == SL_INPUT_LOGITS) {
        /* log p = z - (m + log sum exp(z - m)), m the max: finite for any finite z. */
        float m[SL_BLOCK], s[SL_BLOCK];
        for (int64_t j = 0; j < nb; j++) {
            m[j] = x[j];
            s[j] = 0.0f;
        }
        for (int64_t c = 1; c < C; c++)
            for (int64_t j = 0; j < nb; j++) m[j] = fmaxf(m[j], x[c * P + j]);
        for (int64_t c = 0; c < C; c++)
            for (int64_t j = 0; j < nb; j++) s[j] += expf(x[c * P + j] - m[j]);
        /* (z - m) - log s, not z - (m + log s): m + log s would round to m's precision,
         * a thousandth at |z| = 1e4. */
        for (int64_t j = 0; j < nb; j++) s[j] = logf(s[j]);
        for (int64_t c = 0; c < C; c++)
            for (int64_t j = 0; j < nb; j++) lp[c * SL_BLOCK + j] = (x[c * P + j] - m[j]) - s[j];
        return;
    }
    float lo = (float)eps, hi = (float)(1.0 - eps);
    for (int64_t j = 0; j < nb; j++) blk->s[j] = 0.0f;
    for (int64_t c = 0; c < C; c++)
        for (int64_t j = 0; j < nb; j++) blk->s[j] += x[c * P + j];
    for (int64_t c = 0; c < C; c++)
        for (int64_t j = 0; j < nb; j++) {
            float u = x[c * P + j] / blk->s[j];
            blk->u[c * SL_BLOCK + j] = u;
            lp[c * SL_BLOCK + j] = logf(fminf(fmaxf(u, lo), hi));
        }
}

void sl__chain_block(const sl__block *blk, int64_t P, int64_t C, int64_t nb, sl_input_kind kind,
                     double eps, float *grad)
{
    const float *g = blk->g;
    float t[SL_BLOCK];
    for (int64_t j = 0; j < nb; j++) t[j] = 0.0f;
    if (kind == SL_INPUT_LOGITS) {
        /* dL/dz_k = g_k - p_k * sum_j g_j */
        for (int64_t c = 0; c < C; c++)
            for (int64_t j = 0; j < nb; j++) t[j] += g[c * SL_BLOCK + j];
        for (int64_t c = 0; c < C; c++)
            for (int64_t j = 0; j < nb; j++)
                grad[c * P + j] = g[c * SL_BLOCK + j] - expf(blk->logp[c * SL_BLOCK + j]) * t[j];
        return;
    }
    /* G_k = g_k / u_k where u_k is inside [eps, 1 - eps], else 0;
     * dL/dx_m = (G_m - sum_k G_k u_k) / s */
    float lo = (float)eps, hi = (float)(1.0 - eps);
    for (int64_t c = 0; c < C; c++)
        for (int64_t j = 0; j < nb; j++) {
            float u = blk->u[c * SL_BLOCK + j];
            if (u >= lo && u <= hi) t[j] += g[c * SL_BLOCK + j];
        }
    for (int64_t c = 0; c < C; c++)
        for (int64_t j = 0; j < nb; j++) {
            float u = blk->u[c * SL_BLOCK + j];
            float G = (u >= lo && u <= hi) ? g[c * SL_BLOCK + j] / u : 0.0f;
            grad[c * P + j] = (G - t[j]) / blk->s[j];
        }
}

void sl__logp_pixel(const float *x, int64_t P, int64_t C, sl_input_kind kind, double eps,
                    sl__pixel *px)
{
    if (kind == SL_INPUT_LOGITS) {
        double m = x[0], s = 0.0;
        for (int64_t c = 1; c < C; c++) m = fmax(m, (double)x[c * P]);
        for (int64_t c = 0; c < C; c++) s += exp((double)x[c * P] - m);
        double ls = log(s);
        for (int64_t c = 0; c < C; c++) px->logp[c] = ((double)x[c * P] - m) - ls;
        return;
    }
    double s = 0.0;
    for (int64_t c = 0; c < C; c++) s += x[c * P];
    px->s = s;
    for (int64_t c = 0; c < C; c++) {
        px->u[c] = x[c * P] / s;
        px->logp[c] = log(fmin(fmax(px->u[c], eps), 1.0 - eps));
    }
}

void sl__chain_pixel(const sl__pixel *px, int64_t P, int64_t C, sl_input_kind kind, double eps,
                     float *grad)
{
    double t = 0.0;
    if (kind == SL_INPUT_LOGITS) {
        for (int64_t c = 0; c < C; c++) t += px->g[c];
        for (int64_t c = 0; c < C; c++) grad[c * P] = (float)(px->g[c] - exp(px->logp[c]) * t);
        return;
    }
    for (int64_t c = 0; c < C; c++)
        if (px->u[c] >= eps && px->u[c] <= 1.0 - eps) t += px->g[c];
    for (int64_t c = 0; c < C; c++) {
        double u = px->u[c];
        double G = (u >= eps && u <= 1.0 - eps) ? px->g[c] / u : 0.0;
        grad[c * P] = (float)((G - t) / px->s);
    }
}

int64_t sl__argmax_pixel(const float *x, int64_t P, int64_t C)
{
    int64_t best = 0;
    for (int64_t c = 1; c < C; c++)
        if (x[c * P] > x[best * P]) best = c;
    return best;
}

void sl__annotated(const sl_batch *b, uint8_t *ann)
{
    int64_t N = b->shape.dim[0], C = b->shape.dim[1];
    int64_t P = sl_shape_numel(&b->shape) / (N * C);
    if (b->annotated) {
        memcpy(ann, b->annotated, (size_t)(N * C));
        for (int64_t n = 0; n < N; n++) ann[n * C] = 1;
        return;
    }
    memset(ann, 0, (size_t)(N * C));
    for (int64_t n = 0; n < N; n++) {
        ann[n * C] = 1;
        if (b->target_kind == SL_TARGET_LABELS) {
            const int32_t *y = b->labels + n * P;
            for (int64_t i = 0; i < P; i++)
                if (y[i] >= 1 && y[i] < C) ann[n * C + y[i]] = 1;
        } else {
            for (int64_t c = 1; c < C; c++) {
                const float *t = b->target + (n * C + c) * P;
                for (int64_t i = 0; i < P; i++)
                    if (t[i] > 0.0f) {
                        ann[n * C + c] = 1;
                        break;
                    }
            }
        }
    }
}

double sl__run_pixels(const sl_batch *b, double eps, sl_output *out, int fast, double scale,
                      sl__pixel_loss fn, const void *ctx)
{
    int64_t N = b->shape.dim[0], C = b->shape.dim[1];
    int64_t P = sl_shape_numel(&b->shape) / (N * C);
    sl__block blk;
    sl__pixel px;
    sl__scratch_init(out->workspace, C, &blk, &px);
    double total = 0.0;
    for (int64_t n = 0; n < N; n++) {
        const float *x = b->input + n * C * P;
        float *gr = out->grad ? out->grad + n * C * P : NULL;
        float *map = out->loss_map ? out->loss_map + n * P : NULL;
        if (fast) {
            for (int64_t p0 = 0; p0 < P; p0 += SL_BLOCK) {
                int64_t nb = P - p0 < SL_BLOCK ? P - p0 : SL_BLOCK;
                sl__logp_block(x + p0, P, C, nb, b->input_kind, eps, &blk);
                for (int64_t j = 0; j < nb; j++) {
                    sl__lp lp = {blk.logp + j, NULL, blk.g + j, NULL, SL_BLOCK};
                    double l = fn(ctx, n, p0 + j, x + p0 + j, &lp);
                    if (map) map[p0 + j] = (float)l;
                    total += l;
                    for (int64_t c = 0; c < C; c++) blk.g[c * SL_BLOCK + j] *= (float)scale;
                }
                if (gr) sl__chain_block(&blk, P, C, nb, b->input_kind, eps, gr + p0);
            }
        } else {
            for (int64_t i = 0; i < P; i++) {
                sl__logp_pixel(x + i, P, C, b->input_kind, eps, &px);
                sl__lp lp = {NULL, px.logp, NULL, px.g, 1};
                double l = fn(ctx, n, i, x + i, &lp);
                if (map) map[i] = (float)l;
                total += l;
                for (int64_t c = 0; c < C; c++) px.g[c] *= scale;
                if (gr) sl__chain_pixel(&px, P, C, b->input_kind, eps, gr + i);
            }
        }
    }
    return total;
}
