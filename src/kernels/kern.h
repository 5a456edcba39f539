/* The kernel layer: vector kernels of the losses that read every pixel, one table per ISA.
 *
 * The kernels are written once (src/kernels/body.h) over 16-lane vectors (src/kernels/vec.h)
 * and compiled three times: portable C, AVX2 + FMA and AVX-512, each file with its own -m flags.
 * sl__kern_select picks the table at run time from the CPU, or from the environment variable
 * SEGLOSS_ISA=scalar|avx2|avx512 (a path the CPU lacks is never chosen). Every path computes
 * the same bits.
 *
 * A kernel handles pixels [p0, p1) of image n for all classes: one sweep reads the inputs (and
 * labels or targets), computes the loss and writes the gradient once. It adds its partial sums
 * (double) into part, and returns nonzero when it met input the checks must refuse (a
 * non-finite value, a label out of range, a pixel of probabilities that sums to 0 or has a
 * negative entry): the caller then runs the full checks for the message. Not part of the public
 * API. */
#ifndef SEGLOSS_KERN_H
#define SEGLOSS_KERN_H

#include <stddef.h>
#include <stdint.h>

/* Classes a kernel keeps on its stack; a batch with more runs the reference path. */
#define SL_KERN_MAX_C 64

/* Cross-entropy family (per pixel, over classes). */
typedef enum { SL__CE = 0, SL__CE_FOCAL, SL__CE_MISSING, SL__CE_MARGINAL } sl__ce_kind;

typedef struct {
    sl__ce_kind kind;
    int64_t C, P;
    const float *x;       /* [N, C, P] logits, or probabilities when probs */
    const int32_t *y;     /* [N, P] labels; NULL with t */
    const float *t;       /* [N, C, P] per-class targets; NULL with y */
    int probs;            /* input is probabilities: renormalise, clip to [eps, 1 - eps] */
    float eps;
    int32_t ignore;       /* ignore_index, when has_ignore */
    int has_ignore;
    const float *w;       /* [C]: ce and missing_ce weight, focal alpha; NULL: all 1 */
    float smoothing;      /* ce */
    float gamma;          /* focal */
    const uint8_t *ann;   /* [N, C] annotation matrix: missing_ce, marginal_ce */
    float gk;             /* the gradient's factor (k / normaliser) */
    float mk;             /* the map's factor (k) */
    int accumulate;       /* add into grad and map */
    float *grad;          /* [N, C, P] or NULL */
    float *map;           /* [N, P] or NULL */
} sl__ce_args;

/* Sigmoid pair, on logits (per element). */
typedef struct {
    int focal;            /* sigmoid_focal, else bce */
    int64_t C, P;
    const float *x;
    const int32_t *y;     /* labels: one-hot targets; or t */
    const float *t;
    int32_t ignore;
    int has_ignore;
    int binary;          /* one channel, labels {0, 1}: class c's target is [y == c + 1] */
    const float *w, *pw;  /* bce weight and pos_weight per class; NULL: all 1 */
    float alpha, gamma;   /* sigmoid_focal; alpha < 0: no weighting */
    float gk, mk;
    int accumulate;
    float *grad, *map;    /* [N, C, P] each, or NULL */
} sl__sig_args;

/* Overlap family: per-class sums (pass 1) and the gradient from their partials (pass 2). */
typedef struct {
    int64_t C, P;
    const float *x;
    const int32_t *y;
    const float *t;
    int probs;            /* probabilities as given, else softmax of logits */
    int32_t ignore;
    int has_ignore;
    int squared;          /* sums of p^2 and r^2 */
    int sigmoid;           /* per channel: p_c = sigmoid(x_c) (logits) or x_c as given (probs) */
    int binary;            /* one channel, labels {0, 1}: class c's target is [y == c + 1] */
    int soft;              /* I = sum min(p, r) (MONAI soft_label), dI/dp = [p < r] + [p = r] / 2 */
    const double *kI, *kS; /* pass 2: dL/dI and dL/dS per class, k included; [N or 1][C] */
    int64_t kstride;      /* C, or 0 when the sums run over the batch */
    int accumulate;
    float *grad;
} sl__ov_args;

/* Softmax over classes into a buffer, and the chain rule back from dL/dp: for the losses whose
 * middle part is not per pixel (Lovasz, the distance losses). */
typedef struct {
    int64_t C, P;
    const float *x;       /* [N, C, P] */
    int probs;            /* probabilities: p = x as given (checked), else softmax */
    float *p;             /* out: [N, C, P] */
} sl__sm_args;

typedef struct {
    int64_t C, P;
    const float *p;       /* [N, C, P] probabilities (as sl__sm_args wrote them) */
    const float *g;       /* [N, C, P] dL/dp */
    int softmax;          /* dL/dx_c = p_c (g_c - sum_k p_k g_k); else dL/dx = g */
    float k;              /* factor */
    int accumulate;
    float *grad;          /* [N, C, P] */
} sl__chain_args;

typedef struct {
    const char *name; /* "scalar", "avx2", "avx512" */
    /* part[0] += the chunk's loss (weighted, unscaled). */
    int (*ce)(const void *args, int64_t n, int64_t p0, int64_t p1, double *part);
    /* part[0] += the chunk's loss. */
    int (*sig)(const void *args, int64_t n, int64_t p0, int64_t p1, double *part);
    /* part[3c + 0, 1, 2] += I, S, G of class c. */
    int (*ov_sums)(const void *args, int64_t n, int64_t p0, int64_t p1, double *part);
    int (*ov_grad)(const void *args, int64_t n, int64_t p0, int64_t p1, double *part);
    /* Label counts: part[c] += the pixels labelled c (c < C); labels neither in [0, C) nor
     * ignore_index are bad input. args is an sl__ce_args (C, P, y, ignore). */
    int (*count)(const void *args, int64_t n, int64_t p0, int64_t p1, double *part);
    int (*softmax)(const void *args, int64_t n, int64_t p0, int64_t p1, double *part);
    int (*chain)(const void *args, int64_t n, int64_t p0, int64_t p1, double *part);
    /* The benchmark's floor: reads what ce reads (x, labels) and writes what it writes (grad),
     * with no maths. args is an sl__ce_args. */
    int (*floor)(const void *args, int64_t n, int64_t p0, int64_t p1, double *part);
    /* For the tests: y[i] = f(x[i]), f = 0 exp, 1 log, 2 log1p, 3 expm1. */
    void (*math)(int f, const float *x, float *y, int64_t n);
} sl__kern;

extern const sl__kern sl__kern_scalar;
#if defined(__x86_64__) || defined(__i386__)
extern const sl__kern sl__kern_avx2;
extern const sl__kern sl__kern_avx512;
#endif

/* The table for this CPU, or the one SEGLOSS_ISA names (when the CPU has it). */
const sl__kern *sl__kern_select(void);
/* The table of a named ISA, NULL when unknown or not supported by this CPU. */
const sl__kern *sl__kern_named(const char *name);

#endif
