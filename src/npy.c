/* Arrays and numpy .npy files.
 *
 * A .npy file is: the magic "\x93NUMPY", a major and a minor version byte, the header length
 * (2 bytes little-endian in version 1, 4 bytes in versions 2 and 3), the header (a Python dict
 * literal with the keys 'descr', 'fortran_order' and 'shape', padded with spaces and ending in
 * '\n'), then the raw data. We read and write only plain little-endian C-order arrays of five
 * dtypes; everything else is refused with a message that says what was found. */
#include "internal.h"
#include "segloss_data.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The data is copied as it lies in the file, so the host must be little-endian like the files
 * we read and write. */
#if defined(__BYTE_ORDER__) && defined(__ORDER_BIG_ENDIAN__)
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#error "segloss's .npy reader assumes a little-endian host"
#endif
#endif

static const char npy_magic[6] = {'\x93', 'N', 'U', 'M', 'P', 'Y'};

/* numpy aligns the start of the data to this many bytes; we do the same when writing. */
#define NPY_ALIGN 64

/* Each dtype's size, name and numpy descr, indexed by sl_dtype. */
static const struct {
    size_t size;
    const char *name, *descr;
} dtypes[] = {
    [SL_DT_F32] = {4, "float32", "<f4"}, [SL_DT_F64] = {8, "float64", "<f8"},
    [SL_DT_U8] = {1, "uint8", "|u1"},    [SL_DT_I32] = {4, "int32", "<i4"},
    [SL_DT_I64] = {8, "int64", "<i8"},
};

static int dtype_valid(sl_dtype t)
{
    return (unsigned)t < sizeof dtypes / sizeof dtypes[0];
}

size_t sl_dtype_size(sl_dtype t)
{
    return dtype_valid(t) ? dtypes[t].size : 0;
}

const char *sl_dtype_name(sl_dtype t)
{
    return dtype_valid(t) ? dtypes[t].name : "unknown";
}

int64_t sl_array_numel(const sl_array *a)
{
    int64_t n = 1;
    for (int i = 0; i < a->ndim; i++)
        n *= a->shape[i];
    return n;
}

/* "(d0, d1, ...)" with Python's tuple spelling: "()" for 0-d and "(5,)" for 1-d. Used both in
 * messages and in the header we write. */
static void tuple_str(int ndim, const int64_t *shape, char *buf, size_t len)
{
    size_t o = 0;
    buf[0] = 0;
    o += (size_t)snprintf(buf, len, "(");
    for (int i = 0; i < ndim && o < len; i++)
        o += (size_t)snprintf(buf + o, len - o, i ? ", %lld" : "%lld", (long long)shape[i]);
    if (o < len) o += (size_t)snprintf(buf + o, len - o, ndim == 1 ? ",)" : ")");
}

/* Check a shape and compute its element and byte counts without overflowing. Like numpy, the
 * product of the non-zero sizes must fit even when some size is zero. Returns SL_OK or fills
 * err (status s) with a message naming the problem. */
static sl_status shape_counts(sl_dtype t, int ndim, const int64_t *shape, sl_status s,
                              int64_t *numel, size_t *bytes, sl_error *err)
{
    char sh[64];
    if (ndim < 0 || ndim > SL_NPY_MAX_DIMS)
        return sl__fail(err, s, "%d dimensions: must be 0 to %d", ndim, SL_NPY_MAX_DIMS);
    int64_t n = 1, nonzero = 1;
    int empty = 0;
    size_t isz = sl_dtype_size(t);
    for (int i = 0; i < ndim; i++) {
        int64_t d = shape[i];
        if (d < 0) return sl__fail(err, s, "negative size %lld in dimension %d", (long long)d, i);
        if (d == 0) {
            empty = 1;
            continue;
        }
        if (nonzero > INT64_MAX / d) {
            tuple_str(ndim, shape, sh, sizeof sh);
            return sl__fail(err, s, "shape %s%s is too large: its element count overflows", sh,
                            strlen(sh) >= sizeof sh - 1 ? "..." : "");
        }
        nonzero *= d;
    }
    if ((uint64_t)nonzero > (uint64_t)INT64_MAX / isz || (uint64_t)nonzero > SIZE_MAX / isz) {
        tuple_str(ndim, shape, sh, sizeof sh);
        return sl__fail(err, s, "shape %s%s is too large: its byte count overflows", sh,
                        strlen(sh) >= sizeof sh - 1 ? "..." : "");
    }
    n = empty ? 0 : nonzero;
    *numel = n;
    *bytes = (size_t)n * isz;
    return SL_OK;
}

