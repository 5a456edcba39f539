/* The overlap (Dice) family, MONAI 1.5 semantics:
 *
 * dice             - DiceLoss(softmax=True, to_onehot_y=True): squared_pred, jaccard, batch,
 *                    include_background, weight, smooth_nr/dr; plus ignore_index.
 * tversky          - TverskyLoss: alpha on false positives, beta on false negatives.
 * focal_tversky    - (1 - Tversky)^gamma per (image, class).
 * generalized_dice - GeneralizedDiceLoss: w_type square|simple|uniform, one value per image.
 * log_cosh_dice    - log cosh of the dice value (Jadon); unreduced, of each entry.
 *
 * The shared machinery of src/dice.h lives here too: pass 1 accumulates per-(image, class)
 * sums in double, pass 2 writes dL/dq from the entries' partials and chains it through the
 * softmax. Formulas and gradients: docs/dice.md. */
#include "dice.h"

#include <math.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------------
 * The machinery
 */

/* The workspace in one order, for sizing (base NULL) and carving. */
static void ov_layout(sl__arena *a, int64_t N, int64_t C, int64_t P, sl__ov *v)
{
    size_t nc = (size_t)(N * C);
    uint8_t *ann = sl__take(a, nc);
    double *d[5];
    for (int k = 0; k < 5; k++) d[k] = sl__take(a, nc * sizeof(double));
    double *parts = sl__take(a, (size_t)sl__nchunks(N, P) * 3 * (size_t)C * sizeof(double));
    void *scratch = sl__take(a, 6 * (size_t)C * (sizeof(double) + sizeof(float)) +
                                    (size_t)C * sizeof(int64_t) + 128);
    if (!v) return;
    v->ann = ann;
    v->I = d[0];
    v->S = d[1];
    v->G = d[2];
    v->kI = d[3];
    v->kS = d[4];
    v->parts = parts;
    v->scratch = scratch;
}

size_t sl__ov_workspace(const sl_options *o, const sl_batch *b)
{
    (void)o;
    int64_t N = b->shape.dim[0], C = b->shape.dim[1];
    sl__arena a = sl__arena_of(NULL);
    ov_layout(&a, N, C, sl_shape_numel(&b->shape) / (N * C), NULL);
    return sl__arena_size(&a);
}

void sl__ov_setup(sl__ov *v, const sl_call *c, sl__ov_mode mode, int squared, int drop_bg,
                  int batch, int64_t ignore)
{
    memset(v, 0, sizeof *v);
    v->c = c;
    v->N = c->N;
    v->C = c->C;
    v->P = c->P;
    v->NG = batch ? 1 : c->N;
    v->mode = mode;
    v->squared = squared;
    v->drop_bg = drop_bg;
    v->batch = batch;
    v->ignore = ignore;
    sl__arena a = sl__arena_of(c->ws);
    ov_layout(&a, c->N, c->C, c->P, v);
    size_t nc = (size_t)(c->N * c->C);
    if (mode != SL__OV_OWN)
        sl__annotated(c->b, (uint8_t *)v->ann);
    else
        v->ann = NULL;
    double *arr[5] = {v->I, v->S, v->G, v->kI, v->kS};
    for (int k = 0; k < 5; k++) memset(arr[k], 0, nc * sizeof(double));
}

int64_t sl__ov_chan(const sl__ov *v, int64_t n, int64_t c)
{
    int64_t k = c;
    switch (v->mode) {
    case SL__OV_OWN: break;
    case SL__OV_MERGE:
        if (c > 0 && !v->ann[n * v->C + c]) k = 0;
        break;
    case SL__OV_UNION: return c > 0 && !v->ann[n * v->C + c] ? c : -1;
    }
    return k == 0 && v->drop_bg ? -1 : k;
}

/* Scratch pointers: doubles for the reference, floats and channels for the fast path. */
typedef struct {
    double *dp, *dt, *dq, *dr, *dg, *dd;
    float *fp, *ft, *fq, *fr, *fd;
    int64_t *ch;
} ov_scratch;

static void scratch_carve(const sl__ov *v, ov_scratch *s)
{
    size_t C = (size_t)v->C;
    unsigned char *p = (unsigned char *)sl__align((size_t)(uintptr_t)v->scratch);
    s->dp = (double *)(void *)p;
    s->dt = s->dp + C;
    s->dq = s->dt + C;
    s->dr = s->dq + C;
    s->dg = s->dr + C;
    s->dd = s->dg + C;
    p += sl__align(6 * C * sizeof(double));
    s->fp = (float *)(void *)p;
    s->ft = s->fp + C;
    s->fq = s->ft + C;
    s->fr = s->fq + C;
    s->fd = s->fr + C;
    p += sl__align(6 * C * sizeof(float));
    s->ch = (int64_t *)(void *)p;
}

