/* Allocation failure, SQLite-style: every library call that allocates is run once to count its
 * allocations, then again once per allocation with that one made to fail. Each failing run must
 * return SL_E_NOMEM with a one-line message, free everything it had taken (no leak), and leave
 * no file behind.
 *
 * How: this program is linked with -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=free
 * (see the Makefile), so that the library's calls (linked statically from libsegloss.a) reach
 * the __wrap_* functions below, which count, fail on request, and keep a live count. The library
 * itself keeps no state and is unchanged. Allocations made inside shared libraries (zlib's
 * deflate state in sl_png_write, OpenMP's runtime) are not reached; zlib's own failure is mapped
 * to SL_E_NOMEM by the library and is not tested here. */
#include "check.h"
#include "segloss_data.h"

#include <dirent.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t m);
void *__wrap_realloc(void *p, size_t n);
void __wrap_free(void *p);

/* The test's own state (the library has none): allocations counted since the last reset, the
 * one to fail (0: none), and the blocks live. */
static long counted, fail_at, live;

static int should_fail(void)
{
    counted++;
    return fail_at && counted == fail_at;
}

void *__wrap_malloc(size_t n)
{
    if (should_fail()) return NULL;
    void *p = __real_malloc(n);
    if (p) live++;
    return p;
}

void *__wrap_calloc(size_t n, size_t m)
{
    if (should_fail()) return NULL;
    void *p = __real_calloc(n, m);
    if (p) live++;
    return p;
}

void *__wrap_realloc(void *p, size_t n)
{
    if (should_fail()) return NULL;
    void *q = __real_realloc(p, n);
    if (q && !p) live++;
    return q;
}

void __wrap_free(void *p)
{
    if (p) live--;
    __real_free(p);
}

static char dir[64];

static int one_line(const char *m)
{
    if (!m[0]) return 0;
    for (const char *p = m; *p; p++)
        if (*p == '\n' || *p == '\r') return 0;
    return 1;
}

/* One allocating call: runs, returns its status, frees what it returned on success. */
typedef sl_status (*call_fn)(sl_error *err);

static uint8_t npy_file[256];
static size_t npy_len;
static char path_in[96], path_out[96], path_png[96];

static sl_status call_array_alloc(sl_error *err)
{
    sl_array a;
    int64_t shape[3] = {2, 3, 4};
    sl_status st = sl_array_alloc(&a, SL_DT_F32, 3, shape, err);
    if (st == SL_OK) sl_array_free(&a);
    return st;
}

static sl_status call_npy_parse(sl_error *err)
{
    sl_array a;
    sl_status st = sl_npy_parse(npy_file, npy_len, &a, err);
    if (st == SL_OK) sl_array_free(&a);
    return st;
}

static sl_status call_npy_read(sl_error *err)
{
    sl_array a;
    sl_status st = sl_npy_read(path_in, &a, err);
    if (st == SL_OK) sl_array_free(&a);
    return st;
}

static sl_status call_npy_write(sl_error *err)
{
    float data[6] = {1, 2, 3, 4, 5, 6};
    sl_array a;
    memset(&a, 0, sizeof a);
    a.dtype = SL_DT_F32;
    a.ndim = 2;
    a.shape[0] = 2;
    a.shape[1] = 3;
    a.data = data;
    sl_status st = sl_npy_write(path_out, &a, err);
    if (st == SL_OK) unlink(path_out);
    return st;
}

static sl_status call_png_write(sl_error *err)
{
    uint8_t rgb[4 * 5 * 3];
    for (size_t i = 0; i < sizeof rgb; i++)
        rgb[i] = (uint8_t)(i * 7);
    sl_status st = sl_png_write(path_png, rgb, 4, 5, err);
    if (st == SL_OK) unlink(path_png);
    return st;
}

static sl_status call_spec_parse(sl_error *err)
{
    sl_spec *s = NULL;
    sl_status st = sl_spec_parse(
        "0.5*ce(weight=[1,2,3]) + focal(alpha=[1,1,2]) + bce(pos_weight=[1,2,3],weight=[1,1,1]) "
        "+ boundary(idc=[1,2])",
        &s, err);
    if (st == SL_OK) sl_spec_free(s);
    return st;
}

static void run(const char *name, call_fn fn)
{
    sl_error err;
    long base = live;
    int files = check_count_entries(dir);
    counted = 0;
    fail_at = 0;
    sl_status st = fn(&err);
    long n = counted;
    CHECK(st == SL_OK, "%s: runs without failures: %s", name, st ? err.msg : "");
    CHECK(live == base, "%s: %ld blocks leaked on success", name, live - base);
    CHECK(n >= 1, "%s: allocates nothing to fail", name);
    for (long k = 1; k <= n; k++) {
        counted = 0;
        fail_at = k;
        strcpy(err.msg, "");
        st = fn(&err);
        fail_at = 0;
        CHECK(st == SL_E_NOMEM,
              "%s: allocation %ld of %ld failing gives %s (%s), want "
              "SL_E_NOMEM",
              name, k, n, sl_status_str(st), err.msg);
        CHECK(one_line(err.msg), "%s: allocation %ld: message '%s' is not one line", name, k,
              err.msg);
        CHECK(live == base, "%s: allocation %ld failing leaks %ld blocks", name, k, live - base);
        CHECK(check_count_entries(dir) == files, "%s: allocation %ld failing leaves a file", name,
              k);
    }
    printf("%s: %ld allocations, each made to fail\n", name, n);
}

int main(void)
{
    strcpy(dir, "/tmp/segloss_alloc_XXXXXX");
    if (!mkdtemp(dir)) {
        printf("test_alloc: 0 passed, 1 failed\n");
        return 1;
    }
    snprintf(path_in, sizeof path_in, "%s/in.npy", dir);
    snprintf(path_out, sizeof path_out, "%s/out.npy", dir);
    snprintf(path_png, sizeof path_png, "%s/out.png", dir);
    /* a small valid .npy: written by the library itself, read back as bytes */
    {
        int32_t v[4] = {0, 1, 2, 3};
        sl_array a;
        memset(&a, 0, sizeof a);
        a.dtype = SL_DT_I32;
        a.ndim = 1;
        a.shape[0] = 4;
        a.data = v;
        sl_error err;
        CHECK(sl_npy_write(path_in, &a, &err) == SL_OK, "cannot write %s", path_in);
        FILE *f = fopen(path_in, "rb");
        npy_len = f ? fread(npy_file, 1, sizeof npy_file, f) : 0;
        if (f) fclose(f);
    }
    run("sl_array_alloc", call_array_alloc);
    run("sl_npy_parse", call_npy_parse);
    run("sl_npy_read", call_npy_read);
    run("sl_npy_write", call_npy_write);
    run("sl_png_write", call_png_write);
    run("sl_spec_parse", call_spec_parse);
    unlink(path_in);
    rmdir(dir);
    return check_finish("test_alloc");
}
