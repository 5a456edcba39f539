/* Segmentation metrics with MONAI's conventions: Dice, IoU, HD95 and ASSD per (image, class)
 * of two label maps. Surfaces are a mask minus its binary erosion (scipy's default cross
 * structuring element, outside the image counts as background), distances come from the exact
 * EDT of src/edt.c with the pixel spacing. Conventions: docs/distance.md, "Metrics". */
#include "edt.h"
#include "internal.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint8_t *mp, *mg, *ep, *eg; /* masks and edges of prediction and target, [P] each */
    double *d;                  /* [P] the EDT */
    double *a, *b;              /* [P] each: the distances of both directions */
    void *scratch;
} metrics_work;

static size_t metrics_layout(const sl__grid *g, void *mem, metrics_work *w)
{
    size_t P = (size_t)sl__grid_numel(g);
    size_t sizes[8] = {P,
                       P,
                       P,
                       P,
                       P * sizeof(double),
                       P * sizeof(double),
                       P * sizeof(double),
                       sl__edt_scratch_size(g)};
    unsigned char *q = mem ? (unsigned char *)(((uintptr_t)mem + 63) & ~(uintptr_t)63) : NULL;
    size_t total = 64;
    void *ptr[8];
    for (int i = 0; i < 8; i++) {
        ptr[i] = q ? q + (total - 64) : NULL;
        total += sl__align(sizes[i]);
    }
    if (w) {
        w->mp = ptr[0];
        w->mg = ptr[1];
        w->ep = ptr[2];
        w->eg = ptr[3];
        w->d = ptr[4];
        w->a = ptr[5];
        w->b = ptr[6];
        w->scratch = ptr[7];
    }
    return total;
}

static int shape_ok(const sl_shape *s)
{
    if (!s || s->ndim < 2 || s->ndim > 4) return 0;
    for (int i = 0; i < s->ndim; i++)
        if (s->dim[i] < 1) return 0;
    return 1;
}

size_t sl_metrics_workspace_size(const sl_shape *labels, int64_t C)
{
    (void)C;
    if (!shape_ok(labels)) return 0;
    sl__grid g;
    sl__grid_make(&g, labels->ndim - 1, labels->dim + 1, NULL);
    return metrics_layout(&g, NULL, NULL);
}

/* Edges: mask points with a cross neighbour outside the mask or outside the image (the mask
 * minus scipy.ndimage.binary_erosion(mask), whose border_value is 0). */
static void edges(const uint8_t *m, const sl__grid *g, uint8_t *e)
{
    int64_t P = sl__grid_numel(g), st[SL_EDT_MAX_AXES];
    int64_t s = 1;
    for (int a = g->nd - 1; a >= 0; a--) {
        st[a] = s;
        s *= g->dim[a];
    }
    for (int64_t i = 0; i < P; i++) {
        if (!m[i]) {
            e[i] = 0;
            continue;
        }
        int edge = 0;
        for (int a = 0; a < g->nd && !edge; a++) {
            int64_t x = (i / st[a]) % g->dim[a];
            if (x == 0 || x == g->dim[a] - 1 || !m[i - st[a]] || !m[i + st[a]]) edge = 1;
        }
        e[i] = (uint8_t)edge;
    }
}

/* Distances from every point of `from` to the nearest point of `to` (to non-empty), written
 * to out in C order; returns their count. */
