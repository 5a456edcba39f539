/* segloss.h - loss functions for semantic segmentation, with analytic gradients.
 *
 * The manual: tensors, inputs, buffers, threads, errors; then the version, the options, the
 * losses and specs, sharded evaluation, metrics, the EDT and how each loss reads its input.
 * The post's data, random numbers, drawing, .npy and PNG files are in segloss_data.h.
 *
 * Tensors
 *   float32, contiguous, C order. An input is [N, C, spatial...] with 1 to 3 spatial axes
 *   (so ndim is 3, 4 or 5). P is the product of the spatial sizes. A target is either
 *     - a label map [N, spatial...] of int32 class indices (SL_TARGET_LABELS); MONAI's
 *       [N, 1, spatial...] is the same memory and is taken as it is, or
 *     - a per-class map of the input's own shape: one-hot or soft probabilities (SL_TARGET_PROBS);
 *       for the sigmoid (multi-label) losses any values in [0, 1], channels may overlap.
 *   Binary segmentation is one channel, [N, 1, spatial...], with a sigmoid loss (bce,
 *   sigmoid_focal, lovasz_hinge, an overlap loss with sigmoid=true); its label map holds 0 and 1
 *   and is the channel's target. A softmax loss on one channel of logits is refused (a softmax
 *   over one channel is constant; the message names the sigmoid form), and so is one channel
 *   of probabilities for the losses that renormalise probabilities (SL_LOSS_RENORMALISES: ce,
 *   focal, missing_ce, marginal_ce, lovasz), which would make it the constant 1. hausdorff_dt
 *   and log_hausdorff_dt take one channel of logits as given (MONAI's rule); every other loss
 *   takes one channel of probabilities as given. Only the sigmoid forms above read a label map
 *   of 0 and 1 on one channel; for any other loss its labels are class indices below C = 1 (all
 *   0), so a binary target there is a per-class map [N, 1, spatial...].
 *   An annotation matrix [N, C] of 0/1 bytes says which classes are annotated in which image;
 *   background (class 0) is always annotated whatever column 0 says.
 *
 * Inputs
 *   SL_INPUT_LOGITS or SL_INPUT_PROBS (sl_batch.input_kind, or a spec term's input=). Each loss
 *   reads them its own way: a softmax over classes or a sigmoid per element for logits;
 *   renormalised or as given, clipped to [eps, 1 - eps] or not, for probabilities. The table
 *   "How each loss reads its input", after the EDT below, gives every loss's row. Probabilities
 *   must not be negative, and every loss but the per-channel sigmoid ones refuses a pixel whose
 *   probabilities sum to 0 over the classes (also where it reads them as given, so on one
 *   channel a probability of exactly 0 is refused there).
 *
 * Buffers
 *   The caller owns every buffer: inputs, outputs and workspaces. Outputs are written, never
 *   accumulated. No loss, metric or EDT allocates; the spec parser allocates the spec it
 *   returns (sl_spec_free), sl_bench_floor its own scratch (freed before it returns), and the
 *   file functions of segloss_data.h what they return.
 *
 * Threads and vector paths
 *   A loss runs on up to sl_output.threads OpenMP threads (0: omp_get_max_threads(), which is
 *   OMP_NUM_THREADS or else every core; a small batch may run on fewer), which have finished
 *   when the call returns; the metrics and the EDT run on the calling thread. The fast paths' vector kernels run on the
 *   best vector path of the CPU (AVX-512, AVX2 + FMA, or portable C; the environment variable
 *   SEGLOSS_ISA=scalar|avx2|avx512 forces one the CPU has). Values, maps and gradients are the
 *   same bits for any thread count and any path. Link with -fopenmp (or -lgomp).
 *
 * Reentrancy and thread safety
 *   There is no global state: the loss registry is constant data, nothing is cached between
 *   calls, randomness travels in an explicit sl_rng. So any function may run on several threads
 *   at once, provided that what one call writes no other call uses meanwhile: its outputs
 *   (sl_output, its grad, loss_map and workspace; stats; a metrics or EDT result), its
 *   sl_error, and objects it changes (an sl_rng, an sl_array, a spec being freed). What a
 *   call only reads may be shared: input tensors, targets, options, loss handles, and a parsed
 *   sl_spec, which any number of threads may evaluate at once (every function but
 *   sl_spec_free takes it const). SEGLOSS_ISA is read (getenv) by each call that runs a loss
 *   (and by sl_isa and sl_bench_floor): do not change the environment while another thread is
 *   in the library.
 *   A loss called inside the caller's own OpenMP parallel region gets the threads OpenMP's
 *   nesting settings allow (by default one).
 *
 * Errors
 *   Every function that can fail returns an sl_status (SL_OK == 0) and, when given an sl_error,
 *   fills it with one line that names the problem (control characters from the caller's text,
 *   a spec or a file header, are written as \n, \t, \r or \xHH). The library never prints and
 *   never exits.
 *
 * Non-finite results
 *   On finite inputs, a loss whose value, loss-map entry or gradient entry is not finite (an
 *   overflow: a huge factor, weight or exponent) fails with SL_E_OVERFLOW and a message naming
 *   the loss, what overflowed and where; it never returns Inf. The one NaN returned is a mean
 *   over nothing (every pixel ignored, or a zero total weight): NaN as in PyTorch, with a zero
 *   gradient and a finite map.
 */
