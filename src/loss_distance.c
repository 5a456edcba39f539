/* Losses built on distance transforms of the masks (exact EDT, src/edt.c).
 *
 * boundary     - Kervadec et al.'s boundary (surface) loss: mean over (image, class in idc,
 *                pixel) of p_k * phi_k, phi_k the signed distance map of the target's class-k
 *                mask as the authors' one_hot2dist computes it.
 * hausdorff_dt - MONAI's HausdorffDTLoss (Karimi & Salcudean): per (image, class) the mean over
 *                pixels of (p - g)^2 (field(p)^alpha + field(g)^alpha), the fields constants.
 *
 * Both take a softmax over classes of logits, or probabilities as given (no renormalisation,
 * no clip: no log is taken). The distance maps do not depend on the input's values for the
 * gradient (constants), so dL/dp is closed-form. Formulas and gradients: docs/distance.md. */
#include "edt.h"
#include "internal.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------------
 * Shared pieces
 */

typedef struct {
    int64_t N, C, P;
    sl__grid grid; /* the spatial axes, unit spacing */
} dims_t;

static void get_dims(const sl_batch *b, dims_t *d)
{
    d->N = b->shape.dim[0];
    d->C = b->shape.dim[1];
    d->P = sl_shape_numel(&b->shape) / (d->N * d->C);
    sl__grid_make(&d->grid, b->shape.ndim - 2, b->shape.dim + 2, NULL);
}

/* The workspace, carved in 64-byte aligned pieces: p and g ([C, P] doubles each: the fast path
 * uses floats in the same room), three [P] double buffers, a [P] byte mask, the EDT scratch. */
typedef struct {
    void *p, *g;
    double *a, *c, *buf;
    uint8_t *mask;
    void *scratch;
} work_t;

static size_t work_layout(const sl_batch *b, void *mem, work_t *w)
{
    dims_t d;
    get_dims(b, &d);
    size_t cp = (size_t)(d.C * d.P), P = (size_t)d.P;
    size_t sizes[7] = {cp * sizeof(double), cp * sizeof(double), P * sizeof(double),
                       P * sizeof(double), P * sizeof(double), P,
                       sl__edt_scratch_size(&d.grid)};
    unsigned char *base = mem;
    unsigned char *q = base ? (unsigned char *)(((uintptr_t)base + 63) & ~(uintptr_t)63) : NULL;
    size_t total = 64;
    void *ptr[7];
    for (int i = 0; i < 7; i++) {
        ptr[i] = q ? q + (total - 64) : NULL;
        total += sl__align(sizes[i]);
    }
    if (w) {
        w->p = ptr[0];
        w->g = ptr[1];
        w->a = ptr[2];
        w->c = ptr[3];
        w->buf = ptr[4];
        w->mask = ptr[5];
        w->scratch = ptr[6];
    }
    return total;
}

static size_t distance_workspace(const sl_options *o, const sl_batch *b)
{
    (void)o;
    return work_layout(b, NULL, NULL);
}

#define SL_BLOCK 64 /* TEMPORARY */

/* Softmax over classes of one image (float math), into p [C, P]. */
static void softmax_fast(const float *x, int64_t C, int64_t P, float *p)
{
    for (int64_t i0 = 0; i0 < P; i0 += SL_BLOCK) {
        int64_t nb = P - i0 < SL_BLOCK ? P - i0 : SL_BLOCK;
        float m[SL_BLOCK], s[SL_BLOCK];
        for (int64_t j = 0; j < nb; j++) {
            m[j] = x[i0 + j];
            s[j] = 0.0f;
        }
        for (int64_t c = 1; c < C; c++)
            for (int64_t j = 0; j < nb; j++) m[j] = fmaxf(m[j], x[c * P + i0 + j]);
        for (int64_t c = 0; c < C; c++)
            for (int64_t j = 0; j < nb; j++) {
                float e = expf(x[c * P + i0 + j] - m[j]);
                p[c * P + i0 + j] = e;
                s[j] += e;
            }
        for (int64_t j = 0; j < nb; j++) s[j] = 1.0f / s[j];
        for (int64_t c = 0; c < C; c++)
            for (int64_t j = 0; j < nb; j++) p[c * P + i0 + j] *= s[j];
    }
}

