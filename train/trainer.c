/* trainer.c - the training loop, evaluation and inference (trainer.h). */
#include "trainer.h"

#include "internal.h" /* sl__fail, sl__softmax */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

sl_train_config sl_train_default(void)
{
    sl_train_config c;
    memset(&c, 0, sizeof c);
    c.loss = "ce";
    c.epochs = 6;
    c.batch = 16;
    c.h = c.w = 64;
    c.width = 16;
    c.lr = 2e-3;
    c.weight_decay = 1e-4;
    c.n_train = 1024;
    c.n_heldout = 64;
    return c;
}

sl_status sl_train_check(const sl_train_config *c, sl_error *err)
{
    if (!c->loss || !*c->loss) return sl__fail(err, SL_E_ARG, "no loss spec");
    if (!(c->missing >= 0 && c->missing <= 1))
        return sl__fail(err, SL_E_ARG, "the missing rate must be in [0, 1], got %g", c->missing);
    if (c->missing_classes & ~0xEu)
        return sl__fail(err, SL_E_ARG, "only object classes 1..%d can lose annotations", SL_NOBJ);
    if (c->batch < 1 || c->batch > 4096)
        return sl__fail(err, SL_E_ARG, "the batch must be in [1, 4096], got %d", c->batch);
    if (c->h < SL_IMAGES_MIN_SIDE || c->w < SL_IMAGES_MIN_SIDE || c->h % 4 || c->w % 4 ||
        c->h > 1024 || c->w > 1024)
        return sl__fail(err, SL_E_ARG,
                        "the image size must be multiples of 4 from %d to 1024, got %d,%d",
                        SL_IMAGES_MIN_SIDE, c->h, c->w);
    if (c->width < 1 || c->width > 256)
        return sl__fail(err, SL_E_ARG, "the width must be in [1, 256], got %d", c->width);
    if (!(c->lr > 0 && c->lr < 10))
        return sl__fail(err, SL_E_ARG, "the learning rate must be in (0, 10)");
    if (!(c->weight_decay >= 0 && c->weight_decay < 1))
        return sl__fail(err, SL_E_ARG, "the weight decay must be in [0, 1)");
    if (c->n_train < c->batch || c->n_train > 1000000)
        return sl__fail(
            err, SL_E_ARG,
            "the training set must hold from one batch (%d) to 1000000 images, got %lld", c->batch,
            (long long)c->n_train);
    if (c->n_heldout < 1 || c->n_heldout > 100000)
        return sl__fail(err, SL_E_ARG, "the held-out set must hold 1 to 100000 images");
    if (c->steps < 0 || c->epochs < 0 || (c->steps == 0 && c->epochs == 0))
        return sl__fail(err, SL_E_ARG, "give a positive number of epochs or steps");
    if ((double)c->n_train * c->h * c->w > 4e9)
        return sl__fail(err, SL_E_ARG, "the training set is too large (%lld images of %dx%d)",
                        (long long)c->n_train, c->h, c->w);
    if (c->threads < 0 || c->threads > 1024)
        return sl__fail(err, SL_E_ARG, "threads must be in [0, 1024], got %d", c->threads);
    sl_spec *spec;
    sl_status st = sl_spec_parse(c->loss, &spec, err);
    if (st != SL_OK) return st;
    sl_spec_free(spec);
    return SL_OK;
}