sl_status sl_array_alloc(sl_array *a, sl_dtype t, int ndim, const int64_t *shape, sl_error *err)
{
    memset(a, 0, sizeof *a);
    if (!dtype_valid(t)) return sl__fail(err, SL_E_ARG, "unknown dtype %d", (int)t);
    if (ndim > 0 && !shape) return sl__fail(err, SL_E_ARG, "array shape is NULL");
    int64_t n;
    size_t bytes;
    sl_status st = shape_counts(t, ndim, shape, SL_E_SHAPE, &n, &bytes, err);
    if (st != SL_OK) return st;
    /* Even an empty array gets a buffer, so data is never NULL for a live array. */
    void *p = calloc(bytes ? bytes : 1, 1);
    if (!p)
        return sl__fail(err, SL_E_NOMEM, "out of memory allocating %zu bytes for a %s array", bytes,
                        sl_dtype_name(t));
    a->dtype = t;
    a->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        a->shape[i] = shape[i];
    a->data = p;
    return SL_OK;
}

void sl_array_free(sl_array *a)
{
    if (!a) return;
    free(a->data);
    a->data = NULL;
}

/* ---------------------------------------------------------------------------------------------
 * The header dict. A small recursive-descent reader of exactly the Python literal subset numpy
 * writes: strings, True/False and tuples of integers, with free spacing and trailing commas.
 */
typedef struct {
    const char *s;
    size_t n, i;
    sl_error *err;
    int python2_long; /* versions 1.0 and 2.0: numpy drops an 'L' after a number */
} hdr_reader;

static void hdr_space(hdr_reader *r)
{
    while (r->i < r->n &&
           (r->s[r->i] == ' ' || r->s[r->i] == '\t' || r->s[r->i] == '\n' || r->s[r->i] == '\r'))
        r->i++;
}

/* The character at the cursor, for messages: "end of header" or "'x'". */
static const char *hdr_what(const hdr_reader *r, char *buf, size_t len)
{
    if (r->i >= r->n) return "end of header";
    unsigned char c = (unsigned char)r->s[r->i];
    if (c >= 32 && c < 127)
        snprintf(buf, len, "'%c'", c);
    else
        snprintf(buf, len, "byte 0x%02x", c);
    return buf;
}

static sl_status hdr_expected(hdr_reader *r, const char *what)
{
    char b[16];
    return sl__fail(r->err, SL_E_FORMAT,
                    "malformed .npy header: expected %s at offset %zu, found %s", what, r->i,
                    hdr_what(r, b, sizeof b));
}

/* A quoted string, ' or ". *str points into the header; no escapes (numpy never writes any in
 * the keys or the descr we accept). */
static sl_status hdr_string(hdr_reader *r, const char **str, size_t *len)
{
    if (r->i >= r->n || (r->s[r->i] != '\'' && r->s[r->i] != '"'))
        return hdr_expected(r, "a quoted string");
    char q = r->s[r->i++];
    size_t start = r->i;
    while (r->i < r->n && r->s[r->i] != q && r->s[r->i] != '\n')
        r->i++;
    if (r->i >= r->n || r->s[r->i] != q)
        return sl__fail(r->err, SL_E_FORMAT,
                        "malformed .npy header: unterminated string at offset %zu", start - 1);
    *str = r->s + start;
    *len = r->i - start;
    r->i++;
    return SL_OK;
}

static int is_word_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-' || c == '+';
}

static sl_status hdr_bool(hdr_reader *r, int *out)
{
    size_t start = r->i;
    while (r->i < r->n && is_word_char(r->s[r->i]))
        r->i++;
    size_t len = r->i - start;
    if (len == 4 && memcmp(r->s + start, "True", 4) == 0) {
        *out = 1;
        return SL_OK;
    }
    if (len == 5 && memcmp(r->s + start, "False", 5) == 0) {
        *out = 0;
        return SL_OK;
    }
    r->i = start;
    return hdr_expected(r, "True or False for 'fortran_order'");
}

