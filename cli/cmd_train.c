/* segloss images, train, infer: data for the trainer, the training loop with any loss spec, and
 * a saved model run on new images. */
#include "cli.h"
#include "train_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------------------------------- */

static const char images_usage[] =
    "usage: segloss images --n N --size H,W --out IMAGES.npy --labels LABELS.npy [--seed S]\n"
    "                      [--png F.png] [--missing RATE] [--missing-classes LIST]\n"
    "\n"
    "Grey images for the trainer, rendered from the post's masks (docs/train.md, \"The data\"):\n"
    "an ellipse (striped), a square (checkered) and a circle (bright centre) near the post's\n"
    "places, jittered in position, size and rotation, over a sloping background with clutter\n"
    "(small disks, bars and triangles as bright as the objects) and Gaussian noise.\n"
    "Image i depends only on (seed, i, H, W). segloss train --seed S trains on these images\n"
    "of seed S; its held-out set comes from a stream no seed here reaches.\n"
    "\n"
    "  --n N                 images, 1..100000\n"
    "  --size H,W            image size, each 16..1024\n"
    "  --seed S              seed (default 0)\n"
    "  --out IMAGES.npy      float32 [N, 1, H, W]\n"
    "  --labels LABELS.npy   int32 [N, H, W]: 0 background, 1 ellipse, 2 square, 3 circle\n"
    "                        (later objects on top), complete unless --missing\n"
    "  --missing RATE        drop each object's annotation with probability RATE (its pixels\n"
    "                        become background in LABELS; the object stays in the image)\n"
    "  --missing-classes L   object classes that may lose annotations (default 1,2,3)\n"
    "  --png F.png           the first 8 images and their label maps\n";

