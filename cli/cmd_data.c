/* segloss draw, masks, predict, drop: the post's data from the command line. */
#include "cli.h"
#include "out.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SIDE 65536
#define MAX_PIXELS ((int64_t)1 << 28)
#define MAX_BYTES ((int64_t)1 << 31)
#define MAX_POINTS 4096
#define MAX_IMAGES 10000
#define MAX_CLASSES 256

static const char draw_usage[] =
    "usage: segloss draw ellipse --shape H,W --center R,C --radii RR,CR [--rotation RAD]\n"
    "                            --out F.npy\n"
    "       segloss draw polygon --shape H,W --rows r1,r2,... --cols c1,c2,... --out F.npy\n"
    "       segloss draw disk --shape H,W --center R,C --radius RAD --out F.npy\n"
    "\n"
    "Rasterises one shape exactly as scikit-image 0.19's skimage.draw does with shape=(H, W)\n"
    "and writes uint8 [H, W]: 1 inside, 0 outside.\n"
    "\n"
    "  --shape H,W        image size, each 1..65536, H*W at most 2^28\n"
    "  --center R,C       centre (row, column); fractions and points outside are fine\n"
    "  --radii RR,CR      ellipse half-axes along rows and columns, >= 0\n"
    "  --rotation RAD     ellipse rotation in radians, counter-clockwise (default 0)\n"
    "  --radius RAD       disk radius, >= 0\n"
    "  --rows, --cols     polygon vertices, the same number (1..4096) of each\n"
    "  --out F.npy        the output\n";

static const char masks_usage[] =
    "usage: segloss masks --n N --size H,W [--seed S | --angles a1,...,aN] --out F.npy\n"
    "                     [--labels L.npy] [--onehot O.npy] [--png F.png]\n"
    "\n"
    "The post's genMasks(N, 3, H, W) as Python 2.7 computes it: per image an ellipse rotated\n"
    "by a random whole number of degrees, a square and a circle, each in its own channel.\n"
    "\n"
    "  --n N              number of images, 1..10000\n"
    "  --size H,W         image size, each 1..65536, N*3*H*W at most 2^31\n"
    "  --seed S           np.random.seed(S) draws the angles (default 0)\n"
    "  --angles LIST      the N rotations in degrees instead, integers 0..89\n"
    "  --out F.npy        masks, uint8 [N, 3, H, W]\n"
    "  --labels L.npy     label map, uint8 [N, H, W]: 0 background, 1 ellipse, 2 square,\n"
    "                     3 circle (later objects on top)\n"
    "  --onehot O.npy     one-hot, uint8 [N, 4, H, W]\n"
    "  --png F.png        a picture of the label maps: numbered, magnified when small,\n"
    "                     with a legend of the class colours\n";

static const char predict_usage[] =
    "usage: segloss predict --labels L.npy --out P.npy [--classes C] [--seed S] [--edge E]\n"
    "                       [--confidence K] [--noise S] [--logits] [--png F.png]\n"
    "\n"
    "Simulated typical model predictions for a label map: per class, the one-hot map blurred\n"
    "by a Gaussian, scaled to logits, plus Gaussian noise, then softmax over classes.\n"
    "\n"
    "  --labels L.npy     label map [N, H, W], integers in [0, C)\n"
    "  --out P.npy        probabilities, float32 [N, C, H, W]\n"
    "  --classes C        number of classes, 1..256 (default 4)\n"
    "  --seed S           seed of the noise (default 0)\n"
    "  --edge E           blur sigma in pixels, >= 0 (default 1.5)\n"
    "  --confidence K     logit scale, > 0 (default 5)\n"
    "  --noise S          standard deviation of the logit noise, >= 0 (default 3.5)\n"
    "  --logits           write log-probabilities (valid logits) instead of probabilities\n"
    "  --png F.png        a picture of the predictions (class colours mixed by\n"
    "                     probability), numbered, magnified when small, with a legend\n";