/* One size in the shape tuple: a Python decimal literal, as numpy reads it: no leading zero
 * before other digits ("08" is a syntax error, "0" and "00" are 0), and in versions 1.0 and 2.0
 * only, Python 2's 'L' suffix (old numpy wrote "(3L, 4L)"; version 3.0 and a lowercase 'l' are
 * refused, as numpy refuses them). Anything else that looks like a number is named as
 * non-integer (numpy also takes "+2", "1_0", "0x2" or "True" as sizes; those are refused here,
 * stricter than numpy, never looser). */
static sl_status hdr_size(hdr_reader *r, int dim, int64_t *out)
{
    size_t start = r->i;
    while (r->i < r->n && is_word_char(r->s[r->i]))
        r->i++;
    size_t len = r->i - start;
    const char *t = r->s + start;
    if (len == 0) {
        r->i = start;
        return hdr_expected(r, "a size or ')' in 'shape'");
    }
    size_t dl = len;
    if (dl > 1 && t[dl - 1] == 'L' && r->python2_long) dl--;
    int neg = t[0] == '-';
    size_t k = neg ? 1 : 0;
    int digits = k < dl;
    for (size_t j = k; j < dl; j++)
        if (t[j] < '0' || t[j] > '9') digits = 0;
    if (!digits)
        return sl__fail(r->err, SL_E_FORMAT,
                        "bad .npy shape: size '%.*s' in dimension %d is not an integer",
                        (int)(len > 40 ? 40 : len), t, dim);
    if (neg)
        return sl__fail(r->err, SL_E_FORMAT, "bad .npy shape: negative size %.*s in dimension %d",
                        (int)(len > 40 ? 40 : len), t, dim);
    for (size_t j = 1; t[0] == '0' && j < dl; j++)
        if (t[j] != '0')
            return sl__fail(r->err, SL_E_FORMAT,
                            "bad .npy shape: size '%.*s' in dimension %d has a leading zero",
                            (int)(len > 40 ? 40 : len), t, dim);
    int64_t v = 0;
    for (size_t j = k; j < dl; j++) {
        int c = t[j] - '0';
        if (v > (INT64_MAX - c) / 10)
            return sl__fail(r->err, SL_E_FORMAT,
                            "bad .npy shape: size %.*s in dimension %d is too large",
                            (int)(len > 40 ? 40 : len), t, dim);
        v = v * 10 + c;
    }
    *out = v;
    return SL_OK;
}

/* A tuple of sizes: "()", "(5,)", "(2, 3)", "(2, 3,)". "(5)" is the integer 5 in Python, not a
 * tuple, and numpy refuses it, so we do too. */
static sl_status hdr_shape(hdr_reader *r, int *ndim, int64_t *shape)
{
    if (r->i >= r->n || r->s[r->i] != '(') return hdr_expected(r, "'(' to start 'shape'");
    r->i++;
    int nd = 0, comma_after_last = 0;
    for (;;) {
        hdr_space(r);
        if (r->i < r->n && r->s[r->i] == ')') {
            r->i++;
            break;
        }
        if (nd >= SL_NPY_MAX_DIMS)
            return sl__fail(r->err, SL_E_FORMAT, "unsupported .npy shape: more than %d dimensions",
                            SL_NPY_MAX_DIMS);
        sl_status st = hdr_size(r, nd, &shape[nd]);
        if (st != SL_OK) return st;
        nd++;
        hdr_space(r);
        comma_after_last = 0;
        if (r->i < r->n && r->s[r->i] == ',') {
            r->i++;
            comma_after_last = 1;
        } else if (r->i >= r->n || r->s[r->i] != ')') {
            return hdr_expected(r, "',' or ')' in 'shape'");
        }
    }
    if (nd == 1 && !comma_after_last)
        return sl__fail(r->err, SL_E_FORMAT,
                        "bad .npy shape: (%lld) is not a tuple; a 1-d shape is written (%lld,)",
                        (long long)shape[0], (long long)shape[0]);
    *ndim = nd;
    return SL_OK;
}

static int str_is(const char *s, size_t n, const char *lit)
{
    return strlen(lit) == n && memcmp(s, lit, n) == 0;
}