#ifndef SEGLOSS_H
#define SEGLOSS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------------
 * Version: SL_VERSION_* of the header a program is compiled with, sl_version() of the library
 * it runs with (compare the two when linking the shared library, whose soname carries the
 * major: libsegloss.so.0). The Makefile, segloss.pc and `segloss --version` take the version
 * from SL_VERSION_STRING. While the major is 0, names may change from one minor to the next.
 */
#define SL_VERSION_MAJOR 0
#define SL_VERSION_MINOR 1
#define SL_VERSION_PATCH 0
#define SL_VERSION_STRING "0.1.0"
/* (major * 10000 + minor * 100 + patch), for #if */
#define SL_VERSION (SL_VERSION_MAJOR * 10000 + SL_VERSION_MINOR * 100 + SL_VERSION_PATCH)
const char *sl_version(void); /* SL_VERSION_STRING of the library */

/* ---------------------------------------------------------------------------------------------
 * Status and errors
 */
typedef enum {
    SL_OK = 0,
    SL_E_ARG,    /* an argument or option value is invalid */
    SL_E_SHAPE,  /* shapes disagree, or a size is nonsense */
    SL_E_LABEL,  /* a label is out of range */
    SL_E_VALUE,  /* a data value is invalid: NaN, Inf, negative probability */
    SL_E_NOMEM,  /* an allocation failed */
    SL_E_IO,     /* a file could not be opened, read or written */
    SL_E_FORMAT, /* a file is malformed or of an unsupported kind */
    SL_E_PARSE,  /* a loss spec does not parse, or names an unknown loss, key or value */
    SL_E_OVERFLOW /* a result (value, map entry, gradient entry) is not finite on finite inputs */
} sl_status;

#define SL_ERR_LEN 512
typedef struct {
    char msg[SL_ERR_LEN];
} sl_error;

/* A short name for a status ("ok", "bad argument", ...). */
const char *sl_status_str(sl_status s);

/* ---------------------------------------------------------------------------------------------
 * Shapes
 */
#define SL_MAX_DIMS 5
typedef struct {
    int ndim;
    int64_t dim[SL_MAX_DIMS];
} sl_shape;

/* Product of the sizes (1 for ndim == 0). */
int64_t sl_shape_numel(const sl_shape *s);

/* ---------------------------------------------------------------------------------------------
 * Options: every key of every loss, in one list. Each row of SL_OPTIONS is one key with one
 * meaning: its name (also its sl_options field), its type, its default as written in a spec,
 * its valid words ('|'-separated, WORD only), its range [lo, hi] (NUMBER, INT and each LIST
 * element; lo == hi: any value), its flags (SL_KEY_*), two values other than the default for the
 * tests (on inputs of 5 classes; NULL: none), and its help line. The sl_options struct, the
 * spec parser, the defaults, the range checks, `segloss list` and the tests all read this list.
 * A loss names the keys it takes (it may give a key its own default, a narrower range, a subset
 * of the words, its own help line, and its own spelling: tversky's `alpha` is fp_weight).
 * Adding a key is adding a row.
 */
typedef enum { SL_INPUT_LOGITS = 0, SL_INPUT_PROBS } sl_input_kind;
typedef enum { SL_TARGET_LABELS = 0, SL_TARGET_PROBS } sl_target_kind;
typedef enum { SL_REDUCE_MEAN = 0, SL_REDUCE_SUM, SL_REDUCE_NONE } sl_reduction;
typedef enum { SL_DENOM_ALL = 0, SL_DENOM_VALID } sl_denominator;
typedef enum { SL_IMPL_FAST = 0, SL_IMPL_REF } sl_impl;
typedef enum { SL_WTYPE_SQUARE = 0, SL_WTYPE_SIMPLE, SL_WTYPE_UNIFORM } sl_wtype;
typedef enum { SL_CLASSES_PRESENT = 0, SL_CLASSES_ALL } sl_classes;

