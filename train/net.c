/* net.c - the U-Net of net.h: layout, He initialisation, forward and backward over a batch split
 * across OpenMP threads, AdamW (docs/train.md). */
#include "net_internal.h"

#include "layers.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* OpenBLAS's own thread count (declared here: the cblas.h Debian installs may be netlib's). */
void openblas_set_num_threads(int num_threads);

sl_status sl__net_config_check(const sl_net_config *cfg, sl_error *err)
{
    if (!cfg) return sl__fail(err, SL_E_ARG, "network: no configuration");
    if (cfg->in_channels < 1 || cfg->in_channels > 64)
        return sl__fail(err, SL_E_ARG, "network: in_channels %d is not in [1, 64]",
                        cfg->in_channels);
    if (cfg->classes < 2 || cfg->classes > 256)
        return sl__fail(err, SL_E_ARG, "network: classes %d is not in [2, 256]", cfg->classes);
    if (cfg->width < 1 || cfg->width > 256)
        return sl__fail(err, SL_E_ARG, "network: width %d is not in [1, 256]", cfg->width);
    return SL_OK;
}

size_t sl__net_layout(const sl_net_config *cfg, sl__net_layer *L)
{
    int w = cfg->width;
    static const int kind[SL__NLAYER] = {3, 3, 3, 3, 3, 3, 2, 3, 3, 2, 3, 3, 1};
    int ci[SL__NLAYER] = {
        cfg->in_channels, w, w, 2 * w, 2 * w, 4 * w, 4 * w, 4 * w, 2 * w, 2 * w, 2 * w, w, w};
    int co[SL__NLAYER] = {w,     w,     2 * w, 2 * w, 4 * w, 4 * w,       2 * w,
                          2 * w, 2 * w, w,     w,     w,     cfg->classes};
    size_t off = 0;
    for (int l = 0; l < SL__NLAYER; l++) {
        size_t k = kind[l] == 3 ? 9 : kind[l] == 2 ? 4 : 1;
        L[l].ci = ci[l];
        L[l].co = co[l];
        L[l].kind = kind[l];
        L[l].w = off;
        off += (size_t)ci[l] * co[l] * k;
        L[l].b = off;
        off += (size_t)co[l];
    }
    return off;
}

sl_status sl__net_alloc(const sl_net_config *cfg, sl_net **out, sl_error *err)
{
    *out = NULL;
    sl_status s = sl__net_config_check(cfg, err);
    if (s) return s;
    sl_net *net = calloc(1, sizeof *net);
    if (!net) return sl__fail(err, SL_E_NOMEM, "network: out of memory");
    net->cfg = *cfg;
    net->nparam = sl__net_layout(cfg, net->layer);
    size_t P = net->nparam;
    net->param = calloc(P, sizeof(float));
    net->grad = calloc(P, sizeof(float));
    net->m = calloc(P, sizeof(float));
    net->v = calloc(P, sizeof(float));
    if (!net->param || !net->grad || !net->m || !net->v) {
        sl_net_free(net);
        return sl__fail(err, SL_E_NOMEM, "network: out of memory for %zu parameters", P);
    }
    *out = net;
    return SL_OK;
}

sl_status sl_net_create(const sl_net_config *cfg, uint64_t seed, sl_net **out, sl_error *err)
{
    if (!out) return sl__fail(err, SL_E_ARG, "network: no output pointer");
    sl_net *net;
    sl_status s = sl__net_alloc(cfg, &net, err);
    if (s) return s;
    /* He (Kaiming) normal, fan_in mode, ReLU gain: std = sqrt(2 / fan_in), drawn layer by layer
     * in parameter order; biases 0. */
    sl_rng rng;
    sl_rng_seed(&rng, (uint32_t)(seed ^ (seed >> 32)));
    for (int l = 0; l < SL__NLAYER; l++) {
        const sl__net_layer *L = &net->layer[l];
        int fan_in = L->kind == 3 ? L->ci * 9 : L->ci;
        double sd = sqrt(2.0 / fan_in);
        for (size_t i = L->w; i < L->b; i++)
            net->param[i] = (float)(sd * sl_rng_normal(&rng));
    }
    *out = net;
    return SL_OK;
}

