/* segloss play: which loss notices which mistake. A perfect prediction of the post's ground
 * truth is spoiled by controlled mistakes at increasing strength, and every selected loss is
 * evaluated on each: a table (or JSON), a chart of loss against strength, and a picture of the
 * spoiled predictions. */
#include "cli.h"
#include "internal.h"
#include "out.h"
#include "plot.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char play_usage[] =
    "usage: segloss play [--losses \"SPEC;SPEC;...\"] [--n 4] [--size 64,64] [--seed 0]\n"
    "                    [--steps 6] [--out DIR] [--json]\n"
    "\n"
    "Which loss notices which mistake. From the post's ground truth (N images of an ellipse,\n"
    "a square and a circle) a perfect prediction, logits 10 * (one-hot - 0.5), is spoiled by\n"
    "controlled mistakes at increasing strength, and every selected loss is evaluated on each\n"
    "(input: logits [N, 4, H, W]; target: the label map):\n"
    "\n"
    "  shift               the predicted label map moved k pixels down and to the right\n"
    "  dilate              every object grown by k pixels (Euclidean distance; a background\n"
    "                      pixel takes the nearest object, ties to the lower class)\n"
    "  erode               every object shrunk by k pixels\n"
    "  missed_object       the circle's logits moved toward background by s in [0, 1]\n"
    "                      (s = 1: the circle is missed)\n"
    "  false_positive      a disk of radius r predicted as class 1 in the background near\n"
    "                      the bottom-left corner of every image\n"
    "  blur                the probabilities blurred by a Gaussian of sigma pixels; logits\n"
    "                      = log p\n"
    "  noise               Gaussian noise of std `std` added to the logits (one seeded\n"
    "                      field, scaled)\n"
    "  over_confidence     a typical prediction (as segloss predict) whose log-probabilities\n"
    "                      are multiplied by t >= 1\n"
    "  under_confidence    the same, divided by t\n"
    "  missing_annotation  the prediction stays perfect; the TARGET loses k annotations\n"
    "                      (objects set to background, as segloss drop), one more per step\n"
    "\n"
    "Strength 0 is no mistake: every curve starts at the perfect prediction's value, except\n"
    "the two confidence mistakes, which start at the typical prediction (t = 1). Strengths\n"
    "run evenly from 0 to the largest: k up to min(H,W)/8 pixels (rounded), s up to 1, r up\n"
    "to min(H,W)/8, sigma up to min(H,W)/16, std up to 4, t from 1 up to 4;\n"
    "missing_annotation has k = 0..min(steps - 1, objects present).\n"
    "\n"
    "  --losses SPECS  loss specs separated by ';' (e.g. \"ce;missing_ce;0.5*ce+dice\");\n"
    "                  default: every loss of segloss list with its defaults. A loss that\n"
    "                  fails on these inputs stops play with its message (exit 1).\n"
    "  --n N           images (default 4, at most 64)\n"
    "  --size H,W      image size (default 64,64; from 12,12 to 512,512)\n"
    "  --seed S        seed of everything random (default 0): the same seed, the same numbers\n"
    "  --steps K       strengths per mistake, 2..32 (default 6)\n"
    "  --out DIR       where the pictures go (default out/play): play_chart.png (one panel\n"
    "                  per mistake: each loss divided by its largest |value| over all\n"
    "                  mistakes, against strength) and play_predictions.png (image 0's\n"
    "                  prediction per mistake and strength; the missing_annotation row shows\n"
    "                  the target instead)\n"
    "  --json          print one JSON object instead of the table\n";

#define LOGIT_SCALE 10.0 /* perfect logits: LOGIT_SCALE * (one-hot - 0.5) */
#define MAX_LOSSES 64
#define MAX_STEPS 32

enum {
    M_SHIFT,
    M_DILATE,
    M_ERODE,
    M_MISSED,
    M_FALSE_POS,
    M_BLUR,
    M_NOISE,
    M_OVER,
    M_UNDER,
    M_MISSING,
    NMISTAKE
};

/* The picture of the spoiled predictions: rows mistakes, columns strengths, image 0. */
typedef struct {
    plot_img img;
    int left, top, cell_w, cell_h, row_h, scale;
    uint8_t *cell; /* h * w * 3 */
    float *probs;  /* [C, h, w] */
} pred_picture;

/* Everything play reads, computes and writes; allocated in play_alloc, freed in play_free. */
typedef struct {
    /* what was asked (play_parse) */
    int64_t n, h, w, P, seed;
    int steps, json, nloss;
    const char *dir;
    const char *names[MAX_LOSSES];
    sl_spec *specs[MAX_LOSSES];
    char *lbuf; /* the copy of --losses that names[] point into */
    /* the data (play_data) */
    int32_t *truth;     /* [n, P] ground truth */
    float *perfect;     /* [n, C, P] perfect logits */
    float *typical;     /* [n, C, P] log-probabilities of a typical prediction */
    float *noise;       /* [n, C, P] standard normal */
    int64_t present;    /* objects present (image, class pairs) */
    uint32_t drop_seed; /* rng's seed at missing_annotation's first step */
    /* what a mistake builds (spoil) and its scratch */
    float *input;    /* [n, C, P] the spoiled prediction */
    int32_t *pred;   /* [n, P] a spoiled label map */
    int32_t *target; /* [n, P] the target (missing_annotation changes it) */
    double *dist;    /* [3, n, P] distances (dilate, erode) */
    uint8_t *mask;   /* [P] the mask a distance is taken from */
    void *edt_ws;    /* sl_edt's workspace for one image */
    size_t edt_wsz;
    uint8_t *disk;   /* [h, w] */
    double *dprobs;  /* [C, P] probabilities of one image (blur, picture) */
    double *scratch; /* the blur's scratch */
    sl_rng rng;      /* for the annotations dropped */
    void *ws;        /* the losses' workspace */
    size_t wsz;
    /* the results (play_run) */
    double base[2][MAX_LOSSES]; /* perfect, typical */
    double str[NMISTAKE][MAX_STEPS];
    int nstr[NMISTAKE];
    double *values[NMISTAKE]; /* [m][l * MAX_STEPS + i] */
    pred_picture pp;
    plot_img chart;
    char chart_path[CLI_PATH_MAX], pred_path[CLI_PATH_MAX];
} play_ctx;

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

