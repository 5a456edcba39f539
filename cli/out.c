/* All-or-nothing outputs (see out.h). */
#include "out.h"

#include "internal.h" /* sl__temp_open: the library's exclusive temporary file */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void cli_outs_init(cli_outs *o, const char *cmd)
{
    memset(o, 0, sizeof *o);
    o->cmd = cmd;
}

/* The folder of path ("." when it has no '/'), malloc'd; and where its last part starts. */
static char *folder_of(const char *path, const char **base)
{
    const char *slash = strrchr(path, '/');
    *base = slash ? slash + 1 : path;
    if (!slash) return strdup(".");
    size_t len = slash == path ? 1 : (size_t)(slash - path);
    char *d = malloc(len + 1);
    if (!d) return NULL;
    memcpy(d, path, len);
    d[len] = 0;
    return d;
}

static int same_dest(const char *a, const char *b)
{
    if (strcmp(a, b) == 0) return 1;
    const char *ba, *bb;
    char *da = folder_of(a, &ba), *db = folder_of(b, &bb);
    int same = 0;
    struct stat sa, sb;
    if (da && db && strcmp(ba, bb) == 0 && stat(da, &sa) == 0 && stat(db, &sb) == 0)
        same = sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
    free(da);
    free(db);
    return same;
}

int cli_outs_add(cli_outs *o, const char *opt, const char *path)
{
    if (!path) return CLI_OK;
    if (o->n >= CLI_MAX_OUTS) return cli_fail(o->cmd, CLI_USAGE, "too many outputs");
    const char *base;
    char *dir = folder_of(path, &base);
    if (!dir) return cli_fail(o->cmd, CLI_RUNTIME, "out of memory");
    int rc = CLI_OK;
    struct stat sb;
    if (!*base || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
        rc = cli_fail(o->cmd, CLI_USAGE, "--%s: '%s' names a folder, not a file", opt, path);
    else if (stat(dir, &sb) != 0)
        rc = cli_fail(o->cmd, CLI_RUNTIME, "--%s: cannot write %s: folder %s: %s", opt, path, dir,
                      strerror(errno));
    else if (!S_ISDIR(sb.st_mode))
        rc = cli_fail(o->cmd, CLI_RUNTIME, "--%s: cannot write %s: %s is not a folder", opt, path,
                      dir);
    else if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
        rc = cli_fail(o->cmd, CLI_RUNTIME, "--%s: cannot write %s: it is a folder", opt, path);
    free(dir);
    if (rc != CLI_OK) return rc;
    for (int i = 0; i < o->n; i++)
        if (same_dest(o->s[i].path, path))
            return cli_fail(o->cmd, CLI_USAGE, "--%s and --%s name the same file %s", o->s[i].opt,
                            opt, path);
    char *copy = strdup(path);
    if (!copy) return cli_fail(o->cmd, CLI_RUNTIME, "out of memory");
    o->s[o->n].opt = opt;
    o->s[o->n].path = copy;
    o->s[o->n].tmp = NULL;
    o->n++;
    return CLI_OK;
}

/* A new file next to path, created exclusively with a short name: the library's own
 * sl__temp_open, after the testing hook (out.h), which names the first name tried so that a
 * test can plant a link there and see it skipped. */
static int temp_open(const char *path, char **tmp_out)
{
    const char *first = getenv("SEGLOSS_TEST_TEMP_NAME");
    if (first && strlen(first) == 12 && !strchr(first, '/')) {
        const char *slash = strrchr(path, '/');
        int dlen = slash ? (int)(slash - path) + 1 : 0; /* the folder, with its '/' */
        size_t size = (size_t)dlen + 17;
        char *tmp = malloc(size);
        if (!tmp) return errno = ENOMEM, -1;
        snprintf(tmp, size, "%.*s.sl-%s", dlen, path, first);
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
        int e = errno;
        if (fd >= 0) {
            *tmp_out = tmp;
            return fd;
        }
        free(tmp);
        errno = e;
        if (e != EEXIST) return -1;
    }
    return sl__temp_open(path, tmp_out);
}

static cli_out_slot *find(cli_outs *o, const char *path)
{
    for (int i = 0; i < o->n; i++)
        if (strcmp(o->s[i].path, path) == 0) return &o->s[i];
    return NULL;
}

/* Open the temporary file of an output; -1 with a printed line. */
static int begin_write(cli_outs *o, const char *path, cli_out_slot **slot)
{
    cli_out_slot *s = find(o, path);
    if (!s || s->tmp) {
        cli_fail(o->cmd, CLI_RUNTIME, "internal error: output %s %s", path,
                 s ? "written twice" : "not declared");
        return -1;
    }
    int fd = temp_open(path, &s->tmp);
    if (fd < 0) {
        cli_fail(o->cmd, CLI_RUNTIME, "cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    o->nwritten++;
    const char *full = getenv("SEGLOSS_TEST_FULL_DISK");
    if (full && atoi(full) == o->nwritten) {
        int dev = open("/dev/full", O_WRONLY | O_CLOEXEC);
        if (dev >= 0) {
            dup2(dev, fd);
            close(dev);
        }
    }
    *slot = s;
    return fd;
}

static int end_write(cli_outs *o, cli_out_slot *s, int fd, sl_status st, const sl_error *err)
{
    int e = 0;
    if (close(fd) != 0 && st == SL_OK) e = errno;
    if (st != SL_OK) return cli_fail(o->cmd, CLI_RUNTIME, "%s: %s", s->path, err->msg);
    if (e) return cli_fail(o->cmd, CLI_RUNTIME, "cannot write %s: %s", s->path, strerror(e));
    return CLI_OK;
}

int cli_outs_npy(cli_outs *o, const char *path, sl_dtype t, int ndim, const int64_t *shape,
                 const void *data)
{
    cli_out_slot *s;
    int fd = begin_write(o, path, &s);
    if (fd < 0) return CLI_RUNTIME;
    sl_array a;
    memset(&a, 0, sizeof a);
    a.dtype = t;
    a.ndim = ndim;
    for (int i = 0; i < ndim; i++)
        a.shape[i] = shape[i];
    a.data = (void *)data;
    sl_error err;
    sl_status st = sl_npy_write_fd(fd, &a, &err);
    return end_write(o, s, fd, st, &err);
}

int cli_outs_png(cli_outs *o, const char *path, const uint8_t *rgb, int64_t h, int64_t w)
{
    cli_out_slot *s;
    int fd = begin_write(o, path, &s);
    if (fd < 0) return CLI_RUNTIME;
    sl_error err;
    sl_status st = sl_png_write_fd(fd, rgb, h, w, &err);
    return end_write(o, s, fd, st, &err);
}

int cli_outs_stream(cli_outs *o, const char *path, cli_out_writer write, void *ctx)
{
    cli_out_slot *s;
    int fd = begin_write(o, path, &s);
    if (fd < 0) return CLI_RUNTIME;
    FILE *f = fdopen(fd, "wb");
    if (!f) {
        int e = errno;
        close(fd);
        return cli_fail(o->cmd, CLI_RUNTIME, "cannot write %s: %s", path, strerror(e));
    }
    sl_error err;
    err.msg[0] = 0;
    errno = 0;
    int failed = write(ctx, f, &err) != 0 || ferror(f);
    int e = errno;
    if (!failed && fflush(f) != 0) {
        failed = 1;
        e = errno;
    }
    if (fclose(f) != 0 && !failed) {
        failed = 1;
        e = errno;
    }
    if (!failed) return CLI_OK;
    if (err.msg[0]) return cli_fail(o->cmd, CLI_RUNTIME, "cannot write %s: %s", path, err.msg);
    return cli_fail(o->cmd, CLI_RUNTIME, "cannot write %s: %s", path, strerror(e ? e : EIO));
}

int cli_outs_commit(cli_outs *o)
{
    for (int i = 0; i < o->n; i++)
        if (!o->s[i].tmp)
            return cli_fail(o->cmd, CLI_RUNTIME, "internal error: output %s was not written",
                            o->s[i].path);
    for (int i = 0; i < o->n; i++) {
        if (rename(o->s[i].tmp, o->s[i].path) != 0)
            return cli_fail(o->cmd, CLI_RUNTIME, "cannot write %s: %s", o->s[i].path,
                            strerror(errno));
        free(o->s[i].tmp);
        o->s[i].tmp = NULL;
    }
    return CLI_OK;
}

void cli_outs_end(cli_outs *o)
{
    for (int i = 0; i < o->n; i++) {
        if (o->s[i].tmp) unlink(o->s[i].tmp);
        free(o->s[i].tmp);
        free(o->s[i].path);
    }
    o->n = 0;
}

int cli_outs_in_dir(cli_outs *o, const char *dir, const char *const *names, int n,
                    char (*paths)[CLI_PATH_MAX])
{
    if (strlen(dir) > 4000) return cli_fail(o->cmd, CLI_USAGE, "--out: directory name too long");
    int rc = cli_make_dirs(o->cmd, dir);
    for (int i = 0; rc == CLI_OK && i < n; i++) {
        snprintf(paths[i], CLI_PATH_MAX, "%s/%s", dir, names[i]);
        rc = cli_outs_add(o, "out", paths[i]);
    }
    return rc;
}