static void release_buffers(sl_net *net)
{
    free(net->act);
    free(net->arg);
    free(net->ws);
    free(net->gimg);
    net->act = net->ws = net->gimg = NULL;
    net->arg = NULL;
    net->max_batch = 0;
    net->B = 0;
}

void sl_net_free(sl_net *net)
{
    if (!net) return;
    release_buffers(net);
    free(net->param);
    free(net->grad);
    free(net->m);
    free(net->v);
    free(net->meta);
    free(net);
}

sl_net_config sl_net_get_config(const sl_net *net)
{
    return net->cfg;
}

size_t sl_net_param_count(const sl_net *net)
{
    return net->nparam;
}

float *sl_net_params(sl_net *net)
{
    return net->param;
}

const float *sl_net_grads(const sl_net *net)
{
    return net->grad;
}

int64_t sl_net_steps(const sl_net *net)
{
    return net->t;
}

sl_status sl_net_reserve(sl_net *net, int max_batch, int H, int W, int threads, sl_error *err)
{
    if (!net) return sl__fail(err, SL_E_ARG, "network: no network");
    if (max_batch < 1 || max_batch > 1 << 16)
        return sl__fail(err, SL_E_ARG, "network: batch size %d is not in [1, 65536]", max_batch);
    if (H < 4 || W < 4 || H % 4 || W % 4 || H > 1 << 14 || W > 1 << 14)
        return sl__fail(err, SL_E_SHAPE,
                        "network: image size %dx%d: height and width must be multiples of 4 "
                        "in [4, 16384]",
                        H, W);
    if (threads < 0 || threads > 1024)
        return sl__fail(err, SL_E_ARG, "network: thread count %d is not in [0, 1024]", threads);
    if (threads == 0) threads = omp_get_max_threads();
    if (threads > max_batch) threads = max_batch;
    if (threads < 1) threads = 1;
    openblas_set_num_threads(1);
    release_buffers(net);

    size_t w = (size_t)net->cfg.width, HW = (size_t)H * W, q = HW / 4, s16 = HW / 16;
    size_t size[SL__A_N] = {
        [SL__A_IN] = (size_t)net->cfg.in_channels * HW,
        [SL__A_A1] = w * HW,
        [SL__A_CAT1] = 2 * w * HW,
        [SL__A_P1] = w * q,
        [SL__A_A2] = 2 * w * q,
        [SL__A_CAT2] = 4 * w * q,
        [SL__A_P2] = 2 * w * s16,
        [SL__A_A3] = 4 * w * s16,
        [SL__A_B] = 4 * w * s16,
        [SL__A_A4] = 2 * w * q,
        [SL__A_D2] = 2 * w * q,
        [SL__A_A5] = w * HW,
        [SL__A_D1] = w * HW,
    };
    size_t off = 0;
    for (int a = 0; a < SL__A_N; a++) {
        net->act_off[a] = off;
        off += size[a];
    }
    net->act_off[SL__A_N] = off;
    net->arg_off2 = w * q;
    net->arg_size = w * q + 2 * w * s16;
    /* im2col scratch: the largest a 3x3 convolution needs, or a transposed convolution's
     * co * 4 * input pixels */
    size_t col = 0;
    for (int l = 0; l < SL__NLAYER; l++) {
        const sl__net_layer *L = &net->layer[l];
        size_t px = (l <= SL__E1B || l >= SL__UP1) ? HW : (l <= SL__E2B || l >= SL__D2A) ? q : s16;
        if (L->kind == 3 && sl__conv3x3_scratch(L->ci, L->co, px) > col)
            col = sl__conv3x3_scratch(L->ci, L->co, px);
    }
    if ((size_t)net->layer[SL__UP1].co * HW > col) col = (size_t)net->layer[SL__UP1].co * HW;
    if ((size_t)net->layer[SL__UP2].co * q > col) col = (size_t)net->layer[SL__UP2].co * q;
    net->col_size = col;
    net->ws_size = col + off;

    net->act = malloc((size_t)max_batch * off * sizeof(float));
    net->arg = malloc((size_t)max_batch * net->arg_size);
    net->ws = malloc((size_t)threads * net->ws_size * sizeof(float));
    net->gimg = malloc((size_t)max_batch * net->nparam * sizeof(float));
    if (!net->act || !net->arg || !net->ws || !net->gimg) {
        release_buffers(net);
        return sl__fail(err, SL_E_NOMEM, "network: out of memory for batches of %d images of %dx%d",
                        max_batch, H, W);
    }
    net->max_batch = max_batch;
    net->H = H;
    net->W = W;
    net->threads = threads;
    return SL_OK;
}

