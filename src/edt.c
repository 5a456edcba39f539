/* Exact Euclidean distance transforms. See src/edt.h and docs/distance.md, "The distance
 * transform".
 *
 * The squared Euclidean distance is separable: with f_0 = 0 at feature points and +inf
 * elsewhere, f_a(x) = min_{p on x's line along axis a} f_{a-1}(p) + (s_a (x_a - p_a))^2 after
 * the passes over axes 0, 1, ..., nd-1 is the squared distance to the nearest feature point.
 *
 * The fast path does axis 0 by two sweeps (f_0 is 0 or inf, so f_1 is the squared distance to
 * the nearest feature on the line: count up from above, then take the minimum with the count
 * from below); its lines are S = numel / dim[0] apart and start at 0..S-1, so the sweeps run
 * over contiguous rows, vectorised across the lines. Every further axis does each line in
 * linear time with Felzenszwalb & Huttenlocher's lower envelope of parabolas (in 64-bit
 * integers on a unit grid, where every value is an integer). The reference takes every line's
 * minimum directly.
 *
 * The two-sided transform (both sides of a mask in one array) keeps in out[i] the transform
 * whose features are the points of the other mask value than i's. Along a line, a run of equal
 * mask values is bounded by points of the other value (features of the run's transform, f = 0)
 * or by the line's ends; a point beyond a bounding feature is farther from every point of the
 * run than that feature, so each run needs only its own points and its bounds: one envelope per
 * run, and one array and one set of passes for both sides. On a unit grid, short runs take the
 * direct minimum, and lines with many runs (salt-and-pepper masks) are done point by point,
 * outward from each point while a nearer one is still possible: the same exact values for
 * less work when the other value is near.
 *
 * Threads: axis 0 is split into column blocks, every further axis into its lines, each thread
 * with its own slot of line scratch. Each point's value is computed by the same operations
 * whatever the split, so the result is the same for any thread count. */
#include "edt.h"
#include "internal.h"

#include <math.h>
#include <stdint.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

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

/* One thread's slot: a line f[L] (strided lines are gathered there and done in place), its
 * mask m[L] (two-sided), the envelope of a line: six arrays of L + 3 8-byte entries, used as
 * doubles and indices (any spacing) or as 64-bit integers (unit spacing), and the counts of a
 * block of up to SWEEP_B columns of axis 0 (two-sided), dim[0] rows. */
typedef struct {
    double *f;
    uint8_t *m;
    void *a[6];
    float *cnt;
} slot_t;

/* Columns per block of the two-sided sweeps of axis 0. */
#define SWEEP_B 32

static size_t slot_layout(const sl__grid *g, unsigned char *p, slot_t *s)
{
    int64_t L = longest(g), S = sl__grid_numel(g) / g->dim[0];
    size_t used = 0, ncnt = (size_t)g->dim[0] * (size_t)(S < SWEEP_B ? S : SWEEP_B);
    void *ptr[9];
    for (int i = 0; i < 9; i++) {
        ptr[i] = p ? p + used : NULL;
        used += al64(i == 0   ? (size_t)L * sizeof(double)
                     : i == 1 ? (size_t)L
                     : i == 8 ? ncnt * sizeof(float)
                              : (size_t)(L + 3) * 8);
    }
    if (s) {
        s->f = ptr[0];
        s->m = ptr[1];
        for (int i = 0; i < 6; i++) s->a[i] = ptr[2 + i];
        s->cnt = ptr[8];
    }
    return used;
}

size_t sl__edt_slot_size(const sl__grid *g)
{
    return slot_layout(g, NULL, NULL);
}

size_t sl__edt_scratch_size_t(const sl__grid *g, int threads)
{
    return 64 + (size_t)(threads > 1 ? threads : 1) * sl__edt_slot_size(g);
}

size_t sl__edt_scratch_size(const sl__grid *g)
{
    return sl__edt_scratch_size_t(g, 1);
}