/* Fast path, one pixel: probabilities p (softmax in float, or the input as given), targets t,
 * channel probabilities q and targets r. Returns 0 for an ignored pixel. */
static int fast_pixel(const sl__ov *v, const sl_batch *b, int64_t n, int64_t i,
                      const ov_scratch *s)
{
    int64_t C = v->C, P = v->P;
    const float *x = b->input + n * C * P + i;
    float *p = s->fp, *t = s->ft, *q = s->fq, *r = s->fr;
    if (b->target_kind == SL_TARGET_LABELS) {
        int64_t y = b->labels[n * P + i];
        if (y == v->ignore) return 0;
        for (int64_t c = 0; c < C; c++) t[c] = c + v->binary == y ? 1.0f : 0.0f;
    } else {
        if (sl__probs_ignored(b, v->ignore, n, i)) return 0;
        for (int64_t c = 0; c < C; c++) t[c] = b->target[(n * C + c) * P + i];
    }
    if (v->sigmoid && b->input_kind == SL_INPUT_LOGITS) {
        for (int64_t c = 0; c < C; c++) {
            float xc = x[c * P], e = expf(-fabsf(xc)), sp = 1.0f / (1.0f + e);
            p[c] = xc >= 0.0f ? sp : e * sp;
        }
    } else if (b->input_kind == SL_INPUT_LOGITS) {
        float m = x[0], z = 0.0f;
        for (int64_t c = 1; c < C; c++) m = fmaxf(m, x[c * P]);
        for (int64_t c = 0; c < C; c++) {
            p[c] = expf(x[c * P] - m);
            z += p[c];
        }
        float inv = 1.0f / z;
        for (int64_t c = 0; c < C; c++) p[c] *= inv;
    } else {
        for (int64_t c = 0; c < C; c++) p[c] = x[c * P];
    }
    for (int64_t c = 0; c < C; c++) q[c] = r[c] = 0.0f;
    if (v->mode == SL__OV_UNION) {
        float e = 0.0f;
        for (int64_t c = 1; c < C; c++)
            if (v->ann[n * C + c]) e += t[c];
        for (int64_t c = 1; c < C; c++)
            if (s->ch[c] >= 0) {
                q[c] = p[c];
                r[c] = e;
            }
        return 1;
    }
    for (int64_t c = 0; c < C; c++) {
        int64_t k = s->ch[c];
        if (k < 0) continue;
        q[k] += p[c];
        r[k] += t[c];
    }
    return 1;
}

/* Reference, one pixel, double precision, plain loops: the same quantities. */
static int ref_pixel(const sl__ov *v, const sl_batch *b, int64_t n, int64_t i,
                     const ov_scratch *s)
{
    int64_t C = v->C, P = v->P;
    double *p = s->dp, *t = s->dt, *q = s->dq, *r = s->dr;
    if (sl__probs_ignored(b, v->ignore, n, i)) return 0; /* the argmax rule, per-class target */
    for (int64_t c = 0; c < C; c++) {
        if (b->target_kind == SL_TARGET_LABELS) {
            int64_t y = b->labels[n * P + i];
            if (y == v->ignore) return 0;
            t[c] = (c + v->binary == y) ? 1.0 : 0.0;
        } else {
            t[c] = (double)b->target[(n * C + c) * P + i];
        }
    }
    if (v->sigmoid && b->input_kind == SL_INPUT_LOGITS) {
        /* p_c = 1 / (1 + exp(-x_c)), each channel on its own */
        for (int64_t c = 0; c < C; c++)
            p[c] = sl__sigmoid((double)b->input[(n * C + c) * P + i]);
    } else {
        for (int64_t c = 0; c < C; c++) p[c] = (double)b->input[(n * C + c) * P + i];
        if (b->input_kind == SL_INPUT_LOGITS) sl__softmax(p, C, 1, 0);
    }
    for (int64_t k = 0; k < C; k++) {
        q[k] = 0.0;
        r[k] = 0.0;
        if (v->mode == SL__OV_UNION) {
            if (sl__ov_chan(v, n, k) != k) continue;
            q[k] = p[k];
            for (int64_t c = 1; c < C; c++)
                if (v->ann[n * C + c]) r[k] += t[c];
            continue;
        }
        for (int64_t c = 0; c < C; c++)
            if (sl__ov_chan(v, n, c) == k) {
                q[k] += p[c];
                r[k] += t[c];
            }
    }
    return 1;
}

