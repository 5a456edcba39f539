/* Ellipses, polygons and disks rasterised as scikit-image 0.19's skimage.draw does. Each step
 * repeats skimage's float64 operations in the same order, so the same pixels come out: which
 * pixels lie exactly on an outline is decided by rounding, and only the same arithmetic
 * rounds the same way.
 *
 * sin and cos come from sl__sincos (src/trig.c): correctly rounded, the same on every machine,
 * so the same seed draws the same pixels everywhere. skimage takes them from numpy, whose values
 * differ from the correctly rounded ones for some angles on some machines (docs/data.md); only
 * there can a pixel exactly on an outline come out differently. */
#include "internal.h"
#include "segloss_data.h"

#include <math.h>

static const double PI = 3.141592653589793; /* np.pi */

/* Bounding boxes are clamped to this before conversion to int64, so that no conversion or
 * size computation overflows whatever the inputs. */
static const double BOX_LIMIT = 1152921504606846976.0; /* 2^60 */

/* Python's float `%` (and numpy's): the result takes the sign of the divisor. */
static double py_mod(double a, double b)
{
    double m = fmod(a, b);
    if (m != 0.0) {
        if ((b < 0) != (m < 0)) m += b;
    } else {
        m = copysign(0.0, b);
    }
    return m;
}

static double clamp_box(double x)
{
    if (x < -BOX_LIMIT) return -BOX_LIMIT;
    if (x > BOX_LIMIT) return BOX_LIMIT;
    return x;
}

/* A bounding box in pixels: the first row and column, and the numbers of rows and columns. */
typedef struct {
    int64_t r0, c0, nr, nc;
} box;

/* The box of rows r0..r1 and columns c0..c1 (whole numbers as doubles), clamped to BOX_LIMIT,
 * clipped to the image when shape is given (the bottom ends to 0, the top ends to shape - 1).
 * Returns 0, 1 for an empty box, -1 for one of more than max_box pixels (without overflow). */
static int make_box(double r0, double c0, double r1, double c1, const int64_t *shape,
                    int64_t max_box, box *b)
{
    r0 = clamp_box(r0), c0 = clamp_box(c0), r1 = clamp_box(r1), c1 = clamp_box(c1);
    if (shape) {
        if (r0 < 0) r0 = 0;
        if (c0 < 0) c0 = 0;
        if (r1 > (double)(shape[0] - 1)) r1 = (double)(shape[0] - 1);
        if (c1 > (double)(shape[1] - 1)) c1 = (double)(shape[1] - 1);
    }
    b->r0 = (int64_t)r0, b->c0 = (int64_t)c0;
    b->nr = (int64_t)r1 - b->r0 + 1, b->nc = (int64_t)c1 - b->c0 + 1;
    if (b->nr <= 0 || b->nc <= 0) return 1;
    return b->nr > max_box / b->nc ? -1 : 0;
}