static const char drop_usage[] =
    "usage: segloss drop --labels L.npy --k K --out L2.npy [--seed S] [--classes C]\n"
    "                    [--dropped D.npy]\n"
    "\n"
    "Drops k annotations as in the post: k distinct (image, object class) pairs, chosen\n"
    "uniformly among those present, are relabelled background.\n"
    "\n"
    "  --labels L.npy     label map [N, spatial...], integers in [0, C)\n"
    "  --k K              number of annotations to drop, 0..(number present)\n"
    "  --out L2.npy       the label map with the annotations dropped, same dtype\n"
    "  --seed S           seed of the choice (default 0)\n"
    "  --classes C        number of classes, 1..256 (default 4)\n"
    "  --dropped D.npy    the dropped (image, class) pairs, int64 [K, 2], in the order chosen\n";

static int parse_seed(const char *cmd, const char *s, uint32_t *seed)
{
    int64_t v = 0;
    if (s) {
        int rc = cli_int(cmd, "seed", s, 0, 4294967295LL, &v);
        if (rc) return rc;
    }
    *seed = (uint32_t)v;
    return CLI_OK;
}

/* Name the outputs opts[i] = paths[i] (NULL paths skipped) of one command. */
static int add_outs(cli_outs *o, int n, const char *const *opts, const char *const *paths)
{
    int rc = CLI_OK;
    for (int i = 0; i < n && rc == CLI_OK; i++)
        rc = cli_outs_add(o, opts[i], paths[i]);
    return rc;
}

/* An option that does not belong to the shape being drawn is a mistake worth reporting. */
static int not_for(const char *kind, const char *opt, const char *value)
{
    if (!value) return CLI_OK;
    return cli_fail("draw", CLI_USAGE, "option --%s does not apply to %s", opt, kind);
}

/* What segloss draw was asked. */
typedef struct {
    const char *kind, *shape, *center, *radii, *rot, *rows, *cols, *radius, *out;
    int is_ellipse, is_polygon, is_disk;
    int64_t h, w;
} draw_args;

/* Each shape's own options: required, and the others' refused. */
static int draw_options(const draw_args *d)
{
    int rc;
    const char *kind = d->kind;
    if (d->is_polygon)
        return (rc = not_for(kind, "center", d->center)) ||
                       (rc = not_for(kind, "radii", d->radii)) ||
                       (rc = not_for(kind, "rotation", d->rot)) ||
                       (rc = not_for(kind, "radius", d->radius))
                   ? rc
                   : CLI_OK;
    if ((rc = not_for(kind, "rows", d->rows)) || (rc = not_for(kind, "cols", d->cols))) return rc;
    if (d->is_ellipse && ((rc = not_for(kind, "radius", d->radius)))) return rc;
    if (d->is_disk &&
        ((rc = not_for(kind, "radii", d->radii)) || (rc = not_for(kind, "rotation", d->rot))))
        return rc;
    if (!d->center) return cli_missing("draw", "center");
    if (d->is_ellipse && !d->radii) return cli_missing("draw", "radii");
    if (d->is_disk && !d->radius) return cli_missing("draw", "radius");
    return CLI_OK;
}

static int draw_parse(int argc, char **argv, draw_args *d)
{
    cli_opt opts[] = {
        {"shape", 1, &d->shape, NULL},   {"center", 1, &d->center, NULL},
        {"radii", 1, &d->radii, NULL},   {"rotation", 1, &d->rot, NULL},
        {"rows", 1, &d->rows, NULL},     {"cols", 1, &d->cols, NULL},
        {"radius", 1, &d->radius, NULL}, {"out", 1, &d->out, NULL},
    };
    const char *pos[1];
    int npos;
    int rc = cli_parse("draw", draw_usage, argc, argv, opts, (int)(sizeof opts / sizeof opts[0]),
                       pos, 1, &npos);
    if (rc) return rc;
    if (npos != 1) return cli_fail("draw", CLI_USAGE, "say which shape: ellipse, polygon or disk");
    d->kind = pos[0];
    d->is_ellipse = strcmp(d->kind, "ellipse") == 0;
    d->is_polygon = strcmp(d->kind, "polygon") == 0;
    d->is_disk = strcmp(d->kind, "disk") == 0;
    if (!d->is_ellipse && !d->is_polygon && !d->is_disk)
        return cli_fail("draw", CLI_USAGE, "unknown shape '%s' (ellipse, polygon or disk)",
                        d->kind);
    if (!d->shape) return cli_missing("draw", "shape");
    if (!d->out) return cli_missing("draw", "out");
    if ((rc = cli_size2("draw", "shape", d->shape, MAX_SIDE, &d->h, &d->w))) return rc;
    if (d->h * d->w > MAX_PIXELS)
        return cli_fail("draw", CLI_USAGE, "--shape: %lld x %lld is more than 2^28 pixels",
                        (long long)d->h, (long long)d->w);
    return draw_options(d);
}