static int64_t surface_distances(const uint8_t *from, const uint8_t *to, const sl__grid *g,
                                 metrics_work *w, double *out)
{
    int64_t P = sl__grid_numel(g), k = 0;
    for (int64_t i = 0; i < P; i++)
        w->d[i] = to[i] ? 0.0 : INFINITY;
    sl__edt_sq(w->d, g, w->scratch);
    for (int64_t i = 0; i < P; i++)
        if (from[i]) out[k++] = sqrt(w->d[i]);
    return k;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* torch.quantile(x, q) (linear interpolation; numpy's default percentile), x sorted here. */
static double quantile(double *x, int64_t n, double q)
{
    sl__sort(x, (size_t)n, sizeof(double), cmp_double);
    double pos = q * (double)(n - 1);
    int64_t lo = (int64_t)floor(pos), hi = (int64_t)ceil(pos);
    if (hi > n - 1) hi = n - 1;
    double wgt = pos - (double)lo, a = x[lo], b = x[hi];
    /* torch.lerp's two-sided form */
    return wgt < 0.5 ? a + wgt * (b - a) : b - (b - a) * (1.0 - wgt);
}

/* The arguments of sl_metrics. */
static sl_status metrics_check(const int32_t *pred, const int32_t *target, const sl_shape *labels,
                               int64_t C, const double *spacing, const sl_metrics_out *out,
                               void *workspace, size_t workspace_size, sl_error *err)
{
    if (!shape_ok(labels)) {
        char sh[160] = "(none)";
        if (labels) sl__shape_str(labels, sh, sizeof sh);
        return sl__fail(err, SL_E_SHAPE,
                        "metrics: label map shape %s: need [N, spatial...] with 1 to 3 spatial "
                        "axes, none empty",
                        sh);
    }
    if (!pred || !target || !out)
        return sl__fail(err, SL_E_ARG,
                        "metrics: no prediction, "
                        "target or output");
    if (C < 1)
        return sl__fail(err, SL_E_ARG, "metrics: %lld classes: need at least 1", (long long)C);
    int nd = labels->ndim - 1;
    if (spacing)
        for (int a = 0; a < nd; a++)
            if (!isfinite(spacing[a]) || !(spacing[a] > 0.0))
                return sl__fail(err, SL_E_ARG,
                                "metrics: spacing[%d] = %g must be a finite "
                                "number > 0",
                                a, spacing[a]);
    size_t need = sl_metrics_workspace_size(labels, C);
    if (workspace_size < need || !workspace)
        return sl__fail(err, SL_E_ARG, "metrics: workspace of %zu bytes is too small: need %zu",
                        workspace_size, need);
    return SL_OK;
}

/* HD95 and ASSD of the masks in w.mp and w.mg, both nonempty: the surfaces' distances each way,
 * then the larger 95th percentile and the mean of them all. */
static void surface_metrics(const sl__grid *g, metrics_work *w, double *hd, double *asd)
{
    edges(w->mp, g, w->ep);
    edges(w->mg, g, w->eg);
    int64_t na = surface_distances(w->ep, w->eg, g, w, w->a);
    int64_t nb = surface_distances(w->eg, w->ep, g, w, w->b);
    double sum = 0.0;
    for (int64_t i = 0; i < na; i++)
        sum += w->a[i];
    for (int64_t i = 0; i < nb; i++)
        sum += w->b[i];
    *asd = sum / (double)(na + nb);
    double qa = quantile(w->a, na, 0.95), qb = quantile(w->b, nb, 0.95);
    *hd = qa > qb ? qa : qb;
}

sl_status sl_metrics(const int32_t *pred, const int32_t *target, const sl_shape *labels, int64_t C,
                     const double *spacing, const sl_metrics_opts *opts, sl_metrics_out *out,
                     void *workspace, size_t workspace_size, sl_error *err)
{
    sl_status st =
        metrics_check(pred, target, labels, C, spacing, out, workspace, workspace_size, err);
    if (st != SL_OK) return st;
    int nd = labels->ndim - 1;
    sl__grid g;
    sl__grid_make(&g, nd, labels->dim + 1, spacing);
    metrics_work w;
    metrics_layout(&g, workspace, &w);
    int64_t N = labels->dim[0], P = sl__grid_numel(&g);
    int want_dist = out->hd95 || out->assd;
    /* MONAI drops channel 0 only when there is another one. */
    int64_t c_first = (opts && !opts->include_background && C > 1) ? 1 : 0;
    int ign = opts && opts->use_ignore_index;
    int32_t ign_val = ign ? opts->ignore_index : 0;
    double *outs[4] = {out->dice, out->iou, out->hd95, out->assd};
    for (int64_t n = 0; n < N; n++) {
        const int32_t *yp = pred + n * P, *yt = target + n * P;
        if (c_first)
            for (int k = 0; k < 4; k++)
                if (outs[k]) outs[k][n * C] = NAN;
        for (int64_t c = c_first; c < C; c++) {
            int64_t np = 0, ng = 0, ni = 0;
            for (int64_t i = 0; i < P; i++) {
                int keep = !ign || yt[i] != ign_val;
                int a = keep && yp[i] == c, b = keep && yt[i] == c;
                w.mp[i] = (uint8_t)a;
                w.mg[i] = (uint8_t)b;
                np += a;
                ng += b;
                ni += a & b;
            }
            int64_t k = n * C + c;
            if (out->dice) out->dice[k] = ng ? 2.0 * (double)ni / (double)(np + ng) : NAN;
            if (out->iou) out->iou[k] = ng ? (double)ni / (double)(np + ng - ni) : NAN;
            if (!want_dist) continue;
            double hd = NAN, asd = NAN;
            if (np && ng) surface_metrics(&g, &w, &hd, &asd);
            if (out->hd95) out->hd95[k] = hd;
            if (out->assd) out->assd[k] = asd;
        }
    }
    return SL_OK;
}
