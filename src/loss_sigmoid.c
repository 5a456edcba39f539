/* Sigmoid (per-channel, multi-label) losses.
 *
 * bce           - torch.nn.BCEWithLogitsLoss exactly (weight and pos_weight per class); on
 *                 probabilities, BCELoss with the probability clipped to [eps, 1 - eps] first
 *                 (Keras' binary_crossentropy) and each log clamped at -100 (PyTorch).
 * sigmoid_focal - torchvision.ops.sigmoid_focal_loss exactly; on probabilities Keras'
 *                 binary_focal_crossentropy (the cross-entropy as bce's, p_t from p as given).
 *
 * A label map becomes a one-hot target over the C channels; on one channel it is that channel's
 * own {0, 1} target (binary segmentation). ignore_index pixels leave every sum (all C of their
 * elements). The map is per element, the input's shape.
 * Formulas and gradients: docs/focal.md, "bce" and "sigmoid_focal". */
#include "internal.h"

#include <math.h>

typedef enum { SIG_BCE = 0, SIG_FOCAL } sig_kind;

/* Per-element constants of one class: BCE weight and positive weight, or the focal's alpha
 * and gamma. */
typedef struct {
    double w, pw;        /* bce */
    double alpha, gamma; /* sigmoid_focal */
    double eps;          /* probabilities: clip */
    int probs;
} sig_par;

/* ---------------------------------------------------------------------------------------------
 * Reference: one element in double precision. Returns the loss, *d = dl/dx.
 */

/* The logits loss (1 - t) x - c log sigmoid(x), log sigmoid(x) = min(x, 0) - L,
 * L = log1p(exp(-|x|)), summed as ((1 - t) x - c min(x, 0)) + c L: for t = 0 or 1 the first
 * part is exact (max(x, 0) or -c min(x, 0)), so tiny losses keep their digits. */
static double ref_bce_logits(double x, double t, double c)
{
    return ((1.0 - t) * x - c * fmin(x, 0.0)) + c * log1p(exp(-fabs(x)));
}


/* Clipped probability's logs for probability input: lp = max(log pc, -100), l1 = max(log(1 -
 * pc), -100), pc = clip(p, eps, 1 - eps); dlp, dl1 their derivatives in p (0 where clipped or
 * clamped). */
static void ref_plogs(double p, double eps, double *lp, double *l1, double *dlp, double *dl1)
{
    int inside = p >= eps && p <= 1.0 - eps;
    double pc = fmin(fmax(p, eps), 1.0 - eps);
    *lp = log(pc);
    *l1 = log1p(-pc);
    *dlp = inside ? 1.0 / pc : 0.0;
    *dl1 = inside ? -1.0 / (1.0 - pc) : 0.0;
    if (*lp < -100.0) {
        *lp = -100.0;
        *dlp = 0.0;
    }
    if (*l1 < -100.0) {
        *l1 = -100.0;
        *dl1 = 0.0;
    }
}

static double ref_bce(const sig_par *k, double x, double t, double *d)
{
    if (k->probs) {
        double lp, l1, dlp, dl1;
        ref_plogs(x, k->eps, &lp, &l1, &dlp, &dl1);
        *d = -k->w * (k->pw * t * dlp + (1.0 - t) * dl1);
        return -k->w * (k->pw * t * lp + (1.0 - t) * l1);
    }
    double c = 1.0 + (k->pw - 1.0) * t;
    /* sigmoid(x) c - pw t = (1 - t) sigmoid(x) - pw t sigmoid(-x): no cancellation. */
    *d = k->w * ((1.0 - t) * sl__sigmoid(x) - k->pw * t * sl__sigmoid(-x));
    return k->w * ref_bce_logits(x, t, c);
}

