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

/* An option that does not belong to the shape being drawn is a mistake worth reporting. */
static int not_for(const char *kind, const char *opt, const char *value)
{
    if (!value) return CLI_OK;
    return cli_fail("draw", CLI_USAGE, "option --%s does not apply to %s", opt, kind);
}

static int draw_polygon(int64_t h, int64_t w, const char *rows_s, const char *cols_s, uint8_t *img)
{
    if (!rows_s) return cli_missing("draw", "rows");
    if (!cols_s) return cli_missing("draw", "cols");
    static double rows[MAX_POINTS], cols[MAX_POINTS];
    int nr, nc;
    int rc = cli_doubles("draw", "rows", rows_s, 0, MAX_POINTS, rows, &nr);
    if (rc) return rc;
    rc = cli_doubles("draw", "cols", cols_s, 0, MAX_POINTS, cols, &nc);
    if (rc) return rc;
    if (nr != nc)
        return cli_fail("draw", CLI_USAGE, "--rows has %d values but --cols has %d", nr, nc);
    sl_error err;
    sl_status st = sl_draw_polygon(img, h, w, rows, cols, nr, &err);
    return st ? cli_status("draw", st, &err) : CLI_OK;
}

int cmd_draw(int argc, char **argv)
{
    const char *shape_s, *center_s, *radii_s, *rot_s, *rows_s, *cols_s, *radius_s, *out;
    cli_opt opts[] = {
        {"shape", 1, &shape_s, NULL},   {"center", 1, &center_s, NULL},
        {"radii", 1, &radii_s, NULL},   {"rotation", 1, &rot_s, NULL},
        {"rows", 1, &rows_s, NULL},     {"cols", 1, &cols_s, NULL},
        {"radius", 1, &radius_s, NULL}, {"out", 1, &out, NULL},
    };
    const char *pos[1];
    int npos;
    int rc = cli_parse("draw", draw_usage, argc, argv, opts, (int)(sizeof opts / sizeof opts[0]),
                       pos, 1, &npos);
    if (rc) return rc;
    if (npos != 1) return cli_fail("draw", CLI_USAGE, "say which shape: ellipse, polygon or disk");
    const char *kind = pos[0];
    int is_ellipse = strcmp(kind, "ellipse") == 0, is_polygon = strcmp(kind, "polygon") == 0,
        is_disk = strcmp(kind, "disk") == 0;
    if (!is_ellipse && !is_polygon && !is_disk)
        return cli_fail("draw", CLI_USAGE, "unknown shape '%s' (ellipse, polygon or disk)", kind);
    if (!shape_s) return cli_missing("draw", "shape");
    if (!out) return cli_missing("draw", "out");
    int64_t h, w;
    if ((rc = cli_size2("draw", "shape", shape_s, MAX_SIDE, &h, &w))) return rc;
    if (h * w > MAX_PIXELS)
        return cli_fail("draw", CLI_USAGE, "--shape: %lld x %lld is more than 2^28 pixels",
                        (long long)h, (long long)w);

    if (is_polygon) {
        if ((rc = not_for(kind, "center", center_s)) || (rc = not_for(kind, "radii", radii_s)) ||
            (rc = not_for(kind, "rotation", rot_s)) || (rc = not_for(kind, "radius", radius_s)))
            return rc;
    } else {
        if ((rc = not_for(kind, "rows", rows_s)) || (rc = not_for(kind, "cols", cols_s))) return rc;
        if (is_ellipse && ((rc = not_for(kind, "radius", radius_s)))) return rc;
        if (is_disk &&
            ((rc = not_for(kind, "radii", radii_s)) || (rc = not_for(kind, "rotation", rot_s))))
            return rc;
        if (!center_s) return cli_missing("draw", "center");
        if (is_ellipse && !radii_s) return cli_missing("draw", "radii");
        if (is_disk && !radius_s) return cli_missing("draw", "radius");
    }

    uint8_t *img = calloc((size_t)(h * w), 1);
    if (!img)
        return cli_fail("draw", CLI_RUNTIME, "out of memory for %lld x %lld", (long long)h,
                        (long long)w);
    if (is_polygon) {
        rc = draw_polygon(h, w, rows_s, cols_s, img);
    } else {
        double ctr[2], radii[2] = {0, 0}, rot = 0;
        rc = cli_doubles("draw", "center", center_s, 2, 2, ctr, NULL);
        if (!rc && is_ellipse) rc = cli_doubles("draw", "radii", radii_s, 2, 2, radii, NULL);
        if (!rc && is_ellipse && rot_s) rc = cli_double("draw", "rotation", rot_s, &rot);
        if (!rc && is_disk) rc = cli_double("draw", "radius", radius_s, &radii[0]);
        if (!rc && (radii[0] < 0 || radii[1] < 0))
            rc = cli_fail("draw", CLI_USAGE, "--%s: %s must be >= 0", is_disk ? "radius" : "radii",
                          is_disk ? radius_s : radii_s);
        if (!rc) {
            sl_error err;
            sl_status st =
                is_disk ? sl_draw_disk(img, h, w, ctr[0], ctr[1], radii[0], &err)
                        : sl_draw_ellipse(img, h, w, ctr[0], ctr[1], radii[0], radii[1], rot, &err);
            if (st) rc = cli_status("draw", st, &err);
        }
    }
    if (!rc) {
        int64_t shape[2] = {h, w};
        cli_outs outs;
        cli_outs_init(&outs, "draw");
        if (!(rc = cli_outs_add(&outs, "out", out)) &&
            !(rc = cli_outs_npy(&outs, out, SL_DT_U8, 2, shape, img)))
            rc = cli_outs_commit(&outs);
        cli_outs_end(&outs);
    }
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
                             labels ? "Label maps" : "Predictions (class colours mixed by "
                                                     "probability)",
                             labels, probs, n, nclass, h, w);
}