/* logits = LOGIT_SCALE * (one-hot(labels) - 0.5) */
static void labels_to_logits(const int32_t *labels, int64_t n, int64_t P, float *logits)
{
    const float hi = (float)(0.5 * LOGIT_SCALE), lo = (float)(-0.5 * LOGIT_SCALE);
    for (int64_t i = 0; i < n; i++)
        for (int64_t c = 0; c < SL_NCLASS; c++) {
            float *out = logits + (i * SL_NCLASS + c) * P;
            const int32_t *lab = labels + i * P;
            for (int64_t p = 0; p < P; p++)
                out[p] = lab[p] == c ? hi : lo;
        }
}

/* The softmax over classes of one image's logits [C, P] into probs [C, P]. */
static void softmax_image(const float *logits, int64_t P, double *probs)
{
    for (int64_t q = 0; q < SL_NCLASS * P; q++)
        probs[q] = logits[q];
    for (int64_t p = 0; p < P; p++)
        sl__softmax(probs + p, SL_NCLASS, P, 0);
}

/* dist[p] = Euclidean distance from pixel p of an h x w image to the nearest pixel where
 * (lab == c) == want_equal; INFINITY when there is none. */
static void edt_2d(play_ctx *x, const int32_t *lab, int32_t c, int want_equal, double *dist)
{
    int64_t dim[2] = {x->h, x->w};
    for (int64_t p = 0; p < x->P; p++)
        x->mask[p] = (lab[p] == c) != want_equal;
    sl_error err;
    /* Cannot fail: the grid and the workspace were sized for this image. */
    sl_edt(x->mask, 2, dim, NULL, dist, x->edt_ws, x->edt_wsz, &err);
}

/* The distances that dilate (to each object class) and erode (to anything else) need. */
static void prepare_distances(play_ctx *x, int erode)
{
    for (int64_t i = 0; i < x->n; i++)
        for (int32_t c = 1; c < SL_NCLASS; c++)
            edt_2d(x, x->truth + i * x->P, c, !erode, x->dist + ((c - 1) * x->n + i) * x->P);
}

/* ---------------------------------------------------------------------------------------------
 * The mistakes. Each builds x->input (and, for missing_annotation, x->target) at strength s;
 * step is the strength's index. 0, or -1 with err filled.
 */
typedef int (*spoil_fn)(play_ctx *x, int step, double s, sl_error *err);

static void copy_floats(float *dst, const float *src, int64_t n)
{
    memcpy(dst, src, (size_t)n * sizeof(float));
}

static int spoil_shift(play_ctx *x, int step, double s, sl_error *err)
{
    (void)step, (void)err;
    int64_t k = (int64_t)s, h = x->h, w = x->w, P = x->P;
    for (int64_t i = 0; i < x->n; i++)
        for (int64_t r = 0; r < h; r++)
            for (int64_t c = 0; c < w; c++) {
                int64_t r0 = r - k, c0 = c - k;
                x->pred[i * P + r * w + c] =
                    (r0 >= 0 && c0 >= 0) ? x->truth[i * P + r0 * w + c0] : 0;
            }
    labels_to_logits(x->pred, x->n, P, x->input);
    return 0;
}

/* A background pixel takes the nearest object within s (ties to the lower class). */
static int spoil_dilate(play_ctx *x, int step, double s, sl_error *err)
{
    (void)step, (void)err;
    int64_t NP = x->n * x->P;
    for (int64_t q = 0; q < NP; q++) {
        int32_t lab = x->truth[q];
        double best = INFINITY;
        for (int32_t c = 1; x->truth[q] == 0 && c < SL_NCLASS; c++) {
            double d = x->dist[(c - 1) * NP + q];
            if (d < best) {
                best = d;
                if (d <= s) lab = c;
            }
        }
        x->pred[q] = lab;
    }
    labels_to_logits(x->pred, x->n, x->P, x->input);
    return 0;
}

static int spoil_erode(play_ctx *x, int step, double s, sl_error *err)
{
    (void)step, (void)err;
    int64_t NP = x->n * x->P;
    for (int64_t q = 0; q < NP; q++) {
        int32_t lab = x->truth[q];
        if (lab > 0 && lab < SL_NCLASS && x->dist[(lab - 1) * NP + q] <= s) lab = 0;
        x->pred[q] = lab;
    }
    labels_to_logits(x->pred, x->n, x->P, x->input);
    return 0;
}

/* The perfect logits of the circle blended with those of background. */
static int spoil_missed(play_ctx *x, int step, double s, sl_error *err)
{
    (void)step, (void)err;
    const float hi = (float)(0.5 * LOGIT_SCALE), lo = (float)(-0.5 * LOGIT_SCALE);
    int64_t P = x->P;
    copy_floats(x->input, x->perfect, x->n * SL_NCLASS * P);
    for (int64_t i = 0; i < x->n; i++)
        for (int64_t p = 0; p < P; p++) {
            if (x->truth[i * P + p] != SL_NCLASS - 1) continue;
            float *l = x->input + i * SL_NCLASS * P + p;
            l[0] = (float)((1 - s) * lo + s * hi);
            l[(SL_NCLASS - 1) * P] = (float)((1 - s) * hi + s * lo);
        }
    return 0;
}