/* A key's type and its field: NUMBER double; INT int64_t; WORD int, the index of the word (the
 * enums above); BOOL int, 0 or 1 (true|false, Python's True|False too); LIST `const double
 * *key` with its length `int64_t nkey` (a caller-owned array; NULL, "none" in a spec, for no
 * list). */
typedef enum {
    SL_PARAM_NUMBER = 0,
    SL_PARAM_INT,
    SL_PARAM_LIST,
    SL_PARAM_WORD,
    SL_PARAM_BOOL
} sl_param_type;

/* Key flags. */
#define SL_KEY_PER_CLASS 1u   /* LIST: one value per class (its length must be C) */
#define SL_KEY_CLASS_INDEX 2u /* LIST: class indices, each below C */
#define SL_KEY_IGNORE 4u      /* a label (or, with a per-class target, a channel) left out */

/* clang-format off */
/*  X(key,              type,   default,   words,                   lo,     hi,    flags,
 *    sample values,             help) */
#define SL_OPTIONS(X) \
    X(reduction,         WORD,   "mean",    "mean|sum|none",         0,      0,     0, \
      "sum",             "none", "how the unreduced map is reduced") \
    X(ignore_index,      INT,    "-100",    NULL,                    0,      0,     SL_KEY_IGNORE, \
      "255",             "2",    "label whose pixels are left out (docs/losses.md)") \
    X(label_smoothing,   NUMBER, "0",       NULL,                    0,      1,     0, \
      "0.2",             NULL,   "mix the target with uniform") \
    X(eps,               NUMBER, "1e-7",    NULL,                    1e-300, 0.4999,0, \
      "0.01",            NULL,   "probability clip when the input is probabilities") \
    X(denominator,       WORD,   "all",     "all|valid",             0,      0,     0, \
      "valid",           NULL,   "mean over all pixels, or over the valid ones") \
    X(weight,            LIST,   "none",    NULL,                    0, 1e300, SL_KEY_PER_CLASS, \
      "[0.2,1,2,0.5,1]", NULL,   "one non-negative weight per class") \
    X(class_alpha,       LIST,   "none",    NULL,                    0, 1e300, SL_KEY_PER_CLASS, \
      "[0.5,1,2,1,0.25]",NULL,   "one non-negative factor per class (none: all 1)") \
    X(pos_weight,        LIST,   "none",    NULL,                    0, 1e300, SL_KEY_PER_CLASS, \
      "[1,2,0.5,1,3]",   NULL,   "one non-negative positive weight per class") \
    X(idc,               LIST,   "none",    NULL,                    0, 1e9, SL_KEY_CLASS_INDEX, \
      "[1,3]",           NULL,   "class indices scored (none: every object class)") \
    X(include_background,BOOL,   "true",    NULL,                    0,      0,     0, \
      "false",           "true", "false drops channel 0") \
    X(squared,           BOOL,   "false",   NULL,                    0,      0,     0, \
      "true",            NULL,   "denominator sum p^2 + sum g^2 (squared_pred)") \
    X(jaccard,           BOOL,   "false",   NULL,                    0,      0,     0, \
      "true",            NULL,   "MONAI Jaccard: 1 - (2I+s)/(2(P+G-I)+s)") \
    X(batch,             BOOL,   "false",   NULL,                    0,      0,     0, \
      "true",            NULL,   "sums run over the batch too") \
    X(smooth_nr,         NUMBER, "1e-5",    NULL,                    0,      1e300, 0, \
      "0.5",             NULL,   "added to the numerator") \
    X(smooth_dr,         NUMBER, "1e-5",    NULL,                    0,      1e300, 0, \
      "0.5",             NULL,   "added to the denominator") \
    X(w_type,            WORD,   "square",  "square|simple|uniform", 0,      0,     0, \
      "simple",          "uniform","class weights 1/G^2, 1/G or 1") \
    X(fp_weight,         NUMBER, "0.5",     NULL,                    0,      1e300, 0, \
      "0.3",             NULL,   "weight of the false positives") \
    X(fn_weight,         NUMBER, "0.5",     NULL,                    0,      1e300, 0, \
      "0.7",             NULL,   "weight of the false negatives") \
    X(gamma,             NUMBER, "2",       NULL,                    0,      1e300, 0, \
      "1.5",             NULL,   "focusing exponent") \
    X(pos_balance,       NUMBER, "0.25",    NULL,                    -1,     1,     0, \
      "0.3",             NULL,   "weight of positives (1 - it of negatives); negative: none") \
    X(dt_power,          NUMBER, "2",       NULL,                    0,      1e300, 0, \
      "1.5",             NULL,   "power of the distance fields") \
    X(classes,           WORD,   "present", "present|all",           0,      0,     0, \
      "all",             "present","classes scored: those present in the target, or all") \
    X(per_image,         BOOL,   "false",   NULL,                    0,      0,     0, \
      "true",            NULL,   "per image, then the mean over images") \
    X(sigmoid,           BOOL,   "false",   NULL,                    0,      0,     0, \
      "true", "True", "multi-label: a sigmoid and a target per channel (MONAI sigmoid=True)") \
    X(soft_label,        BOOL,   "false",   NULL,                    0,      0,     0, \
      "true",            NULL,   "MONAI soft_label: I = sum min(p, g), right for soft targets") \
    X(focal_weight,      NUMBER, "0.5",     NULL,                    0,      1,     0, \
      "0.3",             "1",    "weight of the focal part; 1 - it of the focal Tversky part") \
    X(delta,             NUMBER, "0.6",     NULL,                    0,      1,     0, \
      "0.7",             NULL,   "background/foreground balance")