int cmd_masks(int argc, char **argv)
{
    const char *n_s, *size_s, *seed_s, *angles_s, *out, *labels_path, *onehot_path, *png_path;
    cli_opt opts[] = {
        {"n", 1, &n_s, NULL},
        {"size", 1, &size_s, NULL},
        {"seed", 1, &seed_s, NULL},
        {"angles", 1, &angles_s, NULL},
        {"out", 1, &out, NULL},
        {"labels", 1, &labels_path, NULL},
        {"onehot", 1, &onehot_path, NULL},
        {"png", 1, &png_path, NULL},
    };
    int npos;
    int rc = cli_parse("masks", masks_usage, argc, argv, opts, (int)(sizeof opts / sizeof opts[0]),
                       NULL, 0, &npos);
    if (rc) return rc;
    if (!n_s) return cli_missing("masks", "n");
    if (!size_s) return cli_missing("masks", "size");
    if (!out) return cli_missing("masks", "out");
    if (seed_s && angles_s)
        return cli_fail("masks", CLI_USAGE, "give --seed or --angles, not both");
    int64_t n, h, w;
    uint32_t seed;
    if ((rc = cli_int("masks", "n", n_s, 1, MAX_IMAGES, &n))) return rc;
    if ((rc = cli_size2("masks", "size", size_s, MAX_SIDE, &h, &w))) return rc;
    if (n * SL_NOBJ * h * w > MAX_BYTES)
        return cli_fail("masks", CLI_USAGE,
                        "--n %lld --size %lld,%lld is more than 2^31 bytes "
                        "of masks",
                        (long long)n, (long long)h, (long long)w);
    if ((rc = parse_seed("masks", seed_s, &seed))) return rc;
    cli_outs outs;
    cli_outs_init(&outs, "masks");
    if ((rc = cli_outs_add(&outs, "out", out)) ||
        (rc = cli_outs_add(&outs, "labels", labels_path)) ||
        (rc = cli_outs_add(&outs, "onehot", onehot_path)) ||
        (rc = cli_outs_add(&outs, "png", png_path))) {
        cli_outs_end(&outs);
        return rc;
    }

    int64_t p = h * w;
    int *angles = NULL;
    uint8_t *masks = malloc((size_t)(n * SL_NOBJ * p));
    int32_t *labels = malloc((size_t)(n * p) * sizeof(int32_t));
    uint8_t *bytes = malloc((size_t)(n * SL_NCLASS * p));
    if (!masks || !labels || !bytes) {
        rc = cli_fail("masks", CLI_RUNTIME, "out of memory");
        goto done;
    }
    if (angles_s) {
        angles = malloc((size_t)n * sizeof(int));
        if (!angles) {
            rc = cli_fail("masks", CLI_RUNTIME, "out of memory");
            goto done;
        }
        if ((rc = parse_angles(angles_s, n, angles))) goto done;
    }
    sl_rng rng;
    sl_rng_seed(&rng, seed);
    sl_error err;
    sl_status st = sl_masks_generate(masks, n, h, w, angles, &rng, &err);
    if (st) {
        rc = cli_status("masks", st, &err);
        goto done;
    }
    sl_masks_to_labels(masks, n, SL_NOBJ, p, labels);

    int64_t mshape[4] = {n, SL_NOBJ, h, w};
    if ((rc = cli_outs_npy(&outs, out, SL_DT_U8, 4, mshape, masks))) goto done;
    if (labels_path) {
        for (int64_t i = 0; i < n * p; i++)
            bytes[i] = (uint8_t)labels[i];
        int64_t lshape[3] = {n, h, w};
        if ((rc = cli_outs_npy(&outs, labels_path, SL_DT_U8, 3, lshape, bytes))) goto done;
    }
    if (onehot_path) {
        for (int64_t i = 0; i < n; i++)
            for (int64_t c = 0; c < SL_NCLASS; c++)
                for (int64_t j = 0; j < p; j++)
                    bytes[(i * SL_NCLASS + c) * p + j] = labels[i * p + j] == c;
        int64_t oshape[4] = {n, SL_NCLASS, h, w};
        if ((rc = cli_outs_npy(&outs, onehot_path, SL_DT_U8, 4, oshape, bytes))) goto done;
    }
    if (png_path && (rc = write_png(&outs, png_path, labels, NULL, n, SL_NCLASS, h, w))) goto done;
    rc = cli_outs_commit(&outs);
done:
    cli_outs_end(&outs);
    free(angles);
    free(masks);
    free(labels);
    free(bytes);
    return rc;
}

