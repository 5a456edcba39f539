/* Tests of the .npy reader and writer, the class colours and the PNG writer.
 *
 * With no arguments: runs every check in a temporary directory and prints the summary.
 * `test_npy --roundtrip IN.npy OUT.npy` loads IN and saves OUT, or prints the library's one-line
 * error on stderr and exits 1; tests/check_npy.py uses it to check against numpy. */
#include "segloss_data.h"

#include "check.h"

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

static char tmpdir[256];

/* A path inside the test's temporary directory (a rotating set of 16 buffers, so a few can be
 * alive at once). */
static const char *tpath(const char *name)
{
    static char bufs[16][512];
    static int k;
    char *b = bufs[k++ % 16];
    snprintf(b, 512, "%s/%s", tmpdir, name);
    return b;
}

static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char p[1024];
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat sb;
        if (lstat(p, &sb) == 0 && S_ISDIR(sb.st_mode))
            remove_tree(p);
        else
            remove(p);
    }
    closedir(d);
    rmdir(dir);
}

static int write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    int ok = fwrite(data, 1, len, f) == len;
    return fclose(f) == 0 && ok;
}

static unsigned char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, n = 0;
    unsigned char *b = malloc(cap);
    size_t r;
    while (b && (r = fread(b + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            unsigned char *nb = realloc(b, cap *= 2);
            if (!nb) free(b);
            b = nb;
        }
    }
    fclose(f);
    *len = n;
    return b;
}

/* ---------------------------------------------------------------------------------------------
 * Hand-built .npy images.
 */
typedef struct {
    unsigned char b[8192];
    size_t len;
} npybuf;

/* magic, version, header length field, the header text as given (no padding added), then
 * datalen bytes of a counting pattern. */
static void make_npy(npybuf *o, int major, int minor, const char *header, size_t datalen)
{
    size_t hl = strlen(header);
    memcpy(o->b, "\x93NUMPY", 6);
    o->b[6] = (unsigned char)major;
    o->b[7] = (unsigned char)minor;
    size_t off;
    if (major == 1) {
        o->b[8] = (unsigned char)(hl & 0xff);
        o->b[9] = (unsigned char)(hl >> 8);
        off = 10;
    } else {
        o->b[8] = (unsigned char)(hl & 0xff);
        o->b[9] = (unsigned char)(hl >> 8);
        o->b[10] = (unsigned char)(hl >> 16);
        o->b[11] = (unsigned char)(hl >> 24);
        off = 12;
    }
    memcpy(o->b + off, header, hl);
    off += hl;
    for (size_t i = 0; i < datalen; i++)
        o->b[off + i] = (unsigned char)(i * 7 + 1);
    o->len = off + datalen;
}

static int has(const char *msg, const char *what)
{
    return strstr(msg, what) != NULL;
}

/* Parse buf and expect status st with a message containing every non-NULL needle. */
static void expect_fail(const npybuf *nb, sl_status st, const char *what, const char *n1,
                        const char *n2)
{
    sl_array a;
    sl_error err;
    err.msg[0] = 0;
    sl_status got = sl_npy_parse(nb->b, nb->len, &a, &err);
    CHECK(got == st, "%s: status %s, want %s (msg: %s)", what, sl_status_str(got),
          sl_status_str(st), err.msg);
    CHECK(a.data == NULL, "%s: data left allocated after an error", what);
    CHECK(!n1 || has(err.msg, n1), "%s: message '%s' lacks '%s'", what, err.msg, n1);
    CHECK(!n2 || has(err.msg, n2), "%s: message '%s' lacks '%s'", what, err.msg, n2);
    CHECK(err.msg[0] && !strchr(err.msg, '\n'), "%s: message is not one line: '%s'", what, err.msg);
    if (got == SL_OK) sl_array_free(&a);
}

static void expect_ok(const npybuf *nb, const char *what, sl_dtype dt, int ndim,
                      const int64_t *shape)
{
    sl_array a;
    sl_error err;
    err.msg[0] = 0;
    sl_status st = sl_npy_parse(nb->b, nb->len, &a, &err);
    CHECK(st == SL_OK, "%s: status %s: %s", what, sl_status_str(st), err.msg);
    if (st != SL_OK) return;
    CHECK(a.dtype == dt, "%s: dtype %s, want %s", what, sl_dtype_name(a.dtype), sl_dtype_name(dt));
    CHECK(a.ndim == ndim, "%s: ndim %d, want %d", what, a.ndim, ndim);
    int same = a.ndim == ndim;
    for (int i = 0; same && i < ndim; i++)
        same = a.shape[i] == shape[i];
    CHECK(same, "%s: shape differs", what);
    /* the data is the counting pattern make_npy wrote */
    size_t bytes = (size_t)sl_array_numel(&a) * sl_dtype_size(a.dtype);
    int data_ok = 1;
    for (size_t i = 0; i < bytes; i++)
        if (((unsigned char *)a.data)[i] != (unsigned char)(i * 7 + 1)) data_ok = 0;
    CHECK(data_ok, "%s: data differs", what);
    sl_array_free(&a);
}