static int spoil_false_pos(play_ctx *x, int step, double s, sl_error *err)
{
    (void)step;
    int64_t P = x->P;
    memcpy(x->pred, x->truth, (size_t)(x->n * P) * sizeof(int32_t));
    if (s > 0) {
        memset(x->disk, 0, (size_t)P);
        if (sl_draw_disk(x->disk, x->h, x->w, 0.75 * (double)x->h, 0.25 * (double)x->w, s, err) !=
            SL_OK)
            return -1;
        for (int64_t i = 0; i < x->n; i++)
            for (int64_t p = 0; p < P; p++)
                if (x->disk[p] && x->truth[i * P + p] == 0) x->pred[i * P + p] = 1;
    }
    labels_to_logits(x->pred, x->n, P, x->input);
    return 0;
}

/* Each class's probability plane blurred (the library's one blur), then logits = log p. */
static int spoil_blur(play_ctx *x, int step, double s, sl_error *err)
{
    (void)step, (void)err;
    int64_t P = x->P, CP = SL_NCLASS * P;
    if (s <= 0) {
        copy_floats(x->input, x->perfect, x->n * CP);
        return 0;
    }
    for (int64_t i = 0; i < x->n; i++) {
        softmax_image(x->perfect + i * CP, P, x->dprobs);
        for (int64_t c = 0; c < SL_NCLASS; c++) {
            double *pl = x->dprobs + c * P;
            sl__blur(pl, x->h, x->w, s, x->scratch);
            float *out = x->input + i * CP + c * P;
            for (int64_t p = 0; p < P; p++)
                out[p] = (float)log(pl[p] > 1e-30 ? pl[p] : 1e-30);
        }
    }
    return 0;
}

static int spoil_noise(play_ctx *x, int step, double s, sl_error *err)
{
    (void)step, (void)err;
    for (int64_t q = 0; q < x->n * SL_NCLASS * x->P; q++)
        x->input[q] = (float)((double)x->perfect[q] + s * (double)x->noise[q]);
    return 0;
}

static int spoil_over(play_ctx *x, int step, double s, sl_error *err)
{
    (void)step, (void)err;
    for (int64_t q = 0; q < x->n * SL_NCLASS * x->P; q++)
        x->input[q] = (float)((double)x->typical[q] * s);
    return 0;
}

static int spoil_under(play_ctx *x, int step, double s, sl_error *err)
{
    (void)step, (void)err;
    for (int64_t q = 0; q < x->n * SL_NCLASS * x->P; q++)
        x->input[q] = (float)((double)x->typical[q] / s);
    return 0;
}

/* The prediction stays perfect; one more annotation leaves the target per step. */
static int spoil_missing(play_ctx *x, int step, double s, sl_error *err)
{
    (void)s;
    copy_floats(x->input, x->perfect, x->n * SL_NCLASS * x->P);
    if (step == 0) {
        memcpy(x->target, x->truth, (size_t)(x->n * x->P) * sizeof(int32_t));
        sl_rng_seed(&x->rng, x->drop_seed);
        return 0;
    }
    return sl_drop_annotations(x->target, x->n, SL_NCLASS, x->P, 1, &x->rng, NULL, err) == SL_OK
               ? 0
               : -1;
}

/* Strength i of S runs from s0 by f = i / (S - 1): s0 + span * f, or f * side / per_side
 * (side = min(H, W)), or with `round` the whole pixels round(f * max(1, side / 8)). */
static const struct {
    const char *name;
    const char *strength; /* what the strength is */
    const char *label;    /* its short name in the table, the chart and the picture */
    const char *unit;     /* after the number in the table ("" for none) */
    const char *from;     /* what strength 0 is */
    spoil_fn spoil;
    double s0, span, per_side;
    int round;
} mistakes[NMISTAKE] = {
    {"shift", "k: diagonal shift in pixels", "k", " px", "perfect", spoil_shift, 0, 0, 0, 1},
    {"dilate", "k: pixels grown", "k", " px", "perfect", spoil_dilate, 0, 0, 0, 1},
    {"erode", "k: pixels shrunk", "k", " px", "perfect", spoil_erode, 0, 0, 0, 1},
    {"missed_object", "s: the circle's logits moved toward background (1: missed)", "s", "",
     "perfect", spoil_missed, 0, 1, 0, 0},
    {"false_positive", "r: radius in pixels of a disk predicted as class 1", "r", " px", "perfect",
     spoil_false_pos, 0, 0, 8, 0},
    {"blur", "sigma: Gaussian blur of the probabilities in pixels", "sigma", " px", "perfect",
     spoil_blur, 0, 0, 16, 0},
    {"noise", "std: Gaussian noise added to the logits", "std", "", "perfect", spoil_noise, 0, 4, 0,
     0},
    {"over_confidence", "t: typical prediction's log-probabilities times t", "t", "", "typical",
     spoil_over, 1, 3, 0, 0},
    {"under_confidence", "t: typical prediction's log-probabilities divided by t", "t", "",
     "typical", spoil_under, 1, 3, 0, 0},
    {"missing_annotation", "k: annotations dropped from the target", "k", "",
     "perfect (the target changes)", spoil_missing, 0, 0, 0, 0},
};

/* The target is the ground truth for every mistake but missing_annotation. */
static int spoil(play_ctx *x, int m, int step, double s, sl_error *err)
{
    if (m != M_MISSING) memcpy(x->target, x->truth, (size_t)(x->n * x->P) * sizeof(int32_t));
    return mistakes[m].spoil(x, step, s, err);
}

/* The strengths of mistake m into x->str[m], their count into x->nstr[m]; missing_annotation
 * has k = 0..min(steps - 1, objects present). */
static int strengths(play_ctx *x, int m)
{
    int S = x->steps;
    double *s = x->str[m], side = (double)min64(x->h, x->w);
    int64_t kmax = min64(x->h, x->w) / 8;
    if (kmax < 1) kmax = 1;
    if (m == M_MISSING) S = (int)min64(S - 1, x->present) + 1;
    for (int i = 0; i < S; i++) {
        double f = (double)i / (x->steps - 1);
        if (m == M_MISSING)
            s[i] = i;
        else if (mistakes[m].round)
            s[i] = floor(f * (double)kmax + 0.5);
        else if (mistakes[m].per_side > 0)
            s[i] = f * side / mistakes[m].per_side;
        else
            s[i] = mistakes[m].s0 + mistakes[m].span * f;
    }
    return x->nstr[m] = S;
}