/* A label map as int32 (a new buffer); float arrays are errors. */
static int read_labels(const char *cmd, const char *path, const sl_array *a, int32_t **out)
{
    int64_t n = sl_array_numel(a);
    int32_t *y = malloc((size_t)(n > 0 ? n : 1) * sizeof(int32_t));
    if (!y) return cli_fail(cmd, CLI_RUNTIME, "out of memory reading %s", path);
    int rc = cli_labels(cmd, path, a, 0, y);
    if (rc != CLI_OK) {
        free(y);
        return rc;
    }
    *out = y;
    return CLI_OK;
}

static int parse_classes(const char *cmd, const char *s, int64_t *nclass)
{
    *nclass = SL_NCLASS;
    return s ? cli_int(cmd, "classes", s, 1, MAX_CLASSES, nclass) : CLI_OK;
}

int cmd_predict(int argc, char **argv)
{
    const char *labels_path, *out, *classes_s, *seed_s, *edge_s, *conf_s, *noise_s, *png_path;
    int logits = 0;
    cli_opt opts[] = {
        {"labels", 1, &labels_path, NULL}, {"out", 1, &out, NULL},
        {"classes", 1, &classes_s, NULL},  {"seed", 1, &seed_s, NULL},
        {"edge", 1, &edge_s, NULL},        {"confidence", 1, &conf_s, NULL},
        {"noise", 1, &noise_s, NULL},      {"logits", 0, NULL, &logits},
        {"png", 1, &png_path, NULL},
    };
    int npos;
    int rc = cli_parse("predict", predict_usage, argc, argv, opts,
                       (int)(sizeof opts / sizeof opts[0]), NULL, 0, &npos);
    if (rc) return rc;
    if (!labels_path) return cli_missing("predict", "labels");
    if (!out) return cli_missing("predict", "out");
    int64_t nclass;
    uint32_t seed;
    sl_simulate_options o;
    sl_simulate_options_default(&o);
    if ((rc = parse_classes("predict", classes_s, &nclass))) return rc;
    if ((rc = parse_seed("predict", seed_s, &seed))) return rc;
    if (edge_s && (rc = cli_double("predict", "edge", edge_s, &o.edge))) return rc;
    if (conf_s && (rc = cli_double("predict", "confidence", conf_s, &o.confidence))) return rc;
    if (noise_s && (rc = cli_double("predict", "noise", noise_s, &o.noise))) return rc;
    if (o.edge < 0) return cli_fail("predict", CLI_USAGE, "--edge: %g must be >= 0", o.edge);
    if (o.confidence <= 0)
        return cli_fail("predict", CLI_USAGE, "--confidence: %g must be > 0", o.confidence);
    if (o.noise < 0) return cli_fail("predict", CLI_USAGE, "--noise: %g must be >= 0", o.noise);
    cli_outs outs;
    cli_outs_init(&outs, "predict");
    sl_array a;
    memset(&a, 0, sizeof a);
    if ((rc = cli_outs_add(&outs, "out", out)) || (rc = cli_outs_add(&outs, "png", png_path)) ||
        (rc = cli_load("predict", labels_path, &a))) {
        cli_outs_end(&outs);
        return rc;
    }
    int32_t *labels = NULL;
    float *probs = NULL;
    void *ws = NULL;
    if (a.dtype != SL_DT_U8 && a.dtype != SL_DT_I32 && a.dtype != SL_DT_I64) {
        rc = cli_fail("predict", CLI_RUNTIME, "%s: labels must be integers, got %s", labels_path,
                      sl_dtype_name(a.dtype));
        goto done;
    }
    if (a.ndim != 3) {
        rc = cli_fail("predict", CLI_RUNTIME, "%s: labels must be [N, H, W], got %d axes",
                      labels_path, a.ndim);
        goto done;
    }
    int64_t n = a.shape[0], h = a.shape[1], w = a.shape[2];
    if (n < 1 || h < 1 || w < 1) {
        rc = cli_fail("predict", CLI_RUNTIME, "%s: labels [%lld, %lld, %lld] are empty",
                      labels_path, (long long)n, (long long)h, (long long)w);
        goto done;
    }
    if (h * w > MAX_BYTES / 4 / nclass / n) {
        rc = cli_fail("predict", CLI_RUNTIME,
                      "%s: [%lld, %lld, %lld, %lld] probabilities are "
                      "more than 2^31 bytes",
                      labels_path, (long long)n, (long long)nclass, (long long)h, (long long)w);
        goto done;
    }
    if ((rc = read_labels("predict", labels_path, &a, &labels))) goto done;
    int64_t total = n * nclass * h * w;
    size_t wsize = sl_simulate_workspace_size(nclass, h, w);
    probs = malloc((size_t)total * sizeof(float));
    ws = malloc(wsize);
    if (!probs || !ws) {
        rc = cli_fail("predict", CLI_RUNTIME, "out of memory");
        goto done;
    }
    sl_rng rng;
    sl_rng_seed(&rng, seed);
    sl_error err;
    sl_status st =
        sl_simulate_predictions(labels, n, nclass, h, w, &o, &rng, probs, ws, wsize, &err);
    if (st) {
        rc = cli_status("predict", st, &err);
        goto done;
    }
    /* The picture shows probabilities either way, so it is made before --logits. */
    if (png_path && (rc = write_png(&outs, png_path, NULL, probs, n, nclass, h, w))) goto done;
    if (logits) {
        /* log(p) are logits whose softmax is p; a probability that underflowed to 0 is
         * floored so that the logits stay finite. */
        for (int64_t i = 0; i < total; i++)
            probs[i] = logf(probs[i] > FLT_MIN ? probs[i] : FLT_MIN);
    }
    int64_t shape[4] = {n, nclass, h, w};
    if ((rc = cli_outs_npy(&outs, out, SL_DT_F32, 4, shape, probs))) goto done;
    rc = cli_outs_commit(&outs);
done:
    cli_outs_end(&outs);
    sl_array_free(&a);
    free(labels);
    free(probs);
    free(ws);
    return rc;
}