static sl_status descr_dtype(const char *d, size_t n, sl_dtype *out, sl_error *err)
{
    for (size_t k = 0; k < sizeof dtypes / sizeof dtypes[0]; k++)
        if (str_is(d, n, dtypes[k].descr)) {
            *out = (sl_dtype)k;
            return SL_OK;
        }
    if (str_is(d, n, "<u1")) { /* bytes have no order: numpy writes |u1 and reads both */
        *out = SL_DT_U8;
        return SL_OK;
    }
    int shown = (int)(n > 40 ? 40 : n);
    if (n > 0 && d[0] == '>')
        return sl__fail(err, SL_E_FORMAT,
                        "unsupported .npy dtype '%.*s': big-endian data is not supported "
                        "(save it as little-endian, e.g. arr.astype('<%.*s'))",
                        shown, d, shown - 1, d + 1);
    if (n > 1 && d[1] == 'O')
        return sl__fail(err, SL_E_FORMAT,
                        "unsupported .npy dtype '%.*s': object (pickled) arrays are not supported",
                        shown, d);
    return sl__fail(err, SL_E_FORMAT,
                    "unsupported .npy dtype '%.*s' (supported: <f4, <f8, |u1, <i4, <i8)", shown, d);
}

/* Parse the dict. On success *dt, *ndim, shape are set. */
static sl_status parse_header(const char *h, size_t n, int major, sl_dtype *dt, int *ndim,
                              int64_t *shape, sl_error *err)
{
    hdr_reader r = {h, n, 0, err, major < 3};
    int have_descr = 0, have_fortran = 0, have_shape = 0, fortran = 0;
    sl_status st;
    hdr_space(&r);
    if (r.i >= r.n || h[r.i] != '{') return hdr_expected(&r, "'{' (the header is not a dict)");
    r.i++;
    for (;;) {
        hdr_space(&r);
        if (r.i < r.n && h[r.i] == '}') {
            r.i++;
            break;
        }
        const char *key;
        size_t klen;
        if ((st = hdr_string(&r, &key, &klen)) != SL_OK) return st;
        int shown = (int)(klen > 40 ? 40 : klen);
        hdr_space(&r);
        if (r.i >= r.n || h[r.i] != ':') return hdr_expected(&r, "':' after a key");
        r.i++;
        hdr_space(&r);
        int *seen;
        if (str_is(key, klen, "descr")) {
            seen = &have_descr;
            const char *d;
            size_t dlen;
            if (r.i < r.n && h[r.i] == '[')
                return sl__fail(err, SL_E_FORMAT,
                                "unsupported .npy dtype: structured arrays are not supported");
            if ((st = hdr_string(&r, &d, &dlen)) != SL_OK) return st;
            if ((st = descr_dtype(d, dlen, dt, err)) != SL_OK) return st;
        } else if (str_is(key, klen, "fortran_order")) {
            seen = &have_fortran;
            if ((st = hdr_bool(&r, &fortran)) != SL_OK) return st;
        } else if (str_is(key, klen, "shape")) {
            seen = &have_shape;
            if ((st = hdr_shape(&r, ndim, shape)) != SL_OK) return st;
        } else {
            return sl__fail(err, SL_E_FORMAT,
                            "malformed .npy header: unexpected key '%.*s' (expected 'descr', "
                            "'fortran_order' and 'shape')",
                            shown, key);
        }
        if (*seen)
            return sl__fail(err, SL_E_FORMAT, "malformed .npy header: duplicate key '%.*s'", shown,
                            key);
        *seen = 1;
        hdr_space(&r);
        if (r.i < r.n && h[r.i] == ',') {
            r.i++;
        } else if (r.i >= r.n || h[r.i] != '}') {
            return hdr_expected(&r, "',' or '}' after a value");
        }
    }
    hdr_space(&r);
    if (r.i < r.n) return hdr_expected(&r, "only padding after the dict's '}'");
    if (!have_descr || !have_fortran || !have_shape)
        return sl__fail(err, SL_E_FORMAT, "malformed .npy header: missing key '%s'",
                        !have_descr     ? "descr"
                        : !have_fortran ? "fortran_order"
                                        : "shape");
    if (fortran)
        return sl__fail(err, SL_E_FORMAT,
                        "unsupported .npy layout: Fortran order not supported (save a C-order "
                        "array, e.g. np.ascontiguousarray(arr))");
    return SL_OK;
}

