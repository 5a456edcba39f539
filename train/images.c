/* images.c - grey images rendered from the post's masks for the trainer (images.h). */
#include "images.h"

#include "internal.h" /* sl__fail */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const double PI = 3.141592653589793;

/* The seed of image i's generator: splitmix64 of (seed, stream, i), folded to 32 bits. */
static uint32_t image_seed(uint32_t seed, uint32_t stream, int64_t i)
{
    uint64_t z = ((uint64_t)seed << 32) ^ ((uint64_t)stream << 56) ^ (uint64_t)i;
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (uint32_t)(z ^ (z >> 32));
}

static double uni(sl_rng *r, double lo, double hi)
{
    return lo + (hi - lo) * sl_rng_uniform(r);
}

/* How a shape's pixels are painted: a flat intensity, stripes, a checkerboard in the shape's
 * own frame, or a bright centre falling off to the rim. */
typedef enum { TEX_FLAT = 0, TEX_STRIPES, TEX_CHECKER, TEX_RADIAL } texture;

typedef struct {
    texture tex;
    double level;        /* mean intensity */
    double amp;          /* texture amplitude */
    double r0, c0;       /* the shape's centre */
    double cos_t, sin_t; /* the texture's orientation */
    double period;       /* stripes and checker: pixels per cycle */
    double phase;
    double radius; /* radial: the rim */
} paint;

static double paint_at(const paint *p, double r, double c)
{
    double dr = r - p->r0, dc = c - p->c0;
    double u = dr * p->cos_t + dc * p->sin_t, v = -dr * p->sin_t + dc * p->cos_t;
    switch (p->tex) {
    case TEX_FLAT: return p->level;
    case TEX_STRIPES: return p->level + p->amp * sin(2 * PI * u / p->period + p->phase);
    case TEX_CHECKER: {
        long a = (long)floor(u / (0.5 * p->period) + 64.0),
             b = (long)floor(v / (0.5 * p->period) + 64.0);
        return p->level + ((a + b) & 1 ? p->amp : -p->amp);
    }
    case TEX_RADIAL: {
        double d = sqrt(dr * dr + dc * dc) / p->radius;
        return p->level + p->amp * (1.0 - 2.0 * (d > 1 ? 1 : d));
    }
    }
    return p->level;
}

/* Paint the pixels set in mask (then clear it); label them when lab is not NULL. */
static void apply(float *img, int32_t *lab, int32_t cls, uint8_t *mask, int64_t h, int64_t w,
                  const paint *p)
{
    for (int64_t r = 0; r < h; r++)
        for (int64_t c = 0; c < w; c++) {
            int64_t j = r * w + c;
            if (!mask[j]) continue;
            mask[j] = 0;
            img[j] = (float)paint_at(p, (double)r, (double)c);
            if (lab) lab[j] = cls;
        }
}

/* A rectangle of half-sizes (a, b) at (r0, c0), turned by t, as a polygon. */
static sl_status draw_box(uint8_t *mask, int64_t h, int64_t w, double r0, double c0, double a,
                          double b, double t, sl_error *err)
{
    static const double su[4] = {-1, -1, 1, 1}, sv[4] = {-1, 1, 1, -1};
    double rows[4], cols[4], ct = cos(t), st = sin(t);
    for (int k = 0; k < 4; k++) {
        double u = su[k] * a, v = sv[k] * b;
        rows[k] = r0 + u * ct - v * st;
        cols[k] = c0 + u * st + v * ct;
    }
    return sl_draw_polygon(mask, h, w, rows, cols, 4, err);
}