/* One image's sizes at the three scales (H x W, h x w, hh x ww), the width c and the places
 * of the skip connections e1, e2 in a buffer laid out as the activations. */
typedef struct {
    int H, W, h, w, hh, ww, c;
    size_t HW, e1, e2;
} geom;

static geom geometry(const sl_net *net)
{
    geom d;
    d.H = net->H;
    d.W = net->W;
    d.h = d.H / 2;
    d.w = d.W / 2;
    d.hh = d.H / 4;
    d.ww = d.W / 4;
    d.c = net->cfg.width;
    d.HW = (size_t)d.H * d.W;
    d.e1 = net->act_off[SL__A_CAT1] + (size_t)d.c * d.HW;
    d.e2 = net->act_off[SL__A_CAT2] + 2 * (size_t)d.c * (d.HW / 4);
    return d;
}

/* One image's forward: x [in, H, W] -> logits [K, H, W]; keeps the activations in A. */
static void forward_one(sl_net *net, const float *x, float *A, uint8_t *arg, float *logits,
                        float *col)
{
    const sl__net_layer *L = net->layer;
    const float *p = net->param;
    const size_t *o = net->act_off;
    geom d = geometry(net);
    float *e1 = A + d.e1, *e2 = A + d.e2;
    memcpy(A + o[SL__A_IN], x, (size_t)net->cfg.in_channels * d.HW * sizeof *x);
#define CONV(l, in, hgt, wid, out)                                                                 \
    sl__conv3x3_forward(in, L[l].ci, hgt, wid, p + L[l].w, p + L[l].b, L[l].co, 1, out, col)
    CONV(SL__E1A, A + o[SL__A_IN], d.H, d.W, A + o[SL__A_A1]);
    CONV(SL__E1B, A + o[SL__A_A1], d.H, d.W, e1);
    sl__maxpool2_forward(e1, d.c, d.H, d.W, A + o[SL__A_P1], arg);
    CONV(SL__E2A, A + o[SL__A_P1], d.h, d.w, A + o[SL__A_A2]);
    CONV(SL__E2B, A + o[SL__A_A2], d.h, d.w, e2);
    sl__maxpool2_forward(e2, 2 * d.c, d.h, d.w, A + o[SL__A_P2], arg + net->arg_off2);
    CONV(SL__BA, A + o[SL__A_P2], d.hh, d.ww, A + o[SL__A_A3]);
    CONV(SL__BB, A + o[SL__A_A3], d.hh, d.ww, A + o[SL__A_B]);
    sl__upconv2_forward(A + o[SL__A_B], L[SL__UP2].ci, d.hh, d.ww, p + L[SL__UP2].w,
                        p + L[SL__UP2].b, L[SL__UP2].co, A + o[SL__A_CAT2], col);
    CONV(SL__D2A, A + o[SL__A_CAT2], d.h, d.w, A + o[SL__A_A4]);
    CONV(SL__D2B, A + o[SL__A_A4], d.h, d.w, A + o[SL__A_D2]);
    sl__upconv2_forward(A + o[SL__A_D2], L[SL__UP1].ci, d.h, d.w, p + L[SL__UP1].w,
                        p + L[SL__UP1].b, L[SL__UP1].co, A + o[SL__A_CAT1], col);
    CONV(SL__D1A, A + o[SL__A_CAT1], d.H, d.W, A + o[SL__A_A5]);
    CONV(SL__D1B, A + o[SL__A_A5], d.H, d.W, A + o[SL__A_D1]);
#undef CONV
    sl__conv1x1_forward(A + o[SL__A_D1], d.c, (int)d.HW, p + L[SL__HEAD].w, p + L[SL__HEAD].b,
                        L[SL__HEAD].co, logits);
}