sl_status sl_npy_parse(const void *buf, size_t len, sl_array *out, sl_error *err)
{
    const unsigned char *b = buf;
    memset(out, 0, sizeof *out);
    if (!buf) return sl__fail(err, SL_E_ARG, "sl_npy_parse: buffer is NULL");
    if (memcmp(b, npy_magic, len < 6 ? len : 6) != 0)
        return sl__fail(err, SL_E_FORMAT, "not a .npy file: bad magic (expected \\x93NUMPY)");
    if (len < 10)
        return sl__fail(err, SL_E_FORMAT,
                        "truncated .npy file: %zu bytes, too short for the magic, version and "
                        "header length",
                        len);
    int major = b[6], minor = b[7];
    size_t hstart;
    uint64_t hlen;
    if (major == 1 && minor == 0) {
        hstart = 10;
        hlen = (uint64_t)b[8] | (uint64_t)b[9] << 8;
    } else if ((major == 2 || major == 3) && minor == 0) {
        if (len < 12)
            return sl__fail(err, SL_E_FORMAT,
                            "truncated .npy file: %zu bytes, too short for a version %d.0 header "
                            "length",
                            len, major);
        hstart = 12;
        hlen = (uint64_t)b[8] | (uint64_t)b[9] << 8 | (uint64_t)b[10] << 16 | (uint64_t)b[11] << 24;
    } else {
        return sl__fail(err, SL_E_FORMAT,
                        "unsupported .npy version %d.%d (supported: 1.0, 2.0, 3.0)", major, minor);
    }
    if (hlen > len - hstart)
        return sl__fail(err, SL_E_FORMAT,
                        "truncated .npy file: header length %llu runs past the end of the file "
                        "(%zu bytes)",
                        (unsigned long long)hlen, len);
    /* Versions 1 and 2 are latin-1 and 3 is utf-8; the keys and values we accept are all
     * ASCII, so any other byte is caught by the parser as an unexpected character. */
    sl_dtype dt = SL_DT_F32;
    int ndim = 0;
    int64_t shape[SL_NPY_MAX_DIMS];
    sl_status st =
        parse_header((const char *)b + hstart, (size_t)hlen, major, &dt, &ndim, shape, err);
    if (st != SL_OK) return st;
    int64_t numel;
    size_t bytes;
    st = shape_counts(dt, ndim, shape, SL_E_FORMAT, &numel, &bytes, err);
    if (st != SL_OK) return st;
    size_t off = hstart + (size_t)hlen;
    size_t have = len - off;
    char sh[64];
    if (have != bytes) {
        tuple_str(ndim, shape, sh, sizeof sh);
        if (have < bytes)
            return sl__fail(err, SL_E_FORMAT,
                            "truncated .npy data: shape %s of %s needs %zu bytes, the file has "
                            "%zu after the header",
                            sh, sl_dtype_name(dt), bytes, have);
        return sl__fail(err, SL_E_FORMAT,
                        "unexpected %zu trailing bytes in .npy file: shape %s of %s needs %zu "
                        "bytes, the file has %zu after the header (wrong shape?)",
                        have - bytes, sh, sl_dtype_name(dt), bytes, have);
    }
    st = sl_array_alloc(out, dt, ndim, shape, err);
    if (st != SL_OK) return st;
    /* memcpy: the data in the file buffer need not be aligned for its type. */
    if (bytes) memcpy(out->data, b + off, bytes);
    return SL_OK;
}

