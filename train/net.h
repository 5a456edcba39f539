/* net.h - the trainer's network: a small U-Net with forward and backward of every layer,
 * He initialisation, AdamW and a versioned model file (docs/train.md describes all of it).
 *
 * The network (w = width, K = classes including background):
 *   e1 = block(1 -> w)           block(i -> o) = conv3x3(i->o, pad 1) + ReLU, conv3x3(o->o, pad 1)
 * + ReLU e2 = block(w -> 2w)   after 2x2 max-pool b  = block(2w -> 4w)  after 2x2 max-pool d2 =
 * block(4w -> 2w)  on concat(transposed conv 2x2 stride 2 (4w -> 2w) of b, e2) d1 = block(2w -> w)
 * on concat(transposed conv 2x2 stride 2 (2w -> w) of d2, e1) head = conv1x1(w -> K) -> logits
 *
 * Convolutions go through OpenBLAS's sgemm, kept on one thread (sl_net_reserve sets OpenBLAS's
 * thread count to 1 for the whole process); the batch is split across OpenMP threads, each with
 * its own workspace; each image's gradients go to their own slot and are added in image order,
 * so a run is reproducible for a given seed, and gives the same bits on any thread count.
 * Nothing allocates after sl_net_reserve. Every function reports errors through sl_error and
 * never prints. Distinct networks may run forward, backward and step from distinct threads at
 * once (reserve them one at a time: sl_net_reserve sets OpenBLAS's global thread count).
 */
#ifndef SEGLOSS_TRAIN_NET_H
#define SEGLOSS_TRAIN_NET_H

#include <stdint.h>
#include <stdio.h>

#include "segloss_data.h"

typedef struct {
    int in_channels; /* image channels: 1 */
    int classes;     /* output channels K = object classes + 1 (background) */
    int width;       /* w: 16 by default */
} sl_net_config;

typedef struct sl_net sl_net;

/* A new network with He-initialised weights drawn from seed, biases zero. */
sl_status sl_net_create(const sl_net_config *cfg, uint64_t seed, sl_net **out, sl_error *err);
void sl_net_free(sl_net *net);
sl_net_config sl_net_get_config(const sl_net *net);
size_t sl_net_param_count(const sl_net *net);

/* The parameters (sl_net_param_count floats): each layer's weight then bias, layers in the
 * order e1 (two convs), e2 (two), b (two), up2, d2 (two), up1, d1 (two), head; weights laid
 * out as PyTorch's (conv [out, in, k, k], transposed conv [in, out, 2, 2]). Writable. */
float *sl_net_params(sl_net *net);
/* The gradients of the last backward, in the same layout. */
const float *sl_net_grads(const sl_net *net);
/* AdamW steps taken so far. */
int64_t sl_net_steps(const sl_net *net);

/* Sizes the activations and workspaces for batches of up to max_batch images of H x W (H and W
 * multiples of 4) on `threads` OpenMP threads (0: OMP_NUM_THREADS or every core). Allocates;
 * forward, backward and step then allocate nothing. May be called again with other sizes. */
sl_status sl_net_reserve(sl_net *net, int max_batch, int H, int W, int threads, sl_error *err);

/* images [B, in_channels, H, W] -> logits [B, K, H, W] (B <= max_batch). Keeps what backward
 * needs. */
sl_status sl_net_forward(sl_net *net, const float *images, int B, float *logits, sl_error *err);

/* dlogits [B, K, H, W], the gradient of the loss with respect to the last forward's logits ->
 * the parameter gradients (overwritten, not accumulated). */
sl_status sl_net_backward(sl_net *net, const float *dlogits, sl_error *err);

typedef struct {
    float lr;           /* 1e-3 */
    float beta1, beta2; /* 0.9, 0.999 */
    float eps;          /* 1e-8 */
    float weight_decay; /* decoupled, as torch.optim.AdamW: 1e-2 */
} sl_adamw;

sl_adamw sl_adamw_default(void);

/* One AdamW step from the gradients of the last backward (PyTorch's AdamW update, bias
 * corrected; the step count lives in the network). */
void sl_net_step(sl_net *net, const sl_adamw *opt);

/* The model file: a versioned binary format (docs/train.md). Write to an open stream; read
 * checks magic, version, sizes and the checksum and refuses anything truncated or malformed
 * with SL_E_FORMAT and one line. `meta` is an optional NUL-terminated text kept in the file
 * (the loss spec and settings a model was trained with); sl_net_meta returns it. */
sl_status sl_net_write(const sl_net *net, FILE *f, sl_error *err);
sl_status sl_net_read(FILE *f, sl_net **out, sl_error *err);
sl_status sl_net_load(const char *path, sl_net **out, sl_error *err);
/* The longest meta text, in bytes. */
#define SL_NET_META_MAX 65536
sl_status sl_net_set_meta(sl_net *net, const char *meta, sl_error *err);
const char *sl_net_meta(const sl_net *net);

#endif
