/* Status strings, shapes, error messages and atomic file writes. */
#include "internal.h"

#include <errno.h>
#include <math.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
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
    case SL_E_OVERFLOW: return "overflow";
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
        char raw[SL_ERR_LEN];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(raw, sizeof raw, fmt, ap);
        va_end(ap);
        /* One line: control characters from the caller's text (a spec, a file header, a path)
         * are written as \n, \t, \r or \xHH, cut short rather than split. */
        size_t o = 0;
        for (const unsigned char *p = (const unsigned char *)raw; *p; p++) {
            char esc[8];
            int el;
            if (*p == '\n' || *p == '\t' || *p == '\r')
                el = snprintf(esc, sizeof esc, "\\%c", *p == '\n' ? 'n' : *p == '\t' ? 't' : 'r');
            else if (*p < 0x20 || *p == 0x7f)
                el = snprintf(esc, sizeof esc, "\\x%02x", *p);
            else
                el = snprintf(esc, sizeof esc, "%c", *p);
            if (o + (size_t)el >= sizeof err->msg) break;
            memcpy(err->msg + o, esc, (size_t)el);
            o += (size_t)el;
        }
        err->msg[o] = 0;
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

int sl__temp_open(const char *path, char **tmp_out)
{
    /* The folder of path (up to and including its last '/'), then ".sl-" and 12 letters: a
     * short name, so that any legal destination name leaves room for it. */
    const char *slash = strrchr(path, '/');
    size_t dlen = slash ? (size_t)(slash - path) + 1 : 0;
    char *tmp = malloc(dlen + 32);
    if (!tmp) {
        errno = ENOMEM;
        return -1;
    }
    memcpy(tmp, path, dlen);
    /* No state is kept between calls: each name mixes the clock, the process, the buffer's
     * address and the attempt; O_CREAT | O_EXCL refuses any name that exists, a symbolic link
     * (even a dangling one) included, so a planted name is never opened, only skipped. */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t seed = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^
                    ((uint64_t)getpid() << 16) ^ (uint64_t)(uintptr_t)tmp;
    static const char letters[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    for (int attempt = 0; attempt < 100; attempt++) {
        uint64_t z = (seed += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        z ^= z >> 31;
        char *q = tmp + dlen;
        memcpy(q, ".sl-", 4);
        for (int i = 0; i < 12; i++) {
            q[4 + i] = letters[z % 62];
            z /= 62;
            if (i == 9) z ^= (uint64_t)attempt * 0x2545f4914f6cdd1dull;
        }
        q[16] = 0;
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
        if (fd >= 0) {
            *tmp_out = tmp;
            return fd;
        }
        if (errno != EEXIST) break;
    }
    int e = errno;
    free(tmp);
    errno = e;
    return -1;
}

int sl__write_all(int fd, const void *data, size_t len)
{
    const unsigned char *p = data;
    while (len > 0) {
        size_t chunk = len < ((size_t)1 << 30) ? len : ((size_t)1 << 30);
        ssize_t w = write(fd, p, chunk);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (w == 0) {
            errno = EIO;
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

sl_status sl__write_out(const char *path, int fd, const void *a, size_t alen, const void *b,
                        size_t blen, sl_error *err)
{
    if (fd >= 0) {
        if (sl__write_all(fd, a, alen) != 0 || sl__write_all(fd, b, blen) != 0)
            return sl__fail(err, SL_E_IO, "cannot write: %s", strerror(errno));
        return SL_OK;
    }
    char *tmp = NULL;
    int t = sl__temp_open(path, &tmp);
    if (t < 0)
        return sl__fail(err, errno == ENOMEM ? SL_E_NOMEM : SL_E_IO, "cannot write %s: %s", path,
                        strerror(errno));
    int ok = sl__write_all(t, a, alen) == 0 && sl__write_all(t, b, blen) == 0;
    int e = errno;
    if (close(t) != 0 && ok) {
        ok = 0;
        e = errno;
    }
    if (ok && rename(tmp, path) != 0) {
        ok = 0;
        e = errno;
    }
    if (!ok) {
        unlink(tmp);
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

void sl__softmax(double *v, int64_t C, int64_t stride, int log_form)
{
    double m = v[0], s = 0.0;
    for (int64_t c = 1; c < C; c++) m = fmax(m, v[c * stride]);
    for (int64_t c = 0; c < C; c++) s += exp(v[c * stride] - m);
    if (log_form) {
        double ls = log(s);
        for (int64_t c = 0; c < C; c++) v[c * stride] = (v[c * stride] - m) - ls;
    } else {
        for (int64_t c = 0; c < C; c++) v[c * stride] = exp(v[c * stride] - m) / s;
    }
}

double sl__sigmoid(double x)
{
    if (x >= 0) return 1.0 / (1.0 + exp(-x));
    double e = exp(x);
    return e / (1.0 + e);
}

static void sort_swap(unsigned char *a, unsigned char *b, size_t size)
{
    unsigned char t[64];
    memcpy(t, a, size);
    memcpy(a, b, size);
    memcpy(b, t, size);
}

/* Moves item `root` down the heap of the first n items (the largest on top). */
static void sort_sift(unsigned char *v, size_t root, size_t n, size_t size,
                      int (*cmp)(const void *, const void *))
{
    for (size_t ch = 2 * root + 1; ch < n; ch = 2 * root + 1) {
        if (ch + 1 < n && cmp(v + ch * size, v + (ch + 1) * size) < 0) ch++;
        if (cmp(v + root * size, v + ch * size) >= 0) return;
        sort_swap(v + root * size, v + ch * size, size);
        root = ch;
    }
}

void sl__sort(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
    unsigned char *v = base;
    for (size_t i = n / 2; i-- > 0;)
        sort_sift(v, i, n, size, cmp);
    for (size_t end = n; end-- > 1;) {
        sort_swap(v, v + end * size, size);
        sort_sift(v, 0, end, size, cmp);
    }
}