int cmd_images(int argc, char **argv)
{
    const char *n_s, *size_s, *seed_s, *out_s, *lab_s, *png_s, *miss_s, *mc_s;
    cli_opt opts[] = {
        {"n", 1, &n_s, NULL},          {"size", 1, &size_s, NULL},
        {"seed", 1, &seed_s, NULL},    {"out", 1, &out_s, NULL},
        {"labels", 1, &lab_s, NULL},   {"png", 1, &png_s, NULL},
        {"missing", 1, &miss_s, NULL}, {"missing-classes", 1, &mc_s, NULL},
    };
    const char *pos[1];
    int npos;
    int rc = cli_parse("images", images_usage, argc, argv, opts, 8, pos, 0, &npos);
    if (rc) return rc;
    if (!n_s) return cli_missing("images", "n");
    if (!size_s) return cli_missing("images", "size");
    if (!out_s) return cli_missing("images", "out");
    if (!lab_s) return cli_missing("images", "labels");
    int64_t n, h, w, seed = 0;
    double rate = 0;
    unsigned mask = 0;
    if ((rc = cli_int("images", "n", n_s, 1, 100000, &n))) return rc;
    if ((rc = cli_size2("images", "size", size_s, 1024, &h, &w))) return rc;
    if (h < SL_IMAGES_MIN_SIDE || w < SL_IMAGES_MIN_SIDE)
        return cli_fail("images", CLI_USAGE, "--size: at least %d,%d, got %lld,%lld",
                        SL_IMAGES_MIN_SIDE, SL_IMAGES_MIN_SIDE, (long long)h, (long long)w);
    if (n * h * w > ((int64_t)1 << 28))
        return cli_fail("images", CLI_USAGE, "--n times --size is more than 2^28 pixels");
    if (seed_s && (rc = cli_int("images", "seed", seed_s, 0, UINT32_MAX, &seed))) return rc;
    if (miss_s && (rc = tu_rate("images", "missing", miss_s, &rate))) return rc;
    if (mc_s && (rc = tu_classes("images", "missing-classes", mc_s, &mask))) return rc;
    if (mc_s && !miss_s) return cli_fail("images", CLI_USAGE, "--missing-classes needs --missing");

    /* every output named before any work: the same file twice, or a missing folder, is
     * refused here; nothing is written until all are (cli/out.h) */
    cli_outs outs;
    cli_outs_init(&outs, "images");
    int64_t p = h * w;
    float *x = NULL;
    int32_t *y = NULL;
    if ((rc = cli_outs_add(&outs, "out", out_s)) || (rc = cli_outs_add(&outs, "labels", lab_s)) ||
        (rc = cli_outs_add(&outs, "png", png_s)))
        goto done;
    x = malloc((size_t)(n * p) * sizeof(float));
    y = malloc((size_t)(n * p) * sizeof(int32_t));
    if (!x || !y) {
        rc = cli_fail("images", CLI_RUNTIME, "out of memory for %lld images", (long long)n);
        goto done;
    }
    sl_error err;
    sl_status st = sl_images_render(x, y, n, h, w, (uint32_t)seed, SL_IMAGES_TRAIN, &err);
    int64_t counts[SL_NCLASS] = {0};
    if (st == SL_OK && miss_s)
        st = sl_images_drop(y, n, p, rate, mask, (uint32_t)seed, NULL, counts, &err);
    if (st != SL_OK) {
        rc = cli_status("images", st, &err);
        goto done;
    }
    int64_t shape_x[4] = {n, 1, h, w}, shape_y[3] = {n, h, w};
    if ((rc = cli_outs_npy(&outs, out_s, SL_DT_F32, 4, shape_x, x))) goto done;
    if ((rc = cli_outs_npy(&outs, lab_s, SL_DT_I32, 3, shape_y, y))) goto done;
    if (png_s && (rc = tu_picture(&outs, png_s, x, y, NULL, n < 8 ? n : 8, h, w, NULL))) goto done;
    if ((rc = cli_outs_commit(&outs))) goto done;
    printf("%lld images of %lldx%lld, seed %lld: %s (float32 [%lld, 1, %lld, %lld]), %s (int32)\n",
           (long long)n, (long long)h, (long long)w, (long long)seed, out_s, (long long)n,
           (long long)h, (long long)w, lab_s);
    if (miss_s)
        printf("annotations dropped at rate %g: %lld ellipses, %lld squares, %lld circles\n", rate,
               (long long)counts[1], (long long)counts[2], (long long)counts[3]);
    rc = CLI_OK;
done:
    cli_outs_end(&outs);
    free(x);
    free(y);
    return rc;
}

/* ------------------------------------------------------------------------------------------- */

static const char train_usage[] =
    "usage: segloss train --loss SPEC [--missing RATE] [--epochs E | --steps S] [--batch B]\n"
    "                     [--size H,W] [--width W] [--lr LR] [--seed S] [--threads T]\n"
    "                     [--out DIR] [--json]\n"
    "\n"
    "Trains the U-Net of docs/train.md from scratch on segloss images of seed S with any loss\n"
    "spec (on the logits [B, 4, H, W] against the label map, with the annotation matrix\n"
    "inferred from the labels as the post does), AdamW; after every epoch it scores the fixed\n"
    "clean held-out set: per-class Dice and IoU of the argmax (mean over images).\n"
    "\n"
    "  --loss SPEC           a loss spec (segloss list), e.g. ce, missing_ce, \"dice + ce\"\n"
    "  --missing RATE        drop each training object's annotation with probability RATE\n"
    "                        (held-out labels stay complete; default 0)\n"
    "  --missing-classes L   object classes that may lose annotations (default 1,2,3)\n"
    "  --epochs E            passes over the training set (default 6); an epoch is\n"
    "                        N / B steps\n"
    "  --steps S             optimisation steps instead of epochs\n"
    "  --n N                 training images (default 1024)\n"
    "  --batch B             images per step (default 16)\n"
    "  --size H,W            image size, multiples of 4 from 16 to 1024 (default 64,64)\n"
    "  --width W             the network's width w (default 16)\n"
    "  --lr LR               AdamW learning rate (default 0.002)\n"
    "  --weight-decay WD     AdamW decoupled weight decay (default 0.0001)\n"
    "  --seed S              images, drops, weights and batch order (default 0)\n"
    "  --threads T           threads, 1..1024 (default: every core)\n"
    "  --out DIR             default out/train: log.csv (per epoch: loss, held-out Dice and\n"
    "                        IoU), curves.png, predictions.png (held-out images, ground truth,\n"
    "                        prediction), model.slm (docs/train.md, \"The model file\")\n"
    "  --json                print one JSON object at the end (iou, dice over the three\n"
    "                        objects, mean_iou, mean_dice, steps, train_seconds, seconds, ...);\n"
    "                        progress lines then go to stderr\n"
    "\n"
    "On a terminal a progress bar shows loss and speed; otherwise one line per epoch.\n";