/* dL/dx of one image from g = dL/dp [C, P]: through the softmax (dL/dx_j = p_j (g_j -
 * sum_k p_k g_k)) or, for probabilities used as given, g itself. */
static void chain_fast(const float *p, const float *g, int64_t C, int64_t P, int softmax,
                       float *grad)
{
    if (!softmax) {
        memcpy(grad, g, (size_t)(C * P) * sizeof(float));
        return;
    }
    for (int64_t i0 = 0; i0 < P; i0 += SL_BLOCK) {
        int64_t nb = P - i0 < SL_BLOCK ? P - i0 : SL_BLOCK;
        double t[SL_BLOCK];
        for (int64_t j = 0; j < nb; j++) t[j] = 0.0;
        for (int64_t c = 0; c < C; c++)
            for (int64_t j = 0; j < nb; j++)
                t[j] += (double)p[c * P + i0 + j] * (double)g[c * P + i0 + j];
        for (int64_t c = 0; c < C; c++)
            for (int64_t j = 0; j < nb; j++) {
                int64_t k = c * P + i0 + j;
                grad[k] = p[k] * (float)((double)g[k] - t[j]);
            }
    }
}

/* Reference: softmax of one pixel in double precision (x: class 0, classes P apart). */
static void softmax_ref(const float *x, int64_t C, int64_t P, double *p)
{
    double m = x[0], s = 0.0;
    for (int64_t c = 1; c < C; c++)
        if (x[c * P] > m) m = x[c * P];
    for (int64_t c = 0; c < C; c++) s += exp((double)x[c * P] - m);
    for (int64_t c = 0; c < C; c++) p[c * P] = exp((double)x[c * P] - m) / s;
}

/* Reference: both sides of a mask with the plain EDT. out[i]: the distance to the nearest
 * point outside the mask (inside points) or in it (outside points). Returns 0 empty, 2 full
 * (out all 0), else 1. */
static int two_sided_ref(const uint8_t *mask, const sl__grid *g, double *out, double *buf,
                         double *line)
{
    int64_t n = sl__grid_numel(g), in = 0;
    for (int64_t i = 0; i < n; i++) in += mask[i] != 0;
    for (int64_t i = 0; i < n; i++) out[i] = 0.0;
    if (in == 0 || in == n) return in == 0 ? 0 : 2;
    for (int64_t i = 0; i < n; i++) buf[i] = mask[i] ? 0.0 : INFINITY;
    sl__edt_sq_ref(buf, g, line);
    for (int64_t i = 0; i < n; i++)
        if (!mask[i]) out[i] = sqrt(buf[i]);
    for (int64_t i = 0; i < n; i++) buf[i] = mask[i] ? INFINITY : 0.0;
    sl__edt_sq_ref(buf, g, line);
    for (int64_t i = 0; i < n; i++)
        if (mask[i]) out[i] = sqrt(buf[i]);
    return 1;
}

/* The target's mask of class c in image n: label == c, or t_c > 0.5 (per-class target). */
static void target_mask(const sl_batch *b, const dims_t *d, int64_t n, int64_t c, uint8_t *m)
{
    if (b->target_kind == SL_TARGET_LABELS) {
        const int32_t *y = b->labels + n * d->P;
        for (int64_t i = 0; i < d->P; i++) m[i] = y[i] == c;
    } else {
        const float *t = b->target + (n * d->C + c) * d->P;
        for (int64_t i = 0; i < d->P; i++) m[i] = t[i] > 0.5f;
    }
}

/* The target's value g_c at pixel i of image n: one-hot of the label, or t_c. */
static double target_value(const sl_batch *b, const dims_t *d, int64_t n, int64_t c, int64_t i)
{
    if (b->target_kind == SL_TARGET_LABELS) return b->labels[n * d->P + i] == c ? 1.0 : 0.0;
    return b->target[(n * d->C + c) * d->P + i];
}