/* "k=2 px", "s=0.25" ... */
static void strength_text(int m, double s, char *buf, size_t len)
{
    snprintf(buf, len, "%s=%.4g%s", mistakes[m].label, s, mistakes[m].unit);
}

/* The batch play evaluates: x->input (logits) against x->target. */
static sl_batch play_batch(const play_ctx *x)
{
    return cli_batch_2d(x->n, SL_NCLASS, x->h, x->w, x->input, SL_INPUT_LOGITS, x->target, NULL);
}

/* Evaluate spec l on (input, target) into *v; 0, or -1 with err filled. */
static int evaluate(const play_ctx *x, int l, double *v, sl_error *err)
{
    sl_batch b = play_batch(x);
    sl_output out = {0.0, NULL, NULL, x->ws, x->wsz, 0};
    if (sl_spec_eval(x->specs[l], &b, SL_IMPL_FAST, &out, err) != SL_OK) return -1;
    *v = out.loss;
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * The picture of the spoiled predictions.
 */
static const uint8_t ink[3] = {30, 30, 30}, white[3] = {255, 255, 255};

static int pred_picture_init(pred_picture *pp, const play_ctx *x, int max_cols)
{
    int64_t big = x->h > x->w ? x->h : x->w;
    pp->scale = big >= 128 ? 1 : (int)(128 / big);
    pp->cell_h = (int)x->h * pp->scale;
    pp->cell_w = (int)x->w * pp->scale;
    if (pp->cell_w < 60) pp->cell_w = 60;
    pp->left = plot_text_width("missing_annotation", 1) + 16;
    pp->top = 2 * PLOT_CHAR_H + 14;
    pp->row_h = PLOT_CHAR_H + 4 + pp->cell_h + 10;
    int width = pp->left + max_cols * (pp->cell_w + 8) + 8;
    const char *t1 = "segloss play: image 0's prediction for each mistake (rows) and strength";
    if (width < plot_text_width(t1, 1) + 16) width = plot_text_width(t1, 1) + 16;
    int height = pp->top + NMISTAKE * pp->row_h + 4;
    pp->cell = malloc((size_t)(x->h * x->w * 3));
    pp->probs = malloc((size_t)(SL_NCLASS * x->P) * sizeof(float));
    if (!pp->cell || !pp->probs || plot_img_init(&pp->img, width, height, white)) return -1;
    plot_text(&pp->img, 8, 6, t1, ink, 1);
    plot_text(&pp->img, 8, 6 + PLOT_CHAR_H + 2,
              "(softmax of the logits; the missing_annotation row shows the target)", ink, 1);
    return 0;
}

static void pred_picture_free(pred_picture *pp)
{
    plot_img_free(&pp->img);
    free(pp->cell);
    free(pp->probs);
}

static void pred_picture_cell(play_ctx *x, int m, int col, double s)
{
    pred_picture *pp = &x->pp;
    int y0 = pp->top + m * pp->row_h;
    if (col == 0)
        plot_text(&pp->img, 8, y0 + PLOT_CHAR_H + 4 + pp->cell_h / 2 - 4, mistakes[m].name, ink, 1);
    int cx = pp->left + col * (pp->cell_w + 8);
    char buf[64];
    strength_text(m, s, buf, sizeof buf);
    plot_text(&pp->img, cx + (pp->cell_w - plot_text_width(buf, 1)) / 2, y0, buf, ink, 1);
    if (m == M_MISSING) {
        sl_render_labels(x->target, 1, x->h, x->w, 0, pp->cell);
    } else {
        softmax_image(x->input, x->P, x->dprobs);
        for (int64_t q = 0; q < SL_NCLASS * x->P; q++)
            pp->probs[q] = (float)x->dprobs[q];
        sl_render_probs(pp->probs, 1, SL_NCLASS, x->h, x->w, 0, pp->cell);
    }
    int ix = cx + (pp->cell_w - (int)x->w * pp->scale) / 2;
    plot_blit(&pp->img, ix, y0 + PLOT_CHAR_H + 4, pp->cell, (int)x->w, (int)x->h, pp->scale);
}

/* The families of the chart's legend, each with its own shades; a spec is in the family of
 * its loss when it names one loss, in "sums" when it adds several. */
static const struct {
    const char *name;
    const char *losses; /* space-separated */
    uint8_t shade[5][3];
} families[] = {
    {"cross-entropy",
     "ce focal",
     {{31, 119, 180}, {8, 48, 107}, {107, 174, 214}, {66, 146, 198}, {8, 81, 156}}},
    {"sigmoid",
     "bce sigmoid_focal",
     {{255, 127, 14}, {166, 84, 3}, {253, 174, 107}, {230, 85, 13}, {127, 39, 4}}},
    {"overlap",
     "dice tversky focal_tversky generalized_dice log_cosh_dice",
     {{44, 160, 44}, {0, 90, 50}, {116, 196, 118}, {35, 139, 69}, {161, 217, 155}}},
    {"ranking",
     "lovasz lovasz_hinge",
     {{117, 107, 177}, {63, 0, 125}, {158, 154, 200}, {84, 39, 143}, {188, 189, 220}}},
    {"distance",
     "boundary hausdorff_dt log_hausdorff_dt",
     {{214, 39, 40}, {103, 0, 13}, {251, 106, 74}, {165, 15, 21}, {252, 146, 114}}},
    {"partial labels",
     "missing_ce marginal_ce marginal_dice exclusion",
     {{0, 0, 0}, {227, 26, 178}, {115, 115, 115}, {140, 86, 75}, {174, 1, 126}}},
    {"other", "", {{23, 190, 207}, {188, 189, 34}, {99, 99, 99}, {0, 128, 128}, {128, 128, 0}}},
};
#define NFAMILY ((int)(sizeof families / sizeof families[0]))

/* The family of a spec: a single term `[k *] name [(...)]` is its loss's; sums are "other". */
static int spec_family(const char *spec)
{
    const char *p = spec;
    while (*p == ' ')
        p++;
    const char *star = strchr(p, '*');
    const char *paren = strchr(p, '(');
    if (star && (!paren || star < paren)) p = star + 1;
    while (*p == ' ')
        p++;
    size_t n = 0;
    while (p[n] == '_' || (p[n] >= 'a' && p[n] <= 'z') || (p[n] >= '0' && p[n] <= '9'))
        n++;
    /* Anything after the name and its parentheses but spaces makes it a sum. */
    const char *rest = p + n;
    if (*rest == '(') {
        int depth = 0;
        for (; *rest; rest++) {
            if (*rest == '(') depth++;
            if (*rest == ')' && --depth == 0) {
                rest++;
                break;
            }
        }
    }
    while (*rest == ' ')
        rest++;
    if (n == 0 || *rest) return NFAMILY - 1;
    for (int f = 0; f < NFAMILY - 1; f++) {
        const char *q = families[f].losses;
        while (*q) {
            size_t m = strcspn(q, " ");
            if (m == n && strncmp(q, p, n) == 0) return f;
            q += m;
            while (*q == ' ')
                q++;
        }
    }
    return NFAMILY - 1;
}

/* How the chart draws each loss: its family, marker, dash pattern and colour, and the largest
 * |value| it is divided by; norm holds one panel's divided values at a time. */
typedef struct {
    int fam[MAX_LOSSES], dash[MAX_LOSSES], marker[MAX_LOSSES], nfam_used;
    uint8_t colours[3 * MAX_LOSSES];
    double scale[MAX_LOSSES];
    double norm[MAX_LOSSES * MAX_STEPS];
    const double *ys[MAX_LOSSES];
} chart_style;

static void chart_styles(const play_ctx *x, chart_style *cs)
{
    int count[NFAMILY] = {0};
    cs->nfam_used = 0;
    for (int l = 0; l < x->nloss; l++) {
        cs->fam[l] = spec_family(x->names[l]);
        if (count[cs->fam[l]]++ == 0) cs->nfam_used++;
        /* 15 distinct (marker, dash) pairs in turn: curves that coincide, such as ce and
         * missing_ce wherever no annotation is missing, still show both. */
        cs->marker[l] = l % PLOT_NMARKER;
        cs->dash[l] = (l / PLOT_NMARKER) % PLOT_NDASH;
        double mx = 0;
        for (int m = 0; m < NMISTAKE; m++)
            for (int i = 0; i < x->nstr[m]; i++) {
                double v = x->values[m][l * MAX_STEPS + i];
                if (isfinite(v) && fabs(v) > mx) mx = fabs(v);
            }
        cs->scale[l] = mx > 0 ? mx : 1.0;
        int k = 0;
        for (int j = 0; j < l; j++)
            k += cs->fam[j] == cs->fam[l];
        memcpy(cs->colours + 3 * l, families[cs->fam[l]].shade[k % 5], 3);
        cs->ys[l] = cs->norm + (size_t)l * MAX_STEPS;
    }
}

/* The panel of mistake m at (px, py): each loss divided by its scale, the y axis fitting them. */
static void chart_panel(plot_img *img, const play_ctx *x, chart_style *cs, int m, int px, int py,
                        int pw, int ph)
{
    double lo = INFINITY, hi = -INFINITY;
    for (int l = 0; l < x->nloss; l++)
        for (int i = 0; i < x->nstr[m]; i++) {
            double v = x->values[m][l * MAX_STEPS + i] / cs->scale[l];
            cs->norm[l * MAX_STEPS + i] = v;
            if (isfinite(v)) {
                if (v < lo) lo = v;
                if (v > hi) hi = v;
            }
        }
    if (!(lo <= hi)) lo = 0, hi = 1;
    char buf[256];
    snprintf(buf, sizeof buf, "%s (%s)", mistakes[m].name, mistakes[m].label);
    plot_chart c;
    memset(&c, 0, sizeof c);
    c.title = buf;
    c.x = x->str[m];
    c.npts = x->nstr[m];
    c.y = cs->ys;
    c.nseries = x->nloss;
    c.colour = cs->colours;
    c.dash = cs->dash;
    c.marker = cs->marker;
    plot_nice_range(lo, hi, &c.ymin, &c.ymax, &c.nyticks);
    plot_chart_draw(img, px, py, pw, ph, &c);
}

/* The legend at (lx, yy): by family, in the order of their first loss. */
static void chart_legend(plot_img *img, const play_ctx *x, const chart_style *cs, int lx, int yy)
{
    plot_text(img, lx, yy, "losses", ink, 1);
    yy += 18;
    int done[NFAMILY] = {0};
    for (int l0 = 0; l0 < x->nloss; l0++) {
        int f = cs->fam[l0];
        if (done[f]) continue;
        done[f] = 1;
        plot_text(img, lx, yy + 4, families[f].name, ink, 1);
        yy += 18;
        for (int l = l0; l < x->nloss; l++) {
            if (cs->fam[l] != f) continue;
            double phase = 0.0;
            const uint8_t *col = cs->colours + 3 * l;
            plot_line_dashed(img, lx + 4, yy + 3, lx + 30, yy + 3, 2, cs->dash[l], &phase, col);
            plot_marker(img, lx + 17, yy + 3, 3, cs->marker[l], col);
            char buf[64];
            snprintf(buf, sizeof buf, "%s", x->names[l]);
            if (strlen(buf) > 40) memcpy(buf + 37, "...", 4);
            plot_text(img, lx + 38, yy, buf, col, 1);
            yy += 14;
        }
    }
}

/* The chart: one panel per mistake, each loss divided by its largest |value| over all
 * mistakes; a panel's y axis fits its own values. Losses are grouped by family in the legend,
 * one hue per family, shades within it, and each has its own pair of marker and dash pattern. */
static int draw_chart(play_ctx *x)
{
    const int pw = 300, ph = 240, cols = 5, rows = (NMISTAKE + cols - 1) / cols, title_h = 36;
    int maxname = 0;
    for (int l = 0; l < x->nloss; l++) {
        int len = (int)strlen(x->names[l]);
        if (len > maxname) maxname = len;
    }
    if (maxname > 40) maxname = 40;
    int legend_w = 52 + maxname * PLOT_CHAR_W;
    if (legend_w < 130) legend_w = 130;
    chart_style *cs = malloc(sizeof *cs);
    if (!cs) return -1;
    chart_styles(x, cs);
    int legend_h = 24 + 14 * x->nloss + 18 * cs->nfam_used;
    int width = cols * pw + legend_w + 10;
    int height = title_h + (rows * ph > legend_h ? rows * ph : legend_h) + 6;
    plot_img *img = &x->chart;
    if (plot_img_init(img, width, height, white)) {
        free(cs);
        return -1;
    }
    char buf[256];
    snprintf(buf, sizeof buf,
             "segloss play: each loss divided by its largest |value| over all mistakes, "
             "against mistake strength; each panel's y axis fits its values");
    plot_text(img, 8, 6, buf, ink, 1);
    snprintf(buf, sizeof buf,
             "%lld images of %lldx%lld, seed %lld; strength 0 is the perfect prediction "
             "(over/under_confidence: a typical one)",
             (long long)x->n, (long long)x->h, (long long)x->w, (long long)x->seed);
    plot_text(img, 8, 6 + PLOT_CHAR_H + 4, buf, ink, 1);
    for (int m = 0; m < NMISTAKE; m++)
        chart_panel(img, x, cs, m, (m % cols) * pw, title_h + (m / cols) * ph, pw, ph);
    chart_legend(img, x, cs, cols * pw + 6, title_h + 4);
    free(cs);
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * parse -> data -> run -> write.
 */
/* The losses (every registered one by default), each parsed and its options checked for the
 * post's 4 classes before anything is computed. */
static int play_losses(play_ctx *x, const char *losses_s)
{
    int rc;
    if (losses_s && (rc = cli_split_specs("play", "losses", losses_s, &x->lbuf, x->names,
                                          MAX_LOSSES, &x->nloss)) != CLI_OK)
        return rc;
    for (int i = 0; !losses_s && i < sl_loss_count() && x->nloss < MAX_LOSSES; i++)
        x->names[x->nloss++] = sl_loss_name(sl_loss_at(i));
    sl_error err;
    for (int l = 0; l < x->nloss; l++) {
        if (sl_spec_parse(x->names[l], &x->specs[l], &err) != SL_OK) {
            x->specs[l] = NULL;
            return cli_fail("play", CLI_USAGE, "--losses: %s", err.msg);
        }
        for (int t = 0; t < sl_spec_nterms(x->specs[l]); t++) {
            double k;
            const sl_loss_info *li;
            const sl_options *o;
            sl_spec_term(x->specs[l], t, &k, &li, &o);
            if (sl_options_check(li, o, SL_NCLASS, &err) != SL_OK)
                return cli_fail("play", CLI_USAGE, "--losses: %s", err.msg);
        }
    }
    return CLI_OK;
}

static int play_parse(int argc, char **argv, play_ctx *x)
{
    const char *losses_s = NULL, *n_s = NULL, *size_s = NULL, *seed_s = NULL, *steps_s = NULL,
               *out_s = NULL;
    cli_opt opts[] = {
        {"losses", 1, &losses_s, NULL}, {"n", 1, &n_s, NULL},         {"size", 1, &size_s, NULL},
        {"seed", 1, &seed_s, NULL},     {"steps", 1, &steps_s, NULL}, {"out", 1, &out_s, NULL},
        {"json", 0, NULL, &x->json},
    };
    const char *pos[1];
    int npos;
    int rc = cli_parse("play", play_usage, argc, argv, opts, 7, pos, 0, &npos);
    if (rc != CLI_OK) return rc;
    int64_t steps = 6;
    x->n = 4, x->h = 64, x->w = 64, x->seed = 0;
    if ((rc = cli_post_images("play", n_s, 64, size_s, 512, 22, &x->n, &x->h, &x->w))) return rc;
    if (seed_s && (rc = cli_int("play", "seed", seed_s, 0, UINT32_MAX, &x->seed)) != CLI_OK)
        return rc;
    if (steps_s && (rc = cli_int("play", "steps", steps_s, 2, MAX_STEPS, &steps)) != CLI_OK)
        return rc;
    x->steps = (int)steps;
    x->P = x->h * x->w;
    x->dir = out_s ? out_s : "out/play";
    if (!*x->dir) return cli_fail("play", CLI_USAGE, "--out: empty directory name");
    return play_losses(x, losses_s);
}

static int play_alloc(play_ctx *x)
{
    int64_t P = x->P, NP = x->n * P, NCP = x->n * SL_NCLASS * P, dim[2] = {x->h, x->w};
    x->truth = malloc((size_t)NP * sizeof(int32_t));
    x->pred = malloc((size_t)NP * sizeof(int32_t));
    x->target = malloc((size_t)NP * sizeof(int32_t));
    x->perfect = malloc((size_t)NCP * sizeof(float));
    x->typical = malloc((size_t)NCP * sizeof(float));
    x->noise = malloc((size_t)NCP * sizeof(float));
    x->input = malloc((size_t)NCP * sizeof(float));
    x->dist = malloc((size_t)(3 * NP) * sizeof(double));
    x->mask = malloc((size_t)P);
    x->edt_wsz = sl_edt_workspace_size(2, dim);
    x->edt_ws = malloc(x->edt_wsz);
    x->disk = malloc((size_t)P);
    x->dprobs = malloc((size_t)(SL_NCLASS * P) * sizeof(double));
    x->scratch = malloc(sl__blur_scratch(x->h, x->w) * sizeof(double));
    int ok = x->truth && x->pred && x->target && x->perfect && x->typical && x->noise && x->input &&
             x->dist && x->mask && x->edt_ws && x->disk && x->dprobs && x->scratch;
    for (int m = 0; m < NMISTAKE; m++) {
        x->values[m] = malloc((size_t)x->nloss * MAX_STEPS * sizeof(double));
        ok = ok && x->values[m];
    }
    return ok ? CLI_OK : cli_fail("play", CLI_RUNTIME, "out of memory");
}

static void play_free(play_ctx *x)
{
    for (int l = 0; l < x->nloss; l++)
        sl_spec_free(x->specs[l]);
    void *bufs[] = {x->lbuf,    x->truth, x->pred,   x->target,  x->perfect,
                    x->typical, x->noise, x->input,  x->dist,    x->mask,
                    x->edt_ws,  x->disk,  x->dprobs, x->scratch, x->ws};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        free(bufs[i]);
    for (int m = 0; m < NMISTAKE; m++)
        free(x->values[m]);
    pred_picture_free(&x->pp);
    plot_img_free(&x->chart);
}

/* The ground truth (perfect logits), a typical prediction (log-probabilities), the noise field,
 * the seed of the annotations dropped and the objects present, all from one seeded rng. masks
 * (n * SL_NOBJ * P bytes), probs ([n, C, P]) and pws (pwsz bytes) are scratch. */
static int play_draw_data(play_ctx *x, uint8_t *masks, float *probs, void *pws, size_t pwsz)
{
    int64_t n = x->n, P = x->P, NCP = n * SL_NCLASS * P;
    sl_error err;
    sl_rng rng;
    sl_rng_seed(&rng, (uint32_t)x->seed);
    if (sl_masks_generate(masks, n, x->h, x->w, NULL, &rng, &err) != SL_OK)
        return cli_fail("play", CLI_RUNTIME, "%s", err.msg);
    sl_masks_to_labels(masks, n, SL_NOBJ, P, x->truth);
    labels_to_logits(x->truth, n, P, x->perfect);
    sl_simulate_options po;
    sl_simulate_options_default(&po);
    if (sl_simulate_predictions(x->truth, n, SL_NCLASS, x->h, x->w, &po, &rng, probs, pws, pwsz,
                                &err) != SL_OK)
        return cli_fail("play", CLI_RUNTIME, "%s", err.msg);
    for (int64_t q = 0; q < NCP; q++) {
        double p = probs[q];
        x->typical[q] = (float)(p > 1e-30 ? log(p) : log(1e-30));
    }
    for (int64_t q = 0; q < NCP; q++)
        x->noise[q] = (float)sl_rng_normal(&rng);
    x->drop_seed = sl_rng_u32(&rng);
    uint8_t *ann = masks; /* reused: n * C <= n * SL_NOBJ * P bytes */
    sl_annotated_from_labels(x->truth, n, SL_NCLASS, P, ann);
    x->present = 0;
    for (int64_t i = 0; i < n; i++)
        for (int c = 1; c < SL_NCLASS; c++)
            x->present += ann[i * SL_NCLASS + c] != 0;
    return CLI_OK;
}

/* The data, and one workspace for every spec. */
static int play_data(play_ctx *x)
{
    size_t pwsz = sl_simulate_workspace_size(SL_NCLASS, x->h, x->w);
    uint8_t *masks = malloc((size_t)(x->n * SL_NOBJ * x->P));
    float *probs = malloc((size_t)(x->n * SL_NCLASS * x->P) * sizeof(float));
    void *pws = malloc(pwsz ? pwsz : 1);
    int rc = masks && probs && pws ? play_draw_data(x, masks, probs, pws, pwsz)
                                   : cli_fail("play", CLI_RUNTIME, "out of memory");
    free(masks);
    free(probs);
    free(pws);
    if (rc != CLI_OK) return rc;
    sl_batch b = play_batch(x);
    x->wsz = 1;
    for (int l = 0; l < x->nloss; l++) {
        size_t s = sl_spec_workspace_size(x->specs[l], &b);
        if (s > x->wsz) x->wsz = s;
    }
    x->ws = malloc(x->wsz);
    return x->ws ? CLI_OK : cli_fail("play", CLI_RUNTIME, "out of memory");
}

/* Every strength of mistake m, every loss on each, and the picture's row. */
static int run_mistake(play_ctx *x, int m)
{
    sl_error err;
    if (m == M_DILATE || m == M_ERODE) prepare_distances(x, m == M_ERODE);
    for (int i = 0; i < x->nstr[m]; i++) {
        double s = x->str[m][i];
        if (spoil(x, m, i, s, &err))
            return cli_fail("play", CLI_RUNTIME, "%s (mistake %s)", err.msg, mistakes[m].name);
        for (int l = 0; l < x->nloss; l++)
            if (evaluate(x, l, &x->values[m][l * MAX_STEPS + i], &err)) {
                char sb[64];
                strength_text(m, s, sb, sizeof sb);
                return cli_fail("play", CLI_RUNTIME, "%s (loss '%s', mistake %s at %s)", err.msg,
                                x->names[l], mistakes[m].name, sb);
            }
        pred_picture_cell(x, m, i, s);
    }
    return CLI_OK;
}

/* The perfect and the typical prediction against the ground truth, then every mistake. */
static int play_run(play_ctx *x)
{
    sl_error err;
    int64_t NCP = x->n * SL_NCLASS * x->P;
    memcpy(x->target, x->truth, (size_t)(x->n * x->P) * sizeof(int32_t));
    for (int which = 0; which < 2; which++) {
        copy_floats(x->input, which ? x->typical : x->perfect, NCP);
        for (int l = 0; l < x->nloss; l++)
            if (evaluate(x, l, &x->base[which][l], &err))
                return cli_fail("play", CLI_RUNTIME, "%s (loss '%s' on the %s prediction)", err.msg,
                                x->names[l], which ? "typical" : "perfect");
    }
    int maxcols = 0, rc;
    for (int m = 0; m < NMISTAKE; m++)
        if (strengths(x, m) > maxcols) maxcols = x->nstr[m];
    if (pred_picture_init(&x->pp, x, maxcols))
        return cli_fail("play", CLI_RUNTIME, "out of memory");
    for (int m = 0; m < NMISTAKE; m++)
        if ((rc = run_mistake(x, m)) != CLI_OK) return rc;
    return CLI_OK;
}

/* The pictures: both or neither. */
static int play_write_pictures(play_ctx *x)
{
    static const char *const names[2] = {"play_chart.png", "play_predictions.png"};
    char paths[2][CLI_PATH_MAX];
    if (draw_chart(x)) return cli_fail("play", CLI_RUNTIME, "out of memory");
    cli_outs outs;
    cli_outs_init(&outs, "play");
    int rc = cli_outs_in_dir(&outs, x->dir, names, 2, paths);
    if (rc == CLI_OK) rc = cli_outs_png(&outs, paths[0], x->chart.rgb, x->chart.h, x->chart.w);
    if (rc == CLI_OK) rc = cli_outs_png(&outs, paths[1], x->pp.img.rgb, x->pp.img.h, x->pp.img.w);
    if (rc == CLI_OK) rc = cli_outs_commit(&outs);
    cli_outs_end(&outs);
    memcpy(x->chart_path, paths[0], sizeof paths[0]);
    memcpy(x->pred_path, paths[1], sizeof paths[1]);
    return rc;
}

/* {"name": [v, ...], ...} or, with nvals 0, {"name": v, ...} of one value per loss. */
static void json_per_loss(const play_ctx *x, const double *v, int stride, int nvals)
{
    printf("{");
    for (int l = 0; l < x->nloss; l++) {
        printf(l ? ", " : "");
        cli_json_string(x->names[l]);
        printf(": ");
        if (nvals)
            cli_json_list(v + l * stride, nvals);
        else
            cli_json_number(v[l * stride], 1);
    }
    printf("}");
}

static void play_json(const play_ctx *x)
{
    printf("{\"losses\": [");
    for (int l = 0; l < x->nloss; l++) {
        printf(l ? ", " : "");
        cli_json_string(x->names[l]);
    }
    printf("], \"n\": %lld, \"size\": [%lld, %lld], \"seed\": %lld, \"steps\": %d, "
           "\"logit_scale\": %g, \"objects_present\": %lld",
           (long long)x->n, (long long)x->h, (long long)x->w, (long long)x->seed, x->steps,
           LOGIT_SCALE, (long long)x->present);
    for (int which = 0; which < 2; which++) {
        printf(", \"%s\": ", which ? "typical" : "perfect");
        json_per_loss(x, x->base[which], 1, 0);
    }
    printf(", \"mistakes\": [");
    for (int m = 0; m < NMISTAKE; m++) {
        printf("%s{\"name\": \"%s\", \"strength\": ", m ? ", " : "", mistakes[m].name);
        cli_json_string(mistakes[m].strength);
        printf(", \"from\": ");
        cli_json_string(mistakes[m].from);
        printf(", \"strengths\": ");
        cli_json_list(x->str[m], x->nstr[m]);
        printf(", \"values\": ");
        json_per_loss(x, x->values[m], MAX_STEPS, x->nstr[m]);
        printf("}");
    }
    printf("], \"pictures\": [");
    cli_json_string(x->chart_path);
    printf(", ");
    cli_json_string(x->pred_path);
    printf("]}\n");
}

static void play_table(const play_ctx *x)
{
    printf("Playing with loss functions: %lld images of %lldx%lld, seed %lld.\n"
           "Strength 0 is the perfect prediction (logits %g * (one-hot - 0.5)); the\n"
           "confidence mistakes start from a typical prediction instead.\n\n",
           (long long)x->n, (long long)x->h, (long long)x->w, (long long)x->seed, LOGIT_SCALE);
    int colw[MAX_LOSSES];
    printf("%-20s %-14s", "mistake", "strength");
    for (int l = 0; l < x->nloss; l++) {
        int len = (int)strlen(x->names[l]);
        colw[l] = len > 11 ? len : 11;
        printf(" %*s", colw[l], x->names[l]);
    }
    printf("\n");
    for (int m = 0; m < NMISTAKE; m++)
        for (int i = 0; i < x->nstr[m]; i++) {
            char sb[64];
            strength_text(m, x->str[m][i], sb, sizeof sb);
            printf("%-20s %-14s", i ? "" : mistakes[m].name, sb);
            for (int l = 0; l < x->nloss; l++)
                printf(" %*.6g", colw[l], x->values[m][l * MAX_STEPS + i]);
            printf("\n");
        }
    printf("\nPictures: %s, %s\n", x->chart_path, x->pred_path);
}

int cmd_play(int argc, char **argv)
{
    play_ctx *x = calloc(1, sizeof *x);
    if (!x) return cli_fail("play", CLI_RUNTIME, "out of memory");
    int rc = play_parse(argc, argv, x);
    if (rc == CLI_OK) rc = play_alloc(x);
    if (rc == CLI_OK) rc = play_data(x);
    if (rc == CLI_OK) rc = play_run(x);
    if (rc == CLI_OK) rc = play_write_pictures(x);
    if (rc == CLI_OK) x->json ? play_json(x) : play_table(x);
    play_free(x);
    free(x);
    return rc;
}
