/* The fixed batches of the tests, the fuzzers and the benchmarks: an input [N, C, H, W] (logits
 * unless set otherwise) with a label map [N, H, W]. Header-only, so that fuzz/ and bench/ take
 * it too. */
#ifndef SEGLOSS_TESTS_BATCH_H
#define SEGLOSS_TESTS_BATCH_H

#include "segloss.h"

#include <string.h>

static inline sl_batch test_batch(int64_t n, int64_t c, int64_t h, int64_t w, const float *x,
                                  const int32_t *y)
{
    sl_batch b;
    memset(&b, 0, sizeof b);
    b.shape.ndim = 4;
    b.shape.dim[0] = n;
    b.shape.dim[1] = c;
    b.shape.dim[2] = h;
    b.shape.dim[3] = w;
    b.input = x;
    b.input_kind = SL_INPUT_LOGITS;
    b.labels = y;
    b.target_kind = SL_TARGET_LABELS;
    return b;
}

#endif