/* ---------------------------------------------------------------------------------------------
 * boundary
 */

/* How many times class c is listed in idc (default: every object class once). */
static int64_t idc_count(const sl_options *o, int64_t c)
{
    if (!o->idc) return c >= 1;
    int64_t k = 0;
    for (int64_t j = 0; j < o->nidc; j++) k += (int64_t)o->idc[j] == c;
    return k;
}

static int64_t idc_len(const sl_options *o, int64_t C)
{
    return o->idc ? o->nidc : C - 1;
}

static sl_status boundary_fast_old(const sl_loss_info *loss, const sl_options *o, const sl_batch *b,
                               sl_output *out, sl_error *err)
{
    (void)loss;
    (void)err;
    dims_t d;
    get_dims(b, &d);
    work_t w;
    work_layout(b, out->workspace, &w);
    int64_t N = d.N, C = d.C, P = d.P, K = idc_len(o, C);
    double scale = o->reduction == SL_REDUCE_MEAN ? (K > 0 ? 1.0 / (double)(N * K) : 0.0) : 1.0;
    int softmax = b->input_kind == SL_INPUT_LOGITS;
    float *pf = w.p, *gf = w.g;
    double total = 0.0;
    for (int64_t n = 0; n < N; n++) {
        const float *x = b->input + n * C * P;
        const float *p = x;
        if (softmax) {
            softmax_fast(x, C, P, pf);
            p = pf;
        }
        for (int64_t c = 0; c < C; c++) {
            int64_t mult = idc_count(o, c);
            float *gc = gf + c * P;
            double acc = 0.0;
            if (mult > 0) {
                target_mask(b, &d, n, c, w.mask);
                if (sl__edt_two_sided(w.mask, &d.grid, w.a, w.buf, w.scratch) == 1) {
                    /* phi = EDT(!G) outside G, 1 - EDT(G) inside. */
                    float k = (float)(scale * (double)mult / (double)P);
                    const float *pc = p + c * P;
                    for (int64_t i = 0; i < P; i++) {
                        float phi = w.mask[i] ? 1.0f - (float)w.a[i] : (float)w.a[i];
                        acc += (double)(pc[i] * phi);
                        gc[i] = k * phi;
                    }
                } else {
                    memset(gc, 0, (size_t)P * sizeof(float));
                }
            } else {
                memset(gc, 0, (size_t)P * sizeof(float));
            }
            double v = (double)mult * acc / (double)P;
            if (out->loss_map) out->loss_map[n * C + c] = (float)v;
            total += v;
        }
        if (out->grad) chain_fast(p, gf, C, P, softmax, out->grad + n * C * P);
    }
    out->loss = o->reduction == SL_REDUCE_MEAN ? total * scale : total;
    return SL_OK;
}