static void loops_sums(sl__ov *v, const sl_batch *b, int fast)
{
    int64_t N = v->N, C = v->C, P = v->P;
    ov_scratch s;
    scratch_carve(v, &s);
    if (fast) {
        for (int64_t n = 0; n < N; n++) {
            for (int64_t c = 0; c < C; c++) s.ch[c] = sl__ov_chan(v, n, c);
            double *I = v->I + (v->batch ? 0 : n) * C, *S = v->S + (v->batch ? 0 : n) * C,
                   *G = v->G + (v->batch ? 0 : n) * C;
            for (int64_t i = 0; i < P; i++) {
                if (!fast_pixel(v, b, n, i, &s)) continue;
                const float *q = s.fq, *r = s.fr;
                if (v->squared) {
                    for (int64_t k = 0; k < C; k++) {
                        I[k] += (double)(q[k] * r[k]);
                        S[k] += (double)(q[k] * q[k]);
                        G[k] += (double)(r[k] * r[k]);
                    }
                } else {
                    for (int64_t k = 0; k < C; k++) {
                        I[k] += (double)(v->soft ? fminf(q[k], r[k]) : q[k] * r[k]);
                        S[k] += (double)q[k];
                        G[k] += (double)r[k];
                    }
                }
            }
        }
        return;
    }
    for (int64_t n = 0; n < N; n++)
        for (int64_t i = 0; i < P; i++) {
            if (!ref_pixel(v, b, n, i, &s)) continue;
            int64_t g = v->batch ? 0 : n;
            for (int64_t k = 0; k < C; k++) {
                double q = s.dq[k], r = s.dr[k];
                v->I[g * C + k] += v->soft ? fmin(q, r) : q * r; /* soft: (q + r - |q - r|) / 2 */
                v->S[g * C + k] += v->squared ? q * q : q;
                v->G[g * C + k] += v->squared ? r * r : r;
            }
        }
}

/* dI/dq of one pixel: r, or with soft_label MONAI's L1 form I = (|q| + |r| - |q - r|) / 2 with
 * autograd's sign(0) = 0: (sign(q) - sign(q - r)) / 2; and dS/dq = sign(q) there. */
static double soft_dI(const sl__ov *v, double q, double r)
{
    if (!v->soft) return r;
    return 0.5 * ((q > 0.0) - ((q > r) - (q < r)));
}

static double soft_dS(const sl__ov *v, double q)
{
    return !v->soft || q > 0.0 ? 1.0 : 0.0;
}

static void loops_grad(const sl__ov *v, const sl_batch *b, float *grad, int fast)
{
    int64_t N = v->N, C = v->C, P = v->P;
    ov_scratch s;
    scratch_carve(v, &s);
    int logits = b->input_kind == SL_INPUT_LOGITS;
    if (fast) {
        for (int64_t n = 0; n < N; n++) {
            for (int64_t c = 0; c < C; c++) s.ch[c] = sl__ov_chan(v, n, c);
            const double *kI = v->kI + (v->batch ? 0 : n) * C,
                         *kS = v->kS + (v->batch ? 0 : n) * C;
            float *gr = grad + n * C * P;
            for (int64_t i = 0; i < P; i++) {
                if (!fast_pixel(v, b, n, i, &s)) {
                    for (int64_t c = 0; c < C; c++) sl__put(v->c, gr, c * P + i, 0.0);
                    continue;
                }
                const float *p = s.fp, *q = s.fq, *r = s.fr;
                float *d = s.fd; /* dL/dq per channel, then dL/dp per class in place of t */
                for (int64_t k = 0; k < C; k++)
                    d[k] = (float)(kI[k] * soft_dI(v, q[k], r[k]) +
                                   kS[k] * (v->squared ? 2.0 * (double)q[k] : soft_dS(v, q[k])));
                float *dp = s.ft;
                double tot = 0.0;
                for (int64_t c = 0; c < C; c++) {
                    dp[c] = s.ch[c] >= 0 ? d[s.ch[c]] : 0.0f;
                    tot += (double)p[c] * (double)dp[c];
                }
                if (logits && v->sigmoid) {
                    for (int64_t c = 0; c < C; c++)
                        sl__put(v->c, gr, c * P + i, p[c] * (1.0f - p[c]) * dp[c]);
                } else if (logits) {
                    float ft = (float)tot;
                    for (int64_t c = 0; c < C; c++) sl__put(v->c, gr, c * P + i, p[c] * (dp[c] - ft));
                } else {
                    for (int64_t c = 0; c < C; c++) sl__put(v->c, gr, c * P + i, dp[c]);
                }
            }
        }
        return;
    }
    for (int64_t n = 0; n < N; n++)
        for (int64_t i = 0; i < P; i++) {
            if (!ref_pixel(v, b, n, i, &s)) {
                for (int64_t c = 0; c < C; c++) sl__put(v->c, grad, (n * C + c) * P + i, 0.0);
                continue;
            }
            int64_t g = v->batch ? 0 : n;
            /* dL/dp_c = dL/dq_k for the channel k of class c */
            for (int64_t c = 0; c < C; c++) {
                int64_t k = sl__ov_chan(v, n, c);
                s.dg[c] = 0.0;
                if (k < 0) continue;
                double dS = v->squared ? 2.0 * s.dq[k] : soft_dS(v, s.dq[k]);
                s.dg[c] = v->kI[g * C + k] * soft_dI(v, s.dq[k], s.dr[k]) + v->kS[g * C + k] * dS;
            }
            for (int64_t j = 0; j < C; j++) {
                double d = 0.0;
                if (logits && v->sigmoid) {
                    d = s.dg[j] * s.dp[j] * (1.0 - s.dp[j]); /* dsigmoid/dx = p (1 - p) */
                } else if (logits) {
                    /* dp_c/dz_j = p_c ([c = j] - p_j) */
                    for (int64_t c = 0; c < C; c++)
                        d += s.dg[c] * s.dp[c] * ((c == j ? 1.0 : 0.0) - s.dp[j]);
                } else {
                    d = s.dg[j];
                }
                sl__put(v->c, grad, (n * C + j) * P + i, d);
            }
        }
}