int sl__ellipse_visit(double r, double c, double r_radius, double c_radius, double rotation,
                      const int64_t *shape, int64_t max_box,
                      int (*put)(void *ctx, int64_t row, int64_t col), void *ctx)
{
    /* skimage.draw.ellipse: `rotation %= np.pi`, then the rotated half-extents. */
    double rot = py_mod(rotation, PI);
    double sin_a, cos_a;
    sl__sincos(rot, &sin_a, &cos_a);
    double r_ext = fabs(r_radius * cos_a) + c_radius * sin_a;
    double c_ext = r_radius * sin_a + fabs(c_radius * cos_a);
    box bx;
    int rb = make_box(ceil(r - r_ext), ceil(c - c_ext), floor(r + r_ext), floor(c + c_ext), shape,
                      max_box, &bx);
    if (rb) return rb < 0 ? -1 : 0;
    int64_t ur = bx.r0, uc = bx.c0, nr = bx.nr, nc = bx.nc;

    /* A zero radius divides by zero in skimage: inf or nan distances, never < 1. */
    if (r_radius == 0.0 || c_radius == 0.0) return 0;

    /* _ellipse_in_shape: the centre relative to the box corner, and `rotation %= np.pi` once
     * more (it moves a rotation that rounded up to exactly pi back to 0). */
    double sr = r - (double)ur, sc = c - (double)uc;
    double rot2 = py_mod(rot, PI);
    double s, co;
    sl__sincos(rot2, &s, &co);
    for (int64_t i = 0; i < nr; i++) {
        double dr = (double)i - sr;
        double dr_cos = dr * co, dr_sin = dr * s;
        for (int64_t j = 0; j < nc; j++) {
            double dc = (double)j - sc;
            /* ((r*cos + c*sin) / r_rad)**2 + ((r*sin - c*cos) / c_rad)**2, one rounding per
             * operation as numpy does: separate statements keep a compiler from fusing. */
            double dc_sin = dc * s, dc_cos = dc * co;
            double u = (dr_cos + dc_sin) / r_radius;
            double v = (dr_sin - dc_cos) / c_radius;
            double uu = u * u, vv = v * v;
            double d = uu + vv;
            if (d < 1.0) {
                int rc = put(ctx, ur + i, uc + j);
                if (rc) return rc;
            }
        }
    }
    return 0;
}

/* skimage/_shared/geometry.pyx point_in_polygon (O'Rourke's crossing test): nonzero for
 * inside, on a vertex (within 1e-12) or on an edge; skimage draws all three. */
static int point_in_polygon(const double *xp, const double *yp, int64_t n, double x, double y)
{
    const double eps = 1e-12;
    unsigned r_cross = 0, l_cross = 0;
    double x1 = xp[n - 1] - x, y1 = yp[n - 1] - y;
    for (int64_t i = 0; i < n; i++) {
        double x0 = xp[i] - x, y0 = yp[i] - y;
        if (-eps < x0 && x0 < eps && -eps < y0 && y0 < eps) return 1; /* a vertex */
        if ((y0 > 0) != (y1 > 0)) {
            double a = x0 * y1, b = x1 * y0;
            if ((a - b) / (y1 - y0) > 0) r_cross++;
        }
        if ((y0 < 0) != (y1 < 0)) {
            double a = x0 * y1, b = x1 * y0;
            if ((a - b) / (y1 - y0) < 0) l_cross++;
        }
        x1 = x0;
        y1 = y0;
    }
    if ((r_cross & 1u) != (l_cross & 1u)) return 1; /* on an edge */
    return (int)(r_cross & 1u);
}

int sl__polygon_visit(const double *rows, const double *cols, int64_t npoints, const int64_t *shape,
                      int64_t max_box, int (*put)(void *ctx, int64_t row, int64_t col), void *ctx)
{
    double rmin = rows[0], rmax = rows[0], cmin = cols[0], cmax = cols[0];
    for (int64_t i = 1; i < npoints; i++) {
        rmin = fmin(rmin, rows[i]);
        rmax = fmax(rmax, rows[i]);
        cmin = fmin(cmin, cols[i]);
        cmax = fmax(cmax, cols[i]);
    }
    /* _draw.pyx _polygon: int(max(0, r.min())) .. int(ceil(r.max())), the top end clipped to
     * shape - 1 when a shape is given; the bottom end is never clipped to the shape. */
    box bx;
    int rb = make_box(floor(rmin > 0 ? rmin : 0), floor(cmin > 0 ? cmin : 0), ceil(rmax),
                      ceil(cmax), shape, max_box, &bx);
    if (rb) return rb < 0 ? -1 : 0;
    for (int64_t i = bx.r0; i < bx.r0 + bx.nr; i++) {
        for (int64_t j = bx.c0; j < bx.c0 + bx.nc; j++) {
            if (point_in_polygon(cols, rows, npoints, (double)j, (double)i)) {
                int rc = put(ctx, i, j);
                if (rc) return rc;
            }
        }
    }
    return 0;
}