static int draw_polygon(const draw_args *d, uint8_t *img)
{
    if (!d->rows) return cli_missing("draw", "rows");
    if (!d->cols) return cli_missing("draw", "cols");
    static double rows[MAX_POINTS], cols[MAX_POINTS];
    int nr, nc;
    int rc = cli_doubles("draw", "rows", d->rows, 0, MAX_POINTS, rows, &nr);
    if (rc) return rc;
    rc = cli_doubles("draw", "cols", d->cols, 0, MAX_POINTS, cols, &nc);
    if (rc) return rc;
    if (nr != nc)
        return cli_fail("draw", CLI_USAGE, "--rows has %d values but --cols has %d", nr, nc);
    sl_error err;
    sl_status st = sl_draw_polygon(img, d->h, d->w, rows, cols, nr, &err);
    return st ? cli_status("draw", st, &err) : CLI_OK;
}

/* An ellipse or a disk. */
static int draw_round(const draw_args *d, uint8_t *img)
{
    double ctr[2], radii[2] = {0, 0}, rot = 0;
    int rc = cli_doubles("draw", "center", d->center, 2, 2, ctr, NULL);
    if (!rc && d->is_ellipse) rc = cli_doubles("draw", "radii", d->radii, 2, 2, radii, NULL);
    if (!rc && d->is_ellipse && d->rot) rc = cli_double("draw", "rotation", d->rot, &rot);
    if (!rc && d->is_disk) rc = cli_double("draw", "radius", d->radius, &radii[0]);
    if (!rc && (radii[0] < 0 || radii[1] < 0))
        rc = cli_fail("draw", CLI_USAGE, "--%s: %s must be >= 0", d->is_disk ? "radius" : "radii",
                      d->is_disk ? d->radius : d->radii);
    if (rc) return rc;
    sl_error err;
    sl_status st = d->is_disk ? sl_draw_disk(img, d->h, d->w, ctr[0], ctr[1], radii[0], &err)
                              : sl_draw_ellipse(img, d->h, d->w, ctr[0], ctr[1], radii[0], radii[1],
                                                rot, &err);
    return st ? cli_status("draw", st, &err) : CLI_OK;
}

int cmd_draw(int argc, char **argv)
{
    draw_args d;
    memset(&d, 0, sizeof d);
    int rc = draw_parse(argc, argv, &d);
    if (rc) return rc;
    uint8_t *img = calloc((size_t)(d.h * d.w), 1);
    if (!img)
        return cli_fail("draw", CLI_RUNTIME, "out of memory for %lld x %lld", (long long)d.h,
                        (long long)d.w);
    rc = d.is_polygon ? draw_polygon(&d, img) : draw_round(&d, img);
    int64_t shape[2] = {d.h, d.w};
    cli_outs outs;
    cli_outs_init(&outs, "draw");
    if (!rc && !(rc = cli_outs_add(&outs, "out", d.out)) &&
        !(rc = cli_outs_npy(&outs, d.out, SL_DT_U8, 2, shape, img)))
        rc = cli_outs_commit(&outs);
    cli_outs_end(&outs);
    free(img);
    return rc;
}

