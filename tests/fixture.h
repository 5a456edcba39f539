/* What the tests, the fuzzers and the benchmarks set up alike. Header-only, so that fuzz/ and
 * bench/ take it too. */
#ifndef SEGLOSS_TESTS_FIXTURE_H
#define SEGLOSS_TESTS_FIXTURE_H

#include "segloss_data.h"

#include <stdio.h>
#include <string.h>

/* A fixed batch: an input [N, C, H, W] (logits unless set otherwise) with a label map
 * [N, H, W]. */
static inline sl_batch test_batch(int64_t n, int64_t c, int64_t h, int64_t w, const float *x,
                                  const int32_t *y)
{
    sl_batch b = {.shape = {4, {n, c, h, w}},
                  .input = x,
                  .input_kind = SL_INPUT_LOGITS,
                  .labels = y,
                  .target_kind = SL_TARGET_LABELS};
    return b;
}

/* Save data (of dtype t and shape [nd]) as DIR/NAME.npy for a Python script to read; on an
 * error, its message on stderr after `who: `. 0 when saved. */
static inline int test_save_npy(const char *who, const char *dir, const char *name, sl_dtype t,
                                const void *data, int nd, const int64_t *shape)
{
    sl_array a;
    sl_error e;
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.npy", dir, name);
    sl_status s = sl_array_alloc(&a, t, nd, shape, &e);
    if (s == SL_OK) {
        memcpy(a.data, data, (size_t)sl_array_numel(&a) * sl_dtype_size(t));
        s = sl_npy_write(path, &a, &e);
        sl_array_free(&a);
    }
    if (s) fprintf(stderr, "%s: %s\n", who, e.msg);
    return s != SL_OK;
}

#endif