static double ref_focal(const sig_par *k, double x, double t, double *d)
{
    double p, q, ce, dce, dm;
    if (k->probs) {
        double lp, l1, dlp, dl1;
        ref_plogs(x, k->eps, &lp, &l1, &dlp, &dl1);
        p = x;
        q = 1.0 - x;
        ce = -(t * lp + (1.0 - t) * l1);
        dce = -(t * dlp + (1.0 - t) * dl1);
        dm = 1.0 - 2.0 * t;
    } else {
        p = sl__sigmoid(x);
        q = sl__sigmoid(-x);
        ce = ref_bce_logits(x, t, 1.0);
        dce = (1.0 - t) * p - t * q;
        dm = (1.0 - 2.0 * t) * p * q;
    }
    double m = p * (1.0 - t) + q * t; /* 1 - p_t */
    if (m < 0.0) m = 0.0;
    double mod = k->gamma == 0.0 ? 1.0 : pow(m, k->gamma);
    double dmod = (k->gamma != 0.0 && m > 0.0) ? k->gamma * (mod / m) * dm : 0.0;
    double at = k->alpha >= 0.0 ? k->alpha * t + (1.0 - k->alpha) * (1.0 - t) : 1.0;
    *d = k->w * at * (dce * mod + ce * dmod);
    return k->w * at * ce * mod;
}

/* ---------------------------------------------------------------------------------------------
 * The drivers. The fast path on logits is the kernel (src/kernels/body.h, sig_vec); on
 * probabilities the derivatives 1/p and 1/(1 - p) reach 1/eps, more than float carries to
 * 1e-5, so that input runs the double-precision loops below on both paths.
 */

static void sig_params(sig_kind kind, const sl_options *o, const sl_batch *b, int64_t c, sig_par *k)
{
    k->w = sl__w(o, c); /* bce's weight; sigmoid_focal's per-class weight (MONAI FocalLoss) */
    k->pw = kind == SIG_BCE && o->pos_weight ? o->pos_weight[c] : 1.0;
    k->alpha = o->pos_balance;
    k->gamma = o->gamma;
    k->eps = o->eps;
    k->probs = b->input_kind == SL_INPUT_PROBS;
}

/* The mean is over every element of the non-ignored pixels. */
static double sig_denominator(const sl_call *c)
{
    double D = (double)(c->N * c->P);
    if (c->b->target_kind == SL_TARGET_LABELS)
        for (int64_t i = 0; i < c->N * c->P; i++)
            D -= c->b->labels[i] == c->o->ignore_index;
    return D * (double)c->C;
}

static sl_status sig_ref(sig_kind kind, const sl_call *c, double *loss)
{
    const sl_options *o = c->o;
    const sl_batch *b = c->b;
    int64_t N = c->N, C = c->C, P = c->P;
    int labels = b->target_kind == SL_TARGET_LABELS, mean = o->reduction == SL_REDUCE_MEAN;
    int64_t binary = C == 1; /* one channel: the label is its {0, 1} target */
    double D = sig_denominator(c);
    if (sl__shard_norm(c, &D)) return SL_OK;
    double scale = mean ? (D > 0 ? 1.0 / D : 0.0) : 1.0;
    double total = 0.0;
    for (int64_t n = 0; n < N; n++) {
        for (int64_t ch = 0; ch < C; ch++) {
            sig_par k;
            sig_params(kind, o, b, ch, &k);
            int64_t off = (n * C + ch) * P;
            const float *x = b->input + off;
            const int32_t *y = labels ? b->labels + n * P : NULL;
            const float *t = labels ? NULL : b->target + off;
            for (int64_t i = 0; i < P; i++) {
                double d = 0.0, l = 0.0;
                if (!(y && y[i] == o->ignore_index)) {
                    double tt = y ? (double)(y[i] == ch + binary) : (double)t[i];
                    l = kind == SIG_BCE ? ref_bce(&k, x[i], tt, &d) : ref_focal(&k, x[i], tt, &d);
                }
                if (c->map) sl__put(c, c->map, off + i, l);
                if (c->grad) sl__put(c, c->grad, off + i, d * scale);
                total += l;
            }
        }
    }
    *loss = mean ? sl__mean(c, total, D) : total;
    return SL_OK;
}