/* --angles: N whole degrees in 0..89. */
static int parse_angles(const char *s, int64_t n, int *angles)
{
    double *v = malloc((size_t)n * sizeof(double));
    if (!v) return cli_fail("masks", CLI_RUNTIME, "out of memory");
    int count;
    int rc = cli_doubles("masks", "angles", s, (int)n, (int)n, v, &count);
    for (int i = 0; !rc && i < count; i++) {
        if (v[i] != floor(v[i]) || v[i] < 0 || v[i] > 89)
            rc = cli_fail("masks", CLI_USAGE,
                          "--angles: %g is not a whole number of degrees "
                          "in 0..89",
                          v[i]);
        else
            angles[i] = (int)v[i];
    }
    free(v);
    return rc;
}

/* Write the picture of label maps or of probabilities (exactly one is non-NULL). */
static int write_png(cli_outs *outs, const char *path, const int32_t *labels, const float *probs,
                     int64_t n, int64_t nclass, int64_t h, int64_t w)
{
    return cli_class_picture(outs, path,
                             labels ? "Label maps"
                                    : "Predictions (class colours mixed by "
                                      "probability)",
                             labels, probs, n, nclass, h, w);
}

/* What segloss masks was asked. */
typedef struct {
    const char *angles, *out, *labels, *onehot, *png;
    int64_t n, h, w;
    uint32_t seed;
} masks_args;

static int masks_parse(int argc, char **argv, masks_args *m)
{
    const char *n_s = NULL, *size_s = NULL, *seed_s = NULL;
    cli_opt opts[] = {
        {"n", 1, &n_s, NULL},
        {"size", 1, &size_s, NULL},
        {"seed", 1, &seed_s, NULL},
        {"angles", 1, &m->angles, NULL},
        {"out", 1, &m->out, NULL},
        {"labels", 1, &m->labels, NULL},
        {"onehot", 1, &m->onehot, NULL},
        {"png", 1, &m->png, NULL},
    };
    int npos;
    int rc = cli_parse("masks", masks_usage, argc, argv, opts, (int)(sizeof opts / sizeof opts[0]),
                       NULL, 0, &npos);
    if (rc) return rc;
    if (!n_s) return cli_missing("masks", "n");
    if (!size_s) return cli_missing("masks", "size");
    if (!m->out) return cli_missing("masks", "out");
    if (seed_s && m->angles)
        return cli_fail("masks", CLI_USAGE, "give --seed or --angles, not both");
    if ((rc = cli_int("masks", "n", n_s, 1, MAX_IMAGES, &m->n))) return rc;
    if ((rc = cli_size2("masks", "size", size_s, MAX_SIDE, &m->h, &m->w))) return rc;
    if (m->n * SL_NOBJ * m->h * m->w > MAX_BYTES)
        return cli_fail("masks", CLI_USAGE,
                        "--n %lld --size %lld,%lld is more than 2^31 bytes "
                        "of masks",
                        (long long)m->n, (long long)m->h, (long long)m->w);
    return parse_seed("masks", seed_s, &m->seed);
}

/* The masks, and the label map and the one-hot as bytes when asked. */
static int masks_write(cli_outs *outs, const masks_args *m, const uint8_t *masks,
                       const int32_t *labels, uint8_t *bytes)
{
    int64_t n = m->n, p = m->h * m->w;
    int64_t mshape[4] = {n, SL_NOBJ, m->h, m->w}, lshape[3] = {n, m->h, m->w},
            oshape[4] = {n, SL_NCLASS, m->h, m->w};
    int rc = cli_outs_npy(outs, m->out, SL_DT_U8, 4, mshape, masks);
    if (!rc && m->labels) {
        for (int64_t i = 0; i < n * p; i++)
            bytes[i] = (uint8_t)labels[i];
        rc = cli_outs_npy(outs, m->labels, SL_DT_U8, 3, lshape, bytes);
    }
    if (!rc && m->onehot) {
        for (int64_t i = 0; i < n; i++)
            for (int64_t c = 0; c < SL_NCLASS; c++)
                for (int64_t j = 0; j < p; j++)
                    bytes[(i * SL_NCLASS + c) * p + j] = labels[i * p + j] == c;
        rc = cli_outs_npy(outs, m->onehot, SL_DT_U8, 4, oshape, bytes);
    }
    if (!rc && m->png) rc = write_png(outs, m->png, labels, NULL, n, SL_NCLASS, m->h, m->w);
    return rc;
}