typedef struct {
    FILE *f; /* where the epoch lines go */
    int tty; /* a progress bar on stderr */
    double t0;
    int64_t last_draw_step;
    double last_draw;
} progress;

static void on_progress(void *ctx, const sl_train_event *ev)
{
    progress *p = ctx;
    if (!ev->evaluated) {
        if (!p->tty) return;
        double t = cli_now();
        if (ev->step != ev->nsteps && t - p->last_draw < 0.1) return;
        p->last_draw = t;
        int width = 30, done = (int)(width * ev->step / ev->nsteps);
        char bar[64];
        for (int i = 0; i < width; i++)
            bar[i] = i < done ? '#' : '.';
        bar[width] = 0;
        fprintf(stderr, "\r[%s] epoch %lld/%lld step %lld/%lld loss %.4f %.1f steps/s ", bar,
                (long long)ev->epoch, (long long)ev->nepochs, (long long)ev->step,
                (long long)ev->nsteps, ev->loss, ev->seconds > 0 ? ev->step / ev->seconds : 0.0);
        fflush(stderr);
        return;
    }
    if (p->tty) fprintf(stderr, "\r%*s\r", 100, "");
    fprintf(p->f,
            "epoch %lld/%lld  step %lld  loss %.4f  held-out IoU ellipse %.3f square %.3f "
            "circle %.3f mean %.3f  %.1f s\n",
            (long long)ev->epoch, (long long)ev->nepochs, (long long)ev->step, ev->loss, ev->iou[0],
            ev->iou[1], ev->iou[2], ev->mean_iou, ev->seconds);
    fflush(p->f);
}

static int write_log(void *ctx, FILE *f, sl_error *err)
{
    (void)err;
    const sl_train_result *r = ctx;
    fprintf(f, "epoch,step,loss,train_seconds,iou_ellipse,iou_square,iou_circle,mean_iou,"
               "dice_ellipse,dice_square,dice_circle,mean_dice\n");
    for (int64_t i = 0; i < r->nlog; i++) {
        const sl_train_event *e = &r->log[i];
        fprintf(f, "%lld,%lld,%.9g,%.4f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f\n",
                (long long)e->epoch, (long long)e->step, e->loss, e->seconds, e->iou[0], e->iou[1],
                e->iou[2], e->mean_iou, e->dice[0], e->dice[1], e->dice[2], e->mean_dice);
    }
    return 0;
}

static int write_model(void *ctx, FILE *f, sl_error *err)
{
    return sl_net_write(ctx, f, err) == SL_OK ? 0 : -1;
}

