/* Option parsing, number parsing and error reporting for the CLI. */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

int cli_fail(const char *cmd, int code, const char *fmt, ...)
{
    /* One line whatever the message holds: file names, specs and values come from the user, so
     * control characters (a newline, an escape sequence) are written as \n, \t, \r or \xHH. */
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    fprintf(stderr, "segloss %s: ", cmd);
    for (const unsigned char *p = (const unsigned char *)buf; *p; p++) {
        if (*p == '\n')
            fputs("\\n", stderr);
        else if (*p == '\t')
            fputs("\\t", stderr);
        else if (*p == '\r')
            fputs("\\r", stderr);
        else if (*p < 0x20 || *p == 0x7f)
            fprintf(stderr, "\\x%02x", *p);
        else
            fputc(*p, stderr);
    }
    fputc('\n', stderr);
    return code;
}

int cli_parse(const char *cmd, const char *usage, int argc, char **argv, cli_opt *opts, int nopts,
              const char **pos, int npos_max, int *npos)
{
    *npos = 0;
    for (int i = 0; i < nopts; i++) {
        if (opts[i].value) *opts[i].value = NULL;
        if (opts[i].flag) *opts[i].flag = 0;
    }
    int only_pos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!only_pos && strcmp(a, "--") == 0) {
            only_pos = 1;
            continue;
        }
        if (!only_pos && (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)) {
            fputs(usage, stdout);
            return CLI_HELP;
        }
        if (!only_pos && a[0] == '-' && a[1] == '-' && a[2]) {
            const char *name = a + 2;
            const char *eq = strchr(name, '=');
            size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
            cli_opt *o = NULL;
            for (int k = 0; k < nopts; k++)
                if (strlen(opts[k].name) == nlen && strncmp(opts[k].name, name, nlen) == 0)
                    o = &opts[k];
            if (!o)
                return cli_fail(cmd, CLI_USAGE, "unknown option --%.*s (see segloss %s --help)",
                                (int)nlen, name, cmd);
            if (o->has_value) {
                const char *v;
                if (eq) {
                    v = eq + 1;
                } else {
                    if (i + 1 >= argc)
                        return cli_fail(cmd, CLI_USAGE, "option --%s needs a value", o->name);
                    v = argv[++i];
                }
                *o->value = v;
            } else {
                if (eq) return cli_fail(cmd, CLI_USAGE, "option --%s takes no value", o->name);
                *o->flag = 1;
            }
            continue;
        }
        if (*npos >= npos_max)
            return cli_fail(cmd, CLI_USAGE, "unexpected argument '%s' (see segloss %s --help)", a,
                            cmd);
        pos[(*npos)++] = a;
    }
    return CLI_OK;
}

int cli_int(const char *cmd, const char *opt, const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end || errno)
        return cli_fail(cmd, CLI_USAGE, "--%s: '%s' is not an integer", opt, s);
    if (v < lo || v > hi)
        return cli_fail(cmd, CLI_USAGE, "--%s: %lld is out of range [%lld, %lld]", opt, v,
                        (long long)lo, (long long)hi);
    *out = v;
    return CLI_OK;
}

int cli_double(const char *cmd, const char *opt, const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno == ERANGE || !isfinite(v))
        return cli_fail(cmd, CLI_USAGE, "--%s: '%s' is not a finite number", opt, s);
    *out = v;
    return CLI_OK;
}

int cli_doubles(const char *cmd, const char *opt, const char *s, int n, int max, double *out,
                int *count)
{
    int k = 0;
    const char *p = s;
    int limit = n > 0 ? n : max;
    for (;;) {
        char *end;
        errno = 0;
        double v = strtod(p, &end);
        if (end == p || errno == ERANGE || !isfinite(v) || (*end && *end != ','))
            return cli_fail(cmd, CLI_USAGE, "--%s: '%s' is not a comma-separated list of numbers",
                            opt, s);
        if (k >= limit)
            return cli_fail(cmd, CLI_USAGE, "--%s: too many values in '%s' (at most %d)", opt, s,
                            limit);
        out[k++] = v;
        if (!*end) break;
        p = end + 1;
    }
    if (n > 0 && k != n)
        return cli_fail(cmd, CLI_USAGE, "--%s: '%s' needs %d values, got %d", opt, s, n, k);
    if (count) *count = k;
    return CLI_OK;
}