int cmd_masks(int argc, char **argv)
{
    masks_args m;
    memset(&m, 0, sizeof m);
    int rc = masks_parse(argc, argv, &m);
    if (rc) return rc;
    static const char *const names[4] = {"out", "labels", "onehot", "png"};
    const char *paths[4] = {m.out, m.labels, m.onehot, m.png};
    cli_outs outs;
    cli_outs_init(&outs, "masks");
    int64_t p = m.h * m.w;
    int *angles = NULL;
    uint8_t *masks = malloc((size_t)(m.n * SL_NOBJ * p));
    int32_t *labels = malloc((size_t)(m.n * p) * sizeof(int32_t));
    uint8_t *bytes = malloc((size_t)(m.n * SL_NCLASS * p));
    if (m.angles) angles = malloc((size_t)m.n * sizeof(int));
    if ((rc = add_outs(&outs, 4, names, paths))) goto done;
    if (!masks || !labels || !bytes || (m.angles && !angles)) {
        rc = cli_fail("masks", CLI_RUNTIME, "out of memory");
        goto done;
    }
    if (m.angles && (rc = parse_angles(m.angles, m.n, angles))) goto done;
    sl_rng rng;
    sl_rng_seed(&rng, m.seed);
    sl_error err;
    sl_status st = sl_masks_generate(masks, m.n, m.h, m.w, angles, &rng, &err);
    if (st) {
        rc = cli_status("masks", st, &err);
        goto done;
    }
    sl_masks_to_labels(masks, m.n, SL_NOBJ, p, labels);
    if (!(rc = masks_write(&outs, &m, masks, labels, bytes))) rc = cli_outs_commit(&outs);
done:
    cli_outs_end(&outs);
    free(angles);
    free(masks);
    free(labels);
    free(bytes);
    return rc;
}

/* A label map file of predict and drop: loaded into a (at least min_ndim axes, none empty
 * before the library sees it) and as int32 into *out (a new buffer); float arrays are errors
 * and the labels' range is the library's to check. */
static int load_labels(const char *cmd, const char *path, int min_ndim, sl_array *a, int32_t **out)
{
    int rc = cli_load(cmd, path, a);
    if (rc) return rc;
    if (a->ndim < min_ndim)
        return cli_fail(cmd, CLI_RUNTIME, "%s: labels must be [N, spatial...], got %d axes", path,
                        a->ndim);
    int64_t n = sl_array_numel(a);
    int32_t *y = *out = malloc((size_t)(n > 0 ? n : 1) * sizeof(int32_t));
    if (!y) return cli_fail(cmd, CLI_RUNTIME, "out of memory reading %s", path);
    return cli_labels(cmd, path, a, 0, y);
}

static int parse_classes(const char *cmd, const char *s, int64_t *nclass)
{
    *nclass = SL_NCLASS;
    return s ? cli_int(cmd, "classes", s, 1, MAX_CLASSES, nclass) : CLI_OK;
}

/* What segloss predict was asked; the knobs' ranges are the library's to check. */
typedef struct {
    const char *labels, *out, *png;
    int64_t nclass;
    uint32_t seed;
    int logits;
    sl_simulate_options o;
} predict_args;

