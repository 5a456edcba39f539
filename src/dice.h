/* The overlap (Dice) family's shared machinery (src/loss_dice.c), used by src/loss_dice.c and
 * src/loss_partial_dice.c. Not part of the public API.
 *
 * An overlap loss is a function of per-(group, channel) sums over pixels:
 *   I = sum q r,   S = sum q (or sum q^2),   G = sum r (or sum r^2)
 * where q is a channel's probability and r its target at a pixel, and a group is an image (or
 * the whole batch with batch=true). Channels come from classes by a mode:
 *   OWN    channel c is class c (channel 0 left out with drop_bg);
 *   MERGE  channel 0 is background plus every class not annotated in the image, channel c >= 1
 *          an annotated class (marginal Dice);
 *   UNION  channel c >= 1 is a class not annotated in the image, its probability p_c and its
 *          target the union of the annotated object classes' targets (exclusion).
 * Pass 1 (sl__ov_sums) accumulates the sums in double. A loss then computes its value from them
 * and the partials kI = dL/dI, kS = dL/dS of each entry; pass 2 (sl__ov_grad) writes
 * dL/dq = kI r + kS dS/dq at every pixel and carries it back to the input (softmax for logits,
 * the identity for probabilities). Ignored pixels leave every sum. In OWN mode the fast path is
 * the kernels' ov_sums and ov_grad (src/kernels/body.h), over threads in fixed chunks. */
#ifndef SEGLOSS_DICE_H
#define SEGLOSS_DICE_H

#include "internal.h"

typedef enum { SL__OV_OWN = 0, SL__OV_MERGE, SL__OV_UNION } sl__ov_mode;

typedef struct {
    int64_t N, C, P, NG; /* NG groups: 1 with batch, else N */
    sl__ov_mode mode;
    int squared, drop_bg, batch;
    int sigmoid;        /* per channel: sigmoid of logits (probabilities as given); OWN only */
    int binary;         /* sigmoid on one channel: label y is the target (y in {0, 1}) */
    int soft;           /* soft_label: I = sum min(q, r) (not with squared) */
    int64_t ignore;      /* ignore_index (label maps) */
    const uint8_t *ann;  /* [N * C] annotation matrix (MERGE, UNION), else NULL */
    double *I, *S, *G;   /* [NG * C] sums */
    double *kI, *kS;     /* [NG * C] dL/dI, dL/dS */
    double *parts;       /* per-chunk sums of the kernel path */
    void *scratch;       /* per-pixel scratch of the plain loops */
    const sl_call *c;
} sl__ov;

/* Bytes of workspace of an overlap loss on this batch. */
size_t sl__ov_workspace(const sl_options *o, const sl_batch *b);
/* Carve the workspace, zero the sums and the partials, build the annotation matrix when the
 * mode needs it. */
void sl__ov_setup(sl__ov *v, const sl_call *c, sl__ov_mode mode, int squared, int drop_bg,
                  int batch, int64_t ignore);
/* The channel of class c in image n, or -1. */
int64_t sl__ov_chan(const sl__ov *v, int64_t n, int64_t c);
/* Pass 1 and pass 2: the vector kernels (OWN mode on the fast path), else plain loops (float
 * on the fast path, double on the reference). Pass 2 writes k * dL/dinput through the call. */
sl_status sl__ov_sums(sl__ov *v);
sl_status sl__ov_grad(const sl__ov *v);

/* The per-(group, channel) matrix losses. */
typedef enum {
    SL__OVF_DICE = 0,      /* 1 - Dice (or MONAI Jaccard), times w_c */
    SL__OVF_TVERSKY,       /* 1 - Tversky */
    SL__OVF_FOCAL_TVERSKY, /* max(1 - Tversky, 0)^gamma */
    SL__OVF_LOGCOSH        /* log cosh(w_c (1 - Dice)) */
} sl__ovf_kind;

/* Value of every existing entry of the matrix, the call's map (when wanted; entries that do not
 * exist are 0), kI and kS with the reduction's scale; returns the reduced loss. With MERGE, the
 * map has C columns and entry (g, c >= 1) exists when c is annotated (in some image of the group);
 * otherwise the map has C - drop_bg columns and every entry exists. */
double sl__ov_matrix(sl__ov *v, const sl_options *o, sl__ovf_kind kind);

/* A shard's part of a value its statistics decide alone: the value over the number of shards
 * (sharded evaluation, src/shard.c); the value itself otherwise. */
double sl__ov_shard_part(const sl__ov *v, double value);

/* Map shape [NG, C - drop_bg] (OWN) of the dice-like losses. */
void sl__ov_map_shape(const sl_options *o, const sl_batch *b, sl_shape *out);

#endif
