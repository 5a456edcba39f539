/* Shared pieces of the segloss command-line program: option parsing, number parsing, errors,
 * and loading/saving arrays. The CLI is the only code that prints or exits.
 *
 * Exit codes: 0 success, 1 runtime failure (files, data), 2 usage error (options, values). */
#ifndef SEGLOSS_CLI_H
#define SEGLOSS_CLI_H

#include "segloss_data.h"

#include <stdint.h>

#define CLI_OK 0
#define CLI_RUNTIME 1
#define CLI_USAGE 2
#define CLI_HELP (-1) /* --help was given and printed: exit 0 */

/* One option of a subcommand. `value` receives the text of a valued option (NULL when absent);
 * `flag` (for has_value == 0) is set to 1 when present. Both `--name value` and `--name=value`
 * are accepted. */
typedef struct {
    const char *name; /* without the dashes */
    int has_value;
    const char **value;
    int *flag;
} cli_opt;

/* Parse argv (argv[0] is the subcommand's name) against opts. Positional arguments go to pos
 * (at most npos_max; *npos receives the count). Prints the usage text on --help and returns
 * CLI_HELP; prints one line and returns CLI_USAGE on an unknown option, a missing value or too
 * many positionals; CLI_OK otherwise. */
int cli_parse(const char *cmd, const char *usage, int argc, char **argv, cli_opt *opts, int nopts,
              const char **pos, int npos_max, int *npos);

/* Print "segloss CMD: message" on stderr as one line (control characters escaped) and return
 * code. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
int cli_fail(const char *cmd, int code, const char *fmt, ...);

/* Number parsers: return CLI_OK, or print a line naming the option and return CLI_USAGE. */
int cli_int(const char *cmd, const char *opt, const char *s, int64_t lo, int64_t hi, int64_t *out);
int cli_double(const char *cmd, const char *opt, const char *s, double *out);
/* A comma-separated list of exactly n (n > 0) or, with n == 0, of 1..max finite numbers. */
int cli_doubles(const char *cmd, const char *opt, const char *s, int n, int max, double *out,
                int *count);
/* "H,W" with 1 <= H, W <= max. */
int cli_size2(const char *cmd, const char *opt, const char *s, int64_t max, int64_t *h, int64_t *w);

/* A required option is missing: print and return CLI_USAGE. */
int cli_missing(const char *cmd, const char *opt);

/* Load a .npy file; on failure print the library's message, return CLI_RUNTIME. */
int cli_load(const char *cmd, const char *path, sl_array *a);
/* Report a library status: prints err.msg, returns CLI_RUNTIME (CLI_USAGE for SL_E_ARG and
 * SL_E_PARSE). */
int cli_status(const char *cmd, sl_status st, const sl_error *err);

/* "[d0, d1, ...]" of an array's shape. */
void cli_shape_str(const sl_array *a, char *buf, size_t len);
/* Element i of a numeric array as a double. */
double cli_elem(const sl_array *a, int64_t i);
/* A label map as int32 into y (numel values): integers of any dtype (floats with integral values
 * too when allow_float); values that are not integers or do not fit are errors (CLI_RUNTIME). */
int cli_labels(const char *cmd, const char *path, const sl_array *a, int allow_float, int32_t *y);
/* JSON output, strict: a number (%.17g; a non-finite value is null whatever the second
 * argument, kept for old callers), a quoted string. */
void cli_json_number(double v, int nonfinite_as_null);
/* A JSON number as %.*f (style 'f') or %.*g (style 'g') with `digits`, null when not finite. */
void cli_json_fixed(int digits, char style, double v);
/* Plain output of a value: %.9g, and "nan", "inf", "-inf" (never "-nan"). */
void cli_print_number(double v);
void cli_json_string(const char *s);
/* A batch [n, C, h, w] of input (read as kind) against a label map (labels not NULL) or a
 * per-class target. */
sl_batch cli_batch_2d(int64_t n, int64_t C, int64_t h, int64_t w, const float *input,
                      sl_input_kind kind, const int32_t *labels, const float *target);
/* --n and --size of the post's images (NULL: the default in *n, *h, *w stays): n in
 * [1, nmax], each side from 12 (so that every object has pixels) to max_side, n * h * w at most
 * 2^max_log2 pixels. CLI_OK, or a line and CLI_USAGE. */
int cli_post_images(const char *cmd, const char *n_s, int64_t nmax, const char *size_s,
                    int64_t max_side, int max_log2, int64_t *n, int64_t *h, int64_t *w);
/* A JSON list of n numbers. */
void cli_json_list(const double *v, int n);
/* Seconds on the monotonic clock. */
double cli_now(void);
/* A list of loss specs (option opt): specs separated by ';', each trimmed of spaces and tabs, into
 * names[] (at most max; they point into *buf, a copy of s the caller frees). An empty spec, too
 * many or one given twice: a line and CLI_USAGE. */
int cli_split_specs(const char *cmd, const char *opt, const char *s, char **buf, const char **names,
                    int max, int *n);
/* mkdir -p; CLI_RUNTIME with a line when it cannot. */
int cli_make_dirs(const char *cmd, const char *dir);

/* Write a picture of label maps [n, h, w] or of probabilities [n, nclass, h, w] (exactly one
 * non-NULL) to the output path named in outs (cli/out.h): a title (may be NULL), the images in
 * a grid, magnified when small and numbered from 0, and a legend of the class colours. Prints
 * and returns CLI_RUNTIME on failure. */
struct cli_outs;
int cli_class_picture(struct cli_outs *outs, const char *path, const char *title,
                      const int32_t *labels, const float *probs, int64_t n, int64_t nclass,
                      int64_t h, int64_t w);

/* Subcommands. Each gets argv starting at its own name. */
int cmd_draw(int argc, char **argv);
int cmd_masks(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_drop(int argc, char **argv);
int cmd_loss(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_metrics(int argc, char **argv);
int cmd_play(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_images(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_infer(int argc, char **argv);
int cmd_compare(int argc, char **argv);

#endif
