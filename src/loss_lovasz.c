/* lovasz: the Lovasz-softmax loss of Berman, Rannen Triki and Blaschko (CVPR 2018), with the
 * values and gradients of the authors' PyTorch code (lovasz_losses.py, lovasz_softmax).
 *
 * A group is the whole batch (per_image=false) or one image. In a group, for each counted class
 * c (classes=present: those present in the group's target; all: every class), the errors
 * e_i = |fg_i - p_ic| of the group's non-ignored pixels are sorted in decreasing order (ties:
 * lower pixel index first, a stable sort) and
 *     loss_c = sum_k e_(k) g_k,   g_k = J_k - J_{k-1},   J_k = 1 - I_k / U_k,
 *     I_k = G - cumsum(fg sorted)_k,   U_k = G + cumsum(1 - fg sorted)_k,   G = sum fg.
 * The group's loss is the mean over its counted classes (0 when none); per_image then averages
 * the images. The gradient treats the sort as a constant: dloss_c/dp_ic = sign(p_ic - fg_i) g_k
 * at pixel i's rank k. Formulas: docs/focal.md, "lovasz". */
#include "internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Shapes of the problem. */
typedef struct {
    int64_t N, C, P;
    int64_t G, M; /* groups, and pixels per group */
} lz_dims;

static void lz_dims_of(const sl_options *o, const sl_batch *b, lz_dims *d)
{
    d->N = b->shape.dim[0];
    d->C = b->shape.dim[1];
    d->P = sl_shape_numel(&b->shape) / (d->N * d->C);
    d->G = o->per_image ? d->N : 1;
    d->M = o->per_image ? d->P : d->N * d->P;
}

static void lovasz_map_shape(const sl_options *o, const sl_batch *b, sl_shape *out)
{
    out->ndim = 2;
    out->dim[0] = o->per_image ? b->shape.dim[0] : 1;
    out->dim[1] = b->shape.dim[1];
}

/* Bytes of the fast path: probabilities (numel doubles: a float probability rounds to exactly 1
 * while the true one is 1 - 1e-9, which would zero the sign of |fg - p| there), two rows of P
 * doubles, keys and indices twice (4 * M uint32), the per-class flags. */
static size_t fast_bytes(const lz_dims *d)
{
    size_t numel = (size_t)(d->N * d->C * d->P);
    return sl__align(numel * sizeof(double)) + 2 * sl__align((size_t)d->P * sizeof(double)) +
           4 * sl__align((size_t)d->M * sizeof(uint32_t)) +
           sl__align((size_t)d->C * sizeof(double)) + 64;
}

typedef struct {
    double e;
    int64_t j; /* pixel index within the group */
} ref_item;

/* Bytes of the reference: probabilities and dL/dp (numel doubles each), the sort items, the
 * per-class factors. */
static size_t ref_bytes(const lz_dims *d)
{
    size_t numel = (size_t)(d->N * d->C * d->P);
    return 2 * sl__align(numel * sizeof(double)) + sl__align((size_t)d->M * sizeof(ref_item)) +
           sl__align((size_t)d->C * sizeof(double)) + 64;
}

static size_t lovasz_workspace(const sl_options *o, const sl_batch *b)
{
    lz_dims d;
    lz_dims_of(o, b, &d);
    size_t f = fast_bytes(&d), r = ref_bytes(&d);
    return f > r ? f : r;
}

/* Carve n bytes from *p (kept 64-aligned). */
static void *carve(unsigned char **p, size_t n)
{
    void *r = *p;
    *p += sl__align(n);
    return r;
}

static unsigned char *ws_base(const sl_output *out)
{
    return (unsigned char *)sl__align((size_t)(uintptr_t)out->workspace);
}

/* The target of pixel j (group-local) of group g for class c, and whether it is valid. */
static int lz_fg(const sl_options *o, const sl_batch *b, const lz_dims *d, int64_t g, int64_t j,
                 int64_t c, double *fg)
{
    int64_t n = g * (d->M / d->P) + j / d->P, i = j % d->P;
    if (b->target_kind == SL_TARGET_LABELS) {
        int64_t y = b->labels[n * d->P + i];
        if (y == o->ignore_index) return 0;
        *fg = y == c ? 1.0 : 0.0;
        return 1;
    }
    *fg = (double)b->target[(n * d->C + c) * d->P + i];
    return 1;
}