static int kernel_path(const sl__ov *v)
{
    /* the kernels know ignore_index for label maps only; the argmax rule takes the loops */
    return v->c->fast && v->mode == SL__OV_OWN && v->C <= SL_KERN_MAX_C &&
           !sl__probs_ignore_on(v->c->b, v->ignore);
}

static void kernel_args(const sl__ov *v, sl__ov_args *a)
{
    const sl_batch *b = v->c->b;
    memset(a, 0, sizeof *a);
    a->C = v->C;
    a->P = v->P;
    a->x = b->input;
    a->y = b->target_kind == SL_TARGET_LABELS ? b->labels : NULL;
    a->t = b->target_kind == SL_TARGET_LABELS ? NULL : b->target;
    a->probs = b->input_kind == SL_INPUT_PROBS;
    a->has_ignore = v->ignore >= INT32_MIN && v->ignore <= INT32_MAX;
    a->ignore = a->has_ignore ? (int32_t)v->ignore : 0;
    a->squared = v->squared;
    a->sigmoid = v->sigmoid;
    a->binary = v->binary;
    a->soft = v->soft;
}

sl_status sl__ov_sums(sl__ov *v)
{
    const sl_call *c = v->c;
    if (!kernel_path(v)) {
        if (c->fast && (c->loss->flags & SL_LOSS_KERNEL_CHECKS)) {
            sl_status st = sl__recheck_values(c);
            if (st != SL_OK) return st;
        }
        loops_sums(v, c->b, c->fast);
        return SL_OK;
    }
    sl__ov_args a;
    kernel_args(v, &a);
    int w = (int)(3 * v->C);
    if (sl__for_chunks(c->threads, v->N, v->P, c->kern->ov_sums, &a, v->parts, w))
        return sl__recheck(c);
    /* an image's chunks are consecutive: add them in order, per group */
    int64_t per = sl__nchunks(1, v->P);
    for (int64_t n = 0; n < v->N; n++) {
        int64_t g = v->batch ? 0 : n;
        for (int64_t q = n * per; q < (n + 1) * per; q++)
            for (int64_t k = 0; k < v->C; k++) {
                v->I[g * v->C + k] += v->parts[q * w + 3 * k];
                v->S[g * v->C + k] += v->parts[q * w + 3 * k + 1];
                v->G[g * v->C + k] += v->parts[q * w + 3 * k + 2];
            }
    }
    return SL_OK;
}