sl_status sl_train_evaluate(const int32_t *pred, const int32_t *labels, int64_t n, int h, int w,
                            double iou[SL_NOBJ], double dice[SL_NOBJ], sl_error *err)
{
    sl_shape shape = {3, {n, h, w, 0, 0}};
    size_t wsz = sl_metrics_workspace_size(&shape, SL_NCLASS);
    double *d = malloc((size_t)n * SL_NCLASS * sizeof(double));
    double *u = malloc((size_t)n * SL_NCLASS * sizeof(double));
    void *ws = malloc(wsz ? wsz : 1);
    if (!d || !u || !ws) {
        free(d);
        free(u);
        free(ws);
        return sl__fail(err, SL_E_NOMEM, "out of memory for the metrics");
    }
    sl_metrics_out mo = {d, u, NULL, NULL};
    sl_status st = sl_metrics(pred, labels, &shape, SL_NCLASS, NULL, NULL, &mo, ws, wsz, err);
    if (st == SL_OK) {
        for (int c = 1; c < SL_NCLASS; c++) {
            double si = 0, sd = 0;
            int64_t k = 0;
            for (int64_t i = 0; i < n; i++) {
                double vi = u[i * SL_NCLASS + c], vd = d[i * SL_NCLASS + c];
                if (isnan(vi)) continue;
                si += vi;
                sd += vd;
                k++;
            }
            iou[c - 1] = k ? si / (double)k : NAN;
            dice[c - 1] = k ? sd / (double)k : NAN;
        }
    }
    free(d);
    free(u);
    free(ws);
    return st;
}

sl_status sl_train_predict(sl_net *net, const float *images, int64_t n, int h, int w, int batch,
                           float *probs, int32_t *pred, sl_error *err)
{
    int K = sl_net_get_config(net).classes;
    int64_t P = (int64_t)h * w;
    float *logits = malloc((size_t)batch * (size_t)K * (size_t)P * sizeof(float));
    if (!logits) return sl__fail(err, SL_E_NOMEM, "out of memory for the logits");
    sl_status st = SL_OK;
    for (int64_t i0 = 0; i0 < n && st == SL_OK; i0 += batch) {
        int B = (int)(n - i0 < batch ? n - i0 : batch);
        st = sl_net_forward(net, images + i0 * P, B, logits, err);
        if (st != SL_OK) break;
        for (int b = 0; b < B; b++) {
            const float *z = logits + (int64_t)b * K * P;
            for (int64_t j = 0; j < P; j++) {
                float m = z[j];
                int arg = 0;
                for (int k = 1; k < K; k++)
                    if (z[k * P + j] > m) {
                        m = z[k * P + j];
                        arg = k;
                    }
                if (pred) pred[(i0 + b) * P + j] = arg;
                if (!isfinite(m)) {
                    st = sl__fail(err, SL_E_VALUE,
                                  "the network's output is not finite at image %lld",
                                  (long long)(i0 + b));
                    break;
                }
                if (probs) {
                    float *q = probs + (i0 + b) * K * P + j;
                    double v[256]; /* classes <= 256 (sl__net_config_check) */
                    for (int k = 0; k < K; k++)
                        v[k] = (double)z[k * P + j];
                    sl__softmax(v, K, 1, 0);
                    for (int k = 0; k < K; k++)
                        q[k * P] = (float)v[k];
                }
            }
            if (st != SL_OK) break;
        }
    }
    free(logits);
    return st;
}

void sl_train_result_free(sl_train_result *res)
{
    if (res->net) sl_net_free(res->net);
    free(res->log);
    free(res->pic_images);
    free(res->pic_labels);
    free(res->pic_pred);
    memset(res, 0, sizeof *res);
}

/* What a run holds while it trains. */
typedef struct {
    float *x, *hx; /* training and held-out images */
    int32_t *y, *hy,
        *hpred;   /* training labels (annotations dropped), held-out labels, predictions */
    uint8_t *ann; /* the annotation matrix inferred from the training labels */
    int64_t *order;
    float *bx, *logits, *grad;
    int32_t *by;
    uint8_t *bann;
    void *ws;
    sl_spec *spec;
} state;

static void state_free(state *s)
{
    free(s->x);
    free(s->hx);
    free(s->y);
    free(s->hy);
    free(s->hpred);
    free(s->ann);
    free(s->order);
    free(s->bx);
    free(s->logits);
    free(s->grad);
    free(s->by);
    free(s->bann);
    free(s->ws);
    sl_spec_free(s->spec);
}