/* One image's backward: dlogits -> this image's parameter gradients g (all overwritten).
 * G: a gradient buffer laid out as the activations. */
static void backward_one(const sl_net *net, const float *A, const uint8_t *arg,
                         const float *dlogits, float *g, float *G, float *col)
{
    const sl__net_layer *L = net->layer;
    const float *p = net->param;
    const size_t *o = net->act_off;
    geom d = geometry(net);
    const float *e1 = A + d.e1, *e2 = A + d.e2;
    float *ge1 = G + d.e1, *ge2 = G + d.e2;
#define BACK(l, in, hgt, wid, out, gout, gin)                                                      \
    sl__conv3x3_backward(in, L[l].ci, hgt, wid, p + L[l].w, L[l].co, out, 1, gout, g + L[l].w,     \
                         g + L[l].b, gin, col)
    sl__conv1x1_backward(A + o[SL__A_D1], d.c, (int)d.HW, p + L[SL__HEAD].w, L[SL__HEAD].co,
                         dlogits, g + L[SL__HEAD].w, g + L[SL__HEAD].b, G + o[SL__A_D1]);
    BACK(SL__D1B, A + o[SL__A_A5], d.H, d.W, A + o[SL__A_D1], G + o[SL__A_D1], G + o[SL__A_A5]);
    BACK(SL__D1A, A + o[SL__A_CAT1], d.H, d.W, A + o[SL__A_A5], G + o[SL__A_A5], G + o[SL__A_CAT1]);
    sl__upconv2_backward(A + o[SL__A_D2], L[SL__UP1].ci, d.h, d.w, p + L[SL__UP1].w, L[SL__UP1].co,
                         G + o[SL__A_CAT1], g + L[SL__UP1].w, g + L[SL__UP1].b, G + o[SL__A_D2],
                         col);
    BACK(SL__D2B, A + o[SL__A_A4], d.h, d.w, A + o[SL__A_D2], G + o[SL__A_D2], G + o[SL__A_A4]);
    BACK(SL__D2A, A + o[SL__A_CAT2], d.h, d.w, A + o[SL__A_A4], G + o[SL__A_A4], G + o[SL__A_CAT2]);
    sl__upconv2_backward(A + o[SL__A_B], L[SL__UP2].ci, d.hh, d.ww, p + L[SL__UP2].w, L[SL__UP2].co,
                         G + o[SL__A_CAT2], g + L[SL__UP2].w, g + L[SL__UP2].b, G + o[SL__A_B],
                         col);
    BACK(SL__BB, A + o[SL__A_A3], d.hh, d.ww, A + o[SL__A_B], G + o[SL__A_B], G + o[SL__A_A3]);
    BACK(SL__BA, A + o[SL__A_P2], d.hh, d.ww, A + o[SL__A_A3], G + o[SL__A_A3], G + o[SL__A_P2]);
    /* e2 feeds both the pool and the concatenation: the pool's gradient adds to the
     * concatenation's */
    sl__maxpool2_backward(G + o[SL__A_P2], arg + net->arg_off2, 2 * d.c, d.h, d.w, ge2);
    BACK(SL__E2B, A + o[SL__A_A2], d.h, d.w, e2, ge2, G + o[SL__A_A2]);
    BACK(SL__E2A, A + o[SL__A_P1], d.h, d.w, A + o[SL__A_A2], G + o[SL__A_A2], G + o[SL__A_P1]);
    sl__maxpool2_backward(G + o[SL__A_P1], arg, d.c, d.H, d.W, ge1);
    BACK(SL__E1B, A + o[SL__A_A1], d.H, d.W, e1, ge1, G + o[SL__A_A1]);
    BACK(SL__E1A, A + o[SL__A_IN], d.H, d.W, A + o[SL__A_A1], G + o[SL__A_A1], NULL);
#undef BACK
}