static void test_dtypes(void)
{
    CHECK(sl_dtype_size(SL_DT_F32) == 4, "f32 size");
    CHECK(sl_dtype_size(SL_DT_F64) == 8, "f64 size");
    CHECK(sl_dtype_size(SL_DT_U8) == 1, "u8 size");
    CHECK(sl_dtype_size(SL_DT_I32) == 4, "i32 size");
    CHECK(sl_dtype_size(SL_DT_I64) == 8, "i64 size");
    CHECK(!strcmp(sl_dtype_name(SL_DT_F32), "float32"), "f32 name");
    CHECK(!strcmp(sl_dtype_name(SL_DT_F64), "float64"), "f64 name");
    CHECK(!strcmp(sl_dtype_name(SL_DT_U8), "uint8"), "u8 name");
    CHECK(!strcmp(sl_dtype_name(SL_DT_I32), "int32"), "i32 name");
    CHECK(!strcmp(sl_dtype_name(SL_DT_I64), "int64"), "i64 name");
}

static void test_alloc(void)
{
    sl_array a;
    sl_error err;
    int64_t sh[3] = {2, 3, 4};
    CHECK(sl_array_alloc(&a, SL_DT_F64, 3, sh, &err) == SL_OK, "alloc: %s", err.msg);
    CHECK(sl_array_numel(&a) == 24, "numel 24");
    int zero = 1;
    for (int i = 0; i < 24; i++)
        if (((double *)a.data)[i] != 0) zero = 0;
    CHECK(zero, "alloc zeroes");
    sl_array_free(&a);
    sl_array_free(&a); /* twice is harmless */
    CHECK(a.data == NULL, "free clears data");

    CHECK(sl_array_alloc(&a, SL_DT_U8, 0, NULL, &err) == SL_OK && sl_array_numel(&a) == 1,
          "0-d alloc");
    sl_array_free(&a);
    int64_t e[2] = {3, 0};
    CHECK(sl_array_alloc(&a, SL_DT_I32, 2, e, &err) == SL_OK && sl_array_numel(&a) == 0 &&
              a.data != NULL,
          "empty alloc");
    sl_array_free(&a);

    int64_t neg[2] = {3, -1};
    CHECK(sl_array_alloc(&a, SL_DT_F32, 2, neg, &err) == SL_E_SHAPE && has(err.msg, "negative"),
          "negative alloc: %s", err.msg);
    CHECK(a.data == NULL, "failed alloc leaves data NULL");
    int64_t big[2] = {INT64_C(1) << 40, INT64_C(1) << 40};
    CHECK(sl_array_alloc(&a, SL_DT_F32, 2, big, &err) == SL_E_SHAPE && has(err.msg, "overflow"),
          "overflow alloc: %s", err.msg);
    int64_t many[SL_NPY_MAX_DIMS + 1];
    for (int i = 0; i <= SL_NPY_MAX_DIMS; i++)
        many[i] = 1;
    CHECK(sl_array_alloc(&a, SL_DT_F32, SL_NPY_MAX_DIMS + 1, many, &err) == SL_E_SHAPE,
          "too many dims alloc");
    CHECK(sl_array_alloc(&a, (sl_dtype)42, 1, sh, &err) == SL_E_ARG, "bad dtype alloc");
}

/* Save then load arrays of every dtype and several shapes; check the bytes and the file's
 * layout (version 1.0, data on a 64-byte boundary, header ending in '\n'). */
