/* Status strings, shapes, error messages and atomic file writes. */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *sl_status_str(sl_status s)
{
    switch (s) {
    case SL_OK: return "ok";
    case SL_E_ARG: return "bad argument";
    case SL_E_SHAPE: return "bad shape";
    case SL_E_LABEL: return "bad label";
    case SL_E_VALUE: return "bad value";
    case SL_E_NOMEM: return "out of memory";
    case SL_E_IO: return "i/o error";
    case SL_E_FORMAT: return "bad file format";
    case SL_E_PARSE: return "bad loss spec";
    }
    return "unknown status";
}

int64_t sl_shape_numel(const sl_shape *s)
{
    int64_t n = 1;
    for (int i = 0; i < s->ndim; i++) n *= s->dim[i];
    return n;
}

sl_status sl__fail(sl_error *err, sl_status s, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return s;
}

void sl__shape_str(const sl_shape *s, char *buf, size_t len)
{
    size_t o = 0;
    o += (size_t)snprintf(buf + o, len - o, "[");
    for (int i = 0; i < s->ndim && o < len; i++)
        o += (size_t)snprintf(buf + o, len - o, i ? ", %lld" : "%lld", (long long)s->dim[i]);
    if (o < len) snprintf(buf + o, len - o, "]");
}

void sl__index_str(const sl_shape *s, int64_t flat, char *buf, size_t len)
{
    int64_t idx[SL_MAX_DIMS];
    for (int i = s->ndim - 1; i >= 0; i--) {
        idx[i] = s->dim[i] ? flat % s->dim[i] : 0;
        flat = s->dim[i] ? flat / s->dim[i] : 0;
    }
    sl_shape t = *s;
    for (int i = 0; i < s->ndim; i++) t.dim[i] = idx[i];
    sl__shape_str(&t, buf, len);
}

sl_status sl__write_atomic(const char *path, const void *a, size_t alen, const void *b,
                           size_t blen, sl_error *err)
{
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 32);
    if (!tmp) return sl__fail(err, SL_E_NOMEM, "out of memory writing %s", path);
    snprintf(tmp, plen + 32, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        sl_status st = sl__fail(err, SL_E_IO, "cannot write %s: %s", path, strerror(errno));
        free(tmp);
        return st;
    }
    int ok = (alen == 0 || fwrite(a, 1, alen, f) == alen) &&
             (blen == 0 || fwrite(b, 1, blen, f) == blen);
    int e = errno;
    if (fclose(f) != 0 && ok) {
        ok = 0;
        e = errno;
    }
    if (ok && rename(tmp, path) != 0) {
        ok = 0;
        e = errno;
    }
    if (!ok) {
        remove(tmp);
        free(tmp);
        return sl__fail(err, SL_E_IO, "cannot write %s: %s", path, strerror(e));
    }
    free(tmp);
    return SL_OK;
}

int64_t sl__argmax_pixel(const float *x, int64_t P, int64_t C)
{
    int64_t best = 0;
    for (int64_t c = 1; c < C; c++)
        if (x[c * P] > x[best * P]) best = c;
    return best;
}

void sl__annotated(const sl_batch *b, uint8_t *ann)
{
    int64_t N = b->shape.dim[0], C = b->shape.dim[1];
    int64_t P = sl_shape_numel(&b->shape) / (N * C);
    if (b->annotated) {
        memcpy(ann, b->annotated, (size_t)(N * C));
        for (int64_t n = 0; n < N; n++) ann[n * C] = 1;
        return;
    }
    memset(ann, 0, (size_t)(N * C));
    for (int64_t n = 0; n < N; n++) {
        ann[n * C] = 1;
        if (b->target_kind == SL_TARGET_LABELS) {
            const int32_t *y = b->labels + n * P;
            for (int64_t i = 0; i < P; i++)
                if (y[i] >= 1 && y[i] < C) ann[n * C + y[i]] = 1;
        } else {
            for (int64_t c = 1; c < C; c++) {
                const float *t = b->target + (n * C + c) * P;
                for (int64_t i = 0; i < P; i++)
                    if (t[i] > 0.0f) {
                        ann[n * C + c] = 1;
                        break;
                    }
            }
        }
    }
}

const char *sl_version(void)
{
    return SL_VERSION_STRING;
}
