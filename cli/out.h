/* All-or-nothing outputs: every file a command writes goes through one transaction, so that a
 * failed command leaves no new file and every existing file as it was.
 *
 *   cli_outs o;
 *   cli_outs_init(&o, "loss");
 *   // 1. Before any work: name every output. Refused here: two outputs naming the same file
 *   //    (the same folder, by device and inode, and the same name; a usage error, exit 2), a
 *   //    destination that is a folder or whose folder does not exist (exit 1).
 *   if ((rc = cli_outs_add(&o, "grad", grad_path)) != CLI_OK) goto done;
 *   ...
 *   // 2. Write each output: into a new temporary file in its destination's folder, created
 *   //    exclusively (O_CREAT | O_EXCL | O_NOFOLLOW: a planted name or symbolic link is never
 *   //    opened) with a short name (".sl-" and 12 letters), so any legal file name works.
 *   if ((rc = cli_outs_npy(&o, grad_path, SL_DT_F32, ndim, shape, grad)) != CLI_OK) goto done;
 *   if ((rc = cli_outs_png(&o, png_path, rgb, h, w)) != CLI_OK) goto done;
 *   //    Any other file (a CSV, a model) through a stdio stream on its temporary file:
 *   if ((rc = cli_outs_stream(&o, csv_path, write_csv, &ctx)) != CLI_OK) goto done;
 *   // 3. When everything is written: rename every temporary file into place.
 *   if ((rc = cli_outs_commit(&o)) != CLI_OK) goto done;
 * done:
 *   cli_outs_end(&o); // always: removes what was not committed, frees
 *
 * A failure at 2 (a full disk, a missing permission, an error of the caller's between writes)
 * leaves nothing: cli_outs_end removes the temporary files and no destination was touched. Only
 * the renames of step 3 touch destinations; each rename is atomic, and a rename fails in
 * practice only when a folder is changed under the command (the temporaries sit in the
 * destinations' folders, so no rename crosses a file system). A command killed by a signal
 * between 2 and 3 may leave ".sl-*" files in the destination folders, never a half-written
 * destination.
 *
 * Testing hooks (tests/cli_outputs.sh): with the environment variable SEGLOSS_TEST_FULL_DISK=K,
 * the K-th output written (from 1) goes to /dev/full instead of its temporary file, so that the
 * write fails with the kernel's own "No space left on device" (a full disk, where the test cannot
 * mount a small file system); with SEGLOSS_TEST_TEMP_NAME=twelve chars, the first temporary name
 * tried is ".sl-" and those 12 characters, so that a test can plant a symbolic link there and
 * see it skipped. Neither changes what is written or where it ends up. */
#ifndef SEGLOSS_CLI_OUT_H
#define SEGLOSS_CLI_OUT_H

#include "cli.h"

#include <stdio.h>

#define CLI_MAX_OUTS 16

typedef struct {
    const char *opt; /* the option that named it, for messages */
    char *path;      /* the destination (a copy) */
    char *tmp;       /* its temporary file, once written; NULL before */
} cli_out_slot;

typedef struct cli_outs {
    const char *cmd;
    int n;
    int nwritten; /* outputs written so far (the testing hook counts them) */
    cli_out_slot s[CLI_MAX_OUTS];
} cli_outs;

void cli_outs_init(cli_outs *o, const char *cmd);
/* Name an output (path NULL: nothing to do). CLI_OK, or a printed line and CLI_USAGE (the same
 * file twice) or CLI_RUNTIME (a folder). */
int cli_outs_add(cli_outs *o, const char *opt, const char *path);
/* Write an output named before into its temporary file. CLI_OK, or a line and CLI_RUNTIME. */
int cli_outs_npy(cli_outs *o, const char *path, sl_dtype t, int ndim, const int64_t *shape,
                 const void *data);
int cli_outs_png(cli_outs *o, const char *path, const uint8_t *rgb, int64_t h, int64_t w);
/* A writer of any other file: writes to f and returns 0, or -1 with err->msg set (or left
 * empty: the stream's errno is reported). */
typedef int (*cli_out_writer)(void *ctx, FILE *f, sl_error *err);
/* Write an output named before through a stdio stream on its temporary file: write(ctx, f,
 * err), then the stream is flushed and closed here, and an error of either (a full disk shows
 * only there, when the buffer is written) fails the output like an error of write. CLI_OK, or
 * a line and CLI_RUNTIME. */
int cli_outs_stream(cli_outs *o, const char *path, cli_out_writer write, void *ctx);
/* Paths of files in an output folder (the folder name is at most 4000 bytes). */
#define CLI_PATH_MAX 4200
/* Make the folder dir (and its parents) and name the n files names[i] in it as outputs:
 * paths[i] receives "dir/names[i]". CLI_OK, or a line and CLI_USAGE (a name too long) or
 * CLI_RUNTIME (a folder that cannot be made). */
int cli_outs_in_dir(cli_outs *o, const char *dir, const char *const *names, int n,
                    char (*paths)[CLI_PATH_MAX]);
/* Rename every written output into place. CLI_OK, or a line and CLI_RUNTIME. */
int cli_outs_commit(cli_outs *o);
/* Remove every temporary file not committed; free. Safe to call more than once. */
void cli_outs_end(cli_outs *o);

#endif
