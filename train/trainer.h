/* trainer.h - the training loop, evaluation and inference on top of net.h and images.h: any loss
 * spec of the library drives the network through its gradient (docs/train.md, "Training").
 * Nothing here prints; progress goes to a callback.
 */
#ifndef SEGLOSS_TRAIN_TRAINER_H
#define SEGLOSS_TRAIN_TRAINER_H

#include <stdint.h>

#include "images.h"
#include "net.h"
#include "segloss_data.h"

typedef struct {
    const char *loss;         /* a loss spec ("ce") */
    double missing;           /* probability of dropping each object's annotation (0) */
    unsigned missing_classes; /* bit c: class c may be dropped; 0: every object class */
    int64_t epochs;           /* passes over the training set, when steps == 0 */
    int64_t steps;            /* optimisation steps (0: epochs decide) */
    int batch;                /* images per step (16) */
    int h, w;                 /* image size, multiples of 4 (64, 64) */
    int width;                /* the network's width (16) */
    double lr;                /* AdamW learning rate (2e-3) */
    double weight_decay;      /* AdamW decoupled weight decay (1e-4) */
    uint32_t seed;            /* images, drops, weights and order (0) */
    int threads;              /* 0: every core */
    int64_t n_train;          /* training images (1024) */
    int64_t n_heldout;        /* held-out images (64) */
} sl_train_config;

sl_train_config sl_train_default(void);

/* Checks a configuration (sizes, ranges, the loss spec); one line on failure. */
sl_status sl_train_check(const sl_train_config *cfg, sl_error *err);

/* A progress report: after every step (evaluated == 0), and at the end of every epoch and of
 * training with the held-out metrics (evaluated == 1). */
typedef struct {
    int64_t epoch, nepochs; /* the epoch running (1-based); an epoch is n_train / batch steps */
    int64_t step, nsteps;   /* steps done, of nsteps */
    double loss;            /* mean training loss over this epoch's steps so far */
    double seconds;         /* in the optimisation loop so far */
    int evaluated;
    double iou[SL_NOBJ], dice[SL_NOBJ], mean_iou, mean_dice; /* held-out, when evaluated */
} sl_train_event;

typedef void (*sl_train_progress)(void *ctx, const sl_train_event *ev);

#define SL_TRAIN_PICTURES 6 /* held-out images kept for a picture */

typedef struct {
    sl_net *net; /* the trained network (free with sl_net_free) */
    int64_t steps;
    double train_seconds; /* in the optimisation loop alone (forward, loss, backward, step) */
    double iou[SL_NOBJ], dice[SL_NOBJ], mean_iou, mean_dice; /* held-out, at the end */
    sl_train_event *log; /* one per evaluation (every epoch end, and the end) */
    int64_t nlog;
    int64_t dropped[SL_NCLASS], present[SL_NCLASS]; /* objects dropped / present per class */
    int64_t npic;      /* the first held-out images, their labels and the predictions */
    float *pic_images; /* [npic, 1, h, w] */
    int32_t *pic_labels, *pic_pred; /* [npic, h, w] */
} sl_train_result;

/* Trains from scratch. On success *res owns its arrays (sl_train_result_free). */
sl_status sl_train_run(const sl_train_config *cfg, sl_train_progress cb, void *ctx,
                       sl_train_result *res, sl_error *err);
void sl_train_result_free(sl_train_result *res);

/* Runs a network on images [n, 1, h, w] in batches of up to `batch` (sl_net_reserve must allow
 * it): probabilities [n, K, h, w] (softmax of the logits) into probs, and/or the argmax labels
 * [n, h, w] into pred (lowest class on ties); either may be NULL. */
sl_status sl_train_predict(sl_net *net, const float *images, int64_t n, int h, int w, int batch,
                           float *probs, int32_t *pred, sl_error *err);

/* Mean Dice and IoU over images of each object class (1..3) of predicted labels against
 * labels [n, h, w] (images where a class is absent from labels are left out: MONAI's
 * ignore_empty). */
sl_status sl_train_evaluate(const int32_t *pred, const int32_t *labels, int64_t n, int h, int w,
                            double iou[SL_NOBJ], double dice[SL_NOBJ], sl_error *err);

#endif