sl_status sl_net_forward(sl_net *net, const float *images, int B, float *logits, sl_error *err)
{
    if (!net || !images || !logits)
        return sl__fail(err, SL_E_ARG, "network: forward needs images and an output");
    if (!net->max_batch) return sl__fail(err, SL_E_ARG, "network: forward before sl_net_reserve");
    if (B < 1 || B > net->max_batch)
        return sl__fail(err, SL_E_SHAPE, "network: batch of %d images, reserved for 1 to %d", B,
                        net->max_batch);
    size_t HW = (size_t)net->H * net->W, in = (size_t)net->cfg.in_channels * HW;
    size_t out = (size_t)net->cfg.classes * HW, na = net->act_off[SL__A_N];
    net->B = 0;
#pragma omp parallel for num_threads(net->threads) schedule(static)
    for (int n = 0; n < B; n++) {
        float *ws = net->ws + (size_t)omp_get_thread_num() * net->ws_size;
        forward_one(net, images + n * in, net->act + n * na, net->arg + n * net->arg_size,
                    logits + n * out, ws);
    }
    net->B = B;
    return SL_OK;
}

sl_status sl_net_backward(sl_net *net, const float *dlogits, sl_error *err)
{
    if (!net || !dlogits) return sl__fail(err, SL_E_ARG, "network: backward needs dlogits");
    if (!net->B) return sl__fail(err, SL_E_ARG, "network: backward before a forward");
    int B = net->B;
    size_t HW = (size_t)net->H * net->W, out = (size_t)net->cfg.classes * HW;
    size_t na = net->act_off[SL__A_N], P = net->nparam;
#pragma omp parallel num_threads(net->threads)
    {
        float *ws = net->ws + (size_t)omp_get_thread_num() * net->ws_size;
#pragma omp for schedule(static)
        for (int n = 0; n < B; n++)
            backward_one(net, net->act + n * na, net->arg + n * net->arg_size, dlogits + n * out,
                         net->gimg + n * P, ws + net->col_size, ws);
            /* The batch's gradient: the images' gradients added in image order, whatever the thread
             * count. */
#pragma omp for schedule(static)
        for (size_t i = 0; i < P; i++) {
            float s = net->gimg[i];
            for (int n = 1; n < B; n++)
                s += net->gimg[n * P + i];
            net->grad[i] = s;
        }
    }
    return SL_OK;
}

sl_adamw sl_adamw_default(void)
{
    sl_adamw a = {1e-3f, 0.9f, 0.999f, 1e-8f, 1e-2f};
    return a;
}

void sl_net_step(sl_net *net, const sl_adamw *opt)
{
    /* torch.optim.AdamW (single-tensor path): p *= 1 - lr wd; m = b1 m + (1 - b1) g;
     * v = b2 v + (1 - b2) g^2; p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps).
     * The scalars are computed in double, as Python does, and applied in float. */
    net->t++;
    double lr = opt->lr, b1 = opt->beta1, b2 = opt->beta2, t = (double)net->t;
    float decay = (float)(1.0 - lr * (double)opt->weight_decay);
    float fb1 = (float)b1, fb2 = (float)b2, a1 = (float)(1.0 - b1), a2 = (float)(1.0 - b2);
    float step = (float)(lr / (1.0 - pow(b1, t)));
    float bc2 = (float)sqrt(1.0 - pow(b2, t));
    float eps = opt->eps;
    float *p = net->param, *m = net->m, *v = net->v;
    const float *g = net->grad;
    size_t P = net->nparam;
#pragma omp parallel for num_threads(net->threads > 0 ? net->threads : 1) schedule(static)
    for (size_t i = 0; i < P; i++) {
        float gi = g[i];
        float pi = p[i] * decay;
        float mi = m[i] * fb1 + gi * a1;
        float vi = v[i] * fb2 + a2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        p[i] = pi - step * (mi / (sqrtf(vi) / bc2 + eps));
    }
}

sl_status sl_net_set_meta(sl_net *net, const char *meta, sl_error *err)
{
    char *copy = NULL;
    if (meta) {
        size_t n = strlen(meta);
        if (n > SL_NET_META_MAX)
            return sl__fail(err, SL_E_ARG, "network: meta text of %zu bytes exceeds %d", n,
                            SL_NET_META_MAX);
        copy = malloc(n + 1);
        if (!copy) return sl__fail(err, SL_E_NOMEM, "network: out of memory");
        memcpy(copy, meta, n + 1);
    }
    free(net->meta);
    net->meta = copy;
    return SL_OK;
}

const char *sl_net_meta(const sl_net *net)
{
    return net->meta ? net->meta : "";
}