sl_status sl__ov_grad(const sl__ov *v)
{
    const sl_call *c = v->c;
    if (!c->grad) return SL_OK;
    if (!kernel_path(v)) {
        loops_grad(v, c->b, c->grad, c->fast); /* k through sl__put */
        return SL_OK;
    }
    if (c->k != 1.0) /* the kernel takes k inside the partials */
        for (int64_t e = 0; e < v->NG * v->C; e++) {
            v->kI[e] *= c->k;
            v->kS[e] *= c->k;
        }
    sl__ov_args a;
    kernel_args(v, &a);
    a.kI = v->kI;
    a.kS = v->kS;
    a.kstride = v->batch ? 0 : v->C;
    a.accumulate = c->accumulate;
    a.grad = c->grad;
    if (sl__for_chunks(c->threads, v->N, v->P, c->kern->ov_grad, &a, v->parts, 1))
        return sl__recheck(c);
    return SL_OK;
}

/* Sharded evaluation with batch=true: the sums of every shard come in the statistics
 * [1 + 3C] (the number of shards, then I, S, G); each shard's part of a value that the
 * statistics decide alone is that value over the number of shards. */
static sl_status ov_shard_sums(sl__ov *v)
{
    const sl_call *c = v->c;
    int64_t C = v->C;
    if (!(v->batch && c->phase == SL__PHASE_FINISH)) {
        sl_status st = sl__ov_sums(v);
        if (st != SL_OK || !(v->batch && c->phase == SL__PHASE_STATS)) return st;
        for (int64_t k = 0; k < C; k++) {
            c->stats[1 + k] = v->I[k];
            c->stats[1 + C + k] = v->S[k];
            c->stats[1 + 2 * C + k] = v->G[k];
        }
        return SL_OK;
    }
    for (int64_t k = 0; k < C; k++) {
        v->I[k] = c->stats[1 + k];
        v->S[k] = c->stats[1 + C + k];
        v->G[k] = c->stats[1 + 2 * C + k];
    }
    return SL_OK;
}

double sl__ov_shard_part(const sl__ov *v, double value)
{
    const sl_call *c = v->c;
    return c->phase == SL__PHASE_FINISH && c->stats[0] > 0.0 ? value / c->stats[0] : value;
}

/* 1 - Dice (MONAI; Jaccard with its factor 2) of one entry and its partials. */
static double dice_entry(const sl_options *o, double I, double S, double G, double *dI,
                         double *dS)
{
    double num = 2.0 * I + o->smooth_nr;
    if (o->jaccard) {
        double den = 2.0 * (S + G - I) + o->smooth_dr;
        *dI = -(2.0 * den + 2.0 * num) / (den * den);
        *dS = 2.0 * num / (den * den);
        return 1.0 - num / den;
    }
    double den = S + G + o->smooth_dr;
    *dI = -2.0 / den;
    *dS = num / (den * den);
    return 1.0 - num / den;
}

/* 1 - Tversky of one entry: TP = I, FP = S - I, FN = G - I. */
static double tversky_entry(const sl_options *o, double I, double S, double G, double *dI,
                            double *dS)
{
    double a = o->fp_weight, be = o->fn_weight;
    double num = I + o->smooth_nr;
    double den = I + a * (S - I) + be * (G - I) + o->smooth_dr;
    *dI = -(den - num * (1.0 - a - be)) / (den * den);
    *dS = num * a / (den * den);
    return 1.0 - num / den;
}

/* log cosh v, stable for any v. */
static double log_cosh(double v)
{
    double a = fabs(v);
    return a + log1p(exp(-2.0 * a)) - log(2.0);
}

static int entry_exists(const sl__ov *v, int64_t g, int64_t k)
{
    if (k == 0) return !v->drop_bg;
    if (v->mode != SL__OV_MERGE) return 1;
    if (!v->batch) return v->ann[g * v->C + k];
    for (int64_t n = 0; n < v->N; n++)
        if (v->ann[n * v->C + k]) return 1;
    return 0;
}

