/* Exact Euclidean distance transforms. See src/edt.h and docs/distance.md, "The distance
 * transform".
 *
 * The squared Euclidean distance is separable: with f_0 = 0 at feature points and +inf
 * elsewhere, f_a(x) = min_{p on x's line along axis a} f_{a-1}(p) + (s_a (x_a - p_a))^2 after
 * the passes over axes 0, 1, ..., nd-1 is the squared distance to the nearest feature point.
 * The fast path does each line in linear time with Felzenszwalb & Huttenlocher's lower
 * envelope of parabolas; the reference takes the minimum directly. */
#include "edt.h"
#include "internal.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

void sl__grid_make(sl__grid *g, int nd, const int64_t *dim, const double *spacing)
{
    memset(g, 0, sizeof *g);
    g->nd = nd;
    for (int a = 0; a < nd; a++) {
        g->dim[a] = dim[a];
        g->spacing[a] = spacing ? spacing[a] : 1.0;
    }
}

int64_t sl__grid_numel(const sl__grid *g)
{
    int64_t n = 1;
    for (int a = 0; a < g->nd; a++) n *= g->dim[a];
    return n;
}

static int64_t longest(const sl__grid *g)
{
    int64_t L = 1;
    for (int a = 0; a < g->nd; a++)
        if (g->dim[a] > L) L = g->dim[a];
    return L;
}

static size_t al64(size_t n)
{
    return (n + 63) & ~(size_t)63;
}

/* f[L], out[L], z[L + 1] doubles and v[L] indices. */
size_t sl__edt_scratch_size(const sl__grid *g)
{
    size_t L = (size_t)longest(g);
    return 64 + 3 * al64(L * sizeof(double)) + al64((L + 1) * sizeof(double)) +
           al64(L * sizeof(int64_t));
}

/* One line: out[q] = min_p f[p] + (w (q - p))^2, ignoring p with f[p] = inf (no parabola).
 * v: the envelope's parabolas (their apex indices), z: the boundaries between them. */
static void fh_line(const double *f, int64_t n, double w, double *out, int64_t *v, double *z)
{
    int64_t k = -1;
    for (int64_t q = 0; q < n; q++) {
        if (f[q] == INFINITY) continue;
        double xq = w * (double)q, hq = f[q] + xq * xq;
        if (k < 0) {
            k = 0;
            v[0] = q;
            z[0] = -INFINITY;
            z[1] = INFINITY;
            continue;
        }
        double s;
        for (;;) {
            double xp = w * (double)v[k];
            /* Where the parabola at q starts to lie below the one at v[k]. s is finite and
             * z[0] = -inf, so the loop stops at k = 0 at the latest. */
            s = (hq - (f[v[k]] + xp * xp)) / (2.0 * (xq - xp));
            if (s > z[k]) break;
            k--;
        }
        k++;
        v[k] = q;
        z[k] = s;
        z[k + 1] = INFINITY;
    }
    if (k < 0) {
        for (int64_t q = 0; q < n; q++) out[q] = INFINITY;
        return;
    }
    int64_t j = 0;
    for (int64_t q = 0; q < n; q++) {
        double xq = w * (double)q;
        while (z[j + 1] < xq) j++;
        double dq = w * (double)(q - v[j]);
        out[q] = f[v[j]] + dq * dq;
    }
}

/* Strides of the grid's axes (C order). */
static void strides(const sl__grid *g, int64_t *st)
{
    int64_t s = 1;
    for (int a = g->nd - 1; a >= 0; a--) {
        st[a] = s;
        s *= g->dim[a];
    }
}

