/* Internal helpers shared by the library's files. Not part of the public API. */
#ifndef SEGLOSS_INTERNAL_H
#define SEGLOSS_INTERNAL_H

#include "segloss.h"

#include <stdarg.h>

/* Fill err (when not NULL) with a printf-style message and return s. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
sl_status sl__fail(sl_error *err, sl_status s, const char *fmt, ...);

/* Write "[i0, i1, ...]" for a flat index of a shape into buf (for messages). */
void sl__index_str(const sl_shape *s, int64_t flat, char *buf, size_t len);

/* Write "[d0, d1, ...]" for a shape into buf. */
void sl__shape_str(const sl_shape *s, char *buf, size_t len);

/* Write a file atomically: data of len bytes (in up to two pieces) goes to a temporary file in
 * the same directory, then is renamed over path. On failure nothing is left behind. */
sl_status sl__write_atomic(const char *path, const void *a, size_t alen, const void *b,
                           size_t blen, sl_error *err);

#endif
