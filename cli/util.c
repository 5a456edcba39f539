/* Option parsing, number parsing and error reporting for the CLI. */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cli_fail(const char *cmd, int code, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "segloss %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return code;
}

int cli_parse(const char *cmd, const char *usage, int argc, char **argv, cli_opt *opts,
              int nopts, const char **pos, int npos_max, int *npos)
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

int cli_int(const char *cmd, const char *opt, const char *s, int64_t lo, int64_t hi,
            int64_t *out)
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

int cli_size2(const char *cmd, const char *opt, const char *s, int64_t max, int64_t *h,
              int64_t *w)
{
    char *end;
    errno = 0;
    long long a = strtoll(s, &end, 10);
    if (end == s || *end != ',' || errno)
        return cli_fail(cmd, CLI_USAGE, "--%s: '%s' is not H,W", opt, s);
    const char *q = end + 1;
    long long b = strtoll(q, &end, 10);
    if (end == q || *end || errno)
        return cli_fail(cmd, CLI_USAGE, "--%s: '%s' is not H,W", opt, s);
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
    sl_status st = sl_npy_load(path, a, &err);
    if (st != SL_OK) return cli_fail(cmd, CLI_RUNTIME, "%s", err.msg);
    return CLI_OK;
}

int cli_save(const char *cmd, const char *path, sl_dtype t, int ndim, const int64_t *shape,
             const void *data)
{
    sl_array a;
    memset(&a, 0, sizeof a);
    a.dtype = t;
    a.ndim = ndim;
    for (int i = 0; i < ndim; i++) a.shape[i] = shape[i];
    a.data = (void *)data;
    sl_error err;
    sl_status st = sl_npy_save(path, &a, &err);
    if (st != SL_OK) return cli_fail(cmd, CLI_RUNTIME, "%s", err.msg);
    return CLI_OK;
}