static void test_roundtrip(void)
{
    static const int64_t shapes[][6] = {
        /* ndim, dims... */
        {0}, {1, 5}, {2, 2, 3}, {5, 1, 2, 3, 2, 2}, {3, 3, 0, 2}, {1, 0}, {4, 2, 1, 1, 3},
    };
    sl_dtype dts[5] = {SL_DT_F32, SL_DT_F64, SL_DT_U8, SL_DT_I32, SL_DT_I64};
    for (int t = 0; t < 5; t++) {
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            int nd = (int)shapes[s][0];
            sl_array a, b;
            sl_error err;
            CHECK(sl_array_alloc(&a, dts[t], nd, shapes[s] + 1, &err) == SL_OK, "alloc: %s",
                  err.msg);
            size_t bytes = (size_t)sl_array_numel(&a) * sl_dtype_size(dts[t]);
            for (size_t i = 0; i < bytes; i++)
                ((unsigned char *)a.data)[i] = (unsigned char)(i * 31 + t);
            if (dts[t] == SL_DT_F32 && bytes >= 12) {
                float sp[3] = {NAN, -0.0f, -INFINITY};
                memcpy(a.data, sp, sizeof sp);
            }
            char name[64];
            snprintf(name, sizeof name, "rt_%s_%zu.npy", sl_dtype_name(dts[t]), s);
            const char *p = tpath(name);
            sl_status st = sl_npy_write(p, &a, &err);
            CHECK(st == SL_OK, "save %s: %s", name, err.msg);
            st = sl_npy_read(p, &b, &err);
            CHECK(st == SL_OK, "load %s: %s", name, err.msg);
            if (st == SL_OK) {
                int same = b.dtype == a.dtype && b.ndim == a.ndim;
                for (int i = 0; same && i < nd; i++)
                    same = a.shape[i] == b.shape[i];
                CHECK(same, "%s: dtype/shape differ", name);
                CHECK(!bytes || memcmp(a.data, b.data, bytes) == 0, "%s: data differs", name);
                sl_array_free(&b);
            }
            size_t flen;
            unsigned char *f = read_file(p, &flen);
            CHECK(f != NULL, "%s: read back", name);
            if (f) {
                size_t hl = flen >= 10 ? (size_t)(f[8] | f[9] << 8) : 0;
                CHECK(flen >= 10 && !memcmp(f, "\x93NUMPY\x01\x00", 8), "%s: magic/version", name);
                CHECK((10 + hl) % 64 == 0, "%s: data offset %zu not 64-aligned", name, 10 + hl);
                CHECK(10 + hl + bytes == flen, "%s: file length", name);
                CHECK(hl > 0 && f[10 + hl - 1] == '\n', "%s: header ends in newline", name);
                free(f);
            }
            sl_array_free(&a);
        }
    }

    /* The exact header numpy would write for a 1-d and a 0-d array. */
    sl_array a;
    sl_error err;
    int64_t five = 5;
    sl_array_alloc(&a, SL_DT_I64, 1, &five, &err);
    sl_npy_write(tpath("h1.npy"), &a, &err);
    sl_array_free(&a);
    size_t flen;
    unsigned char *f = read_file(tpath("h1.npy"), &flen);
    const char *want = "{'descr': '<i8', 'fortran_order': False, 'shape': (5,), }";
    CHECK(f && flen > 10 + strlen(want) && !memcmp(f + 10, want, strlen(want)), "1-d header text");
    free(f);
    sl_array_alloc(&a, SL_DT_U8, 0, NULL, &err);
    sl_npy_write(tpath("h0.npy"), &a, &err);
    sl_array_free(&a);
    f = read_file(tpath("h0.npy"), &flen);
    want = "{'descr': '|u1', 'fortran_order': False, 'shape': (), }";
    CHECK(f && flen > 10 + strlen(want) && !memcmp(f + 10, want, strlen(want)), "0-d header text");
    free(f);

    /* Overwriting an existing file works and leaves no temporary behind. */
    int before = check_count_entries(tmpdir);
    sl_array_alloc(&a, SL_DT_F32, 1, &five, &err);
    CHECK(sl_npy_write(tpath("h1.npy"), &a, &err) == SL_OK, "overwrite: %s", err.msg);
    sl_array_free(&a);
    CHECK(check_count_entries(tmpdir) == before, "overwrite leaves no temporary");
    sl_array b;
    CHECK(sl_npy_read(tpath("h1.npy"), &b, &err) == SL_OK && b.dtype == SL_DT_F32,
          "overwritten file has the new dtype");
    sl_array_free(&b);
}

static void test_headers(void)
{
    npybuf nb;
    static const int64_t s23[2] = {2, 3}, s5[1] = {5}, e[3] = {4, 0, 1000000};
    /* format version, header, data bytes; what it must read as */
    static const struct {
        int version;
        const char *header;
        size_t bytes;
        const char *what;
        sl_dtype dtype;
        int ndim;
        const int64_t *shape;
    } good[] = {
        {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }     \n", 24,
         "v1 numpy style", SL_DT_F32, 2, s23},
        {2, "{'descr': '<f8', 'fortran_order': False, 'shape': (5,), }\n", 40, "v2", SL_DT_F64, 1,
         s5},
        {3, "{'descr': '<i4', 'fortran_order': False, 'shape': (2, 3), }\n", 24, "v3", SL_DT_I32, 2,
         s23},
        {1, "{\"shape\":(2,3),\"descr\":\"<i8\",\"fortran_order\":False}", 48,
         "double quotes, other order, no spaces, no trailing comma", SL_DT_I64, 2, s23},
        {1, "  {  'fortran_order' :False ,'shape' : ( 2 , 3 , ) ,  'descr':'|u1' , }  \n", 6,
         "extra spaces", SL_DT_U8, 2, s23},
        {1, "{'descr': '<u1', 'fortran_order': False, 'shape': (5,)}\n", 5, "<u1", SL_DT_U8, 1, s5},
        {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (), }\n", 4, "0-d", SL_DT_F32, 0,
         NULL},
        {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2L, 3L), }\n", 24, "Python 2 longs",
         SL_DT_F32, 2, s23},
        {1, "{'descr': '<f8', 'fortran_order': False, 'shape': (4, 0, 1000000), }\n", 0, "empty",
         SL_DT_F64, 3, e},
    };
    for (size_t k = 0; k < sizeof good / sizeof good[0]; k++) {
        make_npy(&nb, good[k].version, 0, good[k].header, good[k].bytes);
        expect_ok(&nb, good[k].what, good[k].dtype, good[k].ndim, good[k].shape);
    }
    int64_t d32[SL_NPY_MAX_DIMS];
    char h[512] = "{'descr': '<f4', 'fortran_order': False, 'shape': (";
    for (int i = 0; i < SL_NPY_MAX_DIMS; i++) {
        d32[i] = 1;
        strcat(h, "1,");
    }
    strcat(h, ")}");
    make_npy(&nb, 1, 0, h, 4);
    expect_ok(&nb, "32 dims", SL_DT_F32, SL_NPY_MAX_DIMS, d32);
}