static sl_status boundary_ref_old(const sl_loss_info *loss, const sl_options *o, const sl_batch *b,
                              sl_output *out, sl_error *err)
{
    (void)loss;
    (void)err;
    dims_t d;
    get_dims(b, &d);
    work_t w;
    work_layout(b, out->workspace, &w);
    int64_t N = d.N, C = d.C, P = d.P, K = idc_len(o, C);
    double *p = w.p, *g = w.g, *phi = w.a;
    double total = 0.0;
    for (int64_t n = 0; n < N; n++) {
        const float *x = b->input + n * C * P;
        for (int64_t i = 0; i < P; i++) {
            if (b->input_kind == SL_INPUT_LOGITS)
                softmax_ref(x + i, C, P, p + i);
            else
                for (int64_t c = 0; c < C; c++) p[c * P + i] = x[c * P + i];
        }
        for (int64_t c = 0; c < C; c++) {
            int64_t mult = idc_count(o, c);
            for (int64_t i = 0; i < P; i++) phi[i] = 0.0;
            if (mult > 0) {
                target_mask(b, &d, n, c, w.mask);
                if (two_sided_ref(w.mask, &d.grid, w.c, w.buf, w.scratch) == 1)
                    for (int64_t i = 0; i < P; i++) phi[i] = w.mask[i] ? 1.0 - w.c[i] : w.c[i];
            }
            double s = 0.0;
            for (int64_t i = 0; i < P; i++) s += p[c * P + i] * phi[i];
            double v = (double)mult * s / (double)P;
            if (out->loss_map) out->loss_map[n * C + c] = (float)v;
            total += v;
            double k = (double)mult / (double)P;
            if (o->reduction == SL_REDUCE_MEAN) k = K > 0 ? k / (double)(N * K) : 0.0;
            for (int64_t i = 0; i < P; i++) g[c * P + i] = k * phi[i];
        }
        if (out->grad) {
            float *gr = out->grad + n * C * P;
            for (int64_t i = 0; i < P; i++) {
                double t = 0.0;
                for (int64_t c = 0; c < C; c++) t += p[c * P + i] * g[c * P + i];
                for (int64_t c = 0; c < C; c++) {
                    double v = b->input_kind == SL_INPUT_LOGITS
                                   ? p[c * P + i] * (g[c * P + i] - t)
                                   : g[c * P + i];
                    gr[c * P + i] = (float)v;
                }
            }
        }
    }
    if (o->reduction == SL_REDUCE_MEAN) total = K > 0 ? total / (double)(N * K) : 0.0;
    out->loss = total;
    return SL_OK;
}

/* Class indices must be whole numbers (the range is checked by sl_options_check). */
static sl_status boundary_check(const sl_loss_info *loss, const sl_options *o, const sl_batch *b,
                                sl_error *err)
{
    (void)b;
    for (int64_t j = 0; o->idc && j < o->nidc; j++)
        if (o->idc[j] != floor(o->idc[j]))
            return sl__fail(err, SL_E_ARG, "%s: idc[%lld] = %g is not a class index", loss->name,
                            (long long)j, o->idc[j]);
    return SL_OK;
}

static sl_status hd_fast_old(const sl_loss_info *loss, const sl_options *o, const sl_batch *b,
                             sl_output *out, sl_error *err);
static sl_status hd_ref_old(const sl_loss_info *loss, const sl_options *o, const sl_batch *b,
                            sl_output *out, sl_error *err);

/* TEMPORARY: k and accumulate not yet honoured. */
static sl_status boundary_fast(const sl_call *c, double *loss)
{
    sl_output out = {0.0, c->grad, c->map, c->ws, c->ws_size, c->threads};
    sl_status st = boundary_fast_old(c->loss, c->o, c->b, &out, c->err);
    *loss = out.loss;
    return st;
}

/* TEMPORARY: k and accumulate not yet honoured. */
static sl_status boundary_ref(const sl_call *c, double *loss)
{
    sl_output out = {0.0, c->grad, c->map, c->ws, c->ws_size, c->threads};
    sl_status st = boundary_ref_old(c->loss, c->o, c->b, &out, c->err);
    *loss = out.loss;
    return st;
}

/* TEMPORARY: k and accumulate not yet honoured. */
static sl_status hd_fast(const sl_call *c, double *loss)
{
    sl_output out = {0.0, c->grad, c->map, c->ws, c->ws_size, c->threads};
    sl_status st = hd_fast_old(c->loss, c->o, c->b, &out, c->err);
    *loss = out.loss;
    return st;
}

/* TEMPORARY: k and accumulate not yet honoured. */
static sl_status hd_ref(const sl_call *c, double *loss)
{
    sl_output out = {0.0, c->grad, c->map, c->ws, c->ws_size, c->threads};
    sl_status st = hd_ref_old(c->loss, c->o, c->b, &out, c->err);
    *loss = out.loss;
    return st;
}

static const sl_param_info boundary_params[] = {
    {"idc", SL_PARAM_LIST, "none", NULL,
     "class indices scored (none: every object class 1..C-1; repeats count twice)", 0, 1e9},
    {"reduction", SL_PARAM_WORD, "mean", "mean|sum|none",
     "mean over (image, idc entry) of the per-(image, class) means over pixels", 0, 0},
};