/* Which classes a group counts (flags[c] = 1/0) and how many; the group's number of valid
 * pixels in *nvalid. Classes are counted only in a group with valid pixels. */
static int64_t lz_counted(const sl_options *o, const sl_batch *b, const lz_dims *d, int64_t g,
                          double *flags, int64_t *nvalid)
{
    int64_t nv = 0, K = 0;
    for (int64_t c = 0; c < d->C; c++) flags[c] = 0.0;
    int64_t n0 = g * (d->M / d->P), n1 = n0 + d->M / d->P;
    for (int64_t n = n0; n < n1; n++)
        for (int64_t i = 0; i < d->P; i++) {
            if (b->target_kind == SL_TARGET_LABELS) {
                int64_t y = b->labels[n * d->P + i];
                if (y == o->ignore_index) continue;
                nv++;
                flags[y] = 1.0;
            } else {
                nv++;
                for (int64_t c = 0; c < d->C; c++)
                    if (b->target[(n * d->C + c) * d->P + i] > 0.0f) flags[c] = 1.0;
            }
        }
    *nvalid = nv;
    for (int64_t c = 0; c < d->C; c++) {
        if (nv == 0) flags[c] = 0.0;
        else if (o->classes == SL_CLASSES_ALL) flags[c] = 1.0;
        K += flags[c] != 0.0;
    }
    return K;
}

/* The factor of a counted (group, class) loss in the reduced value. */
static double lz_factor(const sl_options *o, const lz_dims *d, int64_t K)
{
    if (o->reduction != SL_REDUCE_MEAN) return 1.0;
    if (K == 0) return 0.0;
    return o->per_image ? 1.0 / ((double)d->N * (double)K) : 1.0 / (double)K;
}

/* ---------------------------------------------------------------------------------------------
 * Fast path: class rows at a time, errors sorted as float keys by a stable LSD radix sort of
 * their bits (ties: pixel order), the gradient written into out->grad as dL/dp and turned into
 * dL/dinput in place.
 */

/* Sort keys ascending, carrying idx; stable. Byte passes where every key agrees are skipped.
 * The result is in (k0, i0) or (k1, i1): returns 0 or 1 accordingly. */
static int radix_sort(uint32_t *k0, uint32_t *i0, uint32_t *k1, uint32_t *i1, int64_t m)
{
    int cur = 0;
    for (int shift = 0; shift < 32; shift += 8) {
        uint32_t *ks = cur ? k1 : k0, *is = cur ? i1 : i0;
        uint32_t *kd = cur ? k0 : k1, *id = cur ? i0 : i1;
        int64_t cnt[256];
        memset(cnt, 0, sizeof cnt);
        for (int64_t j = 0; j < m; j++) cnt[(ks[j] >> shift) & 255u]++;
        int skip = 0;
        for (int v = 0; v < 256; v++)
            if (cnt[v] == m) skip = 1;
        if (skip) continue;
        int64_t pos = 0;
        for (int v = 0; v < 256; v++) {
            int64_t c = cnt[v];
            cnt[v] = pos;
            pos += c;
        }
        for (int64_t j = 0; j < m; j++) {
            int64_t at = cnt[(ks[j] >> shift) & 255u]++;
            kd[at] = ks[j];
            id[at] = is[j];
        }
        cur ^= 1;
    }
    return cur;
}

static float key_error(uint32_t key)
{
    uint32_t bits = ~key;
    float e;
    memcpy(&e, &bits, sizeof e);
    return e;
}

static uint32_t error_key(float e)
{
    uint32_t bits;
    memcpy(&bits, &e, sizeof bits);
    return ~bits; /* e >= 0: larger errors get smaller keys */
}

