/* segloss play: which loss notices which mistake. A perfect prediction of the post's ground
 * truth is spoiled by controlled mistakes at increasing strength, and every selected loss is
 * evaluated on each: a table (or JSON), a chart of loss against strength, and a picture of the
 * spoiled predictions. */
#include "cli.h"
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

static const struct {
    const char *name;
    const char *strength; /* what the strength is */
    const char *label;    /* its short name in the table, the chart and the picture */
    const char *unit;     /* after the number in the table ("" for none) */
    const char *from;     /* what strength 0 is */
} mistakes[NMISTAKE] = {
    {"shift", "k: diagonal shift in pixels", "k", " px", "perfect"},
    {"dilate", "k: pixels grown", "k", " px", "perfect"},
    {"erode", "k: pixels shrunk", "k", " px", "perfect"},
    {"missed_object", "s: the circle's logits moved toward background (1: missed)", "s", "",
     "perfect"},
    {"false_positive", "r: radius in pixels of a disk predicted as class 1", "r", " px",
     "perfect"},
    {"blur", "sigma: Gaussian blur of the probabilities in pixels", "sigma", " px", "perfect"},
    {"noise", "std: Gaussian noise added to the logits", "std", "", "perfect"},
    {"over_confidence", "t: typical prediction's log-probabilities times t", "t", "",
     "typical"},
    {"under_confidence", "t: typical prediction's log-probabilities divided by t", "t", "",
     "typical"},
    {"missing_annotation", "k: annotations dropped from the target", "k", "",
     "perfect (the target changes)"},
};

/* Everything play computes with; all of it allocated in cmd_play. */
typedef struct {
    int64_t n, h, w, P;
    int steps;
    int32_t *truth;    /* [n, P] ground truth */
    float *perfect;    /* [n, C, P] perfect logits */
    float *typical;    /* [n, C, P] log-probabilities of a typical prediction */
    float *noise;      /* [n, C, P] standard normal */
    float *input;      /* [n, C, P] the spoiled prediction */
    int32_t *pred;     /* [n, P] a spoiled label map */
    int32_t *target;   /* [n, P] the target (missing_annotation changes it) */
    double *dist;      /* [3, n, P] distances (dilate, erode) */
    uint8_t *mask;     /* [P] the mask a distance is taken from */
    void *edt_ws;      /* sl_edt's workspace for one image */
    size_t edt_wsz;
    double *line;      /* scratch for the blur: a row or column, and the kernel */
    uint8_t *disk;     /* [h, w] */
    double *plane;     /* [P] a probability plane while blurring */
    sl_rng rng;        /* for the annotations dropped */
    uint32_t drop_seed; /* rng's seed at missing_annotation's first step */
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
            for (int64_t p = 0; p < P; p++) out[p] = lab[p] == c ? hi : lo;
        }
}

/* dist[p] = Euclidean distance from pixel p of an h x w image to the nearest pixel where
 * (lab == c) == want_equal; INFINITY when there is none. */