/* clang-format on */

/* Notes on keys:
 *   ignore_index  with a label map, the label whose pixels are left out; with a per-class target
 *                 (only the losses with SL_LOSS_PROBS_IGNORE: ce and the Dice family, and not
 *                 with sigmoid=true, whose channels overlap), the channel whose pixels are left
 *                 out: a pixel is ignored where that channel is its target's largest (the first
 *                 largest on a tie), i.e. where argmax_c target = ignore_index; it must then be
 *                 below C (docs/losses.md, "ignore_index").
 *   weight        NULL for all ones; with sigmoid_focal it multiplies each channel's elements.
 *   sigmoid       the overlap family's multi-label mode: each channel a sigmoid of its logit (or
 *                 a probability as given) with a target of its own; channels may overlap.
 *   soft_label    the intersection as sum min(p, g), the L1 form (|p| + |g| - |p - g|) / 2; the
 *                 same as sum p g for hard targets.
 *   A LIST's field is NULL for "none"; its values are the caller's (a parsed spec owns its own).
 *
 * The options of every loss: one field per key of SL_OPTIONS (two for a LIST). Fill it with a
 * loss's defaults by sl_options_for(loss, &o), then set what differs. */
#define SL__FIELD_NUMBER(k) double k;
#define SL__FIELD_INT(k) int64_t k;
#define SL__FIELD_WORD(k) int k;
#define SL__FIELD_BOOL(k) int k;
#define SL__FIELD_LIST(k) const double *k; int64_t n##k;
#define SL__FIELD(k, type, ...) SL__FIELD_##type(k)
typedef struct {
    SL_OPTIONS(SL__FIELD)
} sl_options;

/* The keys by number: SL_OPT_reduction, ..., SL_OPT_COUNT. */
#define SL__OPT_ID(k, ...) SL_OPT_##k,
typedef enum { SL_OPTIONS(SL__OPT_ID) SL_OPT_COUNT } sl_option_id;

/* A key as a loss takes it. */
typedef struct {
    const char *key;   /* its name in SL_OPTIONS, the sl_options field */
    const char *alias; /* the loss's own spelling, also accepted in a spec (e.g. "alpha"), or
                          NULL */
    sl_param_type type;
    const char *def;   /* the default, as written in a spec */
    const char *words; /* WORD: the valid words, '|'-separated */
    const char *help;  /* one line */
    double lo, hi;     /* NUMBER, INT, LIST elements: the valid range (lo == hi: any) */
    unsigned flags;    /* SL_KEY_* */
    sl_option_id id;
} sl_param_info;

/* A key as SL_OPTIONS lists it (a loss's own defaults and ranges: sl_loss_param). */
const sl_param_info *sl_option_info(sl_option_id id);

/* The list's defaults; sl_options_for gives a loss's own. */
void sl_options_default(sl_options *o);

/* ---------------------------------------------------------------------------------------------
 * A batch: what a loss scores.
 */
typedef struct {
    sl_shape shape;            /* input shape [N, C, spatial...] */
    const float *input;        /* logits or probabilities, numel(shape) values */
    sl_input_kind input_kind;
    sl_target_kind target_kind;
    const int32_t *labels;     /* [N, spatial...] when target_kind == SL_TARGET_LABELS */
    const float *target;       /* [N, C, spatial...] when target_kind == SL_TARGET_PROBS */
    const uint8_t *annotated;  /* [N, C] 0/1, or NULL to infer from the target */
} sl_batch;

/* What a loss writes. Set grad and loss_map to NULL when not wanted. When a call fails, what
 * grad and loss_map hold is unspecified. */