static sl_status evaluate(sl_net *net, const sl_train_config *c, state *s, sl_train_event *ev,
                          sl_error *err)
{
    sl_status st =
        sl_train_predict(net, s->hx, c->n_heldout, c->h, c->w, c->batch, NULL, s->hpred, err);
    if (st != SL_OK) return st;
    st = sl_train_evaluate(s->hpred, s->hy, c->n_heldout, c->h, c->w, ev->iou, ev->dice, err);
    if (st != SL_OK) return st;
    ev->mean_iou = ev->mean_dice = 0;
    for (int k = 0; k < SL_NOBJ; k++) {
        ev->mean_iou += ev->iou[k] / SL_NOBJ;
        ev->mean_dice += ev->dice[k] / SL_NOBJ;
    }
    ev->evaluated = 1;
    return SL_OK;
}

/* The run's buffers (and its log of nepochs + 1 events). */
static sl_status state_alloc(const sl_train_config *c, int64_t nepochs, state *s,
                             sl_train_result *res, sl_error *err)
{
    const int K = SL_NCLASS;
    const int64_t P = (int64_t)c->h * c->w, B = c->batch;
    s->x = malloc((size_t)(c->n_train * P) * sizeof(float));
    s->y = malloc((size_t)(c->n_train * P) * sizeof(int32_t));
    s->ann = malloc((size_t)(c->n_train * K));
    s->hx = malloc((size_t)(c->n_heldout * P) * sizeof(float));
    s->hy = malloc((size_t)(c->n_heldout * P) * sizeof(int32_t));
    s->hpred = malloc((size_t)(c->n_heldout * P) * sizeof(int32_t));
    s->order = malloc((size_t)c->n_train * sizeof(int64_t));
    s->bx = malloc((size_t)(B * P) * sizeof(float));
    s->by = malloc((size_t)(B * P) * sizeof(int32_t));
    s->bann = malloc((size_t)(B * K));
    s->logits = malloc((size_t)(B * K * P) * sizeof(float));
    s->grad = malloc((size_t)(B * K * P) * sizeof(float));
    res->log = calloc((size_t)nepochs + 1, sizeof(sl_train_event));
    if (!s->x || !s->y || !s->ann || !s->hx || !s->hy || !s->hpred || !s->order || !s->bx ||
        !s->by || !s->bann || !s->logits || !s->grad || !res->log)
        return sl__fail(err, SL_E_NOMEM, "out of memory for %lld training images of %dx%d",
                        (long long)c->n_train, c->h, c->w);
    return SL_OK;
}

/* The data: training images from the seed, their annotations dropped (what was present and
 * what was dropped go to res); the held-out set. */
static sl_status make_data(const sl_train_config *c, state *s, sl_train_result *res, sl_error *err)
{
    const int K = SL_NCLASS;
    const int64_t P = (int64_t)c->h * c->w;
    sl_status st =
        sl_images_render(s->x, s->y, c->n_train, c->h, c->w, c->seed, SL_IMAGES_TRAIN, err);
    if (st != SL_OK) return st;
    uint8_t *all = s->ann; /* presence before the drops, counted per class */
    sl_annotated_from_labels(s->y, c->n_train, K, P, all);
    for (int64_t i = 0; i < c->n_train; i++)
        for (int k = 1; k < K; k++)
            res->present[k] += all[i * K + k];
    st = sl_images_drop(s->y, c->n_train, P, c->missing, c->missing_classes, c->seed, NULL,
                        res->dropped, err);
    if (st != SL_OK) return st;
    sl_annotated_from_labels(s->y, c->n_train, K, P, s->ann);
    return sl_images_render(s->hx, s->hy, c->n_heldout, c->h, c->w, SL_HELDOUT_SEED,
                            SL_IMAGES_HELDOUT, err);
}