/* curves.png: the training loss and the held-out IoU per evaluation. */
static int curves(cli_outs *o, const char *path, const sl_train_result *r, const char *loss)
{
    static const uint8_t white[3] = {255, 255, 255}, ink[3] = {40, 40, 40};
    int64_t n = r->nlog;
    double *x = malloc((size_t)n * sizeof(double)), *v = malloc((size_t)n * 5 * sizeof(double));
    plot_img img;
    if (!x || !v || plot_img_init(&img, 940, 330, white)) {
        free(x);
        free(v);
        return cli_fail(o->cmd, CLI_RUNTIME, "out of memory for %s", path);
    }
    double lmax = 0;
    for (int64_t i = 0; i < n; i++) {
        x[i] = (double)r->log[i].epoch;
        v[i] = r->log[i].loss;
        for (int k = 0; k < SL_NOBJ; k++)
            v[(k + 1) * n + i] = r->log[i].iou[k];
        v[4 * n + i] = r->log[i].mean_iou;
        if (isfinite(v[i]) && v[i] > lmax) lmax = v[i];
    }
    char title[300];
    snprintf(title, sizeof title, "segloss train --loss %s: %lld steps, %.1f s of training", loss,
             (long long)r->steps, r->train_seconds);
    plot_text(&img, 8, 6, title, ink, 1);
    uint8_t col[5 * 3];
    for (int k = 0; k < 5; k++)
        plot_series_colour(k, col + 3 * k);
    const double *ly[1] = {v};
    plot_chart c1 = {"training loss (mean over the epoch)",
                     x,
                     (int)n,
                     ly,
                     1,
                     col,
                     NULL,
                     NULL,
                     0,
                     lmax > 0 ? lmax * 1.05 : 1,
                     5};
    plot_chart_draw(&img, 0, 22, 430, 300, &c1);
    const double *iy[4] = {v + n, v + 2 * n, v + 3 * n, v + 4 * n};
    plot_chart c2 = {"held-out IoU per epoch", x, (int)n, iy, 4, col + 3, NULL, NULL, 0, 1, 6};
    plot_chart_draw(&img, 430, 22, 400, 300, &c2);
    static const char *const names[4] = {"ellipse", "square", "circle", "mean"};
    for (int k = 0; k < 4; k++) {
        int yy = 60 + 16 * k;
        plot_rect(&img, 838, yy + 2, 18, 3, col + 3 * (k + 1));
        plot_text(&img, 862, yy, names[k], col + 3 * (k + 1), 1);
    }
    int rc = cli_outs_png(o, path, img.rgb, img.h, img.w);
    plot_img_free(&img);
    free(x);
    free(v);
    return rc;
}

/* What segloss train was asked. */
typedef struct {
    sl_train_config cfg;
    const char *dir;
    int json;
} train_args;

static int train_parse(int argc, char **argv, train_args *ta)
{
    const char *loss_s = NULL, *miss_s = NULL, *mc_s = NULL, *ep_s = NULL, *wd_s = NULL,
               *seed_s = NULL, *thr_s = NULL, *out_s = NULL;
    tu_settings set;
    cli_opt opts[9 + TU_NSETTINGS] = {
        {"loss", 1, &loss_s, NULL},          {"missing", 1, &miss_s, NULL},
        {"missing-classes", 1, &mc_s, NULL}, {"epochs", 1, &ep_s, NULL},
        {"weight-decay", 1, &wd_s, NULL},    {"seed", 1, &seed_s, NULL},
        {"threads", 1, &thr_s, NULL},        {"out", 1, &out_s, NULL},
        {"json", 0, NULL, &ta->json},
    };
    tu_settings_opts(&set, opts + 9);
    const char *pos[1];
    int npos;
    int rc = cli_parse("train", train_usage, argc, argv, opts, 9 + TU_NSETTINGS, pos, 0, &npos);
    if (rc) return rc;
    if (!loss_s) return cli_missing("train", "loss");
    sl_train_config *cfg = &ta->cfg;
    *cfg = sl_train_default();
    cfg->loss = loss_s;
    int64_t v[3] = {cfg->epochs, cfg->seed, cfg->threads};
    if (miss_s && (rc = tu_rate("train", "missing", miss_s, &cfg->missing))) return rc;
    if (mc_s && (rc = tu_classes("train", "missing-classes", mc_s, &cfg->missing_classes)))
        return rc;
    if (ep_s && set.steps)
        return cli_fail("train", CLI_USAGE, "give --epochs or --steps, not both");
    if ((ep_s && (rc = cli_int("train", "epochs", ep_s, 1, 100000, &v[0]))) ||
        (rc = tu_config("train", &set, 28, cfg)) ||
        (wd_s && (rc = cli_double("train", "weight-decay", wd_s, &cfg->weight_decay))) ||
        (seed_s && (rc = cli_int("train", "seed", seed_s, 0, UINT32_MAX, &v[1]))) ||
        (thr_s && (rc = cli_int("train", "threads", thr_s, 1, 1024, &v[2]))))
        return rc;
    if (wd_s && !(cfg->weight_decay >= 0 && cfg->weight_decay < 1))
        return cli_fail("train", CLI_USAGE, "--weight-decay: %s is not in [0, 1)", wd_s);
    cfg->epochs = v[0];
    cfg->seed = (uint32_t)v[1];
    cfg->threads = (int)v[2];
    sl_error err;
    sl_status st = sl_train_check(cfg, &err);
    if (st != SL_OK) return cli_status("train", st, &err);
    ta->dir = out_s ? out_s : "out/train";
    return CLI_OK;
}