typedef struct {
    double loss;          /* out: the reduced value; with SL_REDUCE_NONE, the sum of the map */
    float *grad;          /* out, optional: d(loss)/d(input), numel(shape) floats; with
                             SL_REDUCE_NONE, the gradient of the sum of the map */
    float *loss_map;      /* out, optional: the unreduced losses, sl_loss_map_shape() */
    void *workspace;      /* scratch owned by the caller, at least sl_*_workspace_size() bytes */
    size_t workspace_size;
    int threads;          /* threads to run on; 0: OpenMP's default (OMP_NUM_THREADS) */
} sl_output;

/* ---------------------------------------------------------------------------------------------
 * The losses. A loss is one file in src/ (its functions and, at its end, its entry) and one
 * line, its name, in src/losses.def; the CLI and the tests read the list. A loss is an opaque
 * handle: what it is comes from the accessors below; it runs only through sl_loss_eval and
 * sl_spec_eval, after the checks.
 */
/* The shape of a loss's unreduced map: per pixel [N, spatial...], per (image, class) [N, C],
 * per element [N, C, spatial...], or the loss's own (as sl_loss_map_shape says). */
typedef enum { SL_MAP_PIXEL = 0, SL_MAP_IMAGE_CLASS, SL_MAP_ELEMENT } sl_map_kind;

typedef struct sl_loss_info sl_loss_info; /* opaque */

/* Loss flags (sl_loss_flags). */
#define SL_LOSS_KERNEL_CHECKS 1u /* its fast path refuses bad values and labels in its own sweep */
/* A per-channel sigmoid loss (bce, sigmoid_focal, lovasz_hinge): one channel takes a binary
 * label map {0, 1}. A loss whose `sigmoid` key is true is treated the same way, though its flags,
 * which do not depend on the options, do not show it. */
#define SL_LOSS_SIGMOID 2u
/* Takes one channel as given, without a softmax (MONAI's single-channel rule); any other loss
 * that reads logits by a softmax refuses one channel of logits (a sigmoid loss, or one with
 * sigmoid=true, takes it). */
#define SL_LOSS_ONE_CHANNEL 4u
/* Takes ignore_index in [0, C) with a per-class target (argmax rule of sl_options.ignore_index),
 * except with sigmoid=true; any other loss that takes ignore_index refuses a non-negative one
 * with a per-class target (SL_E_ARG). */
#define SL_LOSS_PROBS_IGNORE 8u
/* Sharded evaluation (below): statistics of one number, a mean's normaliser; */
#define SL_LOSS_SHARD_NORM 16u
/* of the per-class sums I, S, G (3 C numbers) with batch=true, per image the entries' sum and
 * count (2; generalized_dice uses only the second, its number of images); */
#define SL_LOSS_SHARD_SUMS 32u
/* of the number of images, with per_image=true only. A loss with none of the three has no
 * statistics. */
#define SL_LOSS_SHARD_PER_IMAGE 64u
/* Reads SL_INPUT_PROBS renormalised over the channels (the table "How each loss reads its
 * input"), so one channel of probabilities would be the constant 1: refused, like one channel of
 * logits under a softmax. */
#define SL_LOSS_RENORMALISES 128u
/* Keeps its scratch in the gradient when it writes the gradient alone (nothing else in it):
 * sl_spec_eval runs the first such term of a spec first (its terms' order, below). */
#define SL_LOSS_GRAD_SCRATCH 256u

int sl_loss_count(void);
const sl_loss_info *sl_loss_at(int i);              /* NULL when i is out of range */
const sl_loss_info *sl_loss_find(const char *name); /* NULL when unknown */
const char *sl_loss_name(const sl_loss_info *loss);    /* as written in a spec */
const char *sl_loss_summary(const sl_loss_info *loss); /* one line */
sl_map_kind sl_loss_map_kind(const sl_loss_info *loss);
unsigned sl_loss_flags(const sl_loss_info *loss); /* SL_LOSS_* */
/* The keys it takes: key i (0 <= i < sl_loss_nparams) into *out, with this loss's default,
 * range, words, help and spelling; -1 when i is out of range. */
int sl_loss_nparams(const sl_loss_info *loss);
int sl_loss_param(const sl_loss_info *loss, int i, sl_param_info *out);
/* The index of the key a loss takes under this name (its SL_OPTIONS name or its own spelling),
 * or -1. */
int sl_loss_param_find(const sl_loss_info *loss, const char *key);

/* A loss's defaults: SL_OPTIONS's, with the loss's own where it gives one. */
void sl_options_for(const sl_loss_info *loss, sl_options *o);
/* Check option values against a loss's ranges and words; C < 0 skips the list lengths that
 * depend on the number of classes. */