static sl_status lovasz_fast_old(const sl_loss_info *loss, const sl_options *o, const sl_batch *b,
                             sl_output *out, sl_error *err)
{
    (void)loss;
    (void)err;
    lz_dims d;
    lz_dims_of(o, b, &d);
    int64_t N = d.N, C = d.C, P = d.P;
    unsigned char *w = ws_base(out);
    double *prob = carve(&w, (size_t)(N * C * P) * sizeof(double));
    double *r0 = carve(&w, (size_t)P * sizeof(double));
    double *r1 = carve(&w, (size_t)P * sizeof(double));
    uint32_t *k0 = carve(&w, (size_t)d.M * sizeof(uint32_t));
    uint32_t *i0 = carve(&w, (size_t)d.M * sizeof(uint32_t));
    uint32_t *k1 = carve(&w, (size_t)d.M * sizeof(uint32_t));
    uint32_t *i1 = carve(&w, (size_t)d.M * sizeof(uint32_t));
    double *flags = carve(&w, (size_t)C * sizeof(double));
    int logits = b->input_kind == SL_INPUT_LOGITS;

    /* Probabilities, a class row at a time: r0 = max (logits), r1 = sum. */
    for (int64_t n = 0; n < N; n++) {
        const float *x = b->input + n * C * P;
        double *p = prob + n * C * P;
        for (int64_t i = 0; i < P; i++) {
            r0[i] = logits ? x[i] : 0.0;
            r1[i] = 0.0;
        }
        if (logits)
            for (int64_t c = 1; c < C; c++)
                for (int64_t i = 0; i < P; i++) r0[i] = fmax(r0[i], (double)x[c * P + i]);
        for (int64_t c = 0; c < C; c++)
            for (int64_t i = 0; i < P; i++) {
                double v = logits ? exp((double)x[c * P + i] - r0[i]) : (double)x[c * P + i];
                p[c * P + i] = v;
                r1[i] += v;
            }
        for (int64_t i = 0; i < P; i++) r1[i] = 1.0 / r1[i];
        for (int64_t c = 0; c < C; c++)
            for (int64_t i = 0; i < P; i++) p[c * P + i] *= r1[i];
    }
    if (out->grad) memset(out->grad, 0, (size_t)(N * C * P) * sizeof(float));
    if (out->loss_map) memset(out->loss_map, 0, (size_t)(d.G * C) * sizeof(float));

    double total = 0.0;
    int64_t ipg = d.M / P; /* images per group */
    for (int64_t g = 0; g < d.G; g++) {
        int64_t nv;
        int64_t K = lz_counted(o, b, &d, g, flags, &nv);
        double fac = lz_factor(o, &d, K);
        for (int64_t c = 0; c < C; c++) {
            if (flags[c] == 0.0) continue;
            /* Keys of the valid pixels, in pixel order; the target's sum. */
            int64_t m = 0;
            double gts = 0.0;
            for (int64_t n = g * ipg; n < (g + 1) * ipg; n++) {
                const double *p = prob + (n * C + c) * P;
                int labels = b->target_kind == SL_TARGET_LABELS;
                const int32_t *y = labels ? b->labels + n * P : NULL;
                const float *t = labels ? NULL : b->target + (n * C + c) * P;
                for (int64_t i = 0; i < P; i++) {
                    double fg;
                    if (labels) {
                        if (y[i] == o->ignore_index) continue;
                        fg = y[i] == c ? 1.0 : 0.0;
                    } else {
                        fg = t[i];
                    }
                    gts += fg;
                    k0[m] = error_key((float)fabs(fg - p[i]));
                    i0[m] = (uint32_t)((n - g * ipg) * P + i);
                    m++;
                }
            }
            int which = radix_sort(k0, i0, k1, i1, m);
            const uint32_t *ks = which ? k1 : k0, *is = which ? i1 : i0;
            double cumfg = 0.0, cumbg = 0.0, jprev = 0.0, lc = 0.0;
            for (int64_t r = 0; r < m; r++) {
                int64_t j = is[r];
                int64_t n = g * ipg + j / P, i = j % P;
                int64_t at = (n * C + c) * P + i;
                double fg = b->target_kind == SL_TARGET_LABELS ? (b->labels[n * P + i] == c)
                                                               : (double)b->target[at];
                cumfg += fg;
                cumbg += 1.0 - fg;
                double jk = 1.0 - (gts - cumfg) / (gts + cumbg);
                double gk = jk - jprev;
                jprev = jk;
                lc += (double)key_error(ks[r]) * gk;
                if (out->grad) {
                    double diff = prob[at] - fg;
                    float sg = diff > 0.0 ? 1.0f : (diff < 0.0 ? -1.0f : 0.0f);
                    out->grad[at] = (float)(fac * gk) * sg;
                }
            }
            if (out->loss_map) out->loss_map[g * C + c] = (float)lc;
            total += o->reduction == SL_REDUCE_MEAN ? fac * lc : lc;
        }
    }
    out->loss = total;
    if (!out->grad) return SL_OK;

    /* Chain rule, a class row at a time: r0 = sum_c p_c G_c; for probabilities r1 = 1 / s. */
    for (int64_t n = 0; n < N; n++) {
        const float *x = b->input + n * C * P;
        const double *p = prob + n * C * P;
        float *gr = out->grad + n * C * P;
        for (int64_t i = 0; i < P; i++) r0[i] = 0.0;
        for (int64_t c = 0; c < C; c++)
            for (int64_t i = 0; i < P; i++) r0[i] += p[c * P + i] * (double)gr[c * P + i];
        if (logits) {
            for (int64_t c = 0; c < C; c++)
                for (int64_t i = 0; i < P; i++)
                    gr[c * P + i] = (float)(p[c * P + i] * ((double)gr[c * P + i] - r0[i]));
        } else {
            for (int64_t i = 0; i < P; i++) r1[i] = 0.0;
            for (int64_t c = 0; c < C; c++)
                for (int64_t i = 0; i < P; i++) r1[i] += (double)x[c * P + i];
            for (int64_t c = 0; c < C; c++)
                for (int64_t i = 0; i < P; i++)
                    gr[c * P + i] = (float)(((double)gr[c * P + i] - r0[i]) / r1[i]);
        }
    }
    return SL_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Reference: double precision, qsort of (error, index) pairs, plain loops.
 */

static int ref_cmp(const void *a, const void *b)
{
    const ref_item *x = a, *y = b;
    if (x->e > y->e) return -1;
    if (x->e < y->e) return 1;
    return (x->j > y->j) - (x->j < y->j);
}

static sl_status lovasz_ref_old(const sl_loss_info *loss, const sl_options *o, const sl_batch *b,
                            sl_output *out, sl_error *err)
{
    (void)loss;
    (void)err;
    lz_dims d;
    lz_dims_of(o, b, &d);
    int64_t N = d.N, C = d.C, P = d.P;
    unsigned char *w = ws_base(out);
    double *prob = carve(&w, (size_t)(N * C * P) * sizeof(double));
    double *dp = carve(&w, (size_t)(N * C * P) * sizeof(double));
    ref_item *items = carve(&w, (size_t)d.M * sizeof(ref_item));
    double *flags = carve(&w, (size_t)C * sizeof(double));
    int logits = b->input_kind == SL_INPUT_LOGITS;

    for (int64_t n = 0; n < N; n++)
        for (int64_t i = 0; i < P; i++) {
            const float *x = b->input + n * C * P + i;
            double m = logits ? (double)x[0] : 0.0, s = 0.0;
            if (logits)
                for (int64_t c = 1; c < C; c++) m = fmax(m, (double)x[c * P]);
            for (int64_t c = 0; c < C; c++)
                s += logits ? exp((double)x[c * P] - m) : (double)x[c * P];
            for (int64_t c = 0; c < C; c++) {
                double v = logits ? exp((double)x[c * P] - m) : (double)x[c * P];
                prob[(n * C + c) * P + i] = v / s;
            }
        }
    for (int64_t k = 0; k < N * C * P; k++) dp[k] = 0.0;

    double total = 0.0;
    int64_t ipg = d.M / P;
    for (int64_t g = 0; g < d.G; g++) {
        int64_t nv;
        int64_t K = lz_counted(o, b, &d, g, flags, &nv);
        double fac = lz_factor(o, &d, K);
        for (int64_t c = 0; c < C; c++) {
            double lc = 0.0;
            if (flags[c] != 0.0) {
                int64_t m = 0;
                double gts = 0.0;
                for (int64_t j = 0; j < d.M; j++) {
                    double fg;
                    if (!lz_fg(o, b, &d, g, j, c, &fg)) continue;
                    int64_t n = g * ipg + j / P, i = j % P;
                    items[m].e = fabs(fg - prob[(n * C + c) * P + i]);
                    items[m].j = j;
                    gts += fg;
                    m++;
                }
                qsort(items, (size_t)m, sizeof *items, ref_cmp);
                double cumfg = 0.0, cumbg = 0.0, jprev = 0.0;
                for (int64_t r = 0; r < m; r++) {
                    double fg = 0.0;
                    lz_fg(o, b, &d, g, items[r].j, c, &fg);
                    cumfg += fg;
                    cumbg += 1.0 - fg;
                    double jk = 1.0 - (gts - cumfg) / (gts + cumbg);
                    double gk = jk - jprev;
                    jprev = jk;
                    lc += items[r].e * gk;
                    int64_t n = g * ipg + items[r].j / P, i = items[r].j % P;
                    int64_t at = (n * C + c) * P + i;
                    double diff = prob[at] - fg;
                    double sg = diff > 0 ? 1.0 : (diff < 0 ? -1.0 : 0.0);
                    dp[at] = fac * gk * sg;
                }
                total += o->reduction == SL_REDUCE_MEAN ? fac * lc : lc;
            }
            if (out->loss_map) out->loss_map[g * C + c] = (float)lc;
        }
    }
    out->loss = total;
    if (!out->grad) return SL_OK;
    for (int64_t n = 0; n < N; n++)
        for (int64_t i = 0; i < P; i++) {
            double t = 0.0, s = 0.0;
            for (int64_t c = 0; c < C; c++) {
                int64_t at = (n * C + c) * P + i;
                t += prob[at] * dp[at];
                s += (double)b->input[at];
            }
            for (int64_t c = 0; c < C; c++) {
                int64_t at = (n * C + c) * P + i;
                double v = logits ? prob[at] * (dp[at] - t) : (dp[at] - t) / s;
                out->grad[at] = (float)v;
            }
        }
    return SL_OK;
}

/* Per-class targets are fractions of membership (<= 1, so every union stays positive); a group
 * is indexed with 32 bits on the fast path. */
static sl_status lovasz_check(const sl_loss_info *loss, const sl_options *o, const sl_batch *b,
                              sl_error *err)
{
    (void)loss;
    lz_dims d;
    lz_dims_of(o, b, &d);
    if (d.M > (int64_t)UINT32_MAX)
        return sl__fail(err, SL_E_SHAPE,
                        "lovasz: a group of %lld pixels is too large (at most 2^32 - 1; try "
                        "per_image=true)",
                        (long long)d.M);
    if (b->target_kind == SL_TARGET_PROBS) {
        int64_t numel = sl_shape_numel(&b->shape);
        char where[160];
        for (int64_t i = 0; i < numel; i++)
            if (b->target[i] > 1.0f) {
                sl__index_str(&b->shape, i, where, sizeof where);
                return sl__fail(err, SL_E_VALUE,
                                "lovasz: target %g at %s is above 1 (per-class targets must be "
                                "in [0, 1])",
                                b->target[i], where);
            }
    }
    return SL_OK;
}

/* TEMPORARY: k and accumulate not yet honoured. */
static sl_status lovasz_fast(const sl_call *c, double *loss)
{
    sl_output out = {0.0, c->grad, c->map, c->ws, c->ws_size, c->threads};
    sl_status st = lovasz_fast_old(c->loss, c->o, c->b, &out, c->err);
    *loss = out.loss;
    return st;
}

/* TEMPORARY: k and accumulate not yet honoured. */
static sl_status lovasz_ref(const sl_call *c, double *loss)
{
    sl_output out = {0.0, c->grad, c->map, c->ws, c->ws_size, c->threads};
    sl_status st = lovasz_ref_old(c->loss, c->o, c->b, &out, c->err);
    *loss = out.loss;
    return st;
}

static const sl_param_info lovasz_params[] = {
    {"classes", SL_PARAM_WORD, "present", "present|all",
     "average the classes present in the target, or all classes", 0, 0},
    {"per_image", SL_PARAM_BOOL, "false", NULL, "per image, then the mean over images", 0, 0},
    {"ignore_index", SL_PARAM_INT, "-100", NULL, "label whose pixels are left out", 0, 0},
    {"reduction", SL_PARAM_WORD, "mean", "mean|sum|none",
     "mean: the authors' value; sum: the sum of the counted (group, class) losses", 0, 0},
};

const sl_loss_info sl__loss_lovasz = {
    "lovasz",
    "Lovasz-softmax (Berman et al. 2018), as the authors' lovasz_softmax",
    lovasz_params,
    (int)(sizeof lovasz_params / sizeof lovasz_params[0]),
    SL_MAP_IMAGE_CLASS,
    lovasz_fast,
    lovasz_ref,
    lovasz_workspace,
    lovasz_check,
    lovasz_map_shape,
    0,
};