static void train_json(const train_args *ta, const sl_train_result *r, double seconds,
                       const char *model)
{
    const sl_train_config *cfg = &ta->cfg;
    printf("{\"loss\": ");
    cli_json_string(cfg->loss);
    printf(", ");
    tu_json_scores(r->iou, r->dice, r->mean_iou, r->mean_dice, 1);
    printf(", \"steps\": %lld, \"epochs\": %lld, \"train_seconds\": %.3f, \"seconds\": %.3f, "
           "\"steps_per_second\": %.3f, \"missing\": %g, \"dropped\": [%lld, %lld, %lld], "
           "\"present\": [%lld, %lld, %lld], \"size\": [%d, %d], \"width\": %d, \"batch\": %d, "
           "\"n\": %lld, \"lr\": %g, \"seed\": %u, \"threads\": %d, \"params\": %lld, \"model\": ",
           (long long)r->steps, (long long)(r->nlog ? r->log[r->nlog - 1].epoch : 0),
           r->train_seconds, seconds, r->train_seconds > 0 ? r->steps / r->train_seconds : 0.0,
           cfg->missing, (long long)r->dropped[1], (long long)r->dropped[2],
           (long long)r->dropped[3], (long long)r->present[1], (long long)r->present[2],
           (long long)r->present[3], cfg->h, cfg->w, cfg->width, cfg->batch,
           (long long)cfg->n_train, cfg->lr, cfg->seed, cfg->threads,
           (long long)sl_net_param_count(r->net));
    cli_json_string(model);
    printf("}\n");
}

static void train_table(const train_args *ta, const sl_train_result *r, double seconds)
{
    if (ta->cfg.missing > 0)
        printf("annotations dropped: %lld of %lld ellipses, %lld of %lld squares, %lld of %lld "
               "circles\n",
               (long long)r->dropped[1], (long long)r->present[1], (long long)r->dropped[2],
               (long long)r->present[2], (long long)r->dropped[3], (long long)r->present[3]);
    printf("\nheld-out (%lld clean images)   ellipse  square  circle    mean\n",
           (long long)ta->cfg.n_heldout);
    printf("  IoU                          %7.4f %7.4f %7.4f %7.4f\n", r->iou[0], r->iou[1],
           r->iou[2], r->mean_iou);
    printf("  Dice                         %7.4f %7.4f %7.4f %7.4f\n", r->dice[0], r->dice[1],
           r->dice[2], r->mean_dice);
    printf("%lld steps in %.1f s of training (%.2f steps/s), %.1f s in all\n", (long long)r->steps,
           r->train_seconds, r->train_seconds > 0 ? r->steps / r->train_seconds : 0.0, seconds);
    printf("wrote %s/log.csv, curves.png, predictions.png, model.slm\n", ta->dir);
}