static sl_status render_one(float *img, int32_t *lab, uint8_t *mask, int64_t h, int64_t w,
                            sl_rng *rng, sl_error *err)
{
    double H = (double)h, W = (double)w, S = H < W ? H : W;
    sl_status st;
    /* Background: a level, a gentle slope and a slow wave. */
    double b0 = uni(rng, 0.12, 0.3), gr = uni(rng, -0.12, 0.12), gc = uni(rng, -0.12, 0.12);
    double wa = uni(rng, 0.03, 0.07), wt = uni(rng, 0, PI), wf = uni(rng, 1.0, 2.5) / S,
           wp = uni(rng, 0, 2 * PI);
    for (int64_t r = 0; r < h; r++)
        for (int64_t c = 0; c < w; c++) {
            double u = (double)r * cos(wt) + (double)c * sin(wt);
            img[r * w + c] = (float)(b0 + gr * ((double)r / H - 0.5) + gc * ((double)c / W - 0.5) +
                                     wa * sin(2 * PI * wf * u + wp));
            if (lab) lab[r * w + c] = 0;
        }
    /* Clutter: small disks, thin bars and triangles anywhere, of any object's brightness. */
    int nclutter = 3 + (int)sl_rng_randint(rng, 4);
    for (int k = 0; k < nclutter; k++) {
        int kind = (int)sl_rng_randint(rng, 3);
        double r0 = uni(rng, 0, H), c0 = uni(rng, 0, W), t = uni(rng, 0, PI);
        paint p = {TEX_FLAT, uni(rng, 0.3, 0.9), 0, r0, c0, 1, 0, 4, 0, 1};
        if (kind == 0) {
            double rad = uni(rng, S / 24, S / 12);
            if (rad < 1.5) rad = 1.5;
            st = sl_draw_disk(mask, h, w, r0, c0, rad, err);
        } else if (kind == 1) {
            double half = uni(rng, S / 10, S / 5), thick = uni(rng, 0.6, 1.2);
            st = draw_box(mask, h, w, r0, c0, half, thick, t, err);
        } else {
            double s = uni(rng, S / 12, S / 7);
            double rows[3], cols[3];
            for (int q = 0; q < 3; q++) {
                rows[q] = r0 + s * cos(t + 2 * PI * q / 3);
                cols[q] = c0 + s * sin(t + 2 * PI * q / 3);
            }
            st = sl_draw_polygon(mask, h, w, rows, cols, 3, err);
        }
        if (st != SL_OK) return st;
        apply(img, NULL, 0, mask, h, w, &p);
    }
    /* The post's three objects, jittered: an ellipse (striped), a square (checkered), a circle
     * (bright centre); later ones on top, as the post's label maps. */
    double jr = H / 20, jc = W / 20;
    {
        double r0 = H / 4 + uni(rng, -jr, jr), c0 = W / 4 + uni(rng, -jc, jc);
        double ra = H / 6 * uni(rng, 0.8, 1.15), ca = W / 6 * uni(rng, 0.8, 1.15);
        double t = uni(rng, 0, PI);
        paint p = {TEX_STRIPES, 0.55 + uni(rng, -0.07, 0.07), 0.12, r0, c0, cos(t), sin(t),
                   4.0,         uni(rng, 0, 2 * PI),          1};
        if ((st = sl_draw_ellipse(mask, h, w, r0, c0, ra, ca, t, err)) != SL_OK) return st;
        apply(img, lab, 1, mask, h, w, &p);
    }
    {
        double r0 = 3 * H / 4 + uni(rng, -jr, jr), c0 = 3 * W / 4 + uni(rng, -jc, jc);
        double a = H / 6 * uni(rng, 0.8, 1.1), t = uni(rng, 0, PI / 2);
        paint p = {
            TEX_CHECKER, 0.62 + uni(rng, -0.07, 0.07), 0.1, r0, c0, cos(t), sin(t), 4.0, 0, 1};
        if ((st = draw_box(mask, h, w, r0, c0, a, a, t, err)) != SL_OK) return st;
        apply(img, lab, 2, mask, h, w, &p);
    }
    {
        double r0 = H / 2 + uni(rng, -jr, jr), c0 = W / 2 + uni(rng, -jc, jc);
        double rad = H / 6 * uni(rng, 0.8, 1.15);
        paint p = {TEX_RADIAL, 0.7 + uni(rng, -0.07, 0.07), 0.15, r0, c0, 1, 0, 4, 0, rad};
        if ((st = sl_draw_disk(mask, h, w, r0, c0, rad, err)) != SL_OK) return st;
        apply(img, lab, 3, mask, h, w, &p);
    }
    /* Sensor noise. */
    for (int64_t j = 0; j < h * w; j++)
        img[j] += (float)(0.05 * sl_rng_normal(rng));
    return SL_OK;
}