int cmd_drop(int argc, char **argv)
{
    const char *labels_path, *k_s, *out, *seed_s, *classes_s, *dropped_path;
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
    if ((rc = cli_int("drop", "k", k_s, 0, INT32_MAX, &k))) return rc;
    if ((rc = parse_classes("drop", classes_s, &nclass))) return rc;
    if ((rc = parse_seed("drop", seed_s, &seed))) return rc;
    cli_outs outs;
    cli_outs_init(&outs, "drop");
    sl_array a;
    memset(&a, 0, sizeof a);
    if ((rc = cli_outs_add(&outs, "out", out)) ||
        (rc = cli_outs_add(&outs, "dropped", dropped_path)) ||
        (rc = cli_load("drop", labels_path, &a))) {
        cli_outs_end(&outs);
        return rc;
    }
    int32_t *labels = NULL;
    int64_t *dropped = NULL;
    if (a.ndim < 2) {
        rc = cli_fail("drop", CLI_RUNTIME, "%s: labels must be [N, spatial...], got %d axes",
                      labels_path, a.ndim);
        goto done;
    }
    int64_t n = a.shape[0], p = a.shape[0] ? sl_array_numel(&a) / a.shape[0] : 0;
    if (n < 1 || p < 1) {
        rc = cli_fail("drop", CLI_RUNTIME, "%s: the label map is empty", labels_path);
        goto done;
    }
    if ((rc = read_labels("drop", labels_path, &a, &labels))) goto done;
    dropped = malloc((size_t)(k > 0 ? k : 1) * 2 * sizeof(int64_t));
    if (!dropped) {
        rc = cli_fail("drop", CLI_RUNTIME, "out of memory");
        goto done;
    }
    sl_rng rng;
    sl_rng_seed(&rng, seed);
    sl_error err;
    sl_status st = sl_drop_annotations(labels, n, nclass, p, k, &rng, dropped, &err);
    if (st) {
        /* Here every failure is the data's: a label out of range, or fewer objects than k. */
        rc = cli_fail("drop", CLI_RUNTIME, "%s", err.msg);
        goto done;
    }
    /* Back into the input's dtype: labels only went down to 0, so every value still fits. */
    int64_t numel = n * p;
    for (int64_t i = 0; i < numel; i++) {
        if (a.dtype == SL_DT_U8)
            ((uint8_t *)a.data)[i] = (uint8_t)labels[i];
        else if (a.dtype == SL_DT_I32)
            ((int32_t *)a.data)[i] = labels[i];
        else
            ((int64_t *)a.data)[i] = labels[i];
    }
    if ((rc = cli_outs_npy(&outs, out, a.dtype, a.ndim, a.shape, a.data))) goto done;
    if (dropped_path) {
        int64_t dshape[2] = {k, 2};
        if ((rc = cli_outs_npy(&outs, dropped_path, SL_DT_I64, 2, dshape, dropped))) goto done;
    }
    rc = cli_outs_commit(&outs);
done:
    cli_outs_end(&outs);
    sl_array_free(&a);
    free(labels);
    free(dropped);
    return rc;
}
