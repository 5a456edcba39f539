/* Pieces shared by segloss images, train, infer and compare (cli/cmd_train.c,
 * cli/cmd_compare.c). */
#ifndef SEGLOSS_CLI_TRAIN_UTIL_H
#define SEGLOSS_CLI_TRAIN_UTIL_H

#include "plot.h"
#include "trainer.h"

#include <stdint.h>

extern const char *const tu_class_names[SL_NCLASS]; /* background, ellipse, square, circle */

/* "1,2,3" -> the bit mask of object classes; CLI_USAGE with a line otherwise. */
int tu_classes(const char *cmd, const char *opt, const char *s, unsigned *mask);
/* A missing rate in [0, 1]. */
int tu_rate(const char *cmd, const char *opt, const char *s, double *rate);

/* A picture: rows of images (grey), ground truths and predictions, with titles on the left. */
int tu_picture(const char *path, const float *images, const int32_t *labels, const int32_t *pred,
               int64_t n, int64_t h, int64_t w, const char *title, sl_error *err);

/* Write text atomically: `path`.tmp.XXXXXX then rename; nothing left behind on failure.
 * write(f, ctx) returns 0 on success. */
int tu_write_atomic(const char *cmd, const char *path, int (*write)(void *ctx, void *file),
                    void *ctx);

#endif