static void test_malformed(void)
{
    npybuf nb;
    const char *good = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\n";

    make_npy(&nb, 1, 0, good, 24);
    nb.b[1] = 'X';
    expect_fail(&nb, SL_E_FORMAT, "bad magic", "magic", NULL);
    memcpy(nb.b, "PK\x03\x04", 4);
    expect_fail(&nb, SL_E_FORMAT, "zip magic", "magic", NULL);
    make_npy(&nb, 1, 0, good, 24);
    nb.len = 0;
    expect_fail(&nb, SL_E_FORMAT, "empty", "truncated", NULL);
    nb.len = 4;
    expect_fail(&nb, SL_E_FORMAT, "4 bytes", "truncated", NULL);
    nb.len = 9;
    expect_fail(&nb, SL_E_FORMAT, "9 bytes", "truncated", NULL);
    make_npy(&nb, 2, 0, good, 24);
    nb.len = 11;
    expect_fail(&nb, SL_E_FORMAT, "v2 11 bytes", "truncated", NULL);

    make_npy(&nb, 4, 0, good, 24);
    expect_fail(&nb, SL_E_FORMAT, "version 4.0", "version 4.0", NULL);
    make_npy(&nb, 1, 1, good, 24);
    expect_fail(&nb, SL_E_FORMAT, "version 1.1", "version 1.1", NULL);
    make_npy(&nb, 0, 0, good, 24);
    expect_fail(&nb, SL_E_FORMAT, "version 0.0", "version", NULL);

    make_npy(&nb, 1, 0, good, 0);
    nb.len -= 10;
    expect_fail(&nb, SL_E_FORMAT, "header cut", "header length", "past the end");
    make_npy(&nb, 2, 0, good, 24);
    nb.b[11] = 0x7f; /* a 2 GB header length */
    expect_fail(&nb, SL_E_FORMAT, "huge header length", "header length", NULL);

    static const struct {
        const char *h;
        const char *what, *n1, *n2;
    } bad[] = {
        {"['descr', '<f4']\n", "not a dict", "malformed", "'{'"},
        {"", "empty header", "malformed", NULL},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), \n", "no closing brace",
         "malformed", NULL},
        {"{'descr' '<f4', 'fortran_order': False, 'shape': (2, 3), }\n", "missing colon",
         "malformed", "':'"},
        {"{'descr: '<f4', 'fortran_order': False, 'shape': (2, 3), }\n", "unterminated string",
         "malformed", NULL},
        {"{descr: '<f4', 'fortran_order': False, 'shape': (2, 3), }\n", "unquoted key", "malformed",
         NULL},
        {"{'descr': '<f4' 'fortran_order': False, 'shape': (2, 3), }\n", "missing comma",
         "malformed", NULL},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } x\n", "junk after dict",
         "malformed", NULL},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\0\n", "NUL after dict",
         "malformed", NULL},
        {"{'descr': '<f4', 'fortran_order': False, }\n", "no shape", "missing key 'shape'", NULL},
        {"{'fortran_order': False, 'shape': (2, 3), }\n", "no descr", "missing key 'descr'", NULL},
        {"{'descr': '<f4', 'shape': (2, 3), }\n", "no fortran_order", "missing key 'fortran_order'",
         NULL},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'x': 1}\n", "extra key",
         "unexpected key 'x'", NULL},
        {"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\n",
         "duplicate key", "duplicate key 'descr'", NULL},
        {"{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }\n", "big-endian",
         "big-endian", "'>f4'"},
        {"{'descr': '>i8', 'fortran_order': False, 'shape': (2, 3), }\n", "big-endian i8",
         "big-endian", NULL},
        {"{'descr': '<f2', 'fortran_order': False, 'shape': (2, 3), }\n", "half",
         "unsupported .npy dtype '<f2'", NULL},
        {"{'descr': '<c8', 'fortran_order': False, 'shape': (2, 3), }\n", "complex",
         "unsupported .npy dtype '<c8'", NULL},
        {"{'descr': '|b1', 'fortran_order': False, 'shape': (2, 3), }\n", "bool",
         "unsupported .npy dtype '|b1'", NULL},
        {"{'descr': '|i1', 'fortran_order': False, 'shape': (2, 3), }\n", "int8",
         "unsupported .npy dtype", NULL},
        {"{'descr': '|O', 'fortran_order': False, 'shape': (2, 3), }\n", "object", "object", NULL},
        {"{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2, 3), }\n", "structured",
         "structured", NULL},
        {"{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }\n", "fortran",
         "Fortran order not supported", NULL},
        {"{'descr': '<f4', 'fortran_order': 0, 'shape': (2, 3), }\n", "fortran_order 0",
         "True or False", NULL},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, -3), }\n", "negative size",
         "negative", NULL},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2.5, 3), }\n", "float size",
         "not an integer", NULL},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 'a'), }\n", "string size",
         "malformed", NULL},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,, 3), }\n", "double comma",
         "malformed", NULL},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, }\n", "unclosed tuple",
         "malformed", NULL},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': [2, 3], }\n", "list shape", "malformed",
         NULL},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (6), }\n", "not a tuple", "not a tuple",
         NULL},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }\n",
         "size beyond int64", "too large", NULL},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }\n",
         "element count overflow", "element count overflows", NULL},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (0, 4294967296, 4294967296), }\n",
         "overflow with a zero", "overflows", NULL},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (2305843009213693952,), }\n",
         "byte count overflow", "byte count overflows", NULL},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000, 1000000000), }\n",
         "shape bigger than the data", "truncated", "4000000000000000000"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t hl = strlen(bad[i].h);
        make_npy(&nb, 1, 0, bad[i].h, 24);
        /* the NUL case: put the bytes in by hand */
        if (!strcmp(bad[i].what, "NUL after dict")) {
            nb.b[10 + hl] = 0;
            nb.b[10 + hl + 1] = '\n';
            nb.b[8] = (unsigned char)(hl + 2);
            memset(nb.b + 10 + hl + 2, 0, 24);
            nb.len = 10 + hl + 2 + 24;
        }
        expect_fail(&nb, SL_E_FORMAT, bad[i].what, bad[i].n1, bad[i].n2);
    }

    /* 33 dimensions */
    char h[512] = "{'descr': '<f4', 'fortran_order': False, 'shape': (";
    for (int i = 0; i <= SL_NPY_MAX_DIMS; i++)
        strcat(h, "1, ");
    strcat(h, ")}");
    make_npy(&nb, 1, 0, h, 4);
    expect_fail(&nb, SL_E_FORMAT, "33 dims", "more than 32 dimensions", NULL);

    /* data shorter and longer than the shape says */
    make_npy(&nb, 1, 0, good, 20);
    expect_fail(&nb, SL_E_FORMAT, "short data", "needs 24 bytes", "has 20");
    make_npy(&nb, 1, 0, good, 28);
    expect_fail(&nb, SL_E_FORMAT, "long data", "trailing", "has 28");
    make_npy(&nb, 3, 0, "{'descr': '<i8', 'fortran_order': False, 'shape': (), }\n", 0);
    expect_fail(&nb, SL_E_FORMAT, "0-d without data", "needs 8 bytes", "has 0");

    /* A v3 header with non-ASCII utf-8 where a key should be. */
    make_npy(&nb, 3, 0, "{'descr': '<f4', \xc3\xa9: 1, 'shape': (2, 3), }\n", 24);
    expect_fail(&nb, SL_E_FORMAT, "utf-8 junk", "malformed", "0xc3");

    /* Every truncation of a valid file fails cleanly. */
    npybuf full;
    make_npy(&full, 1, 0, good, 24);
    int all_fail = 1;
    for (size_t n = 0; n < full.len; n++) {
        sl_array a;
        sl_error err;
        if (sl_npy_parse(full.b, n, &a, &err) != SL_E_FORMAT) all_fail = 0;
    }
    CHECK(all_fail, "every truncation is SL_E_FORMAT");

    /* Flip each header byte to a few values: never a crash, OK or SL_E_FORMAT only. */
    int only_ok_or_format = 1;
    static const unsigned char subs[] = {0, ' ', '\'', '(', ')', ',', '9', 0xff, '}', '{'};
    for (size_t pos = 0; pos < full.len; pos++) {
        for (size_t k = 0; k < sizeof subs; k++) {
            npybuf m = full;
            m.b[pos] = subs[k];
            sl_array a;
            sl_error err;
            sl_status st = sl_npy_parse(m.b, m.len, &a, &err);
            if (st == SL_OK)
                sl_array_free(&a);
            else if (st != SL_E_FORMAT)
                only_ok_or_format = 0;
        }
    }
    CHECK(only_ok_or_format, "mutated headers give OK or SL_E_FORMAT");
}

