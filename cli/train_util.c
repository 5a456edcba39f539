/* Pieces shared by segloss images, train, infer and compare. */
#include "train_util.h"

#include "cli.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const tu_class_names[SL_NCLASS] = {"background", "ellipse", "square", "circle"};

int tu_classes(const char *cmd, const char *opt, const char *s, unsigned *mask)
{
    double v[SL_NOBJ];
    int n;
    int rc = cli_doubles(cmd, opt, s, 0, SL_NOBJ, v, &n);
    if (rc) return rc;
    *mask = 0;
    for (int i = 0; i < n; i++) {
        if (v[i] != floor(v[i]) || v[i] < 1 || v[i] > SL_NOBJ)
            return cli_fail(cmd, CLI_USAGE,
                            "--%s: '%s' must list object classes 1 (ellipse), 2 (square), "
                            "3 (circle)",
                            opt, s);
        *mask |= 1u << (int)v[i];
    }
    return CLI_OK;
}

int tu_rate(const char *cmd, const char *opt, const char *s, double *rate)
{
    int rc = cli_double(cmd, opt, s, rate);
    if (rc) return rc;
    if (*rate < 0 || *rate > 1)
        return cli_fail(cmd, CLI_USAGE, "--%s: %s is not a rate in [0, 1]", opt, s);
    return CLI_OK;
}

void tu_settings_opts(tu_settings *s, cli_opt *opts)
{
    const char **v[TU_NSETTINGS] = {&s->size, &s->width, &s->steps, &s->batch, &s->n, &s->lr};
    static const char *const names[TU_NSETTINGS] = {"size", "width", "steps", "batch", "n", "lr"};
    for (int i = 0; i < TU_NSETTINGS; i++) {
        *v[i] = NULL;
        opts[i] = (cli_opt){names[i], 1, v[i], NULL};
    }
}

static int tu_size(const char *cmd, const char *s, sl_train_config *cfg)
{
    int64_t h, w;
    int rc = cli_size2(cmd, "size", s, 1024, &h, &w);
    if (rc) return rc;
    if (h % 4 || w % 4 || h < SL_IMAGES_MIN_SIDE || w < SL_IMAGES_MIN_SIDE)
        return cli_fail(cmd, CLI_USAGE,
                        "--size: H and W must be multiples of 4 from %d, got %lld,%lld",
                        SL_IMAGES_MIN_SIDE, (long long)h, (long long)w);
    cfg->h = (int)h;
    cfg->w = (int)w;
    return CLI_OK;
}

int tu_config(const char *cmd, const tu_settings *s, int max_log2, sl_train_config *cfg)
{
    int64_t v[4] = {cfg->width, cfg->steps, cfg->batch, cfg->n_train};
    static const char *const names[4] = {"width", "steps", "batch", "n"};
    const char *given[4] = {s->width, s->steps, s->batch, s->n};
    static const int64_t hi[4] = {256, 100000000, 4096, 1000000};
    int rc;
    if (s->size && (rc = tu_size(cmd, s->size, cfg))) return rc;
    for (int i = 0; i < 4; i++)
        if (given[i] && (rc = cli_int(cmd, names[i], given[i], 1, hi[i], &v[i]))) return rc;
    cfg->width = (int)v[0];
    cfg->steps = v[1];
    cfg->batch = (int)v[2];
    cfg->n_train = v[3];
    if (cfg->n_train < cfg->batch)
        return cli_fail(cmd, CLI_USAGE, "--n %lld is smaller than one batch (%d)",
                        (long long)cfg->n_train, cfg->batch);
    if ((double)cfg->n_train * cfg->h * cfg->w > ldexp(1.0, max_log2))
        return cli_fail(cmd, CLI_USAGE, "--n times --size is more than 2^%d pixels", max_log2);
    if (s->lr && (rc = cli_double(cmd, "lr", s->lr, &cfg->lr))) return rc;
    if (s->lr && !(cfg->lr > 0 && cfg->lr < 10))
        return cli_fail(cmd, CLI_USAGE, "--lr: %s is not in (0, 10)", s->lr);
    return CLI_OK;
}

void tu_json_scores(const double *iou, const double *dice, double miou, double mdice,
                    int with_classes)
{
    printf("\"iou\": ");
    cli_json_list(iou, SL_NOBJ);
    printf(", \"dice\": ");
    cli_json_list(dice, SL_NOBJ);
    printf(with_classes ? ", \"classes\": [\"ellipse\", \"square\", \"circle\"], \"mean_iou\": "
                        : ", \"mean_iou\": ");
    cli_json_number(miou, 1);
    printf(", \"mean_dice\": ");
    cli_json_number(mdice, 1);
}

static void grey_to_rgb(const float *x, int64_t p, uint8_t *rgb)
{
    for (int64_t j = 0; j < p; j++) {
        double v = x[j];
        v = v < 0 ? 0 : v > 1 ? 1 : v;
        uint8_t g = (uint8_t)floor(v * 255.0 + 0.5);
        rgb[3 * j] = rgb[3 * j + 1] = rgb[3 * j + 2] = g;
    }
}

int tu_picture(cli_outs *o, const char *path, const float *images, const int32_t *labels,
               const int32_t *pred, int64_t n, int64_t h, int64_t w, const char *title)
{
    static const uint8_t white[3] = {255, 255, 255}, ink[3] = {40, 40, 40};
    int scale = h <= 48 ? 3 : h <= 96 ? 2 : 1;
    int gap = 6, left = 92, top = title ? 22 : 6;
    int rows = (images != NULL) + (labels != NULL) + (pred != NULL);
    int cw = (int)w * scale, ch = (int)h * scale;
    int width = left + (int)n * (cw + gap), height = top + rows * (ch + gap);
    plot_img img;
    uint8_t *cell = malloc((size_t)(h * w * 3));
    if (!cell || plot_img_init(&img, width, height, white)) {
        free(cell);
        return cli_fail(o->cmd, CLI_RUNTIME, "out of memory for %s", path);
    }
    if (title) plot_text(&img, 6, 6, title, ink, 1);
    static const char *const names[3] = {"image", "ground truth", "prediction"};
    int row = 0;
    for (int r = 0; r < 3; r++) {
        const void *src = r == 0 ? (const void *)images : r == 1 ? (const void *)labels : pred;
        if (!src) continue;
        int y = top + row * (ch + gap);
        plot_text(&img, 6, y + ch / 2 - 4, names[r], ink, 1);
        for (int64_t i = 0; i < n; i++) {
            if (r == 0)
                grey_to_rgb(images + i * h * w, h * w, cell);
            else
                sl_render_labels((r == 1 ? labels : pred) + i * h * w, 1, h, w, 0, cell);
            plot_blit(&img, left + (int)i * (cw + gap), y, cell, (int)w, (int)h, scale);
        }
        row++;
    }
    int rc = cli_outs_png(o, path, img.rgb, img.h, img.w);
    plot_img_free(&img);
    free(cell);
    return rc;
}