static int predict_parse(int argc, char **argv, predict_args *pa)
{
    const char *classes_s = NULL, *seed_s = NULL, *edge_s = NULL, *conf_s = NULL, *noise_s = NULL;
    cli_opt opts[] = {
        {"labels", 1, &pa->labels, NULL}, {"out", 1, &pa->out, NULL},
        {"classes", 1, &classes_s, NULL}, {"seed", 1, &seed_s, NULL},
        {"edge", 1, &edge_s, NULL},       {"confidence", 1, &conf_s, NULL},
        {"noise", 1, &noise_s, NULL},     {"logits", 0, NULL, &pa->logits},
        {"png", 1, &pa->png, NULL},
    };
    int npos;
    int rc = cli_parse("predict", predict_usage, argc, argv, opts,
                       (int)(sizeof opts / sizeof opts[0]), NULL, 0, &npos);
    if (rc) return rc;
    if (!pa->labels) return cli_missing("predict", "labels");
    if (!pa->out) return cli_missing("predict", "out");
    sl_simulate_options_default(&pa->o);
    if ((rc = parse_classes("predict", classes_s, &pa->nclass)) ||
        (rc = parse_seed("predict", seed_s, &pa->seed)) ||
        (edge_s && (rc = cli_double("predict", "edge", edge_s, &pa->o.edge))) ||
        (conf_s && (rc = cli_double("predict", "confidence", conf_s, &pa->o.confidence))) ||
        (noise_s && (rc = cli_double("predict", "noise", noise_s, &pa->o.noise))))
        return rc;
    return CLI_OK;
}

/* The predictions of a label map [N, H, W] into *probs (a new buffer). */
static int predict_run(const predict_args *pa, const sl_array *a, const int32_t *labels,
                       float **probs)
{
    if (a->ndim != 3)
        return cli_fail("predict", CLI_RUNTIME, "%s: labels must be [N, H, W], got %d axes",
                        pa->labels, a->ndim);
    int64_t n = a->shape[0], h = a->shape[1], w = a->shape[2], C = pa->nclass;
    if (n >= 1 && h >= 1 && w >= 1 && h * w > MAX_BYTES / 4 / C / n)
        return cli_fail("predict", CLI_RUNTIME,
                        "%s: [%lld, %lld, %lld, %lld] probabilities are more than 2^31 bytes",
                        pa->labels, (long long)n, (long long)C, (long long)h, (long long)w);
    size_t wsize = sl_simulate_workspace_size(C, h, w);
    *probs = malloc((size_t)(n * C * h * w) * sizeof(float) + 1);
    void *ws = malloc(wsize + 1);
    sl_rng rng;
    sl_rng_seed(&rng, pa->seed);
    sl_error err;
    sl_status st = !*probs || !ws ? SL_E_NOMEM
                                  : sl_simulate_predictions(labels, n, C, h, w, &pa->o, &rng,
                                                            *probs, ws, wsize, &err);
    free(ws);
    if (st == SL_E_NOMEM) return cli_fail("predict", CLI_RUNTIME, "out of memory");
    return st ? cli_status("predict", st, &err) : CLI_OK;
}

int cmd_predict(int argc, char **argv)
{
    predict_args pa;
    memset(&pa, 0, sizeof pa);
    int rc = predict_parse(argc, argv, &pa);
    if (rc) return rc;
    static const char *const names[2] = {"out", "png"};
    const char *paths[2] = {pa.out, pa.png};
    cli_outs outs;
    cli_outs_init(&outs, "predict");
    sl_array a;
    memset(&a, 0, sizeof a);
    int32_t *labels = NULL;
    float *probs = NULL;
    if (!(rc = add_outs(&outs, 2, names, paths)) &&
        !(rc = load_labels("predict", pa.labels, 0, &a, &labels)))
        rc = predict_run(&pa, &a, labels, &probs);
    int64_t n = a.ndim == 3 ? a.shape[0] : 0, h = n ? a.shape[1] : 0, w = n ? a.shape[2] : 0;
    int64_t total = n * pa.nclass * h * w, shape[4] = {n, pa.nclass, h, w};
    /* The picture shows probabilities either way, so it is made before --logits. */
    if (!rc && pa.png) rc = write_png(&outs, pa.png, NULL, probs, n, pa.nclass, h, w);
    /* log(p) are logits whose softmax is p; a probability that underflowed to 0 is floored so
     * that the logits stay finite. */
    for (int64_t i = 0; !rc && pa.logits && i < total; i++)
        probs[i] = logf(probs[i] > FLT_MIN ? probs[i] : FLT_MIN);
    if (!rc && !(rc = cli_outs_npy(&outs, pa.out, SL_DT_F32, 4, shape, probs)))
        rc = cli_outs_commit(&outs);
    cli_outs_end(&outs);
    sl_array_free(&a);
    free(labels);
    free(probs);
    return rc;
}

