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

/* A picture: rows of images (grey), ground truths and predictions, with titles on the left;
 * written as the output path of o (cli/out.h). CLI_OK, or a line and CLI_RUNTIME. */
int tu_picture(cli_outs *o, const char *path, const float *images, const int32_t *labels,
               const int32_t *pred, int64_t n, int64_t h, int64_t w, const char *title);

#endif