/* The network, reserved for the batches, its meta text naming the run. */
static sl_status make_net(const sl_train_config *c, int64_t nsteps, sl_net **net, sl_error *err)
{
    sl_net_config nc = {1, SL_NCLASS, c->width};
    sl_status st = sl_net_create(&nc, c->seed, net, err);
    if (st == SL_OK) st = sl_net_reserve(*net, c->batch, c->h, c->w, c->threads, err);
    if (st != SL_OK) return st;
    char meta[1024];
    snprintf(meta, sizeof meta,
             "loss=%s; missing=%g; size=%d,%d; width=%d; batch=%d; lr=%g; seed=%u; "
             "steps=%lld; n_train=%lld",
             c->loss, c->missing, c->h, c->w, c->width, c->batch, c->lr, c->seed, (long long)nsteps,
             (long long)c->n_train);
    return sl_net_set_meta(*net, meta, err);
}

/* Batch pos of the epoch: images, labels and annotations copied in the epoch's order; at
 * pos 0 a new order first. */
static void next_batch(const sl_train_config *c, state *s, sl_rng *rng, int64_t pos)
{
    const int K = SL_NCLASS;
    const int64_t P = (int64_t)c->h * c->w;
    if (pos == 0)
        for (int64_t i = c->n_train - 1; i > 0; i--) {
            int64_t j = sl_rng_randint(rng, i + 1), t = s->order[i];
            s->order[i] = s->order[j];
            s->order[j] = t;
        }
    for (int64_t k = 0; k < c->batch; k++) {
        int64_t i = s->order[pos * c->batch + k];
        memcpy(s->bx + k * P, s->x + i * P, (size_t)P * sizeof(float));
        memcpy(s->by + k * P, s->y + i * P, (size_t)P * sizeof(int32_t));
        memcpy(s->bann + k * K, s->ann + i * K, (size_t)K);
    }
}

/* One step on the batch in s: forward, the loss (b, out), backward, AdamW. A value error or
 * a loss that is not finite is the run diverging. */
static sl_status train_step(sl_net *net, const sl_adamw *opt, state *s, const sl_batch *b,
                            sl_output *out, int64_t step, sl_error *err)
{
    sl_status st = sl_net_forward(net, s->bx, (int)b->shape.dim[0], s->logits, err);
    if (st != SL_OK) return st;
    st = sl_spec_eval(s->spec, b, SL_IMPL_FAST, out, err);
    if (st == SL_E_VALUE) {
        char why[SL_ERR_LEN];
        snprintf(why, sizeof why, "%s", err ? err->msg : "");
        return sl__fail(err, SL_E_VALUE, "training diverged at step %lld (%s); try a lower --lr",
                        (long long)step + 1, why);
    }
    if (st != SL_OK) return st;
    if (!isfinite(out->loss))
        return sl__fail(err, SL_E_VALUE,
                        "training diverged at step %lld: the loss is %g; try a lower --lr",
                        (long long)step + 1, out->loss);
    st = sl_net_backward(net, s->grad, err);
    if (st == SL_OK) sl_net_step(net, opt);
    return st;
}

/* The result: the last evaluation, and the first held-out images with their labels and
 * predictions for pictures. */
static sl_status finish(const sl_train_config *c, const state *s, const sl_train_event *ev,
                        sl_train_result *res, sl_error *err)
{
    const int64_t P = (int64_t)c->h * c->w;
    memcpy(res->iou, ev->iou, sizeof ev->iou);
    memcpy(res->dice, ev->dice, sizeof ev->dice);
    res->mean_iou = ev->mean_iou;
    res->mean_dice = ev->mean_dice;
    res->npic = c->n_heldout < SL_TRAIN_PICTURES ? c->n_heldout : SL_TRAIN_PICTURES;
    res->pic_images = malloc((size_t)(res->npic * P) * sizeof(float));
    res->pic_labels = malloc((size_t)(res->npic * P) * sizeof(int32_t));
    res->pic_pred = malloc((size_t)(res->npic * P) * sizeof(int32_t));
    if (!res->pic_images || !res->pic_labels || !res->pic_pred)
        return sl__fail(err, SL_E_NOMEM, "out of memory");
    memcpy(res->pic_images, s->hx, (size_t)(res->npic * P) * sizeof(float));
    memcpy(res->pic_labels, s->hy, (size_t)(res->npic * P) * sizeof(int32_t));
    memcpy(res->pic_pred, s->hpred, (size_t)(res->npic * P) * sizeof(int32_t));
    return SL_OK;
}