static void test_files(void)
{
    sl_array a;
    sl_error err;

    const char *missing = tpath("no_such_file.npy");
    CHECK(sl_npy_read(missing, &a, &err) == SL_E_IO, "missing file is SL_E_IO");
    CHECK(has(err.msg, missing) && has(err.msg, strerror(ENOENT)), "missing file message: %s",
          err.msg);
    CHECK(a.data == NULL, "missing file: no data");

    char dir[512]; /* kept past later tpath() calls */
    snprintf(dir, sizeof dir, "%s", tpath("a_dir.npy"));
    mkdir(dir, 0700);
    CHECK(sl_npy_read(dir, &a, &err) == SL_E_IO, "directory is SL_E_IO");
    CHECK(has(err.msg, dir) && has(err.msg, "directory"), "directory message: %s", err.msg);

    /* a malformed file: the message names the path and the problem */
    const char *bad = tpath("bad.npy");
    write_file(bad, "\x93NUMPY\x01\x00\x05\x00{'x'}", 15);
    CHECK(sl_npy_read(bad, &a, &err) == SL_E_FORMAT, "bad file is SL_E_FORMAT");
    CHECK(has(err.msg, bad) && has(err.msg, "malformed"), "bad file message: %s", err.msg);
    const char *empty = tpath("empty.npy");
    write_file(empty, "", 0);
    CHECK(sl_npy_read(empty, &a, &err) == SL_E_FORMAT && has(err.msg, "truncated"),
          "empty file: %s", err.msg);

    if (access("/dev/null", R_OK) == 0) {
        CHECK(sl_npy_read("/dev/null", &a, &err) == SL_E_IO && has(err.msg, "regular"),
              "device: %s", err.msg);
    }

    const char *fifo = tpath("fifo.npy");
    if (mkfifo(fifo, 0600) == 0) {
        CHECK(sl_npy_read(fifo, &a, &err) == SL_E_IO && has(err.msg, "regular"),
              "fifo (must not hang): %s", err.msg);
        remove(fifo);
    }

    /* An unreadable file (root reads anything, so only when not root). */
    if (geteuid() != 0) {
        const char *locked = tpath("locked.npy");
        write_file(locked, "x", 1);
        chmod(locked, 0);
        CHECK(sl_npy_read(locked, &a, &err) == SL_E_IO && has(err.msg, locked) &&
                  has(err.msg, strerror(EACCES)),
              "unreadable file: %s", err.msg);
        remove(locked);
    }

    /* Failed saves leave nothing behind. */
    int64_t sh[2] = {2, 3};
    sl_array_alloc(&a, SL_DT_F32, 2, sh, &err);
    int before = check_count_entries(tmpdir);
    const char *nodir = tpath("no_dir/x.npy");
    CHECK(sl_npy_write(nodir, &a, &err) == SL_E_IO, "save into a missing directory is SL_E_IO");
    CHECK(has(err.msg, nodir), "save message names the path: %s", err.msg);
    /* Over a directory: the temporary is written, then the rename fails; it must be removed. */
    CHECK(sl_npy_write(dir, &a, &err) == SL_E_IO, "save over a directory is SL_E_IO");
    CHECK(has(err.msg, dir), "save over a directory names the path: %s", err.msg);
    CHECK(check_count_entries(tmpdir) == before, "failed saves leave nothing behind");
    CHECK(check_count_entries(dir) == 0, "nothing left in the directory");

    sl_array b = a;
    b.shape[1] = -3;
    CHECK(sl_npy_write(tpath("neg.npy"), &b, &err) == SL_E_ARG && has(err.msg, "negative"),
          "save negative shape: %s", err.msg);
    b = a;
    b.ndim = SL_NPY_MAX_DIMS + 1;
    CHECK(sl_npy_write(tpath("many.npy"), &b, &err) == SL_E_ARG, "save 33 dims");
    b = a;
    b.data = NULL;
    CHECK(sl_npy_write(tpath("null.npy"), &b, &err) == SL_E_ARG, "save NULL data");
    b = a;
    b.dtype = (sl_dtype)9;
    CHECK(sl_npy_write(tpath("dt.npy"), &b, &err) == SL_E_ARG, "save bad dtype");
    CHECK(check_count_entries(tmpdir) == before, "invalid saves write nothing");
    sl_array_free(&a);
}