sl_status sl_images_render(float *images, int32_t *labels, int64_t n, int64_t h, int64_t w,
                           uint32_t seed, uint32_t stream, sl_error *err)
{
    if (n < 1)
        return sl__fail(err, SL_E_SHAPE, "the number of images must be >= 1, got %lld",
                        (long long)n);
    if (h < SL_IMAGES_MIN_SIDE || w < SL_IMAGES_MIN_SIDE)
        return sl__fail(err, SL_E_SHAPE, "images must be at least %dx%d, got %lldx%lld",
                        SL_IMAGES_MIN_SIDE, SL_IMAGES_MIN_SIDE, (long long)h, (long long)w);
    if (h > 4096 || w > 4096 || n > ((int64_t)1 << 40) / (h * w))
        return sl__fail(err, SL_E_SHAPE, "%lld images of %lldx%lld are too many pixels",
                        (long long)n, (long long)h, (long long)w);
    int64_t p = h * w;
    uint8_t *mask = calloc((size_t)p, 1);
    float *scratch = images ? NULL : malloc((size_t)p * sizeof(float));
    if (!mask || (!images && !scratch)) {
        free(mask);
        free(scratch);
        return sl__fail(err, SL_E_NOMEM, "out of memory for %lldx%lld images", (long long)h,
                        (long long)w);
    }
    sl_status st = SL_OK;
    for (int64_t i = 0; i < n && st == SL_OK; i++) {
        sl_rng rng;
        sl_rng_seed(&rng, image_seed(seed, stream, i));
        st = render_one(images ? images + i * p : scratch, labels ? labels + i * p : NULL, mask, h,
                        w, &rng, err);
    }
    free(mask);
    free(scratch);
    return st;
}

sl_status sl_images_drop(int32_t *labels, int64_t n, int64_t p, double rate, unsigned classes,
                         uint32_t seed, uint8_t *dropped, int64_t *counts, sl_error *err)
{
    if (!(rate >= 0 && rate <= 1))
        return sl__fail(err, SL_E_ARG, "the missing rate must be in [0, 1], got %g", rate);
    if (classes == 0) classes = 0xEu;
    if (classes & ~0xEu)
        return sl__fail(err, SL_E_ARG, "only object classes 1..%d can lose annotations", SL_NOBJ);
    if (counts)
        for (int c = 0; c < SL_NCLASS; c++)
            counts[c] = 0;
    for (int64_t i = 0; i < n; i++) {
        int32_t *lab = labels + i * p;
        sl_rng rng;
        sl_rng_seed(&rng, image_seed(seed, 2u, i));
        int present[SL_NCLASS] = {0}, drop[SL_NCLASS] = {0};
        for (int64_t j = 0; j < p; j++)
            if (lab[j] > 0 && lab[j] < SL_NCLASS) present[lab[j]] = 1;
        for (int c = 1; c < SL_NCLASS; c++) {
            double u = sl_rng_uniform(&rng); /* drawn whatever the rate: drops nest */
            drop[c] = present[c] && (classes >> c & 1u) && u < rate;
            if (drop[c] && counts) counts[c]++;
        }
        for (int64_t j = 0; j < p; j++)
            if (lab[j] > 0 && lab[j] < SL_NCLASS && drop[lab[j]]) lab[j] = 0;
        if (dropped)
            for (int c = 0; c < SL_NCLASS; c++)
                dropped[i * SL_NCLASS + c] = (uint8_t)drop[c];
    }
    return SL_OK;
}