double sl__ov_matrix(sl__ov *v, const sl_options *o, sl__ovf_kind kind)
{
    float *map = v->c->map;
    int64_t C = v->C, NG = v->NG;
    int full = v->mode == SL__OV_MERGE;
    int64_t cols = full ? C : C - v->drop_bg, off = full ? 0 : v->drop_bg;
    int64_t M = 0;
    for (int64_t g = 0; g < NG; g++)
        for (int64_t k = 0; k < C; k++) M += entry_exists(v, g, k);
    /* Sharded, per image: the mean runs over every shard's entries. */
    const sl_call *c = v->c;
    int shard_images = c->phase == SL__PHASE_FINISH && !v->batch;
    if (shard_images) M = (int64_t)c->stats[2];
    double scale = o->reduction == SL_REDUCE_MEAN ? (M > 0 ? 1.0 / (double)M : 0.0) : 1.0;
    double total = 0.0;
    for (int64_t g = 0; g < NG; g++) {
        for (int64_t k = 0; k < C; k++) {
            int64_t e = g * C + k;
            v->kI[e] = v->kS[e] = 0.0;
            if (!entry_exists(v, g, k)) {
                if (map && full) sl__put(v->c, map, g * cols + k, 0.0);
                continue;
            }
            double dI, dS, f, dF;
            if (kind == SL__OVF_TVERSKY || kind == SL__OVF_FOCAL_TVERSKY) {
                f = tversky_entry(o, v->I[e], v->S[e], v->G[e], &dI, &dS);
                dF = 1.0;
                if (kind == SL__OVF_FOCAL_TVERSKY) {
                    /* max(f, 0)^gamma; at f <= 0 (Tversky >= 1) the gradient is 0 */
                    double fc = f > 0.0 ? f : 0.0;
                    dF = f > 0.0 ? o->gamma * pow(f, o->gamma - 1.0) : 0.0;
                    f = pow(fc, o->gamma);
                }
            } else {
                double w = sl__w(o, k);
                f = w * dice_entry(o, v->I[e], v->S[e], v->G[e], &dI, &dS);
                dF = w;
                if (kind == SL__OVF_LOGCOSH && o->reduction == SL_REDUCE_NONE) {
                    dF = w * tanh(f);
                    f = log_cosh(f);
                }
            }
            /* log_cosh_dice's unreduced values are log cosh of each entry, whatever the
             * reduction; reduced, it is log cosh of the reduced dice (below). */
            if (map)
                sl__put(v->c, map, g * cols + k - off,
                        kind == SL__OVF_LOGCOSH && o->reduction != SL_REDUCE_NONE ? log_cosh(f) : f);
            total += f;
            v->kI[e] = scale * dF * dI;
            v->kS[e] = scale * dF * dS;
        }
    }
    if (c->phase == SL__PHASE_STATS) { /* per image: the entries' sum and count */
        c->stats[1] = total;
        c->stats[2] = (double)M;
        return 0.0;
    }
    int coupled = kind == SL__OVF_LOGCOSH && o->reduction != SL_REDUCE_NONE;
    if (shard_images && coupled) total = c->stats[1]; /* log cosh of every shard's mean */
    double reduced = o->reduction == SL_REDUCE_MEAN ? (M > 0 ? total / (double)M : 0.0) : total;
    if (shard_images && !coupled) return reduced; /* additive: this shard's part */
    if (kind == SL__OVF_LOGCOSH && o->reduction != SL_REDUCE_NONE) {
        /* log cosh(D) of the reduced dice D: d/dD = tanh(D) scales every entry's partials. */
        double t = tanh(reduced);
        for (int64_t e = 0; e < NG * C; e++) {
            v->kI[e] *= t;
            v->kS[e] *= t;
        }
        return sl__ov_shard_part(v, log_cosh(reduced));
    }
    return sl__ov_shard_part(v, reduced);
}

void sl__ov_map_shape(const sl_options *o, const sl_batch *b, sl_shape *out)
{
    out->ndim = 2;
    out->dim[0] = o->batch ? 1 : b->shape.dim[0];
    out->dim[1] = b->shape.dim[1] - (o->include_background ? 0 : 1);
}

/* ---------------------------------------------------------------------------------------------
 * dice, tversky, focal_tversky, log_cosh_dice: the (image, class) matrix
 */

/* The sigmoid (multi-label) mode: MONAI's sigmoid=True. A label map is one-hot over the C
 * channels, or, on one channel, the channel's own {0, 1} target. */
static void ov_sigmoid(sl__ov *v, const sl_options *o)
{
    v->sigmoid = o->sigmoid;
    v->binary = o->sigmoid && v->C == 1;
    v->soft = o->soft_label && !v->squared; /* squared: the L2 form is sum p r already */
}

static sl_status matrix_run(const sl_call *c, double *loss, sl__ovf_kind kind)
{
    const sl_options *o = c->o;
    sl__ov v;
    int squared = (kind == SL__OVF_DICE || kind == SL__OVF_LOGCOSH) && o->squared;
    sl__ov_setup(&v, c, SL__OV_OWN, squared, !o->include_background, o->batch, o->ignore_index);
    ov_sigmoid(&v, o);
    sl_status st = ov_shard_sums(&v);
    if (st != SL_OK || (c->phase == SL__PHASE_STATS && o->batch)) return st;
    *loss = sl__ov_matrix(&v, o, kind);
    if (c->phase == SL__PHASE_STATS) return SL_OK;
    return sl__ov_grad(&v);
}