const sl_loss_info sl__loss_boundary = {
    "boundary",
    "boundary (surface) loss of Kervadec et al.: mean of p_k * signed distance map of class k",
    boundary_params,
    (int)(sizeof boundary_params / sizeof boundary_params[0]),
    SL_MAP_IMAGE_CLASS,
    boundary_fast,
    boundary_ref,
    distance_workspace,
    boundary_check,
    NULL,
    0,
};

/* ---------------------------------------------------------------------------------------------
 * hausdorff_dt
 */

/* The first class scored: 1 without background; MONAI ignores include_background=false (and
 * the softmax) for a single channel. */
static int64_t hd_first(const sl_options *o, int64_t C)
{
    return (C > 1 && !o->include_background) ? 1 : 0;
}

static void hd_map_shape(const sl_options *o, const sl_batch *b, sl_shape *out)
{
    int64_t C = b->shape.dim[1];
    out->ndim = 2;
    out->dim[0] = o->batch ? 1 : b->shape.dim[0];
    out->dim[1] = C - hd_first(o, C);
}

static sl_status hd_fast_old(const sl_loss_info *loss, const sl_options *o, const sl_batch *b,
                         sl_output *out, sl_error *err)
{
    (void)loss;
    (void)err;
    dims_t d;
    get_dims(b, &d);
    work_t w;
    work_layout(b, out->workspace, &w);
    int64_t N = d.N, C = d.C, P = d.P, c0 = hd_first(o, C), Cs = C - c0;
    int64_t rows = o->batch ? 1 : N;
    /* Each (image, class) term is a mean over its pixels (and over the batch with batch=true);
     * the reduction's mean is over the rows x Cs map. */
    double per = 1.0 / ((double)P * (o->batch ? (double)N : 1.0));
    double scale = o->reduction == SL_REDUCE_MEAN ? 1.0 / (double)(rows * Cs) : 1.0;
    int softmax = b->input_kind == SL_INPUT_LOGITS && C > 1;
    float *pf = w.p, *gf = w.g;
    double alpha = o->alpha;
    double total = 0.0;
    if (out->loss_map)
        for (int64_t k = 0; k < rows * Cs; k++) out->loss_map[k] = 0.0f;
    for (int64_t n = 0; n < N; n++) {
        const float *x = b->input + n * C * P;
        const float *p = x;
        if (softmax) {
            softmax_fast(x, C, P, pf);
            p = pf;
        }
        if (c0) memset(gf, 0, (size_t)P * sizeof(float));
        for (int64_t c = c0; c < C; c++) {
            const float *pc = p + c * P;
            float *gc = gf + c * P;
            /* field(p) into a, field(g) into c (0 for an empty or full mask). */
            for (int64_t i = 0; i < P; i++) w.mask[i] = pc[i] > 0.5f;
            sl__edt_two_sided(w.mask, &d.grid, w.a, w.buf, w.scratch);
            target_mask(b, &d, n, c, w.mask);
            sl__edt_two_sided(w.mask, &d.grid, w.c, w.buf, w.scratch);
            float k = (float)(2.0 * per * scale);
            double acc = 0.0;
            for (int64_t i = 0; i < P; i++) {
                float D = alpha == 2.0 ? (float)(w.a[i] * w.a[i] + w.c[i] * w.c[i])
                                       : (float)(pow(w.a[i], alpha) + pow(w.c[i], alpha));
                float e = pc[i] - (float)target_value(b, &d, n, c, i);
                acc += (double)(e * e * D);
                gc[i] = k * e * D;
            }
            double v = acc * per;
            int64_t row = o->batch ? 0 : n;
            if (out->loss_map) out->loss_map[row * Cs + (c - c0)] += (float)v;
            total += v;
        }
        if (out->grad) chain_fast(p, gf, C, P, softmax, out->grad + n * C * P);
    }
    out->loss = total * scale;
    return SL_OK;
}