sl_status sl_options_check(const sl_loss_info *loss, const sl_options *o, int64_t C,
                           sl_error *err);

/* The shape of a loss's unreduced map for a batch. */
void sl_loss_map_shape(const sl_loss_info *loss, const sl_options *opt, const sl_batch *b,
                       sl_shape *out);
/* Bytes of workspace sl_loss_eval needs for this loss and batch (0 for a shape it refuses). */
size_t sl_loss_workspace_size(const sl_loss_info *loss, const sl_options *opt,
                              const sl_batch *b);

/* Check the batch and options, then run one loss. Writes out->loss, and out->grad and
 * out->loss_map when they are not NULL. */
sl_status sl_loss_eval(const sl_loss_info *loss, const sl_options *opt, const sl_batch *b,
                       sl_impl impl, sl_output *out, sl_error *err);

/* The vector path the kernels take in this process: "avx512", "avx2" or "scalar". The best the
 * CPU has, unless the environment variable SEGLOSS_ISA names another the CPU has. Every path
 * gives the same bits. */
const char *sl_isa(void);

/* The benchmark's floor: moves the bytes a fused cross-entropy kernel moves for this batch (reads
 * the input and the label map, writes grad, numel(shape) floats), with no maths, over `threads`
 * threads (0: OpenMP's default). *checksum receives the sum of the labels. Needs an input of a
 * loss's shape (else SL_E_SHAPE), a label map and at most 64 classes (else SL_E_ARG); allocates
 * its per-chunk scratch (SL_E_NOMEM). */
sl_status sl_bench_floor(const sl_batch *b, float *grad, int threads, double *checksum,
                         sl_error *err);

/* Check a batch for one loss without running it: shapes, finite values, probabilities,
 * labels, annotation matrix, option values. sl_loss_eval makes the same checks, except that on
 * the fast path a loss with SL_LOSS_KERNEL_CHECKS checks values and labels in its own sweep. */
sl_status sl_batch_check(const sl_loss_info *loss, const sl_options *opt, const sl_batch *b,
                         sl_error *err);

/* ---------------------------------------------------------------------------------------------
 * The loss spec language: `[k*]name[(key=value,...)]` terms joined by `+`. Values are numbers,
 * lists `[a,b,...]` or words; booleans are true|false (Python's True|False too). Besides its
 * loss's keys, any term takes `input=logits|probs`: how that term reads the input tensor,
 * overriding sl_batch.input_kind for it. So MONAI's DiceCELoss(softmax=False), whose Dice reads
 * the tensor as given and whose cross-entropy reads it as logits, is one spec:
 * `dice(input=probs) + ce(input=logits)`. Examples:
 * `ce(weight=[0.2,1,1,2],ignore_index=255)`, `0.5*ce + missing_ce(denominator=valid)`.
 */
typedef struct sl_spec sl_spec; /* opaque; owns its option lists */

/* Parse text into *out (allocated; free with sl_spec_free). */
sl_status sl_spec_parse(const char *text, sl_spec **out, sl_error *err);
void sl_spec_free(sl_spec *s);
int sl_spec_nterms(const sl_spec *s);
/* Term i: its factor, its loss and its options (valid while s lives). */
void sl_spec_term(const sl_spec *s, int i, double *k, const sl_loss_info **loss,
                  const sl_options **opt);
/* Term i's input kind (SL_INPUT_LOGITS or SL_INPUT_PROBS) when it names one, else -1. */
int sl_spec_term_input(const sl_spec *s, int i);
/* Bytes of workspace sl_spec_eval needs. */
size_t sl_spec_workspace_size(const sl_spec *s, const sl_batch *b);
/* The map shape of a spec: its terms' common map shape. SL_E_ARG when they differ. */
sl_status sl_spec_map_shape(const sl_spec *s, const sl_batch *b, sl_shape *out, sl_error *err);
/* Evaluate sum_i k_i * loss_i. Maps and gradients are summed the same way: the first term
 * writes them, each later one adds into them. The value adds the terms as written; the
 * gradient and map add them as written too, except that with a gradient the first term whose
 * loss has SL_LOSS_GRAD_SCRATCH runs first (a later term could not use the gradient as its
 * scratch). With two terms that gives the same bits in either order (float addition commutes);
 * with more, the gradient's last bits may differ from the order as written. A spec checks its
 * data as written all the same: it refuses bad data with the message of the first term, as
 * written, that refuses it. */
sl_status sl_spec_eval(const sl_spec *s, const sl_batch *b, sl_impl impl, sl_output *out,
                       sl_error *err);