void sl__edt_sq(double *d, const sl__grid *g, void *scratch)
{
    int64_t L = longest(g), numel = sl__grid_numel(g), st[SL_EDT_MAX_AXES];
    unsigned char *p = (unsigned char *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    double *f = (double *)(void *)p;
    p += al64((size_t)L * sizeof(double));
    double *out = (double *)(void *)p;
    p += al64((size_t)L * sizeof(double));
    double *z = (double *)(void *)p;
    p += al64((size_t)(L + 1) * sizeof(double));
    int64_t *v = (int64_t *)(void *)p;
    strides(g, st);
    for (int a = 0; a < g->nd; a++) {
        int64_t n = g->dim[a], s = st[a];
        double w = g->spacing[a];
        /* The lines along axis a: outer blocks of n * s points, s lines in each. */
        for (int64_t o = 0; o < numel; o += n * s)
            for (int64_t in = 0; in < s; in++) {
                double *x = d + o + in;
                for (int64_t q = 0; q < n; q++) f[q] = x[q * s];
                fh_line(f, n, w, out, v, z);
                for (int64_t q = 0; q < n; q++) x[q * s] = out[q];
            }
    }
}

void sl__edt_sq_ref(double *d, const sl__grid *g, double *line)
{
    int64_t numel = sl__grid_numel(g), st[SL_EDT_MAX_AXES];
    strides(g, st);
    for (int a = 0; a < g->nd; a++) {
        int64_t n = g->dim[a], s = st[a];
        double w = g->spacing[a];
        for (int64_t i = 0; i < numel; i++) {
            if ((i / s) % n != 0) continue; /* i is not the first point of its line */
            for (int64_t q = 0; q < n; q++) line[q] = d[i + q * s];
            for (int64_t q = 0; q < n; q++) {
                double best = INFINITY;
                for (int64_t r = 0; r < n; r++) {
                    if (line[r] == INFINITY) continue;
                    double dq = w * (double)(q - r);
                    double v = line[r] + dq * dq;
                    if (v < best) best = v;
                }
                d[i + q * s] = best;
            }
        }
    }
}

int sl__edt_two_sided(const uint8_t *mask, const sl__grid *g, double *out, double *buf,
                      void *scratch)
{
    int64_t numel = sl__grid_numel(g), in = 0;
    for (int64_t i = 0; i < numel; i++) in += mask[i] != 0;
    if (in == 0 || in == numel) {
        for (int64_t i = 0; i < numel; i++) out[i] = 0.0;
        return in == 0 ? 0 : 2;
    }
    /* Outside: the distance to the mask (features: the mask's points). */
    for (int64_t i = 0; i < numel; i++) buf[i] = mask[i] ? 0.0 : INFINITY;
    sl__edt_sq(buf, g, scratch);
    for (int64_t i = 0; i < numel; i++) out[i] = mask[i] ? 0.0 : sqrt(buf[i]);
    /* Inside: the distance to the outside. */
    for (int64_t i = 0; i < numel; i++) buf[i] = mask[i] ? INFINITY : 0.0;
    sl__edt_sq(buf, g, scratch);
    for (int64_t i = 0; i < numel; i++)
        if (mask[i]) out[i] = sqrt(buf[i]);
    return 1;
}

size_t sl_edt_workspace_size(int nd, const int64_t *dim)
{
    if (nd < 1 || nd > SL_EDT_MAX_AXES) return 0;
    sl__grid g;
    sl__grid_make(&g, nd, dim, NULL);
    return sl__edt_scratch_size(&g);
}

sl_status sl_edt(const uint8_t *mask, int nd, const int64_t *dim, const double *spacing,
                 double *out, void *workspace, size_t workspace_size, sl_error *err)
{
    if (nd < 1 || nd > SL_EDT_MAX_AXES)
        return sl__fail(err, SL_E_SHAPE, "edt: %d axes; 1 to 3 are supported", nd);
    for (int a = 0; a < nd; a++) {
        if (dim[a] < 1)
            return sl__fail(err, SL_E_SHAPE, "edt: axis %d has size %lld", a, (long long)dim[a]);
        if (spacing && !(spacing[a] > 0 && isfinite(spacing[a])))
            return sl__fail(err, SL_E_ARG, "edt: spacing[%d] = %g must be finite and > 0", a,
                            spacing[a]);
    }
    sl__grid g;
    sl__grid_make(&g, nd, dim, spacing);
    if (workspace_size < sl__edt_scratch_size(&g) || !workspace)
        return sl__fail(err, SL_E_ARG, "edt: workspace of %zu bytes is too small: need %zu",
                        workspace_size, sl__edt_scratch_size(&g));
    int64_t numel = sl__grid_numel(&g);
    for (int64_t i = 0; i < numel; i++) out[i] = mask[i] ? INFINITY : 0.0;
    sl__edt_sq(out, &g, workspace);
    for (int64_t i = 0; i < numel; i++) out[i] = sqrt(out[i]);
    return SL_OK;
}