typedef struct {
    uint8_t *img;
    int64_t w;
} canvas;

/* The visitors clip to the image, so every pixel they give is inside it. */
static int put_pixel(void *ctx, int64_t row, int64_t col)
{
    canvas *cv = ctx;
    cv->img[row * cv->w + col] = 1;
    return 0;
}

static sl_status check_image(const char *what, const uint8_t *img, int64_t H, int64_t W,
                             sl_error *err)
{
    if (!img) return sl__fail(err, SL_E_ARG, "%s: the image is NULL", what);
    if (H < 1 || W < 1)
        return sl__fail(err, SL_E_ARG, "%s: image size %lld x %lld must be at least 1 x 1", what,
                        (long long)H, (long long)W);
    if (H > INT64_MAX / W)
        return sl__fail(err, SL_E_ARG, "%s: image size %lld x %lld is too large", what,
                        (long long)H, (long long)W);
    return SL_OK;
}

sl_status sl_draw_ellipse(uint8_t *img, int64_t H, int64_t W, double r, double c, double r_radius,
                          double c_radius, double rotation, sl_error *err)
{
    sl_status st = check_image("ellipse", img, H, W, err);
    if (st) return st;
    if (!isfinite(r) || !isfinite(c))
        return sl__fail(err, SL_E_ARG, "ellipse: centre (%g, %g) is not finite", r, c);
    if (!isfinite(r_radius) || !isfinite(c_radius) || r_radius < 0 || c_radius < 0)
        return sl__fail(err, SL_E_ARG, "ellipse: radii (%g, %g) must be finite and >= 0", r_radius,
                        c_radius);
    if (!isfinite(rotation))
        return sl__fail(err, SL_E_ARG, "ellipse: rotation %g is not finite", rotation);
    int64_t shape[2] = {H, W};
    canvas cv = {img, W};
    sl__ellipse_visit(r, c, r_radius, c_radius, rotation, shape, INT64_MAX, put_pixel, &cv);
    return SL_OK;
}

sl_status sl_draw_disk(uint8_t *img, int64_t H, int64_t W, double r, double c, double radius,
                       sl_error *err)
{
    sl_status st = check_image("disk", img, H, W, err);
    if (st) return st;
    if (!isfinite(r) || !isfinite(c))
        return sl__fail(err, SL_E_ARG, "disk: centre (%g, %g) is not finite", r, c);
    if (!isfinite(radius) || radius < 0)
        return sl__fail(err, SL_E_ARG, "disk: radius %g must be finite and >= 0", radius);
    /* skimage.draw.disk is ellipse(r, c, radius, radius, shape) with rotation 0. */
    int64_t shape[2] = {H, W};
    canvas cv = {img, W};
    sl__ellipse_visit(r, c, radius, radius, 0.0, shape, INT64_MAX, put_pixel, &cv);
    return SL_OK;
}

sl_status sl_draw_polygon(uint8_t *img, int64_t H, int64_t W, const double *rows,
                          const double *cols, int64_t npoints, sl_error *err)
{
    sl_status st = check_image("polygon", img, H, W, err);
    if (st) return st;
    if (npoints < 1)
        return sl__fail(err, SL_E_ARG, "polygon: needs at least 1 point, got %lld",
                        (long long)npoints);
    if (!rows || !cols) return sl__fail(err, SL_E_ARG, "polygon: rows or cols is NULL");
    for (int64_t i = 0; i < npoints; i++)
        if (!isfinite(rows[i]) || !isfinite(cols[i]))
            return sl__fail(err, SL_E_ARG, "polygon: point %lld (%g, %g) is not finite",
                            (long long)i, rows[i], cols[i]);
    int64_t shape[2] = {H, W};
    canvas cv = {img, W};
    sl__polygon_visit(rows, cols, npoints, shape, INT64_MAX, put_pixel, &cv);
    return SL_OK;
}