static sl_status hd_ref_old(const sl_loss_info *loss, const sl_options *o, const sl_batch *b,
                        sl_output *out, sl_error *err)
{
    (void)loss;
    (void)err;
    dims_t d;
    get_dims(b, &d);
    work_t w;
    work_layout(b, out->workspace, &w);
    int64_t N = d.N, C = d.C, P = d.P, c0 = hd_first(o, C), Cs = C - c0;
    int64_t rows = o->batch ? 1 : N;
    double *p = w.p, *g = w.g, *fp = w.a, *fg = w.c;
    int softmax = b->input_kind == SL_INPUT_LOGITS && C > 1;
    double total = 0.0;
    if (out->loss_map)
        for (int64_t k = 0; k < rows * Cs; k++) out->loss_map[k] = 0.0f;
    for (int64_t n = 0; n < N; n++) {
        const float *x = b->input + n * C * P;
        for (int64_t i = 0; i < P; i++) {
            if (softmax)
                softmax_ref(x + i, C, P, p + i);
            else
                for (int64_t c = 0; c < C; c++) p[c * P + i] = x[c * P + i];
        }
        for (int64_t i = 0; i < C * P; i++) g[i] = 0.0;
        for (int64_t c = c0; c < C; c++) {
            for (int64_t i = 0; i < P; i++) w.mask[i] = p[c * P + i] > 0.5;
            two_sided_ref(w.mask, &d.grid, fp, w.buf, w.scratch);
            target_mask(b, &d, n, c, w.mask);
            two_sided_ref(w.mask, &d.grid, fg, w.buf, w.scratch);
            double s = 0.0;
            for (int64_t i = 0; i < P; i++) {
                double e = p[c * P + i] - target_value(b, &d, n, c, i);
                double D = pow(fp[i], o->alpha) + pow(fg[i], o->alpha);
                s += e * e * D;
                /* d/dp of e^2 D / (P [N]) */
                g[c * P + i] = 2.0 * e * D / ((double)P * (o->batch ? (double)N : 1.0));
            }
            double v = s / ((double)P * (o->batch ? (double)N : 1.0));
            int64_t row = o->batch ? 0 : n;
            if (out->loss_map) out->loss_map[row * Cs + (c - c0)] += (float)v;
            total += v;
        }
        if (o->reduction == SL_REDUCE_MEAN)
            for (int64_t i = 0; i < C * P; i++) g[i] /= (double)(rows * Cs);
        if (out->grad) {
            float *gr = out->grad + n * C * P;
            for (int64_t i = 0; i < P; i++) {
                double t = 0.0;
                for (int64_t c = 0; c < C; c++) t += p[c * P + i] * g[c * P + i];
                for (int64_t c = 0; c < C; c++)
                    gr[c * P + i] =
                        (float)(softmax ? p[c * P + i] * (g[c * P + i] - t) : g[c * P + i]);
            }
        }
    }
    out->loss = o->reduction == SL_REDUCE_MEAN ? total / (double)(rows * Cs) : total;
    return SL_OK;
}

static const sl_param_info hd_params[] = {
    {"alpha", SL_PARAM_NUMBER, "2", NULL, "power of the distance fields", 0, 1e300},
    {"include_background", SL_PARAM_BOOL, "false", NULL, "score channel 0 too", 0, 0},
    {"batch", SL_PARAM_BOOL, "false", NULL,
     "one term per class, averaged over the batch too (map [1, C'])", 0, 0},
    {"reduction", SL_PARAM_WORD, "mean", "mean|sum|none",
     "mean over the (image, class) matrix, as MONAI", 0, 0},
};

const sl_loss_info sl__loss_hausdorff_dt = {
    "hausdorff_dt",
    "Hausdorff distance-transform loss (Karimi & Salcudean), as MONAI's HausdorffDTLoss",
    hd_params,
    (int)(sizeof hd_params / sizeof hd_params[0]),
    SL_MAP_IMAGE_CLASS,
    hd_fast,
    hd_ref,
    distance_workspace,
    NULL,
    hd_map_shape,
    0,
};