/* The training, with progress on the terminal or one line per epoch. */
static int train_run(const train_args *ta, sl_train_result *r)
{
    const sl_train_config *cfg = &ta->cfg;
    progress pr = {ta->json ? stderr : stdout, isatty(2) && !ta->json, cli_now(), 0, 0};
    fprintf(pr.f,
            "training: loss %s, missing %g, %lld images of %dx%d, width %d, batch %d, lr %g, "
            "seed %u\n",
            cfg->loss, cfg->missing, (long long)cfg->n_train, cfg->h, cfg->w, cfg->width,
            cfg->batch, cfg->lr, cfg->seed);
    fflush(pr.f);
    sl_error err;
    sl_status st = sl_train_run(cfg, on_progress, &pr, r, &err);
    if (pr.tty) fprintf(stderr, "\r%*s\r", 100, "");
    return st == SL_OK ? CLI_OK : cli_status("train", st, &err);
}

int cmd_train(int argc, char **argv)
{
    static const char *const names[4] = {"log.csv", "curves.png", "predictions.png", "model.slm"};
    train_args ta;
    memset(&ta, 0, sizeof ta);
    int rc = train_parse(argc, argv, &ta);
    if (rc) return rc;
    /* The folder is made now, and the outputs named, so that a folder that cannot be made
     * stops the command before the training; the files are written only after it, into
     * temporary files renamed into place together (cli/out.h). */
    char paths[4][CLI_PATH_MAX];
    cli_outs outs;
    cli_outs_init(&outs, "train");
    sl_train_result r;
    memset(&r, 0, sizeof r);
    double t0 = cli_now();
    if (!(rc = cli_outs_in_dir(&outs, ta.dir, names, 4, paths)) && !(rc = train_run(&ta, &r)) &&
        !(rc = cli_outs_stream(&outs, paths[0], write_log, &r)) &&
        !(rc = curves(&outs, paths[1], &r, ta.cfg.loss)) &&
        !(rc = tu_picture(&outs, paths[2], r.pic_images, r.pic_labels, r.pic_pred, r.npic, ta.cfg.h,
                          ta.cfg.w, "held-out images, ground truth, prediction")) &&
        !(rc = cli_outs_stream(&outs, paths[3], write_model, r.net)))
        rc = cli_outs_commit(&outs);
    cli_outs_end(&outs);
    double seconds = cli_now() - t0;
    if (!rc) ta.json ? train_json(&ta, &r, seconds, paths[3]) : train_table(&ta, &r, seconds);
    sl_train_result_free(&r);
    return rc;
}

/* ------------------------------------------------------------------------------------------- */

static const char infer_usage[] =
    "usage: segloss infer --model F --input IMAGES.npy --out PROBS.npy [--labels L.npy]\n"
    "                     [--batch B] [--threads T] [--json]\n"
    "\n"
    "Runs a model saved by segloss train on images and writes the class probabilities (the\n"
    "softmax of the logits).\n"
    "\n"
    "  --model F            a model file (model.slm)\n"
    "  --input IMAGES.npy   float32 [N, 1, H, W] (or [N, H, W]), H and W multiples of 4\n"
    "  --out PROBS.npy      float32 [N, C + 1, H, W]\n"
    "  --labels L.npy       optional complete label maps [N, H, W]: print per-class Dice and\n"
    "                       IoU of the argmax against them (mean over images)\n"
    "  --batch B            images per forward pass (default 16)\n"
    "  --threads T          threads, 1..1024 (default: every core)\n"
    "  --json               print one JSON object (shape, and iou, dice, mean_iou with --labels)\n";

/* What segloss infer was asked, read and computed; freed by infer_free. */
typedef struct {
    const char *model, *input, *out, *labels;
    int64_t batch, threads;
    int json;
    sl_net *net;
    sl_array x, y;
    int64_t n, h, w, K;
    float *probs;
    int32_t *pred, *lab;
    double seconds, iou[SL_NOBJ], dice[SL_NOBJ], miou, mdice;
} infer_ctx;