/* The label map back into its own dtype: labels only went down to 0, so every value fits. */
static void store_labels(sl_array *a, const int32_t *labels)
{
    int64_t numel = sl_array_numel(a);
    for (int64_t i = 0; i < numel; i++) {
        if (a->dtype == SL_DT_U8)
            ((uint8_t *)a->data)[i] = (uint8_t)labels[i];
        else if (a->dtype == SL_DT_I32)
            ((int32_t *)a->data)[i] = labels[i];
        else
            ((int64_t *)a->data)[i] = labels[i];
    }
}

int cmd_drop(int argc, char **argv)
{
    const char *labels_path = NULL, *k_s = NULL, *out = NULL, *seed_s = NULL, *classes_s = NULL,
               *dropped_path = NULL;
    cli_opt opts[] = {
        {"labels", 1, &labels_path, NULL},
        {"k", 1, &k_s, NULL},
        {"out", 1, &out, NULL},
        {"seed", 1, &seed_s, NULL},
        {"classes", 1, &classes_s, NULL},
        {"dropped", 1, &dropped_path, NULL},
    };
    int npos;
    int rc = cli_parse("drop", drop_usage, argc, argv, opts, (int)(sizeof opts / sizeof opts[0]),
                       NULL, 0, &npos);
    if (rc) return rc;
    if (!labels_path) return cli_missing("drop", "labels");
    if (!k_s) return cli_missing("drop", "k");
    if (!out) return cli_missing("drop", "out");
    int64_t k, nclass;
    uint32_t seed;
    if ((rc = cli_int("drop", "k", k_s, 0, INT32_MAX, &k)) ||
        (rc = parse_classes("drop", classes_s, &nclass)) ||
        (rc = parse_seed("drop", seed_s, &seed)))
        return rc;
    static const char *const names[2] = {"out", "dropped"};
    const char *paths[2] = {out, dropped_path};
    cli_outs outs;
    cli_outs_init(&outs, "drop");
    sl_array a;
    memset(&a, 0, sizeof a);
    int32_t *labels = NULL;
    int64_t *dropped = malloc((size_t)(k > 0 ? k : 1) * 2 * sizeof(int64_t));
    if (!(rc = add_outs(&outs, 2, names, paths)) && !dropped)
        rc = cli_fail("drop", CLI_RUNTIME, "out of memory");
    if (!rc) rc = load_labels("drop", labels_path, 2, &a, &labels);
    sl_rng rng;
    sl_rng_seed(&rng, seed);
    sl_error err;
    int64_t n = a.ndim ? a.shape[0] : 0, p = n ? sl_array_numel(&a) / n : 0;
    /* Here every failure is the data's: an empty map, a label out of range, fewer objects
     * than k. */
    if (!rc && sl_drop_annotations(labels, n, nclass, p, k, &rng, dropped, &err) != SL_OK)
        rc = cli_fail("drop", CLI_RUNTIME, "%s", err.msg);
    if (!rc) store_labels(&a, labels);
    int64_t dshape[2] = {k, 2};
    if (!rc && !(rc = cli_outs_npy(&outs, out, a.dtype, a.ndim, a.shape, a.data)) &&
        !(dropped_path && (rc = cli_outs_npy(&outs, dropped_path, SL_DT_I64, 2, dshape, dropped))))
        rc = cli_outs_commit(&outs);
    cli_outs_end(&outs);
    sl_array_free(&a);
    free(labels);
    free(dropped);
    return rc;
}