static size_t sig_workspace(const sl_options *o, const sl_batch *b)
{
    (void)o;
    int64_t N = b->shape.dim[0], C = b->shape.dim[1];
    int64_t P = sl_shape_numel(&b->shape) / (N * C);
    sl__arena a = sl__arena_of(NULL);
    sl__take(&a, (size_t)(sl__nchunks(N, P) * C) * sizeof(double));
    sl__take(&a, (size_t)(N * C) * sizeof(double));
    sl__take(&a, 2 * (size_t)C * sizeof(float));
    return sl__arena_size(&a);
}

static sl_status bce_ref(const sl_call *c, double *loss);
static sl_status sfocal_ref(const sl_call *c, double *loss);

static sl_status sig_fast(sig_kind kind, const sl_call *c, double *loss)
{
    const sl_options *o = c->o;
    const sl_batch *b = c->b;
    if (b->input_kind == SL_INPUT_PROBS)
        return sl__fall_back(c, kind == SIG_BCE ? bce_ref : sfocal_ref, loss);
    sl__arena ar = sl__arena_of(c->ws);
    double *parts = sl__take(&ar, (size_t)(sl__nchunks(c->N, c->P) * c->C) * sizeof(double));
    double *counts = sl__take(&ar, (size_t)(c->N * c->C) * sizeof(double));
    float *wf = sl__take(&ar, 2 * (size_t)c->C * sizeof(float));
    int mean = o->reduction == SL_REDUCE_MEAN;
    double D = (double)(c->N * c->P * c->C);
    int binary = c->C == 1; /* one channel: the label is its {0, 1} target */
    if (mean && b->target_kind == SL_TARGET_LABELS && binary) {
        D = sig_denominator(c); /* the label pass below counts classes [0, C) only */
    } else if (mean && b->target_kind == SL_TARGET_LABELS) {
        sl_status st = sl__label_counts(c, parts, counts);
        if (st != SL_OK) return st;
        D = sl__counts_weighted(c, counts, NULL) * (double)c->C;
    }
    if (sl__shard_norm(c, &D)) return SL_OK;
    sl__sig_args a;
    memset(&a, 0, sizeof a);
    a.focal = kind == SIG_FOCAL;
    a.C = c->C;
    a.P = c->P;
    a.x = b->input;
    a.y = b->target_kind == SL_TARGET_LABELS ? b->labels : NULL;
    a.t = b->target_kind == SL_TARGET_LABELS ? NULL : b->target;
    a.has_ignore = o->ignore_index >= INT32_MIN && o->ignore_index <= INT32_MAX;
    a.ignore = a.has_ignore ? (int32_t)o->ignore_index : 0;
    a.binary = binary;
    if (o->weight) {
        for (int64_t k = 0; k < c->C; k++)
            wf[k] = (float)o->weight[k];
        a.w = wf;
    }
    if (kind == SIG_BCE && o->pos_weight) {
        for (int64_t k = 0; k < c->C; k++)
            wf[c->C + k] = (float)o->pos_weight[k];
        a.pw = wf + c->C;
    }
    a.alpha = (float)o->pos_balance;
    a.gamma = (float)o->gamma;
    a.gk = (float)(c->k * (mean ? (D > 0 ? 1.0 / D : 0.0) : 1.0));
    a.mk = (float)c->k;
    a.accumulate = c->accumulate;
    a.grad = c->grad;
    a.map = c->map;
    if (sl__for_chunks(c->threads, c->N, c->P, c->kern->sig, &a, parts, 1)) return sl__recheck(c);
    double total = sl__sum_parts(parts, sl__nchunks(c->N, c->P), 1, 0);
    *loss = mean ? sl__mean(c, total, D) : total;
    return SL_OK;
}

/* Probabilities of a sigmoid loss are per channel: each must lie in [0, 1]. Targets of
 * sigmoid_focal too (its (1 - p_t)^gamma needs 0 <= 1 - p_t). */