/* ---------------------------------------------------------------------------------------------
 * Sharded evaluation: one batch split across processes (data-parallel training, e.g. PyTorch
 * DDP), with the value and gradient of the loss of the WHOLE batch.
 *
 * A loss that couples pixels (a mean's normaliser with weights or ignore_index, Dice sums with
 * batch=true, a mean over every image's entries) is not the mean of its shards' losses. Its
 * value is a function of sums over pixels: its statistics, a fixed number of doubles that add
 * up across shards. Two phases:
 *   1. each shard: sl_loss_stats (or sl_spec_stats) writes its statistics;
 *   2. the shards add their statistics element-wise (an all-reduce with SUM);
 *   3. each shard: sl_loss_finish (or sl_spec_finish) with the summed statistics writes
 *        out->grad  d(loss of the whole batch) / d(this shard's input): the whole batch's
 *                   gradient, restricted to this shard;
 *        out->loss  this shard's part: the parts of all shards add up to the whole batch's
 *                   value (a per-pixel sum's own share, or value / shards when the statistics
 *                   decide the value alone);
 *        out->loss_map this shard's unreduced map (with batch=true: the whole batch's matrix).
 * stats[0] counts the shards (each writes 1); the rest is the loss's own (docs/sharded.md
 * lists them): a caller only adds them up. Every shard must use the same spec and the same C
 * (the statistics' size depends on both); shards may hold different numbers of images and
 * pixels. A shard alone (statistics not added to any) gives sl_loss_eval's result.
 *
 * The losses that have statistics: ce, focal, bce, sigmoid_focal, missing_ce, marginal_ce (a
 * mean's normaliser), dice, tversky, focal_tversky, log_cosh_dice, generalized_dice (per-class
 * sums with batch=true; per image, the entries' sum and count, or for generalized_dice the
 * number of images), lovasz with per_image=true
 * (the number of images). The others (lovasz over the batch, whose value sorts every shard's
 * errors together; the distance losses; the partial-label Dice losses) fail with SL_E_ARG
 * (SL_LOSS_SHARD_* in a loss's flags say which). Value checks (NaN, labels) may be left to the
 * finishing phase.
 * Both phases use out->workspace (sl_loss_workspace_size / sl_spec_workspace_size bytes) and
 * out->threads; phase 1 writes no gradient and no map.
 */
/* Number of doubles of a loss's statistics for a batch of this C, or SL_E_ARG (and a message)
 * when the loss has none (SL_E_SHAPE when the shape is not [N, C, spatial...]). */
sl_status sl_loss_stats_size(const sl_loss_info *loss, const sl_options *opt, const sl_batch *b,
                             size_t *n, sl_error *err);
sl_status sl_loss_stats(const sl_loss_info *loss, const sl_options *opt, const sl_batch *b,
                        sl_impl impl, double *stats, sl_output *out, sl_error *err);
sl_status sl_loss_finish(const sl_loss_info *loss, const sl_options *opt, const sl_batch *b,
                         sl_impl impl, const double *stats, sl_output *out, sl_error *err);
/* The same for a spec: its terms' statistics one after another; the value part is
 * sum_i k_i * part_i, the gradient and map summed the same way. */
sl_status sl_spec_stats_size(const sl_spec *s, const sl_batch *b, size_t *n, sl_error *err);
sl_status sl_spec_stats(const sl_spec *s, const sl_batch *b, sl_impl impl, double *stats,
                        sl_output *out, sl_error *err);
sl_status sl_spec_finish(const sl_spec *s, const sl_batch *b, sl_impl impl, const double *stats,
                         sl_output *out, sl_error *err);

/* ---------------------------------------------------------------------------------------------
 * Metrics, with MONAI's conventions, per (image, class) of two label maps [N, spatial...]:
 *   dice  2 |P & G| / (|P| + |G|)          NaN where G is empty (DiceMetric, ignore_empty)
 *   iou   |P & G| / |P | G|                NaN where G is empty (MeanIoU, ignore_empty)
 *   hd95  HausdorffDistanceMetric(percentile=95): edges are a mask minus its binary erosion;
 *         from each edge pixel the Euclidean distance to the other mask's nearest edge pixel;
 *         the linear-interpolated 95th percentile of each direction, the larger of the two
 *   assd  average symmetric surface distance: the mean of both directions' distances together
 * hd95 and assd are NaN where either mask is empty. Distances use `spacing` (one per spatial
 * axis; NULL for 1). Labels outside [0, C) belong to no class.
 *
 * Options (opts NULL: every class, no pixel ignored):
 *   include_background  0: class 0 is not evaluated and its column is NaN (MONAI's
 *                       include_background=False, the default of HausdorffDistanceMetric);
 *                       ignored when C == 1, as MONAI does. Nonzero: class 0 too.
 *   use_ignore_index    nonzero: pixels whose target is ignore_index belong to neither mask
 *                       (not P, not G, no edge) for every class; a class equal to ignore_index
 *                       has an empty G and so NaN everywhere.
 * The output keeps the [N, C] layout whatever the options.
 */