static int infer_parse(int argc, char **argv, infer_ctx *c)
{
    const char *b_s = NULL, *thr_s = NULL;
    cli_opt opts[] = {
        {"model", 1, &c->model, NULL}, {"input", 1, &c->input, NULL},
        {"out", 1, &c->out, NULL},     {"labels", 1, &c->labels, NULL},
        {"batch", 1, &b_s, NULL},      {"threads", 1, &thr_s, NULL},
        {"json", 0, NULL, &c->json},
    };
    const char *pos[1];
    int npos;
    int rc = cli_parse("infer", infer_usage, argc, argv, opts, 7, pos, 0, &npos);
    if (rc) return rc;
    if (!c->model) return cli_missing("infer", "model");
    if (!c->input) return cli_missing("infer", "input");
    if (!c->out) return cli_missing("infer", "out");
    c->batch = 16;
    if (b_s && (rc = cli_int("infer", "batch", b_s, 1, 4096, &c->batch))) return rc;
    if (thr_s && (rc = cli_int("infer", "threads", thr_s, 1, 1024, &c->threads))) return rc;
    return CLI_OK;
}

/* The model and the images: float32 [N, in_channels, H, W] (or [N, H, W] for one channel), H
 * and W multiples of 4, every value finite. */
static int infer_load(infer_ctx *c)
{
    sl_error err;
    int rc;
    if (sl_net_load(c->model, &c->net, &err) != SL_OK)
        return cli_fail("infer", CLI_RUNTIME, "%s", err.msg);
    sl_net_config nc = sl_net_get_config(c->net);
    c->K = nc.classes;
    if ((rc = cli_load("infer", c->input, &c->x))) return rc;
    const sl_array *x = &c->x;
    int c_ok =
        (x->ndim == 3 && nc.in_channels == 1) || (x->ndim == 4 && x->shape[1] == nc.in_channels);
    c->n = c_ok ? x->shape[0] : 0;
    c->h = c_ok ? x->shape[x->ndim - 2] : 0;
    c->w = c_ok ? x->shape[x->ndim - 1] : 0;
    if (!c_ok || x->dtype != SL_DT_F32 || c->n < 1 || c->h < 4 || c->w < 4 || c->h % 4 ||
        c->w % 4 || c->h > 4096 || c->w > 4096) {
        char sh[256];
        cli_shape_str(x, sh, sizeof sh);
        return cli_fail("infer", CLI_RUNTIME,
                        "%s: images must be float32 [N, %d, H, W] with H and W multiples of 4, "
                        "got %s %s",
                        c->input, nc.in_channels, sl_dtype_name(x->dtype), sh);
    }
    const float *xd = x->data;
    for (int64_t i = 0; i < sl_array_numel(x); i++)
        if (!isfinite(xd[i]))
            return cli_fail("infer", CLI_RUNTIME, "%s: value %g at flat index %lld is not finite",
                            c->input, (double)xd[i], (long long)i);
    if ((double)c->n * c->K * c->h * c->w > 1e9)
        return cli_fail("infer", CLI_RUNTIME, "%s: too many pixels for one run", c->input);
    return CLI_OK;
}

/* --labels: [N, H, W] integers in [0, K). */
static int infer_labels(infer_ctx *c)
{
    int rc;
    if (!c->labels) return CLI_OK;
    if ((rc = cli_load("infer", c->labels, &c->y))) return rc;
    const sl_array *y = &c->y;
    int64_t NP = c->n * c->h * c->w;
    if (y->ndim != 3 || y->shape[0] != c->n || y->shape[1] != c->h || y->shape[2] != c->w) {
        char ls[256];
        cli_shape_str(y, ls, sizeof ls);
        return cli_fail("infer", CLI_RUNTIME, "%s: labels must be [%lld, %lld, %lld], got %s",
                        c->labels, (long long)c->n, (long long)c->h, (long long)c->w, ls);
    }
    if (!(c->lab = malloc((size_t)NP * sizeof(int32_t))))
        return cli_fail("infer", CLI_RUNTIME, "out of memory");
    if ((rc = cli_labels("infer", c->labels, y, 0, c->lab))) return rc;
    for (int64_t i = 0; i < NP; i++)
        if (c->lab[i] < 0 || c->lab[i] >= c->K)
            return cli_fail("infer", CLI_RUNTIME,
                            "%s: label %d at flat index %lld is outside [0, %lld)", c->labels,
                            (int)c->lab[i], (long long)i, (long long)c->K);
    return CLI_OK;
}