sl_status sl__refuse_above_one(const sl_loss_info *loss, const sl_batch *b, const float *v,
                               const char *what, const char *why, sl_error *err)
{
    int64_t numel = sl_shape_numel(&b->shape);
    char where[160];
    for (int64_t i = 0; v && i < numel; i++)
        if (v[i] > 1.0f) {
            sl__index_str(&b->shape, i, where, sizeof where);
            return sl__fail(err, SL_E_VALUE, "%s: %s %g at %s is above 1%s", loss->name, what, v[i],
                            where, why);
        }
    return SL_OK;
}

static sl_status sig_check(const sl_loss_info *loss, const sl_batch *b, int targets, sl_error *err)
{
    sl_status st = sl__refuse_above_one(loss, b, b->input_kind == SL_INPUT_PROBS ? b->input : NULL,
                                        "input probability",
                                        " (each channel is a sigmoid probability in [0, 1])", err);
    if (st != SL_OK || !targets) return st;
    return sl__refuse_above_one(loss, b, b->target_kind == SL_TARGET_PROBS ? b->target : NULL,
                                "target", " (targets must be in [0, 1])", err);
}

static sl_status bce_check(const sl_loss_info *loss, const sl_options *o, const sl_batch *b,
                           sl_error *err)
{
    (void)o;
    return sig_check(loss, b, 0, err);
}

static sl_status sfocal_check(const sl_loss_info *loss, const sl_options *o, const sl_batch *b,
                              sl_error *err)
{
    (void)o;
    return sig_check(loss, b, 1, err);
}

static sl_status bce_fast(const sl_call *c, double *loss)
{
    return sig_fast(SIG_BCE, c, loss);
}

static sl_status bce_ref(const sl_call *c, double *loss)
{
    return sig_ref(SIG_BCE, c, loss);
}

static sl_status sfocal_fast(const sl_call *c, double *loss)
{
    return sig_fast(SIG_FOCAL, c, loss);
}

static sl_status sfocal_ref(const sl_call *c, double *loss)
{
    return sig_ref(SIG_FOCAL, c, loss);
}

static const sl__key bce_params[] = {
    {.id = SL_OPT_weight},
    {.id = SL_OPT_pos_weight},
    {.id = SL_OPT_ignore_index, .help = "label whose pixels are left out"},
    {.id = SL_OPT_eps},
    {.id = SL_OPT_reduction, .help = "mean over every element of the non-ignored pixels"},
};

const sl_loss_info sl__loss_bce = {
    "bce",
    "binary cross-entropy per channel, as torch.nn.BCEWithLogitsLoss (BCELoss on probabilities)",
    SL__KEYS(bce_params),
    SL_MAP_ELEMENT,
    bce_fast,
    bce_ref,
    sig_workspace,
    bce_check,
    NULL,
    SL_LOSS_KERNEL_CHECKS | SL_LOSS_SIGMOID | SL_LOSS_SHARD_NORM,
};

static const sl__key sfocal_params[] = {
    {.id = SL_OPT_pos_balance, .alias = "alpha"},
    {.id = SL_OPT_gamma, .help = "focusing exponent of (1 - p_t)"},
    {.id = SL_OPT_weight, .help = "one non-negative weight per class, multiplying its elements (MONAI FocalLoss weight)"},
    {.id = SL_OPT_ignore_index, .help = "label whose pixels are left out"},
    {.id = SL_OPT_eps},
    {.id = SL_OPT_reduction, .help = "mean over every element of the non-ignored pixels"},
};

const sl_loss_info sl__loss_sigmoid_focal = {
    "sigmoid_focal",
    "sigmoid focal loss per channel, as torchvision.ops.sigmoid_focal_loss",
    SL__KEYS(sfocal_params),
    SL_MAP_ELEMENT,
    sfocal_fast,
    sfocal_ref,
    sig_workspace,
    sfocal_check,
    NULL,
    SL_LOSS_KERNEL_CHECKS | SL_LOSS_SIGMOID | SL_LOSS_SHARD_NORM,
};