sl_status sl_npy_read(const char *path, sl_array *out, sl_error *err)
{
    memset(out, 0, sizeof *out);
    if (!path) return sl__fail(err, SL_E_ARG, "sl_npy_read: path is NULL");
    /* O_NONBLOCK so that opening a FIFO by mistake does not hang; fstat then refuses it. It
     * changes nothing for regular files. */
    int fd = open(path, O_RDONLY | O_NONBLOCK);
    if (fd < 0) return sl__fail(err, SL_E_IO, "cannot open %s: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return sl__fail(err, SL_E_IO, "cannot read %s: %s", path, strerror(e));
    }
    if (S_ISDIR(sb.st_mode)) {
        close(fd);
        return sl__fail(err, SL_E_IO, "cannot read %s: it is a directory", path);
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return sl__fail(err, SL_E_IO, "cannot read %s: not a regular file", path);
    }
    if (sb.st_size < 0 || (uint64_t)sb.st_size >= SIZE_MAX) {
        close(fd);
        return sl__fail(err, SL_E_IO, "cannot read %s: file too large", path);
    }
    size_t size = (size_t)sb.st_size;
    unsigned char *buf = malloc(size ? size : 1);
    if (!buf) {
        close(fd);
        return sl__fail(err, SL_E_NOMEM, "out of memory reading %s (%zu bytes)", path, size);
    }
    /* Read what fstat promised; a file that shrinks under us just gives a shorter image. */
    size_t got = 0;
    while (got < size) {
        ssize_t r = read(fd, buf + got, size - got);
        if (r < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            free(buf);
            close(fd);
            return sl__fail(err, SL_E_IO, "cannot read %s: %s", path, strerror(e));
        }
        if (r == 0) break;
        got += (size_t)r;
    }
    close(fd);
    sl_error local;
    sl_status st = sl_npy_parse(buf, got, out, &local);
    free(buf);
    if (st != SL_OK) return sl__fail(err, st, "%s: %s", path, local.msg);
    return SL_OK;
}

/* sl_npy_write (path) and sl_npy_write_fd (fd >= 0, path NULL). */
static sl_status npy_write(const char *path, int fd, const sl_array *a, sl_error *err)
{
    /* for messages: "cannot write PATH" or "cannot write" */
    const char *sp = path ? " " : "", *pn = path ? path : "";
    if (!a) return sl__fail(err, SL_E_ARG, "cannot write%s%s: array is NULL", sp, pn);
    if (!dtype_valid(a->dtype))
        return sl__fail(err, SL_E_ARG, "cannot write%s%s: unknown dtype %d", sp, pn, (int)a->dtype);
    int64_t numel;
    size_t bytes;
    sl_error local;
    sl_status st = shape_counts(a->dtype, a->ndim, a->shape, SL_E_ARG, &numel, &bytes, &local);
    if (st != SL_OK) return sl__fail(err, st, "cannot write%s%s: %s", sp, pn, local.msg);
    if (bytes && !a->data)
        return sl__fail(err, SL_E_ARG, "cannot write%s%s: array data is NULL", sp, pn);

    /* 32 sizes of at most 19 digits plus the fixed text fit easily; the header length field
     * of version 1.0 (65535) is never a limit. */
    char h[1024];
    char sh[SL_NPY_MAX_DIMS * 22 + 8];
    tuple_str(a->ndim, a->shape, sh, sizeof sh);
    memcpy(h, npy_magic, 6);
    h[6] = 1;
    h[7] = 0;
    int n = snprintf(h + 10, sizeof h - 10 - NPY_ALIGN,
                     "{'descr': '%s', 'fortran_order': False, 'shape': %s, }",
                     dtypes[a->dtype].descr, sh);
    if (n < 0 || (size_t)n >= sizeof h - 10 - NPY_ALIGN)
        return sl__fail(err, SL_E_ARG, "cannot write%s%s: header too long", sp, pn);
    /* Pad with spaces and a final '\n' so that the data starts on a 64-byte boundary. */
    size_t total = 10 + (size_t)n + 1;
    size_t padded = (total + NPY_ALIGN - 1) / NPY_ALIGN * NPY_ALIGN;
    memset(h + 10 + n, ' ', padded - 1 - (10 + (size_t)n));
    h[padded - 1] = '\n';
    size_t hlen = padded - 10;
    h[8] = (char)(hlen & 0xff);
    h[9] = (char)(hlen >> 8);
    return sl__write_out(path, fd, h, padded, a->data, bytes, err);
}

sl_status sl_npy_write(const char *path, const sl_array *a, sl_error *err)
{
    if (!path) return sl__fail(err, SL_E_ARG, "sl_npy_write: path is NULL");
    return npy_write(path, -1, a, err);
}

sl_status sl_npy_write_fd(int fd, const sl_array *a, sl_error *err)
{
    if (fd < 0) return sl__fail(err, SL_E_ARG, "sl_npy_write_fd: bad file descriptor %d", fd);
    return npy_write(NULL, fd, a, err);
}
