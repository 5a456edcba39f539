/* Pieces shared by segloss images, train, infer and compare (cli/cmd_train.c,
 * cli/cmd_compare.c). */
#ifndef SEGLOSS_CLI_TRAIN_UTIL_H
#define SEGLOSS_CLI_TRAIN_UTIL_H

#include "out.h"
#include "plot.h"
#include "trainer.h"

#include <stdint.h>

extern const char *const tu_class_names[SL_NCLASS]; /* background, ellipse, square, circle */

/* "1,2,3" -> the bit mask of object classes; CLI_USAGE with a line otherwise. */
int tu_classes(const char *cmd, const char *opt, const char *s, unsigned *mask);
/* A missing rate in [0, 1]. */
int tu_rate(const char *cmd, const char *opt, const char *s, double *rate);

/* The trainer's settings segloss train and compare share, as given (NULL: not given). */
typedef struct {
    const char *size, *width, *steps, *batch, *n, *lr;
} tu_settings;
#define TU_NSETTINGS 6
/* Their options, TU_NSETTINGS of them, into opts. */
void tu_settings_opts(tu_settings *s, cli_opt *opts);
/* Each setting given overrides cfg (--size: multiples of 4 from SL_IMAGES_MIN_SIDE); then at
 * least one batch of images and at most 2^max_log2 training pixels. CLI_OK, or a line and
 * CLI_USAGE. */
int tu_config(const char *cmd, const tu_settings *s, int max_log2, sl_train_config *cfg);

/* `"iou": [...], "dice": [...], ` (with classes, `"classes": [names], `) `"mean_iou": m,
 * "mean_dice": m` of the three objects, for a JSON object. */
void tu_json_scores(const double *iou, const double *dice, double miou, double mdice,
                    int with_classes);

/* A picture: rows of images (grey), ground truths and predictions, with titles on the left;
 * written as the output path of o (cli/out.h). CLI_OK, or a line and CLI_RUNTIME. */
int tu_picture(cli_outs *o, const char *path, const float *images, const int32_t *labels,
               const int32_t *pred, int64_t n, int64_t h, int64_t w, const char *title);

#endif