int cli_size2(const char *cmd, const char *opt, const char *s, int64_t max, int64_t *h, int64_t *w)
{
    char *end;
    errno = 0;
    long long a = strtoll(s, &end, 10);
    if (end == s || *end != ',' || errno)
        return cli_fail(cmd, CLI_USAGE, "--%s: '%s' is not H,W", opt, s);
    const char *q = end + 1;
    long long b = strtoll(q, &end, 10);
    if (end == q || *end || errno) return cli_fail(cmd, CLI_USAGE, "--%s: '%s' is not H,W", opt, s);
    if (a < 1 || b < 1 || a > max || b > max)
        return cli_fail(cmd, CLI_USAGE, "--%s: sizes must be in [1, %lld], got %lld,%lld", opt,
                        (long long)max, a, b);
    *h = a;
    *w = b;
    return CLI_OK;
}

int cli_missing(const char *cmd, const char *opt)
{
    return cli_fail(cmd, CLI_USAGE, "option --%s is required (see segloss %s --help)", opt, cmd);
}

int cli_status(const char *cmd, sl_status st, const sl_error *err)
{
    int code = (st == SL_E_ARG || st == SL_E_PARSE) ? CLI_USAGE : CLI_RUNTIME;
    return cli_fail(cmd, code, "%s", err->msg);
}

int cli_load(const char *cmd, const char *path, sl_array *a)
{
    sl_error err;
    sl_status st = sl_npy_read(path, a, &err);
    if (st != SL_OK) return cli_fail(cmd, CLI_RUNTIME, "%s", err.msg);
    return CLI_OK;
}

void cli_shape_str(const sl_array *a, char *buf, size_t len)
{
    size_t o = (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < a->ndim && o < len; i++)
        o += (size_t)snprintf(buf + o, len - o, i ? ", %lld" : "%lld", (long long)a->shape[i]);
    if (o < len) snprintf(buf + o, len - o, "]");
}

double cli_elem(const sl_array *a, int64_t i)
{
    switch (a->dtype) {
    case SL_DT_F32: return ((const float *)a->data)[i];
    case SL_DT_F64: return ((const double *)a->data)[i];
    case SL_DT_U8: return ((const uint8_t *)a->data)[i];
    case SL_DT_I32: return ((const int32_t *)a->data)[i];
    case SL_DT_I64: return (double)((const int64_t *)a->data)[i];
    }
    return 0;
}

int cli_labels(const char *cmd, const char *path, const sl_array *a, int allow_float, int32_t *y)
{
    int is_float = a->dtype == SL_DT_F32 || a->dtype == SL_DT_F64;
    if (is_float && !allow_float)
        return cli_fail(cmd, CLI_RUNTIME, "%s: labels must be integers, got %s", path,
                        sl_dtype_name(a->dtype));
    int64_t n = sl_array_numel(a);
    for (int64_t i = 0; i < n; i++) {
        if (a->dtype == SL_DT_I64) {
            int64_t v = ((const int64_t *)a->data)[i];
            if (v < INT32_MIN || v > INT32_MAX)
                return cli_fail(cmd, CLI_RUNTIME,
                                "%s: label %lld at flat index %lld does not fit in int32", path,
                                (long long)v, (long long)i);
            y[i] = (int32_t)v;
            continue;
        }
        double v = cli_elem(a, i);
        if (!isfinite(v) || v != floor(v) || v < INT32_MIN || v > INT32_MAX)
            return cli_fail(cmd, CLI_RUNTIME,
                            "%s: label map value %g at flat index %lld is not an integer label",
                            path, v, (long long)i);
        y[i] = (int32_t)v;
    }
    return CLI_OK;
}

void cli_json_number(double v, int nonfinite_as_null)
{
    (void)nonfinite_as_null; /* strict JSON has no NaN or Infinity: always null */
    if (isfinite(v))
        printf("%.17g", v);
    else
        printf("null");
}

void cli_json_fixed(int digits, char style, double v)
{
    if (!isfinite(v))
        printf("null");
    else if (style == 'f')
        printf("%.*f", digits, v);
    else
        printf("%.*g", digits, v);
}