#define MATRIX_FNS(name, kind)                                                                   \
    static sl_status name##_run(const sl_call *c, double *loss)                                \
    {                                                                                            \
        return matrix_run(c, loss, kind);                                                        \
    }

MATRIX_FNS(dice, SL__OVF_DICE)
MATRIX_FNS(tversky, SL__OVF_TVERSKY)
MATRIX_FNS(focal_tversky, SL__OVF_FOCAL_TVERSKY)
MATRIX_FNS(log_cosh, SL__OVF_LOGCOSH)

/* Without background there must be a class left. */
static sl_status ov_check(const sl_loss_info *loss, const sl_options *o, const sl_batch *b,
                          sl_error *err)
{
    if (!o->include_background && b->shape.dim[1] < 2)
        return sl__fail(err, SL_E_ARG,
                        "%s: include_background=false needs at least 2 classes; the input has 1",
                        loss->name);
    return SL_OK;
}

/* The overlap family's keys, with this family's help lines. */
#define P_REDUCTION                                                                              \
    {.id = SL_OPT_reduction, .help = "over the (image, class) matrix; none: the map is that matrix"}
#define P_IGNORE                                                                                 \
    {.id = SL_OPT_ignore_index,                                                                  \
     .help = "label (per-class target: argmax channel) whose pixels leave every sum"}
#define P_BG                                                                                     \
    {.id = SL_OPT_include_background, .help = "false drops channel 0 after the softmax (or sigmoid)"}
#define P_WEIGHT                                                                                 \
    {.id = SL_OPT_weight, .help = "one non-negative weight per class (background included)"}
#define P_BATCH {.id = SL_OPT_batch}
#define P_SNR {.id = SL_OPT_smooth_nr}
#define P_SDR {.id = SL_OPT_smooth_dr}
#define P_SQUARED {.id = SL_OPT_squared}
#define P_SIGMOID {.id = SL_OPT_sigmoid}
#define P_SOFT {.id = SL_OPT_soft_label}
#define P_JACCARD {.id = SL_OPT_jaccard}

static const sl__key dice_params[] = {
    P_BG, P_SQUARED, P_JACCARD, P_BATCH, P_SNR, P_SDR, P_WEIGHT, P_IGNORE, P_REDUCTION, P_SIGMOID, P_SOFT,
};

const sl_loss_info sl__loss_dice = {
    "dice",
    "soft Dice per (image, class), as MONAI DiceLoss(softmax=True, to_onehot_y=True)",
    SL__KEYS(dice_params),
    SL_MAP_IMAGE_CLASS,
    dice_run,
    dice_run,
    sl__ov_workspace,
    ov_check,
    sl__ov_map_shape,
    SL_LOSS_KERNEL_CHECKS | SL_LOSS_PROBS_IGNORE | SL_LOSS_SHARD_SUMS,
};

static const sl__key tversky_params[] = {
    {.id = SL_OPT_fp_weight, .alias = "alpha"},
    {.id = SL_OPT_fn_weight, .alias = "beta"},
    P_BG, P_BATCH, P_SNR, P_SDR, P_IGNORE, P_REDUCTION, P_SIGMOID, P_SOFT,
};

const sl_loss_info sl__loss_tversky = {
    "tversky",
    "Tversky loss per (image, class), as MONAI TverskyLoss(softmax=True, to_onehot_y=True)",
    SL__KEYS(tversky_params),
    SL_MAP_IMAGE_CLASS,
    tversky_run,
    tversky_run,
    sl__ov_workspace,
    ov_check,
    sl__ov_map_shape,
    SL_LOSS_KERNEL_CHECKS | SL_LOSS_PROBS_IGNORE | SL_LOSS_SHARD_SUMS,
};

static const sl__key focal_tversky_params[] = {
    {.id = SL_OPT_fp_weight, .alias = "alpha"},
    {.id = SL_OPT_fn_weight, .alias = "beta"},
    {.id = SL_OPT_gamma, .def = "0.75", .help = "exponent of 1 - Tversky", .lo = 0, .hi = 1e3},
    P_BG, P_BATCH, P_SNR, P_SDR, P_IGNORE, P_REDUCTION, P_SIGMOID, P_SOFT,
};

const sl_loss_info sl__loss_focal_tversky = {
    "focal_tversky",
    "focal Tversky: (1 - Tversky)^gamma per (image, class), then the reduction",
    SL__KEYS(focal_tversky_params),
    SL_MAP_IMAGE_CLASS,
    focal_tversky_run,
    focal_tversky_run,
    sl__ov_workspace,
    ov_check,
    sl__ov_map_shape,
    SL_LOSS_KERNEL_CHECKS | SL_LOSS_PROBS_IGNORE | SL_LOSS_SHARD_SUMS,
};