/* ---------------------------------------------------------------------------------------------
 * Colours and PNG.
 */
static int colour_dist(const uint8_t *a, const uint8_t *b)
{
    int d = 0;
    for (int k = 0; k < 3; k++)
        d += abs((int)a[k] - (int)b[k]);
    return d;
}

static void test_colours(void)
{
    uint8_t c[20][3];
    for (int i = 0; i < 20; i++)
        sl_class_colour(i, c[i]);
    CHECK(c[0][0] == 0 && c[0][1] == 0 && c[0][2] == 0, "background black");
    CHECK(c[1][0] > c[1][1] && c[1][0] > c[1][2], "class 1 red-ish");
    CHECK(c[2][1] > c[2][0] && c[2][1] > c[2][2], "class 2 green-ish");
    CHECK(c[3][2] > c[3][0] && c[3][2] > c[3][1], "class 3 blue-ish");
    int distinct = 1;
    for (int i = 0; i < 12; i++)
        for (int j = 0; j < i; j++)
            if (colour_dist(c[i], c[j]) < 60) distinct = 0;
    CHECK(distinct, "the first 12 colours are distinct");
    uint8_t big[3], neg[3];
    sl_class_colour(1000000, big);
    CHECK(colour_dist(big, c[0]) > 0, "high classes still get a non-black colour");
    sl_class_colour(-100, neg);
    CHECK(neg[0] == neg[1] && neg[1] == neg[2] && neg[0] > 0 && neg[0] < 255,
          "negative labels are grey");

    int64_t oh, ow;
    sl_strip_size(3, 4, 5, 2, &oh, &ow);
    CHECK(oh == 4 && ow == 19, "strip size %lld x %lld", (long long)oh, (long long)ow);
    sl_strip_size(1, 4, 5, 2, &oh, &ow);
    CHECK(oh == 4 && ow == 5, "strip of one");

    /* two 2x3 label maps with a gap of 1 */
    int32_t lab[12] = {0, 1, 2, 3, -100, 255, 3, 3, 3, 2, 1, 0};
    uint8_t rgb[2 * 7 * 3];
    sl_strip_size(2, 2, 3, 1, &oh, &ow);
    sl_render_labels(lab, 2, 2, 3, 1, rgb);
    int ok = 1;
    for (int y = 0; y < 2; y++)
        for (int i = 0; i < 2; i++)
            for (int x = 0; x < 3; x++) {
                uint8_t want[3];
                sl_class_colour(lab[i * 6 + y * 3 + x], want);
                if (memcmp(rgb + (y * ow + i * 4 + x) * 3, want, 3)) ok = 0;
            }
    CHECK(ok, "render_labels colours");
    const uint8_t *gap = rgb + (0 * ow + 3) * 3;
    CHECK(gap[0] == gap[1] && gap[1] == gap[2] && gap[0] > 150 && gap[0] < 255,
          "gap is light grey");
    CHECK(colour_dist(gap, neg) > 0, "gap differs from negative labels");

    /* one-hot probabilities render as the labels; mixes mix; NaN counts as 0 */
    float pr[2 * 4 * 6];
    memset(pr, 0, sizeof pr);
    for (int i = 0; i < 2; i++)
        for (int p = 0; p < 6; p++) {
            int32_t l = lab[i * 6 + p];
            if (l >= 0 && l < 4) pr[(i * 4 + l) * 6 + p] = 1;
        }
    uint8_t rgb2[2 * 7 * 3];
    sl_render_probs(pr, 2, 4, 2, 3, 1, rgb2);
    ok = 1;
    for (int i = 0; i < 2; i++)
        for (int p = 0; p < 6; p++) {
            int32_t l = lab[i * 6 + p];
            if (l < 0 || l >= 4) continue;
            int y = p / 3, x = p % 3;
            if (memcmp(rgb2 + (y * ow + i * 4 + x) * 3, rgb + (y * ow + i * 4 + x) * 3, 3)) ok = 0;
        }
    CHECK(ok, "one-hot probs render like labels");
    CHECK(!memcmp(rgb2 + 3 * 3, gap, 3), "probs gap");
    float mix[4] = {0.5f, 0.5f, NAN, 0.25f}; /* one pixel, 4 classes */
    uint8_t px[3];
    sl_render_probs(mix, 1, 4, 1, 1, 0, px);
    int good = 1;
    for (int k = 0; k < 3; k++) {
        double want = 0.5 * c[0][k] + 0.5 * c[1][k] + 0.25 * c[3][k];
        if (want > 255) want = 255;
        if (abs((int)px[k] - (int)(want + 0.5)) > 0) good = 0;
    }
    CHECK(good, "mixed pixel %d %d %d", px[0], px[1], px[2]);
    float hot[2] = {5.0f, 5.0f}; /* clamps */
    sl_render_probs(hot, 1, 2, 1, 1, 0, px);
    CHECK(px[0] == 255, "clamped to 255");
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void test_png(void)
{
    int64_t h = 5, w = 7;
    uint8_t rgb[5 * 7 * 3];
    for (size_t i = 0; i < sizeof rgb; i++)
        rgb[i] = (uint8_t)(i * 13 + 5);
    sl_error err;
    const char *p = tpath("t.png");
    CHECK(sl_png_write(p, rgb, h, w, &err) == SL_OK, "png write: %s", err.msg);
    size_t len;
    unsigned char *f = read_file(p, &len);
    CHECK(f != NULL && len > 8 + 25 + 12 + 12, "png read back");
    if (!f) return;
    CHECK(!memcmp(f, "\x89PNG\r\n\x1a\n", 8), "png signature");
    size_t off = 8;
    int nchunk = 0, crc_ok = 1, ihdr_ok = 0, iend = 0;
    unsigned char *idat = NULL;
    size_t idat_len = 0;
    while (off + 12 <= len) {
        uint32_t cl = be32(f + off);
        if (off + 12 + cl > len) break;
        const unsigned char *type = f + off + 4, *data = f + off + 8;
        uLong crc = crc32(crc32(0L, Z_NULL, 0), type, 4 + cl);
        if (crc != be32(f + off + 8 + cl)) crc_ok = 0;
        if (nchunk == 0) {
            ihdr_ok = !memcmp(type, "IHDR", 4) && cl == 13 && be32(data) == (uint32_t)w &&
                      be32(data + 4) == (uint32_t)h && data[8] == 8 && data[9] == 2 &&
                      data[10] == 0 && data[11] == 0 && data[12] == 0;
        } else if (!memcmp(type, "IDAT", 4)) {
            unsigned char *ni = realloc(idat, idat_len + cl);
            if (ni) {
                idat = ni;
                memcpy(idat + idat_len, data, cl);
                idat_len += cl;
            }
        } else if (!memcmp(type, "IEND", 4)) {
            iend = cl == 0 && off + 12 == len;
        }
        nchunk++;
        off += 12 + cl;
    }
    CHECK(ihdr_ok, "IHDR fields");
    CHECK(crc_ok, "chunk CRCs");
    CHECK(iend, "IEND last");
    CHECK(nchunk == 3, "3 chunks, got %d", nchunk);
    size_t rawlen = (size_t)(h * (1 + 3 * w));
    unsigned char *raw = malloc(rawlen + 16);
    uLongf got = rawlen + 16;
    int zr = idat ? uncompress(raw, &got, idat, idat_len) : Z_DATA_ERROR;
    CHECK(zr == Z_OK && got == rawlen, "IDAT inflates to %zu bytes (zr %d, got %lu)", rawlen, zr,
          (unsigned long)got);
    if (zr == Z_OK && got == rawlen) {
        int rows_ok = 1;
        for (int64_t y = 0; y < h; y++)
            if (raw[y * (1 + 3 * w)] != 0 ||
                memcmp(raw + y * (1 + 3 * w) + 1, rgb + y * 3 * w, (size_t)(3 * w)))
                rows_ok = 0;
        CHECK(rows_ok, "pixel bytes and filter bytes");
    }
    free(raw);
    free(idat);
    free(f);

    /* a 1x1 image is fine; bad sizes are SL_E_ARG; a missing directory is SL_E_IO */
    CHECK(sl_png_write(tpath("one.png"), rgb, 1, 1, &err) == SL_OK, "1x1 png");
    int before = check_count_entries(tmpdir);
    CHECK(sl_png_write(tpath("z.png"), rgb, 0, 5, &err) == SL_E_ARG, "h = 0");
    CHECK(sl_png_write(tpath("z.png"), rgb, 5, -1, &err) == SL_E_ARG, "w = -1");
    CHECK(sl_png_write(tpath("z.png"), rgb, INT64_C(1) << 40, INT64_C(1) << 40, &err) == SL_E_ARG,
          "huge png");
    CHECK(sl_png_write(tpath("z.png"), NULL, 2, 2, &err) == SL_E_ARG, "NULL pixels");
    const char *nodir = tpath("no_dir/z.png");
    CHECK(sl_png_write(nodir, rgb, 2, 2, &err) == SL_E_IO && has(err.msg, nodir),
          "png into a missing directory: %s", err.msg);
    CHECK(check_count_entries(tmpdir) == before, "failed png writes leave nothing");
}

static int roundtrip(const char *in, const char *out)
{
    sl_array a;
    sl_error err;
    sl_status st = sl_npy_read(in, &a, &err);
    if (st == SL_OK) {
        st = sl_npy_write(out, &a, &err);
        sl_array_free(&a);
    }
    if (st != SL_OK) {
        fprintf(stderr, "test_npy: %s\n", err.msg);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 4 && !strcmp(argv[1], "--roundtrip")) return roundtrip(argv[2], argv[3]);
    if (argc != 1) {
        fprintf(stderr, "usage: test_npy [--roundtrip IN.npy OUT.npy]\n");
        return 2;
    }
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/segloss_test_npy_XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpdir)) {
        fprintf(stderr, "test_npy: cannot make a temporary directory: %s\n", strerror(errno));
        return 1;
    }
    test_dtypes();
    test_alloc();
    test_roundtrip();
    test_headers();
    test_malformed();
    test_files();
    test_colours();
    test_png();
    remove_tree(tmpdir);
    return check_finish("test_npy");
}