void cli_print_number(double v)
{
    if (isnan(v))
        printf("nan"); /* never "-nan": the sign of a NaN means nothing */
    else if (isinf(v))
        printf(v > 0 ? "inf" : "-inf");
    else
        printf("%.9g", v);
}

void cli_json_string(const char *s)
{
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            printf("\\%c", *p);
        else if (*p < 0x20)
            printf("\\u%04x", *p);
        else
            putchar(*p);
    }
    putchar('"');
}

int cli_make_dirs(const char *cmd, const char *dir)
{
    size_t len = strlen(dir);
    if (len == 0) return cli_fail(cmd, CLI_USAGE, "--out: an empty directory name");
    char *buf = malloc(len + 1);
    if (!buf) return cli_fail(cmd, CLI_RUNTIME, "out of memory");
    memcpy(buf, dir, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (buf[i] != '/' && buf[i] != 0) continue;
        char keep = buf[i];
        buf[i] = 0;
        if (mkdir(buf, 0777) != 0 && errno != EEXIST) {
            int rc =
                cli_fail(cmd, CLI_RUNTIME, "cannot create directory %s: %s", buf, strerror(errno));
            free(buf);
            return rc;
        }
        buf[i] = keep;
    }
    free(buf);
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return cli_fail(cmd, CLI_RUNTIME, "%s is not a directory", dir);
    return CLI_OK;
}

void cli_json_list(const double *v, int n)
{
    putchar('[');
    for (int i = 0; i < n; i++) {
        if (i) printf(", ");
        cli_json_number(v[i], 1);
    }
    putchar(']');
}

double cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int cli_split_specs(const char *cmd, const char *opt, const char *s, char **buf, const char **names,
                    int max, int *n)
{
    size_t len = strlen(s);
    char *p = *buf = malloc(len + 1);
    if (!p) return cli_fail(cmd, CLI_RUNTIME, "out of memory");
    memcpy(p, s, len + 1);
    *n = 0;
    for (;;) {
        char *semi = strchr(p, ';');
        if (semi) *semi = 0;
        while (*p == ' ' || *p == '\t')
            p++;
        char *e = p + strlen(p);
        while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
            *--e = 0;
        if (!*p)
            return cli_fail(cmd, CLI_USAGE, "--%s: empty spec in '%s' (specs are separated by ';')",
                            opt, s);
        if (*n >= max) return cli_fail(cmd, CLI_USAGE, "--%s: at most %d specs", opt, max);
        for (int l = 0; l < *n; l++)
            if (strcmp(names[l], p) == 0)
                return cli_fail(cmd, CLI_USAGE, "--%s: '%s' is given twice", opt, p);
        names[(*n)++] = p;
        if (!semi) return CLI_OK;
        p = semi + 1;
    }
}

sl_batch cli_batch_2d(int64_t n, int64_t C, int64_t h, int64_t w, const float *input,
                      sl_input_kind kind, const int32_t *labels, const float *target)
{
    sl_batch b;
    memset(&b, 0, sizeof b);
    b.shape = (sl_shape){4, {n, C, h, w}};
    b.input = input;
    b.input_kind = kind;
    b.target_kind = labels ? SL_TARGET_LABELS : SL_TARGET_PROBS;
    b.labels = labels;
    b.target = labels ? NULL : target;
    return b;
}

int cli_post_images(const char *cmd, const char *n_s, int64_t nmax, const char *size_s,
                    int64_t max_side, int max_log2, int64_t *n, int64_t *h, int64_t *w)
{
    int rc;
    if ((n_s && (rc = cli_int(cmd, "n", n_s, 1, nmax, n)) != CLI_OK) ||
        (size_s && (rc = cli_size2(cmd, "size", size_s, max_side, h, w)) != CLI_OK))
        return rc;
    if (*h < 12 || *w < 12)
        return cli_fail(cmd, CLI_USAGE,
                        "--size: at least 12,12 so that every object has pixels, got %lld,%lld",
                        (long long)*h, (long long)*w);
    if (*n * *h * *w > (int64_t)1 << max_log2)
        return cli_fail(cmd, CLI_USAGE, "--n times --size is too large (at most 2^%d pixels)",
                        max_log2);
    return CLI_OK;
}