typedef struct {
    double *dice, *iou, *hd95, *assd; /* [N, C] each, caller-owned; any may be NULL */
} sl_metrics_out;

typedef struct {
    int include_background;
    int use_ignore_index;
    int32_t ignore_index;
} sl_metrics_opts;

/* Bytes of workspace for sl_metrics on label maps of this shape. */
size_t sl_metrics_workspace_size(const sl_shape *labels, int64_t C);
sl_status sl_metrics(const int32_t *pred, const int32_t *target, const sl_shape *labels,
                     int64_t C, const double *spacing, const sl_metrics_opts *opts,
                     sl_metrics_out *out, void *workspace, size_t workspace_size,
                     sl_error *err);

/* ---------------------------------------------------------------------------------------------
 * Euclidean distance transform, exact and linear-time (Felzenszwalb and Huttenlocher), as
 * scipy.ndimage.distance_transform_edt(mask, sampling=spacing): out[i] is the distance from
 * point i to the nearest point where mask == 0 (0 at those points; INFINITY everywhere when the
 * mask has no 0). A grid of nd = 1 to 3 axes in C order; spacing: nd values > 0, or NULL.
 */
size_t sl_edt_workspace_size(int nd, const int64_t *dim);
sl_status sl_edt(const uint8_t *mask, int nd, const int64_t *dim, const double *spacing,
                 double *out, void *workspace, size_t workspace_size, sl_error *err);

/* ---------------------------------------------------------------------------------------------
 * How each loss reads its input
 *
 * With SL_INPUT_PROBS (finite values >= 0; a softmax loss refuses a pixel whose values sum to
 * 0), a loss reads the tensor in one of these ways:
 *   renormalised, clipped      p / sum_c p over the classes, then clipped to [eps, 1 - eps]
 *                              (its `eps` key) before the log; the gradient is zero through a
 *                              clipped entry (Keras' categorical cross-entropy)
 *   renormalised, not clipped  p / sum_c p, no clip (no log is taken)
 *   as given, clipped          each element on its own, clipped to [eps, 1 - eps]
 *   as given, log clipped      each element on its own, clipped to [eps, 1 - eps] inside the
 *                              log only: the focal factor (1 - p_t)^gamma uses p as given
 *   as given, not clipped      the values as they are, also where a pixel does not sum to 1
 * With SL_INPUT_LOGITS:
 *   softmax                    over the classes (log-softmax where a log is taken)
 *   sigmoid                    of each element on its own (multi-label: channels may overlap)
 *   as given                   the logit itself is the loss's score
 *
 *   loss                       SL_INPUT_PROBS              SL_INPUT_LOGITS
 *   ce                         renormalised, clipped       softmax
 *   focal                      renormalised, clipped       softmax
 *   missing_ce                 renormalised, clipped       softmax
 *   marginal_ce                renormalised, clipped       softmax
 *   lovasz                     renormalised, not clipped   softmax
 *   bce                        as given, clipped           sigmoid
 *   sigmoid_focal              as given, log clipped       sigmoid
 *   asymmetric_unified_focal   as given, clipped           softmax
 *   dice                       as given, not clipped       softmax; sigmoid=true: sigmoid
 *   tversky                    as given, not clipped       softmax; sigmoid=true: sigmoid
 *   focal_tversky              as given, not clipped       softmax; sigmoid=true: sigmoid
 *   generalized_dice           as given, not clipped       softmax; sigmoid=true: sigmoid
 *   log_cosh_dice              as given, not clipped       softmax; sigmoid=true: sigmoid
 *   marginal_dice              as given, not clipped       softmax
 *   exclusion                  as given, not clipped       softmax
 *   boundary                   as given, not clipped       softmax
 *   hausdorff_dt               as given, not clipped       softmax; one channel: as given
 *   log_hausdorff_dt           as given, not clipped       softmax; one channel: as given
 *   lovasz_hinge               as given, not clipped       as given
 *
 * A term of a spec may read the tensor its own way (input=logits|probs). tests/test_inputs.c
 * reads this table and checks every row on both implementations.
 */

#ifdef __cplusplus
}
#endif
#endif /* SEGLOSS_H */