static void edt_2d(play_ctx *x, const int32_t *lab, int32_t c, int want_equal, double *dist)
{
    int64_t dim[2] = {x->h, x->w};
    for (int64_t p = 0; p < x->P; p++) x->mask[p] = (lab[p] == c) != want_equal;
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

static void softmax_pixelwise(const float *logits, int64_t P, double *probs /* [C, P] */)
{
    for (int64_t p = 0; p < P; p++) {
        double m = logits[p];
        for (int c = 1; c < SL_NCLASS; c++)
            if (logits[c * P + p] > m) m = logits[c * P + p];
        double s = 0;
        for (int c = 0; c < SL_NCLASS; c++) {
            double e = exp(logits[c * P + p] - m);
            probs[c * P + p] = e;
            s += e;
        }
        for (int c = 0; c < SL_NCLASS; c++) probs[c * P + p] /= s;
    }
}

/* A Gaussian blur of one h x w plane (in place), edges repeated (scipy's mode 'nearest'),
 * the kernel truncated at 4 sigma. */
static void blur_plane(play_ctx *x, double *plane, double sigma)
{
    int64_t h = x->h, w = x->w, m = h > w ? h : w;
    int64_t rad = (int64_t)ceil(4.0 * sigma);
    if (rad > 4 * m) rad = 4 * m;
    double *tmp = x->line, *kern = x->line + (m + 1); /* see the allocation */
    double ks = 0;
    for (int64_t j = 0; j <= rad; j++) {
        kern[j] = exp(-0.5 * (double)(j * j) / (sigma * sigma));
        ks += j ? 2 * kern[j] : kern[j];
    }
    for (int64_t j = 0; j <= rad; j++) kern[j] /= ks;
    for (int64_t r = 0; r < h; r++) {
        double *row = plane + r * w;
        for (int64_t col = 0; col < w; col++) {
            double s = 0;
            for (int64_t j = -rad; j <= rad; j++) {
                int64_t cc = col + j;
                cc = cc < 0 ? 0 : cc >= w ? w - 1 : cc;
                s += kern[j < 0 ? -j : j] * row[cc];
            }
            tmp[col] = s;
        }
        memcpy(row, tmp, (size_t)w * sizeof(double));
    }
    for (int64_t col = 0; col < w; col++) {
        for (int64_t r = 0; r < h; r++) {
            double s = 0;
            for (int64_t j = -rad; j <= rad; j++) {
                int64_t rr = r + j;
                rr = rr < 0 ? 0 : rr >= h ? h - 1 : rr;
                s += kern[j < 0 ? -j : j] * plane[rr * w + col];
            }
            tmp[r] = s;
        }
        for (int64_t r = 0; r < h; r++) plane[r * w + col] = tmp[r];
    }
}

/* The strengths of a mistake; returns how many. */
static int strengths(const play_ctx *x, int m, int64_t present, double *s)
{
    int S = x->steps;
    double side = (double)min64(x->h, x->w);
    int64_t kmax = min64(x->h, x->w) / 8;
    if (kmax < 1) kmax = 1;
    if (m == M_MISSING) {
        int cnt = (int)min64(S - 1, present) + 1;
        for (int i = 0; i < cnt; i++) s[i] = i;
        return cnt;
    }
    for (int i = 0; i < S; i++) {
        double f = (double)i / (S - 1);
        switch (m) {
        case M_SHIFT:
        case M_DILATE:
        case M_ERODE: s[i] = floor(f * (double)kmax + 0.5); break;
        case M_MISSED: s[i] = f; break;
        case M_FALSE_POS: s[i] = f * side / 8.0; break;
        case M_BLUR: s[i] = f * side / 16.0; break;
        case M_NOISE: s[i] = 4.0 * f; break;
        default: s[i] = 1.0 + 3.0 * f; break; /* over, under */
        }
    }
    return S;
}

/* Build x->input (and x->target) for mistake m at strength s; step is the strength's index.
 * Returns 0, or -1 with err filled. */
static int spoil(play_ctx *x, int m, int step, double s, sl_error *err)
{
    int64_t n = x->n, h = x->h, w = x->w, P = x->P, NP = n * P, NCP = n * SL_NCLASS * P;
    if (m != M_MISSING) memcpy(x->target, x->truth, (size_t)NP * sizeof(int32_t));
    switch (m) {
    case M_SHIFT: {
        int64_t k = (int64_t)s;
        for (int64_t i = 0; i < n; i++)
            for (int64_t r = 0; r < h; r++)
                for (int64_t c = 0; c < w; c++) {
                    int64_t r0 = r - k, c0 = c - k;
                    x->pred[i * P + r * w + c] =
                        (r0 >= 0 && c0 >= 0) ? x->truth[i * P + r0 * w + c0] : 0;
                }
        labels_to_logits(x->pred, n, P, x->input);
        break;
    }
    case M_DILATE: {
        for (int64_t q = 0; q < NP; q++) {
            int32_t lab = x->truth[q];
            if (lab == 0) {
                double best = INFINITY;
                for (int32_t c = 1; c < SL_NCLASS; c++) {
                    double d = x->dist[(c - 1) * NP + q];
                    if (d < best) {
                        best = d;
                        if (d <= s) lab = c;
                    }
                }
            }
            x->pred[q] = lab;
        }
        labels_to_logits(x->pred, n, P, x->input);
        break;
    }
    case M_ERODE: {
        for (int64_t q = 0; q < NP; q++) {
            int32_t lab = x->truth[q];
            if (lab > 0 && lab < SL_NCLASS && x->dist[(lab - 1) * NP + q] <= s) lab = 0;
            x->pred[q] = lab;
        }
        labels_to_logits(x->pred, n, P, x->input);
        break;
    }
    case M_MISSED: {
        const float hi = (float)(0.5 * LOGIT_SCALE), lo = (float)(-0.5 * LOGIT_SCALE);
        memcpy(x->input, x->perfect, (size_t)NCP * sizeof(float));
        for (int64_t i = 0; i < n; i++)
            for (int64_t p = 0; p < P; p++) {
                if (x->truth[i * P + p] != SL_NCLASS - 1) continue;
                float *l = x->input + i * SL_NCLASS * P + p;
                /* perfect logits of the circle blended with those of background */
                l[0] = (float)((1 - s) * lo + s * hi);
                l[(SL_NCLASS - 1) * P] = (float)((1 - s) * hi + s * lo);
            }
        break;
    }
    case M_FALSE_POS: {
        memcpy(x->pred, x->truth, (size_t)NP * sizeof(int32_t));
        if (s > 0) {
            memset(x->disk, 0, (size_t)P);
            if (sl_draw_disk(x->disk, h, w, 0.75 * (double)h, 0.25 * (double)w, s, err) != SL_OK)
                return -1;
            for (int64_t i = 0; i < n; i++)
                for (int64_t p = 0; p < P; p++)
                    if (x->disk[p] && x->truth[i * P + p] == 0) x->pred[i * P + p] = 1;
        }
        labels_to_logits(x->pred, n, P, x->input);
        break;
    }
    case M_BLUR: {
        if (s <= 0) {
            memcpy(x->input, x->perfect, (size_t)NCP * sizeof(float));
            break;
        }
        for (int64_t i = 0; i < n; i++) {
            const float *lg = x->perfect + i * SL_NCLASS * P;
            /* the probabilities of image i, one plane at a time through x->plane */
            for (int c = 0; c < SL_NCLASS; c++) {
                for (int64_t p = 0; p < P; p++) {
                    double mx = lg[p];
                    for (int cc = 1; cc < SL_NCLASS; cc++)
                        if (lg[cc * P + p] > mx) mx = lg[cc * P + p];
                    double sum = 0;
                    for (int cc = 0; cc < SL_NCLASS; cc++) sum += exp(lg[cc * P + p] - mx);
                    x->plane[p] = exp(lg[c * P + p] - mx) / sum;
                }
                blur_plane(x, x->plane, s);
                float *out = x->input + (i * SL_NCLASS + c) * P;
                for (int64_t p = 0; p < P; p++)
                    out[p] = (float)log(x->plane[p] > 1e-30 ? x->plane[p] : 1e-30);
            }
        }
        break;
    }
    case M_NOISE:
        for (int64_t q = 0; q < NCP; q++)
            x->input[q] = (float)((double)x->perfect[q] + s * (double)x->noise[q]);
        break;
    case M_OVER:
    case M_UNDER:
        for (int64_t q = 0; q < NCP; q++)
            x->input[q] = (float)(m == M_OVER ? (double)x->typical[q] * s
                                              : (double)x->typical[q] / s);
        break;
    case M_MISSING:
        memcpy(x->input, x->perfect, (size_t)NCP * sizeof(float));
        if (step == 0) {
            memcpy(x->target, x->truth, (size_t)NP * sizeof(int32_t));
            sl_rng_seed(&x->rng, x->drop_seed);
        } else if (sl_drop_annotations(x->target, n, SL_NCLASS, P, 1, &x->rng, NULL, err) !=
                   SL_OK) {
            return -1;
        }
        break;
    }
    return 0;
}

/* Evaluate a spec on (input, target); returns 0 or -1 with err filled. */
static int evaluate(const sl_spec *spec, const play_ctx *x, void *ws, size_t wsz, double *v,
                    sl_error *err)
{
    sl_batch b;
    memset(&b, 0, sizeof b);
    b.shape.ndim = 4;
    b.shape.dim[0] = x->n;
    b.shape.dim[1] = SL_NCLASS;
    b.shape.dim[2] = x->h;
    b.shape.dim[3] = x->w;
    b.input = x->input;
    b.input_kind = SL_INPUT_LOGITS;
    b.target_kind = SL_TARGET_LABELS;
    b.labels = x->target;
    sl_output out = {0.0, NULL, NULL, ws, wsz, 0};
    if (sl_spec_eval(spec, &b, SL_IMPL_FAST, &out, err) != SL_OK) return -1;
    *v = out.loss;
    return 0;
}

/* "k=2 px", "s=0.25" ... */
static void strength_text(int m, double s, char *buf, size_t len)
{
    snprintf(buf, len, "%s=%.4g%s", mistakes[m].label, s, mistakes[m].unit);
}

/* The picture of the spoiled predictions: rows mistakes, columns strengths, image 0. */
typedef struct {
    plot_img img;
    int left, top, cell_w, cell_h, row_h, scale;
    uint8_t *cell; /* h * w * 3 */
    float *probs;  /* [C, h, w] */
    double *dprobs;
} pred_picture;

static const uint8_t ink[3] = {30, 30, 30}, white[3] = {255, 255, 255};

static int pred_picture_init(pred_picture *pp, const play_ctx *x, int max_cols)
{
    memset(pp, 0, sizeof *pp);
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
    pp->dprobs = malloc((size_t)(SL_NCLASS * x->P) * sizeof(double));
    if (!pp->cell || !pp->probs || !pp->dprobs || plot_img_init(&pp->img, width, height, white))
        return -1;
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
    free(pp->dprobs);
}

static void pred_picture_cell(pred_picture *pp, const play_ctx *x, int m, int col, double s)
{
    int y0 = pp->top + m * pp->row_h;
    if (col == 0) plot_text(&pp->img, 8, y0 + PLOT_CHAR_H + 4 + pp->cell_h / 2 - 4,
                            mistakes[m].name, ink, 1);
    int cx = pp->left + col * (pp->cell_w + 8);
    char buf[64];
    strength_text(m, s, buf, sizeof buf);
    plot_text(&pp->img, cx + (pp->cell_w - plot_text_width(buf, 1)) / 2, y0, buf, ink, 1);
    if (m == M_MISSING) {
        sl_render_labels(x->target, 1, x->h, x->w, 0, pp->cell);
    } else {
        softmax_pixelwise(x->input, x->P, pp->dprobs);
        for (int64_t q = 0; q < SL_NCLASS * x->P; q++) pp->probs[q] = (float)pp->dprobs[q];
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

/* The chart: one panel per mistake, each loss divided by its largest |value| over all
 * mistakes; a panel's y axis fits its own values. Losses are grouped by family in the legend,
 * one hue per family, shades within it, and each has its own pair of marker and dash pattern. */
static int draw_chart(plot_img *img, const play_ctx *x, int nloss, const char *const *names,
                      double *const *values /* [m][l * MAX_STEPS + i] */, const double *str,
                      const int *nstr, int64_t seed)
{
    const int pw = 300, ph = 240, cols = 5, rows = (NMISTAKE + cols - 1) / cols, title_h = 36;
    int maxname = 0;
    for (int l = 0; l < nloss; l++) {
        int len = (int)strlen(names[l]);
        if (len > maxname) maxname = len;
    }
    if (maxname > 40) maxname = 40;
    int legend_w = 52 + maxname * PLOT_CHAR_W;
    if (legend_w < 130) legend_w = 130;
    int *fam = malloc((size_t)nloss * sizeof(int));
    int *dash = malloc((size_t)nloss * sizeof(int));
    int *marker = malloc((size_t)nloss * sizeof(int));
    double *scale = malloc((size_t)nloss * sizeof(double));
    double *norm = malloc((size_t)nloss * MAX_STEPS * sizeof(double));
    const double **ys = malloc((size_t)nloss * sizeof(*ys));
    uint8_t *colours = malloc((size_t)nloss * 3);
    int nfam_used = 0;
    if (fam && dash && marker) {
        int count[NFAMILY] = {0};
        for (int l = 0; l < nloss; l++) {
            fam[l] = spec_family(names[l]);
            if (count[fam[l]]++ == 0) nfam_used++;
            /* 15 distinct (marker, dash) pairs in turn: curves that coincide, such as ce and
             * missing_ce wherever no annotation is missing, still show both. */
            marker[l] = l % PLOT_NMARKER;
            dash[l] = (l / PLOT_NMARKER) % PLOT_NDASH;
        }
    }
    int legend_h = 24 + 14 * nloss + 18 * nfam_used;
    int width = cols * pw + legend_w + 10;
    int height = title_h + (rows * ph > legend_h ? rows * ph : legend_h) + 6;
    if (!fam || !dash || !marker || !scale || !norm || !ys || !colours ||
        plot_img_init(img, width, height, white)) {
        free(fam);
        free(dash);
        free(marker);
        free(scale);
        free(norm);
        free(ys);
        free(colours);
        plot_img_free(img);
        return -1;
    }
    for (int l = 0; l < nloss; l++) {
        double mx = 0;
        for (int m = 0; m < NMISTAKE; m++)
            for (int i = 0; i < nstr[m]; i++) {
                double v = values[m][l * MAX_STEPS + i];
                if (isfinite(v) && fabs(v) > mx) mx = fabs(v);
            }
        scale[l] = mx > 0 ? mx : 1.0;
        int k = 0;
        for (int j = 0; j < l; j++)
            k += fam[j] == fam[l];
        memcpy(colours + 3 * l, families[fam[l]].shade[k % 5], 3);
        ys[l] = norm + (size_t)l * MAX_STEPS;
    }
    char buf[256];
    snprintf(buf, sizeof buf,
             "segloss play: each loss divided by its largest |value| over all mistakes, "
             "against mistake strength; each panel's y axis fits its values");
    plot_text(img, 8, 6, buf, ink, 1);
    snprintf(buf, sizeof buf,
             "%lld images of %lldx%lld, seed %lld; strength 0 is the perfect prediction "
             "(over/under_confidence: a typical one)",
             (long long)x->n, (long long)x->h, (long long)x->w, (long long)seed);
    plot_text(img, 8, 6 + PLOT_CHAR_H + 4, buf, ink, 1);
    for (int m = 0; m < NMISTAKE; m++) {
        double lo = INFINITY, hi = -INFINITY;
        for (int l = 0; l < nloss; l++)
            for (int i = 0; i < nstr[m]; i++) {
                double v = values[m][l * MAX_STEPS + i] / scale[l];
                norm[l * MAX_STEPS + i] = v;
                if (isfinite(v)) {
                    if (v < lo) lo = v;
                    if (v > hi) hi = v;
                }
            }
        if (!(lo <= hi)) lo = 0, hi = 1;
        snprintf(buf, sizeof buf, "%s (%s)", mistakes[m].name, mistakes[m].label);
        plot_chart c;
        memset(&c, 0, sizeof c);
        c.title = buf;
        c.x = str + m * MAX_STEPS;
        c.npts = nstr[m];
        c.y = ys;
        c.nseries = nloss;
        c.colour = colours;
        c.dash = dash;
        c.marker = marker;
        plot_nice_range(lo, hi, &c.ymin, &c.ymax, &c.nyticks);
        plot_chart_draw(img, (m % cols) * pw, title_h + (m / cols) * ph, pw, ph, &c);
    }
    /* Legend: by family, in the order of their first loss. */
    int lx = cols * pw + 6, yy = title_h + 4;
    plot_text(img, lx, yy, "losses", ink, 1);
    yy += 18;
    int done[NFAMILY] = {0};
    for (int l0 = 0; l0 < nloss; l0++) {
        int f = fam[l0];
        if (done[f]) continue;
        done[f] = 1;
        plot_text(img, lx, yy + 4, families[f].name, ink, 1);
        yy += 18;
        for (int l = l0; l < nloss; l++) {
            if (fam[l] != f) continue;
            double phase = 0.0;
            plot_line_dashed(img, lx + 4, yy + 3, lx + 30, yy + 3, 2, dash[l], &phase,
                             colours + 3 * l);
            plot_marker(img, lx + 17, yy + 3, 3, marker[l], colours + 3 * l);
            snprintf(buf, sizeof buf, "%s", names[l]);
            if (strlen(buf) > 40) memcpy(buf + 37, "...", 4);
            plot_text(img, lx + 38, yy, buf, colours + 3 * l, 1);
            yy += 14;
        }
    }
    free(fam);
    free(dash);
    free(marker);
    free(scale);
    free(norm);
    free(ys);
    free(colours);
    return 0;
}

int cmd_play(int argc, char **argv)
{
    const char *losses_s = NULL, *n_s = NULL, *size_s = NULL, *seed_s = NULL, *steps_s = NULL,
               *out_s = NULL;
    int json = 0;
    cli_opt opts[] = {
        {"losses", 1, &losses_s, NULL}, {"n", 1, &n_s, NULL},         {"size", 1, &size_s, NULL},
        {"seed", 1, &seed_s, NULL},     {"steps", 1, &steps_s, NULL}, {"out", 1, &out_s, NULL},
        {"json", 0, NULL, &json},
    };
    const char *pos[1];
    int npos;
    int rc = cli_parse("play", play_usage, argc, argv, opts, 7, pos, 0, &npos);
    if (rc != CLI_OK) return rc;
    int64_t n = 4, h = 64, w = 64, seed = 0, steps = 6;
    if (n_s && (rc = cli_int("play", "n", n_s, 1, 64, &n)) != CLI_OK) return rc;
    if (size_s && (rc = cli_size2("play", "size", size_s, 512, &h, &w)) != CLI_OK) return rc;
    if (h < 12 || w < 12)
        return cli_fail("play", CLI_USAGE, "--size: at least 12,12 so that every object has "
                        "pixels, got %lld,%lld", (long long)h, (long long)w);
    if (n * h * w > (int64_t)1 << 22)
        return cli_fail("play", CLI_USAGE, "--n times --size is too large (at most 2^22 pixels)");
    if (seed_s && (rc = cli_int("play", "seed", seed_s, 0, UINT32_MAX, &seed)) != CLI_OK)
        return rc;
    if (steps_s && (rc = cli_int("play", "steps", steps_s, 2, MAX_STEPS, &steps)) != CLI_OK)
        return rc;
    const char *dir = out_s ? out_s : "out/play";
    if (!*dir) return cli_fail("play", CLI_USAGE, "--out: empty directory name");

    /* The losses: parse and check every spec before anything is computed. */
    char *lbuf = NULL;
    const char *names[MAX_LOSSES];
    sl_spec *specs[MAX_LOSSES] = {NULL};
    int nloss = 0;
    sl_error err;
    play_ctx x;
    memset(&x, 0, sizeof x);
    pred_picture pp;
    memset(&pp, 0, sizeof pp);
    plot_img chart = {NULL, 0, 0};
    void *ws = NULL;
    double *values[NMISTAKE] = {NULL};
    double str[NMISTAKE * MAX_STEPS];
    int nstr[NMISTAKE];
    double *base = NULL; /* [2][nloss]: perfect, typical */
    uint8_t *masks = NULL;
    void *pws = NULL;
    float *probs = NULL;
    char chart_path[4200], pred_path[4200];
    cli_outs outs;
    cli_outs_init(&outs, "play");
    if (losses_s) {
        size_t len = strlen(losses_s);
        lbuf = malloc(len + 1);
        if (!lbuf) return cli_fail("play", CLI_RUNTIME, "out of memory");
        memcpy(lbuf, losses_s, len + 1);
        char *p = lbuf;
        for (;;) {
            char *semi = strchr(p, ';');
            if (semi) *semi = 0;
            while (*p == ' ' || *p == '\t') p++;
            char *e = p + strlen(p);
            while (e > p && (e[-1] == ' ' || e[-1] == '\t')) *--e = 0;
            if (!*p) {
                rc = cli_fail("play", CLI_USAGE, "--losses: empty spec in '%s' (specs are "
                              "separated by ';')", losses_s);
                goto done;
            }
            if (nloss >= MAX_LOSSES) {
                rc = cli_fail("play", CLI_USAGE, "--losses: at most %d specs", MAX_LOSSES);
                goto done;
            }
            for (int l = 0; l < nloss; l++)
                if (strcmp(names[l], p) == 0) {
                    rc = cli_fail("play", CLI_USAGE, "--losses: '%s' is given twice", p);
                    goto done;
                }
            names[nloss++] = p;
            if (!semi) break;
            p = semi + 1;
        }
    } else {
        for (int i = 0; i < sl_loss_count() && nloss < MAX_LOSSES; i++)
            names[nloss++] = sl_loss_name(sl_loss_at(i));
    }
    for (int l = 0; l < nloss; l++) {
        sl_status st = sl_spec_parse(names[l], &specs[l], &err);
        if (st != SL_OK) {
            specs[l] = NULL;
            rc = cli_fail("play", CLI_USAGE, "--losses: %s", err.msg);
            goto done;
        }
        for (int t = 0; t < sl_spec_nterms(specs[l]); t++) {
            double k;
            const sl_loss_info *li;
            const sl_options *o;
            sl_spec_term(specs[l], t, &k, &li, &o);
            if (sl_options_check(li, o, SL_NCLASS, &err) != SL_OK) {
                rc = cli_fail("play", CLI_USAGE, "--losses: %s", err.msg);
                goto done;
            }
        }
    }

    /* The data. */
    x.n = n;
    x.h = h;
    x.w = w;
    x.P = h * w;
    x.steps = (int)steps;
    int64_t P = x.P, NP = n * P, NCP = n * SL_NCLASS * P, m1 = (h > w ? h : w) + 1;
    x.truth = malloc((size_t)NP * sizeof(int32_t));
    x.pred = malloc((size_t)NP * sizeof(int32_t));
    x.target = malloc((size_t)NP * sizeof(int32_t));
    x.perfect = malloc((size_t)NCP * sizeof(float));
    x.typical = malloc((size_t)NCP * sizeof(float));
    x.noise = malloc((size_t)NCP * sizeof(float));
    x.input = malloc((size_t)NCP * sizeof(float));
    x.dist = malloc((size_t)(3 * NP) * sizeof(double));
    /* a row or column (m1 + 1) and the blur kernel (4 * m1 + 1, as the radius is at most
     * 4 * max(h, w)) */
    x.line = malloc((size_t)((m1 + 1) + 4 * m1 + 2) * sizeof(double));
    x.mask = malloc((size_t)P);
    int64_t edt_dim[2] = {h, w};
    x.edt_wsz = sl_edt_workspace_size(2, edt_dim);
    x.edt_ws = malloc(x.edt_wsz);
    x.disk = malloc((size_t)P);
    x.plane = malloc((size_t)P * sizeof(double));
    masks = malloc((size_t)(n * SL_NOBJ * P));
    probs = malloc((size_t)NCP * sizeof(float));
    size_t pwsz = sl_predict_workspace_size(SL_NCLASS, h, w);
    pws = malloc(pwsz ? pwsz : 1);
    base = malloc((size_t)(2 * nloss) * sizeof(double));
    int ok = x.truth && x.pred && x.target && x.perfect && x.typical && x.noise && x.input &&
             x.dist && x.line && x.mask && x.edt_ws && x.disk && x.plane && masks && probs && pws && base;
    for (int m = 0; m < NMISTAKE; m++) {
        values[m] = malloc((size_t)nloss * MAX_STEPS * sizeof(double));
        ok = ok && values[m];
    }
    if (!ok) {
        rc = cli_fail("play", CLI_RUNTIME, "out of memory");
        goto done;
    }
    sl_rng rng;
    sl_rng_seed(&rng, (uint32_t)seed);
    sl_status st = sl_masks_generate(masks, n, h, w, NULL, &rng, &err);
    if (st != SL_OK) {
        rc = cli_fail("play", CLI_RUNTIME, "%s", err.msg);
        goto done;
    }
    sl_masks_to_labels(masks, n, SL_NOBJ, P, x.truth);
    labels_to_logits(x.truth, n, P, x.perfect);
    sl_predict_options po;
    sl_predict_options_default(&po);
    st = sl_simulate_predictions(x.truth, n, SL_NCLASS, h, w, &po, &rng, probs, pws, pwsz, &err);
    if (st != SL_OK) {
        rc = cli_fail("play", CLI_RUNTIME, "%s", err.msg);
        goto done;
    }
    for (int64_t q = 0; q < NCP; q++) {
        double p = probs[q];
        x.typical[q] = (float)(p > 1e-30 ? log(p) : log(1e-30));
    }
    for (int64_t q = 0; q < NCP; q++) x.noise[q] = (float)sl_rng_normal(&rng);
    x.drop_seed = sl_rng_u32(&rng);
    uint8_t *ann = masks; /* reused: n * C <= n * SL_NOBJ * P bytes */
    sl_annotated_from_labels(x.truth, n, SL_NCLASS, P, ann);
    int64_t present = 0;
    for (int64_t i = 0; i < n; i++)
        for (int c = 1; c < SL_NCLASS; c++) present += ann[i * SL_NCLASS + c] != 0;

    /* One workspace for every spec. */
    {
        sl_batch b;
        memset(&b, 0, sizeof b);
        b.shape.ndim = 4;
        b.shape.dim[0] = n;
        b.shape.dim[1] = SL_NCLASS;
        b.shape.dim[2] = h;
        b.shape.dim[3] = w;
        b.input = x.perfect;
        b.input_kind = SL_INPUT_LOGITS;
        b.target_kind = SL_TARGET_LABELS;
        b.labels = x.truth;
        size_t wsz = 1;
        for (int l = 0; l < nloss; l++) {
            size_t s = sl_spec_workspace_size(specs[l], &b);
            if (s > wsz) wsz = s;
        }
        ws = malloc(wsz);
        if (!ws) {
            rc = cli_fail("play", CLI_RUNTIME, "out of memory");
            goto done;
        }
        /* The perfect and the typical prediction, each against the ground truth. */
        memcpy(x.target, x.truth, (size_t)NP * sizeof(int32_t));
        for (int which = 0; which < 2; which++) {
            memcpy(x.input, which ? x.typical : x.perfect, (size_t)NCP * sizeof(float));
            for (int l = 0; l < nloss; l++)
                if (evaluate(specs[l], &x, ws, wsz, &base[which * nloss + l], &err)) {
                    rc = cli_fail("play", CLI_RUNTIME, "%s (loss '%s' on the %s prediction)",
                                  err.msg, names[l], which ? "typical" : "perfect");
                    goto done;
                }
        }

        int maxcols = 0;
        for (int m = 0; m < NMISTAKE; m++) {
            nstr[m] = strengths(&x, m, present, str + m * MAX_STEPS);
            if (nstr[m] > maxcols) maxcols = nstr[m];
        }
        if (pred_picture_init(&pp, &x, maxcols)) {
            rc = cli_fail("play", CLI_RUNTIME, "out of memory");
            goto done;
        }
        for (int m = 0; m < NMISTAKE; m++) {
            if (m == M_DILATE || m == M_ERODE) prepare_distances(&x, m == M_ERODE);
            for (int i = 0; i < nstr[m]; i++) {
                double s = str[m * MAX_STEPS + i];
                if (spoil(&x, m, i, s, &err)) {
                    rc = cli_fail("play", CLI_RUNTIME, "%s (mistake %s)", err.msg,
                                  mistakes[m].name);
                    goto done;
                }
                for (int l = 0; l < nloss; l++)
                    if (evaluate(specs[l], &x, ws, wsz, &values[m][l * MAX_STEPS + i], &err)) {
                        char sb[64];
                        strength_text(m, s, sb, sizeof sb);
                        rc = cli_fail("play", CLI_RUNTIME, "%s (loss '%s', mistake %s at %s)",
                                      err.msg, names[l], mistakes[m].name, sb);
                        goto done;
                    }
                pred_picture_cell(&pp, &x, m, i, s);
            }
        }
    }

    /* The pictures: both or neither. */
    if (draw_chart(&chart, &x, nloss, names, values, str, nstr, seed)) {
        rc = cli_fail("play", CLI_RUNTIME, "out of memory");
        goto done;
    }
    if ((rc = cli_make_dirs("play", dir)) != CLI_OK) goto done;
    snprintf(chart_path, sizeof chart_path, "%s/play_chart.png", dir);
    snprintf(pred_path, sizeof pred_path, "%s/play_predictions.png", dir);
    if (strlen(dir) > 4000) {
        rc = cli_fail("play", CLI_USAGE, "--out: directory name too long");
        goto done;
    }
    if ((rc = cli_outs_add(&outs, "out", chart_path)) != CLI_OK ||
        (rc = cli_outs_add(&outs, "out", pred_path)) != CLI_OK ||
        (rc = cli_outs_png(&outs, chart_path, chart.rgb, chart.h, chart.w)) != CLI_OK ||
        (rc = cli_outs_png(&outs, pred_path, pp.img.rgb, pp.img.h, pp.img.w)) != CLI_OK ||
        (rc = cli_outs_commit(&outs)) != CLI_OK)
        goto done;

    if (json) {
        printf("{\"losses\": [");
        for (int l = 0; l < nloss; l++) {
            if (l) printf(", ");
            cli_json_string(names[l]);
        }
        printf("], \"n\": %lld, \"size\": [%lld, %lld], \"seed\": %lld, \"steps\": %lld, "
               "\"logit_scale\": %g, \"objects_present\": %lld",
               (long long)n, (long long)h, (long long)w, (long long)seed, (long long)steps,
               LOGIT_SCALE, (long long)present);
        for (int which = 0; which < 2; which++) {
            printf(", \"%s\": {", which ? "typical" : "perfect");
            for (int l = 0; l < nloss; l++) {
                if (l) printf(", ");
                cli_json_string(names[l]);
                printf(": ");
                cli_json_number(base[which * nloss + l], 1);
            }
            printf("}");
        }
        printf(", \"mistakes\": [");
        for (int m = 0; m < NMISTAKE; m++) {
            printf("%s{\"name\": \"%s\", \"strength\": ", m ? ", " : "", mistakes[m].name);
            cli_json_string(mistakes[m].strength);
            printf(", \"from\": ");
            cli_json_string(mistakes[m].from);
            printf(", \"strengths\": [");
            for (int i = 0; i < nstr[m]; i++) {
                if (i) printf(", ");
                cli_json_number(str[m * MAX_STEPS + i], 1);
            }
            printf("], \"values\": {");
            for (int l = 0; l < nloss; l++) {
                if (l) printf(", ");
                cli_json_string(names[l]);
                printf(": [");
                for (int i = 0; i < nstr[m]; i++) {
                    if (i) printf(", ");
                    cli_json_number(values[m][l * MAX_STEPS + i], 1);
                }
                printf("]");
            }
            printf("}}");
        }
        printf("], \"pictures\": [");
        cli_json_string(chart_path);
        printf(", ");
        cli_json_string(pred_path);
        printf("]}\n");
    } else {
        printf("Playing with loss functions: %lld images of %lldx%lld, seed %lld.\n"
               "Strength 0 is the perfect prediction (logits %g * (one-hot - 0.5)); the\n"
               "confidence mistakes start from a typical prediction instead.\n\n",
               (long long)n, (long long)h, (long long)w, (long long)seed, LOGIT_SCALE);
        int colw[MAX_LOSSES];
        printf("%-20s %-14s", "mistake", "strength");
        for (int l = 0; l < nloss; l++) {
            int len = (int)strlen(names[l]);
            colw[l] = len > 11 ? len : 11;
            printf(" %*s", colw[l], names[l]);
        }
        printf("\n");
        for (int m = 0; m < NMISTAKE; m++) {
            for (int i = 0; i < nstr[m]; i++) {
                char sb[64];
                strength_text(m, str[m * MAX_STEPS + i], sb, sizeof sb);
                printf("%-20s %-14s", i ? "" : mistakes[m].name, sb);
                for (int l = 0; l < nloss; l++)
                    printf(" %*.6g", colw[l], values[m][l * MAX_STEPS + i]);
                printf("\n");
            }
        }
        printf("\nPictures: %s, %s\n", chart_path, pred_path);
    }
    rc = CLI_OK;
done:
    cli_outs_end(&outs);
    for (int l = 0; l < nloss; l++)
        sl_spec_free(specs[l]);
    free(lbuf);
    free(x.truth);
    free(x.pred);
    free(x.target);
    free(x.perfect);
    free(x.typical);
    free(x.noise);
    free(x.input);
    free(x.dist);
    free(x.line);
    free(x.mask);
    free(x.edt_ws);
    free(x.disk);
    free(x.plane);
    free(masks);
    free(probs);
    free(pws);
    free(base);
    free(ws);
    for (int m = 0; m < NMISTAKE; m++) free(values[m]);
    pred_picture_free(&pp);
    plot_img_free(&chart);
    return rc;
}