const sl_loss_info sl__loss_log_cosh_dice = {
    "log_cosh_dice",
    "log cosh of each (image, class) entry of the dice loss matrix (Jadon), then the reduction",
    SL__KEYS(dice_params),
    SL_MAP_IMAGE_CLASS,
    log_cosh_run,
    log_cosh_run,
    sl__ov_workspace,
    ov_check,
    sl__ov_map_shape,
    SL_LOSS_KERNEL_CHECKS | SL_LOSS_PROBS_IGNORE | SL_LOSS_SHARD_SUMS,
};

/* ---------------------------------------------------------------------------------------------
 * generalized_dice: one value per image (or one for the batch)
 */

static sl_status gdice_run(const sl_call *c, double *loss)
{
    const sl_options *o = c->o;
    sl__ov v;
    sl__ov_setup(&v, c, SL__OV_OWN, 0, !o->include_background, o->batch, o->ignore_index);
    ov_sigmoid(&v, o);
    sl_status st = ov_shard_sums(&v);
    if (st != SL_OK || (c->phase == SL__PHASE_STATS && o->batch)) return st;
    int64_t C = v.C, NG = v.NG, k0 = o->include_background ? 0 : 1;
    if (c->phase == SL__PHASE_STATS) { /* per image: the mean runs over every shard's images */
        c->stats[2] = (double)NG;
        return SL_OK;
    }
    double ng = c->phase == SL__PHASE_FINISH && !o->batch ? c->stats[2] : (double)NG;
    double scale = o->reduction == SL_REDUCE_MEAN ? 1.0 / ng : 1.0;
    double total = 0.0;
    for (int64_t g = 0; g < NG; g++) {
        const double *I = v.I + g * C, *S = v.S + g * C, *G = v.G + g * C;
        /* Weights 1/G^2, 1/G or 1 live in kS for now; infinite ones become the largest finite
         * weight of the group (0 when all are infinite). */
        double *w = v.kS + g * C, wmax = 0.0;
        for (int64_t k = k0; k < C; k++) {
            if (o->w_type == SL_WTYPE_UNIFORM)
                w[k] = 1.0;
            else if (G[k] == 0.0)
                w[k] = INFINITY;
            else
                w[k] = o->w_type == SL_WTYPE_SQUARE ? 1.0 / (G[k] * G[k]) : 1.0 / G[k];
            if (isfinite(w[k]) && w[k] > wmax) wmax = w[k];
        }
        double num = o->smooth_nr, den = o->smooth_dr;
        for (int64_t k = k0; k < C; k++) {
            if (!isfinite(w[k])) w[k] = wmax;
            num += 2.0 * w[k] * I[k];
            den += w[k] * (S[k] + G[k]);
        }
        double f = 1.0 - num / den;
        if (c->map) sl__put(c, c->map, g, f);
        total += f;
        for (int64_t k = k0; k < C; k++) {
            v.kI[g * C + k] = scale * (-2.0 * w[k] / den);
            v.kS[g * C + k] = scale * (w[k] * num / (den * den));
        }
    }
    *loss = o->reduction == SL_REDUCE_MEAN ? total / ng : total;
    if (o->batch) *loss = sl__ov_shard_part(&v, *loss);
    return sl__ov_grad(&v);
}

static void gdice_map_shape(const sl_options *o, const sl_batch *b, sl_shape *out)
{
    out->ndim = 1;
    out->dim[0] = o->batch ? 1 : b->shape.dim[0];
}

static const sl__key gdice_params[] = {
    {.id = SL_OPT_w_type, .help = "class weights 1/G^2, 1/G or 1 (G the target's volume)"},
    P_BG, P_BATCH, P_SNR, P_SDR, P_IGNORE,
    {.id = SL_OPT_reduction, .help = "over the per-image values; none: the map is those values"},
    P_SIGMOID, P_SOFT,
};

const sl_loss_info sl__loss_generalized_dice = {
    "generalized_dice",
    "generalised Dice (Sudre 2017) per image, as MONAI GeneralizedDiceLoss",
    SL__KEYS(gdice_params),
    SL_MAP_IMAGE_CLASS,
    gdice_run,
    gdice_run,
    sl__ov_workspace,
    ov_check,
    gdice_map_shape,
    SL_LOSS_KERNEL_CHECKS | SL_LOSS_PROBS_IGNORE | SL_LOSS_SHARD_SUMS,
};