/* The forward passes, and the scores against --labels. */
static int infer_run(infer_ctx *c)
{
    int64_t P = c->h * c->w;
    c->probs = malloc((size_t)(c->n * c->K * P) * sizeof(float));
    c->pred = malloc((size_t)(c->n * P) * sizeof(int32_t));
    if (!c->probs || !c->pred)
        return cli_fail("infer", CLI_RUNTIME, "out of memory for %lld images", (long long)c->n);
    int batch = (int)(c->batch > c->n ? c->n : c->batch);
    double t0 = cli_now();
    sl_error err;
    sl_status st;
    if ((st = sl_net_reserve(c->net, batch, (int)c->h, (int)c->w, (int)c->threads, &err)) !=
            SL_OK ||
        (st = sl_train_predict(c->net, c->x.data, c->n, (int)c->h, (int)c->w, batch, c->probs,
                               c->pred, &err)) != SL_OK)
        return cli_status("infer", st, &err);
    c->seconds = cli_now() - t0;
    if (!c->lab) return CLI_OK;
    if (c->K != SL_NCLASS)
        return cli_fail("infer", CLI_RUNTIME, "--labels needs a model of %d classes", SL_NCLASS);
    if ((st = sl_train_evaluate(c->pred, c->lab, c->n, (int)c->h, (int)c->w, c->iou, c->dice,
                                &err)) != SL_OK)
        return cli_status("infer", st, &err);
    for (int k = 0; k < SL_NOBJ; k++) {
        c->miou += c->iou[k] / SL_NOBJ;
        c->mdice += c->dice[k] / SL_NOBJ;
    }
    return CLI_OK;
}

static void infer_print(const infer_ctx *c)
{
    long long n = c->n, K = c->K, h = c->h, w = c->w;
    if (c->json) {
        printf("{\"images\": %lld, \"shape\": [%lld, %lld, %lld, %lld], \"seconds\": %.3f", n, n, K,
               h, w, c->seconds);
        if (c->lab) {
            printf(", ");
            tu_json_scores(c->iou, c->dice, c->miou, c->mdice, 0);
        }
        printf("}\n");
        return;
    }
    printf("%s: %lld images of %lldx%lld -> %s (float32 [%lld, %lld, %lld, %lld]) in %.2f s\n",
           c->model, n, h, w, c->out, n, K, h, w, c->seconds);
    if (c->lab) {
        printf("against %s:  ellipse  square  circle    mean\n", c->labels);
        printf("  IoU          %7.4f %7.4f %7.4f %7.4f\n", c->iou[0], c->iou[1], c->iou[2],
               c->miou);
        printf("  Dice         %7.4f %7.4f %7.4f %7.4f\n", c->dice[0], c->dice[1], c->dice[2],
               c->mdice);
    }
}

int cmd_infer(int argc, char **argv)
{
    infer_ctx c;
    memset(&c, 0, sizeof c);
    cli_outs outs;
    cli_outs_init(&outs, "infer");
    int rc = infer_parse(argc, argv, &c);
    if (!rc) rc = cli_outs_add(&outs, "out", c.out);
    if (!rc) rc = infer_load(&c);
    if (!rc) rc = infer_labels(&c);
    if (!rc) rc = infer_run(&c);
    int64_t shape[4] = {c.n, c.K, c.h, c.w};
    if (!rc) rc = cli_outs_npy(&outs, c.out, SL_DT_F32, 4, shape, c.probs);
    if (!rc) rc = cli_outs_commit(&outs);
    if (!rc) infer_print(&c);
    cli_outs_end(&outs);
    if (c.net) sl_net_free(c.net);
    sl_array_free(&c.x);
    sl_array_free(&c.y);
    free(c.probs);
    free(c.pred);
    free(c.lab);
    return rc;
}