/* Thread t's slot of the scratch. */
static slot_t slot_of(void *scratch, const sl__grid *g, int t)
{
    unsigned char *p = (unsigned char *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    slot_t s;
    slot_layout(g, p + (size_t)t * sl__edt_slot_size(g), &s);
    return s;
}

int sl__edt_thread(void)
{
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

/* Felzenszwalb & Huttenlocher's lower envelope of the parabolas x -> F + (x - X)^2 (X = s v, v
 * the apex' index, F = f(v)), built left to right. Where a new parabola (at q, position xq)
 * starts to lie below the envelope's last one is sn / sd = (hq - H) / (2 (xq - X)), with
 * hq = f(q) + xq^2 and H = F + X^2; the last one is dropped while that is at or left of where
 * it starts itself, z. The first one's z is -inf, so it stays. The boundaries are kept as
 * fractions z = zn / zd (zd > 0; -inf is -1 / 0, +inf 1 / 0) and compared cross-multiplied:
 * no division. Then the envelope is read off left to right.
 *
 * fh_span (any spacing) computes in doubles; each value is F + (s (q - v))^2 of the parabola
 * found lowest. fh_unit (unit spacing on every axis) computes in 64-bit integers, which is
 * exact (the values are integers) and faster; it is used while 8 L^3 < 2^63 (L the longest
 * axis, below 2^20), which bounds every product. Both give the same values on a unit grid. */

/* Points a..b of a line: out[q] = min_p f(p) + (w (q - p))^2 over p in [a, b] with f[p] finite,
 * plus, when lo0 (hi0), a point at a - 1 (b + 1) with f = 0 (its value in f is not read). The
 * envelope keeps what it needs of f, so out may be f itself. */
static void fh_span(const double *f, int64_t a, int64_t b, int lo0, int hi0, double w,
                    double *out, const slot_t *e)
{
    int64_t *v = e->a[0];
    double *X = e->a[1], *F = e->a[2], *H = e->a[3], *zn = e->a[4], *zd = e->a[5];
    int64_t k = -1;
#define PUSH(Q, FQ)                                                                          \
    do {                                                                                     \
        double fq_ = (FQ), xq_ = w * (double)(Q), hq_ = fq_ + xq_ * xq_, sn_ = -1.0, sd_ = 0.0; \
        while (k >= 0) {                                                                     \
            sn_ = hq_ - H[k];                                                                \
            sd_ = 2.0 * (xq_ - X[k]);                                                        \
            if (sn_ * zd[k] > zn[k] * sd_) break;                                            \
            k--;                                                                             \
        }                                                                                    \
        k++;                                                                                 \
        v[k] = (Q);                                                                          \
        X[k] = xq_;                                                                          \
        F[k] = fq_;                                                                          \
        H[k] = hq_;                                                                          \
        zn[k] = sn_;                                                                         \
        zd[k] = sd_;                                                                         \
    } while (0)
    if (lo0) PUSH(a - 1, 0.0);
    for (int64_t q = a; q <= b; q++)
        if (f[q] != INFINITY) PUSH(q, f[q]);
    if (hi0) PUSH(b + 1, 0.0);
#undef PUSH
    if (k < 0) {
        for (int64_t q = a; q <= b; q++) out[q] = INFINITY;
        return;
    }
    zn[k + 1] = 1.0;
    zd[k + 1] = 0.0;
    int64_t j = 0;
    for (int64_t q = a; q <= b; q++) {
        double xq = w * (double)q;
        while (zn[j + 1] < xq * zd[j + 1]) j++;
        double dq = w * (double)(q - v[j]);
        out[q] = F[j] + dq * dq;
    }
}

/* The same with unit spacing, in integers (f holds integers or +inf), in place. */
static void fh_unit(double *f, int64_t a, int64_t b, int lo0, int hi0, const slot_t *e)
{
    int64_t *X = e->a[0], *F = e->a[1], *H = e->a[2], *zn = e->a[3], *zd = e->a[4];
    int64_t k = -1;
#define PUSH(Q, FQ)                                                                          \
    do {                                                                                     \
        int64_t q_ = (Q), fq_ = (FQ), hq_ = fq_ + q_ * q_, sn_ = -1, sd_ = 0;                \
        while (k >= 0) {                                                                     \
            sn_ = hq_ - H[k];                                                                \
            sd_ = 2 * (q_ - X[k]);                                                           \
            if (sn_ * zd[k] > zn[k] * sd_) break;                                            \
            k--;                                                                             \
        }                                                                                    \
        k++;                                                                                 \
        X[k] = q_;                                                                           \
        F[k] = fq_;                                                                          \
        H[k] = hq_;                                                                          \
        zn[k] = sn_;                                                                         \
        zd[k] = sd_;                                                                         \
    } while (0)
    if (lo0) PUSH(a - 1, 0);
    for (int64_t q = a; q <= b; q++)
        if (f[q] != INFINITY) PUSH(q, (int64_t)f[q]);
    if (hi0) PUSH(b + 1, 0);
#undef PUSH
    if (k < 0) {
        for (int64_t q = a; q <= b; q++) f[q] = INFINITY;
        return;
    }
    zn[k + 1] = 1;
    zd[k + 1] = 0;
    int64_t j = 0;
    for (int64_t q = a; q <= b; q++) {
        while (zn[j + 1] < q * zd[j + 1]) j++;
        int64_t dq = q - X[j];
        f[q] = (double)(F[j] + dq * dq);
    }
}

/* Runs shorter than this (unit spacing) take the direct minimum: for a few points it costs less
 * than building an envelope (salt-and-pepper masks are all short runs). */
#define SHORT_RUN 8

/* The direct minimum over points a..b (and the bounds at a - 1, b + 1 with f = 0), unit
 * spacing, b - a < SHORT_RUN, in place: outward from q while a point could still be nearer
 * (d^2 below the best so far). Integers in doubles: exact, the envelope's values. */
static void short_unit(double *f, int64_t a, int64_t b, int lo0, int hi0)
{
    double out[SHORT_RUN];
    for (int64_t q = a; q <= b; q++) {
        double best = f[q];
        int64_t left = q - a, right = b - q, far = left > right ? left : right;
        if (lo0) {
            double v = (double)((left + 1) * (left + 1));
            best = v < best ? v : best;
        }
        if (hi0) {
            double v = (double)((right + 1) * (right + 1));
            best = v < best ? v : best;
        }
        for (int64_t k = 1; k <= far && (double)(k * k) < best; k++) {
            double kk = (double)(k * k);
            if (k <= left && f[q - k] + kk < best) best = f[q - k] + kk;
            if (k <= right && f[q + k] + kk < best) best = f[q + k] + kk;
        }
        out[q - a] = best;
    }
    for (int64_t q = a; q <= b; q++) f[q] = out[q - a];
}

static void fh(double *f, int64_t a, int64_t b, int lo0, int hi0, double w, int unit,
               const slot_t *e)
{
    if (unit && b - a < SHORT_RUN)
        short_unit(f, a, b, lo0, hi0);
    else if (unit)
        fh_unit(f, a, b, lo0, hi0, e);
    else
        fh_span(f, a, b, lo0, hi0, w, f, e);
}

/* The end of the run of mask values equal to m[a] that starts at a (the last index of the
 * run). With a 0/1 mask (binary), eight bytes at a time where the byte order allows. */
static int64_t run_end(const uint8_t *m, int64_t a, int64_t n, int binary)
{
    int64_t q = a + 1;
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (binary) {
        uint64_t pat = m[a] ? 0x0101010101010101u : 0u;
        for (; q + 8 <= n; q += 8) {
            uint64_t x;
            memcpy(&x, m + q, 8);
            x ^= pat;
            if (x) return q + __builtin_ctzll(x) / 8 - 1;
        }
    }
#else
    (void)binary;
#endif
    if (m[a])
        while (q < n && m[q]) q++;
    else
        while (q < n && !m[q]) q++;
    return q - 1;
}

/* A two-sided line with many runs (unit spacing, binary mask), in place: each point's minimum
 * directly, outward from it while a point could still be nearer (k^2 below the best so far);
 * a point of the other value counts f = 0 (a feature of this point's side), one of the same
 * value its f. That is the envelope's minimum over the whole line, exactly; when the points of
 * the other value are near (salt-and-pepper masks) it stops after a step or two, and costs
 * less than the envelopes of many short runs. The first step (k = 1) is one vectorised sweep
 * for every point; the points it leaves above 4 go on from k = 2. It gives up (returns 0, f
 * untouched) when a point needs more than NEAR_K steps: the work stays O(NEAR_K n). out: n
 * doubles of scratch. */
#define NEAR_K 32
static int near_unit(double *f, const uint8_t *m, int64_t n, double *out)
{
    out[0] = f[0];
    if (n > 1) {
        double c0 = m[1] == m[0] ? f[1] + 1.0 : 1.0, c1 = m[n - 2] == m[n - 1] ? f[n - 2] + 1.0 : 1.0;
        out[0] = c0 < f[0] ? c0 : f[0];
        out[n - 1] = c1 < f[n - 1] ? c1 : f[n - 1];
    }
#ifdef _OPENMP
#pragma omp simd
#endif
    for (int64_t q = 1; q < n - 1; q++) {
        /* a neighbour's f, or 0 when it has the other value: min(f, inf or 0) */
        double sl = m[q - 1] == m[q] ? INFINITY : 0.0, sr = m[q + 1] == m[q] ? INFINITY : 0.0;
        double l = (f[q - 1] < sl ? f[q - 1] : sl) + 1.0, r = (f[q + 1] < sr ? f[q + 1] : sr) + 1.0;
        double b = f[q];
        b = l < b ? l : b;
        out[q] = r < b ? r : b;
    }
    for (int64_t q = 0; q < n; q++) {
        double best = out[q];
        if (!(best > 4.0)) continue;
        uint8_t mq = m[q];
        for (int64_t k = 2; (double)(k * k) < best && (k <= q || q + k < n); k++) {
            if (k > NEAR_K) return 0;
            double kk = (double)(k * k);
            if (k <= q) {
                double v = (m[q - k] == mq ? f[q - k] : 0.0) + kk;
                best = v < best ? v : best;
            }
            if (q + k < n) {
                double v = (m[q + k] == mq ? f[q + k] : 0.0) + kk;
                best = v < best ? v : best;
            }
        }
        out[q] = best;
    }
    memcpy(f, out, (size_t)n * sizeof(double));
    return 1;
}

/* A line along an axis after the first, in place: one envelope over the whole line
 * (one-sided), or one per run of equal mask values, bounded by the points of the other value
 * next to it (two-sided); a line with many runs (a run per NEAR_RUNS points or more) is done
 * point by point (near_unit). */
#define NEAR_RUNS 6
static void line_pass(double *f, const uint8_t *m, int binary, int64_t n, double w, int unit,
                      const slot_t *e)
{
    if (!m) {
        fh(f, 0, n - 1, 0, 0, w, unit, e);
        return;
    }
    if (unit && binary) {
        int64_t changes = 0;
#ifdef _OPENMP
#pragma omp simd reduction(+ : changes)
#endif
        for (int64_t q = 1; q < n; q++) changes += m[q] != m[q - 1];
        if (changes * NEAR_RUNS >= n && near_unit(f, m, n, e->a[0])) return;
    }
    for (int64_t a = 0; a < n;) {
        int64_t b = run_end(m, a, n, binary);
        fh(f, a, b, a > 0, b + 1 < n, w, unit, e);
        a = b + 1;
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

/* Axis 0 by sweeps, columns [j0, j1) of the S = numel / n0 lines (which are S apart and start
 * at 0..S-1, so the sweeps run over contiguous rows, vectorised across the lines). One-sided
 * (m NULL): the distance to the nearest d == 0 on the line; two-sided: to the nearest point
 * whose mask value differs. Counts up from above first, then the minimum with the count from
 * below (a point's distance is min(its count from above, the distance of the point below + 1)
 * unless it is a feature, or its neighbour below has the other value), squared with the spacing
 * once used. */
static void sweep_axis0(double *d, const uint8_t *m, int64_t n0, int64_t S, double w, int64_t j0,
                        int64_t j1)
{
    /* Written as minima with a constant chosen per point (1 or inf, 0 or inf), the form that
     * vectorises. All counts are >= 1 outside features, so min(count, 1) = 1. */
    if (!m) {
#ifdef _OPENMP
#pragma omp simd
#endif
        for (int64_t j = j0; j < j1; j++) d[j] = d[j] == 0.0 ? 0.0 : INFINITY;
        for (int64_t r = 1; r < n0; r++) {
            double *row = d + r * S;
            const double *up = row - S;
#ifdef _OPENMP
#pragma omp simd
#endif
            for (int64_t j = j0; j < j1; j++) {
                double u = up[j] + 1.0, c = row[j] == 0.0 ? 0.0 : INFINITY;
                row[j] = u < c ? u : c;
            }
        }
        for (int64_t r = n0 - 2; r >= 0; r--) {
            double *row = d + r * S, *dn = row + S;
#ifdef _OPENMP
#pragma omp simd
#endif
            for (int64_t j = j0; j < j1; j++) {
                double t = dn[j] + 1.0, x = w * dn[j], u = row[j];
                row[j] = t < u ? t : u;
                dn[j] = x * x;
            }
        }
    } else {
#ifdef _OPENMP
#pragma omp simd
#endif
        for (int64_t j = j0; j < j1; j++) d[j] = INFINITY;
        for (int64_t r = 1; r < n0; r++) {
            double *row = d + r * S;
            const double *up = row - S;
            const uint8_t *mr = m + r * S, *mu = mr - S;
#ifdef _OPENMP
#pragma omp simd
#endif
            for (int64_t j = j0; j < j1; j++) {
                double u = up[j] + 1.0, c = (mr[j] == 0) != (mu[j] == 0) ? 1.0 : INFINITY;
                row[j] = u < c ? u : c;
            }
        }
        for (int64_t r = n0 - 2; r >= 0; r--) {
            double *row = d + r * S, *dn = row + S;
            const uint8_t *mr = m + r * S, *md = mr + S;
#ifdef _OPENMP
#pragma omp simd
#endif
            for (int64_t j = j0; j < j1; j++) {
                double t = dn[j] + 1.0, x = w * dn[j], u = row[j];
                double c = (mr[j] == 0) != (md[j] == 0) ? 1.0 : INFINITY;
                t = t < u ? t : u;
                row[j] = t < c ? t : c;
                dn[j] = x * x;
            }
        }
    }
#ifdef _OPENMP
#pragma omp simd
#endif
    for (int64_t j = j0; j < j1; j++) {
        double x = w * d[j];
        d[j] = x * x;
    }
}

/* The two-sided sweeps of axis 0 (as sweep_axis0) over columns [j0, j0 + nb), nb <= SWEEP_B,
 * with the counts as floats in the slot (exact: they are below n0 < 2^24): 32-bit lanes are
 * what the byte mask widens to cheaply. Each result is written once, squared, as a double. */
static void sweep2_block(double *d, const uint8_t *m, int64_t n0, int64_t S, double w, int64_t j0,
                         int64_t nb, float *cnt)
{
    const int64_t B = S < SWEEP_B ? S : SWEEP_B; /* the counts' row stride */
    for (int64_t jj = 0; jj < nb; jj++) cnt[jj] = INFINITY;
    for (int64_t r = 1; r < n0; r++) {
        const uint8_t *mr = m + r * S + j0, *mu = mr - S;
        float *cr = cnt + r * B;
        const float *cu = cr - B;
#ifdef _OPENMP
#pragma omp simd
#endif
        for (int64_t jj = 0; jj < nb; jj++) {
            float u = cu[jj] + 1.0f, c = (mr[jj] == 0) != (mu[jj] == 0) ? 1.0f : INFINITY;
            cr[jj] = u < c ? u : c;
        }
    }
    {
        const float *cl = cnt + (n0 - 1) * B;
        double *dl = d + (n0 - 1) * S + j0;
        for (int64_t jj = 0; jj < nb; jj++) {
            double x = w * (double)cl[jj];
            dl[jj] = x * x;
        }
    }
    for (int64_t r = n0 - 2; r >= 0; r--) {
        const uint8_t *mr = m + r * S + j0, *md = mr + S;
        float *cr = cnt + r * B;
        const float *cd = cr + B;
        double *dr = d + r * S + j0;
#ifdef _OPENMP
#pragma omp simd
#endif
        for (int64_t jj = 0; jj < nb; jj++) {
            float t = cd[jj] + 1.0f, u = cr[jj];
            float c = (mr[jj] == 0) != (md[jj] == 0) ? 1.0f : INFINITY;
            t = t < u ? t : u;
            t = t < c ? t : c;
            cr[jj] = t;
            double x = w * (double)t;
            dr[jj] = x * x;
        }
    }
}

/* The passes, over `threads` threads. m: the mask of the two-sided transform (binary: its
 * values are 0 and 1), else NULL. fn (may be NULL): called on every line of the last axis once
 * it is final. */
static void edt_passes(double *d, const uint8_t *m, int binary, const sl__grid *g,
                       void *scratch, int threads, sl__edt_line_fn fn, void *ctx)
{
    int64_t numel = sl__grid_numel(g), st[SL_EDT_MAX_AXES];
    int T = threads > 1 ? threads : 1, unit = longest(g) < ((int64_t)1 << 20);
    for (int a = 0; a < g->nd; a++) unit &= g->spacing[a] == 1.0;
    strides(g, st);
    /* Axis 0: blocks of columns (two-sided: of SWEEP_B, with float counts, while exact), one
     * range per thread. */
    int64_t n0 = g->dim[0], S = st[0];
    if (m && n0 < ((int64_t)1 << 24)) {
        int64_t nblk = (S + SWEEP_B - 1) / SWEEP_B;
#ifdef _OPENMP
#pragma omp parallel num_threads(T) if (T > 1 && nblk > 1)
#endif
        {
            slot_t e = slot_of(scratch, g, sl__edt_thread());
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
            for (int64_t k = 0; k < nblk; k++) {
                int64_t j0 = k * SWEEP_B, nb = S - j0 < SWEEP_B ? S - j0 : SWEEP_B;
                sweep2_block(d, m, n0, S, g->spacing[0], j0, nb, e.cnt);
            }
        }
    } else {
        int64_t nb = S < T ? S : T;
#ifdef _OPENMP
#pragma omp parallel for num_threads(T) schedule(static) if (nb > 1)
#endif
        for (int64_t k = 0; k < nb; k++)
            sweep_axis0(d, m, n0, S, g->spacing[0], S * k / nb, S * (k + 1) / nb);
    }
    if (fn && g->nd == 1) fn(ctx, 0, 0, n0, d);
    /* Further axes: independent lines. */
    for (int a = 1; a < g->nd; a++) {
        int64_t n = g->dim[a], s = st[a], lines = numel / n;
        double w = g->spacing[a];
        sl__edt_line_fn last = a == g->nd - 1 ? fn : NULL; /* s = 1 there */
        if (n == 1 && !last) continue; /* a line of one point: min over itself, unchanged */
#ifdef _OPENMP
#pragma omp parallel num_threads(T) if (T > 1 && lines > 1)
#endif
        {
            slot_t e = slot_of(scratch, g, sl__edt_thread());
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
            for (int64_t l = 0; l < lines; l++) {
                int64_t base = (l / s) * n * s + l % s;
                double *x = d + base;
                if (s == 1) {
                    line_pass(x, m ? m + base : NULL, binary, n, w, unit, &e);
                    if (last) last(ctx, l, base, n, x);
                    continue;
                }
                for (int64_t q = 0; q < n; q++) e.f[q] = x[q * s];
                if (m)
                    for (int64_t q = 0; q < n; q++) e.m[q] = m[base + q * s];
                line_pass(e.f, m ? e.m : NULL, binary, n, w, unit, &e);
                for (int64_t q = 0; q < n; q++) x[q * s] = e.f[q];
            }
        }
    }
}

void sl__edt_sq_t(double *d, const sl__grid *g, void *scratch, int threads)
{
    edt_passes(d, NULL, 0, g, scratch, threads, NULL, NULL);
}

void sl__edt_sq(double *d, const sl__grid *g, void *scratch)
{
    edt_passes(d, NULL, 0, g, scratch, 1, NULL, NULL);
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

int sl__edt_two_sided_sq_t(const uint8_t *mask, const sl__grid *g, double *out, void *scratch,
                           int threads, sl__edt_line_fn fn, void *ctx)
{
    int64_t numel = sl__grid_numel(g);
    /* Empty or full: from the OR and the AND of the values when they are 0 and 1 (the OR is
     * at most 1), else by counting. */
    unsigned any = 0, all = 0xff;
#ifdef _OPENMP
#pragma omp simd reduction(| : any) reduction(& : all)
#endif
    for (int64_t i = 0; i < numel; i++) {
        any |= mask[i];
        all &= mask[i];
    }
    int binary = any <= 1, empty = any == 0, full = binary && all == 1;
    if (!binary) {
        int64_t in = 0;
        for (int64_t i = 0; i < numel; i++) in += mask[i] != 0;
        full = in == numel;
    }
    if (empty || full) {
        for (int64_t i = 0; i < numel; i++) out[i] = 0.0;
        return empty ? 0 : 2;
    }
    edt_passes(out, mask, binary, g, scratch, threads, fn, ctx);
    return 1;
}

int sl__edt_two_sided(const uint8_t *mask, const sl__grid *g, double *out, double *buf,
                      void *scratch)
{
    (void)buf;
    int r = sl__edt_two_sided_sq_t(mask, g, out, scratch, 1, NULL, NULL);
    int64_t numel = sl__grid_numel(g);
    for (int64_t i = 0; i < numel; i++) out[i] = sqrt(out[i]);
    return r;
}

/* The public transform runs on one thread (its workspace is sized for one slot): callers such
 * as `segloss play` run it on many small images, each its own call. */
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