/* The steps: a batch, a step, the epoch's running mean of the loss to cb after each, an
 * evaluation at each epoch's end (and the last step) into res's log. */
static sl_status train_loop(const sl_train_config *c, sl_net *net, state *s, int64_t nsteps,
                            sl_train_progress cb, void *ctx, sl_train_result *res,
                            sl_train_event *ev, sl_error *err)
{
    const int64_t spe = c->n_train / c->batch; /* steps per epoch */
    /* The loss: a batch of logits against the dropped labels and their annotation matrix. */
    sl_batch b = {.shape = {4, {c->batch, SL_NCLASS, c->h, c->w}},
                  .input = s->logits,
                  .input_kind = SL_INPUT_LOGITS,
                  .target_kind = SL_TARGET_LABELS,
                  .labels = s->by,
                  .annotated = s->bann};
    size_t wsz = sl_spec_workspace_size(s->spec, &b);
    if (!(s->ws = malloc(wsz ? wsz : 1)))
        return sl__fail(err, SL_E_NOMEM, "out of memory for the loss's workspace");
    sl_output out = {0.0, s->grad, NULL, s->ws, wsz, c->threads};
    sl_adamw opt = sl_adamw_default();
    opt.lr = (float)c->lr;
    opt.weight_decay = (float)c->weight_decay;
    sl_rng rng;
    sl_rng_seed(&rng, c->seed ^ 0x7F4A7C15u);
    for (int64_t i = 0; i < c->n_train; i++)
        s->order[i] = i;
    double train_s = 0, sum = 0;
    for (int64_t step = 0; step < nsteps; step++) {
        int64_t pos = step % spe;
        next_batch(c, s, &rng, pos);
        double t0 = now();
        sl_status st = train_step(net, &opt, s, &b, &out, step, err);
        if (st != SL_OK) return st;
        train_s += now() - t0;
        sum = (pos == 0 ? 0.0 : sum) + out.loss;
        ev->epoch = step / spe + 1;
        ev->step = step + 1;
        ev->loss = sum / (double)(pos + 1);
        ev->seconds = res->train_seconds = train_s;
        ev->evaluated = 0;
        if (cb) cb(ctx, ev);
        if (pos == spe - 1 || step == nsteps - 1) {
            if ((st = evaluate(net, c, s, ev, err)) != SL_OK) return st;
            res->log[res->nlog++] = *ev;
            if (cb) cb(ctx, ev);
        }
    }
    return SL_OK;
}

sl_status sl_train_run(const sl_train_config *c, sl_train_progress cb, void *ctx,
                       sl_train_result *res, sl_error *err)
{
    memset(res, 0, sizeof *res);
    sl_status st = sl_train_check(c, err);
    if (st != SL_OK) return st;
    const int64_t spe = c->n_train / c->batch; /* steps per epoch */
    const int64_t nsteps = c->steps ? c->steps : c->epochs * spe;
    const int64_t nepochs = (nsteps + spe - 1) / spe;
    state s;
    memset(&s, 0, sizeof s);
    sl_net *net = NULL;
    sl_train_event ev;
    memset(&ev, 0, sizeof ev);
    ev.nepochs = nepochs;
    ev.nsteps = nsteps;
    if ((st = sl_spec_parse(c->loss, &s.spec, err)) != SL_OK) return st;
    st = state_alloc(c, nepochs, &s, res, err);
    if (st == SL_OK) st = make_data(c, &s, res, err);
    if (st == SL_OK) st = make_net(c, nsteps, &net, err);
    if (st == SL_OK) st = train_loop(c, net, &s, nsteps, cb, ctx, res, &ev, err);
    if (st == SL_OK) st = finish(c, &s, &ev, res, err);
    if (st == SL_OK) {
        res->steps = nsteps;
        res->net = net;
        net = NULL;
    }
    state_free(&s);
    if (net) sl_net_free(net);
    if (st != SL_OK) sl_train_result_free(res);
    return st;
}
