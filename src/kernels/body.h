/* The vector kernels, written once and compiled once per ISA (src/kernels/kern_*.c define
 * SL_KERN_TABLE and the SL_VEC_* macro, then include this). See kern.h for the contract and
 * docs/kernels.md for the design. */
#include "kern.h"
#include "vec.h"

#define MAXC SL_KERN_MAX_C
/* Class loops unrolled where C is a constant (ce_run's common cases, vector paths only). */
#if defined(SL_VEC_AVX512) || defined(SL_VEC_AVX2)
#define SL_UNROLL _Pragma("GCC unroll 16")
#else
#define SL_UNROLL
#endif

/* The "bad input" flags of a kernel are a vi whose lanes are ORed together: a lane is bad when
 * all its exponent bits are set (see bad_seen). x * 0 is +-0 for finite x and NaN otherwise,
 * so ORing it in flags NaN and Inf with one multiply; masks of -1 flag the rest. */
SL_VINLINE vi nonfinite(vf x)
{
    return (vi)(x * vset(0.0f));
}

SL_VINLINE int bad_seen(vi bad)
{
    return vany(vieq(bad & viset(0x7f800000), viset(0x7f800000)));
}

/* Store k * v (or add it to what is there) at p. */
SL_VINLINE void put(float *p, vf v, float k, int accumulate)
{
    vf kv = vset(k) * v;
    vstore(p, accumulate ? vload(p) + kv : kv);
}

/* Pixels of a tail are copied into local [C][16] buffers (stride 16) padded with zeros, run
 * through the same code, and copied back. */
typedef struct {
    float x[MAXC * SL_VW], t[MAXC * SL_VW], g[MAXC * SL_VW], m[SL_VW];
    int32_t y[SL_VW];
} tail_buf;

static void tail_in(tail_buf *tb, const float *x, const float *t, const int32_t *y,
                    const float *g, const float *m, int64_t C, int64_t P, int64_t nb)
{
    memset(tb, 0, sizeof *tb);
    for (int64_t c = 0; c < C; c++)
        for (int64_t j = 0; j < nb; j++) {
            tb->x[c * SL_VW + j] = x[c * P + j];
            if (t) tb->t[c * SL_VW + j] = t[c * P + j];
            if (g) tb->g[c * SL_VW + j] = g[c * P + j];
        }
    for (int64_t j = 0; j < nb; j++) {
        if (y) tb->y[j] = y[j];
        if (m) tb->m[j] = m[j];
    }
}

/* One vector of pixels at pixel i of the arrays x, t, y, g, m (any NULL but x), classes S
 * apart. A tail (nb < SL_VW pixels) is located in tb instead, stride SL_VW, lanes from nb on
 * dead; g and m are read into it first when accumulating. */
typedef struct {
    const float *x, *t;
    const int32_t *y;
    float *g, *m;
    int64_t S;
    vi live;
} vec_at;

SL_VINLINE vec_at vec_locate(tail_buf *tb, const float *x, const float *t, const int32_t *y,
                             float *g, float *m, int accumulate, int64_t C, int64_t P, int64_t i,
                             int64_t nb)
{
    vec_at v = {x + i, t ? t + i : NULL, y ? y + i : NULL, g ? g + i : NULL, m ? m + i : NULL,
                P,     viset(-1)};
    if (nb < SL_VW) {
        tail_in(tb, v.x, v.t, v.y, accumulate ? v.g : NULL, accumulate ? v.m : NULL, C, P, nb);
        v.x = tb->x;
        v.t = v.t ? tb->t : NULL;
        v.y = v.y ? tb->y : NULL;
        v.g = v.g ? tb->g : NULL;
        v.m = v.m ? tb->m : NULL;
        v.S = SL_VW;
        v.live = vfirst(nb);
    }
    return v;
}

static void tail_out(const tail_buf *tb, float *g, float *m, int64_t C, int64_t P, int64_t nb)
{
    for (int64_t j = 0; j < nb; j++) {
        if (g)
            for (int64_t c = 0; c < C; c++) g[c * P + j] = tb->g[c * SL_VW + j];
        if (m) m[j] = tb->m[j];
    }
}

/* ---------------------------------------------------------------------------------------------
 * Cross-entropy family
 */

/* Label lanes: valid (not ignored, in range) and bad (neither). */
SL_VINLINE vi label_masks(vi yv, int64_t C, int has_ignore, int32_t ignore, vi live, vi *bad)
{
    vi inr = vige(yv, viset(0)) & vilt(yv, viset((int32_t)C));
    vi ign = has_ignore ? vieq(yv, viset(ignore)) : viset(0);
    *bad |= live & ~(inr | ign);
    return live & inr & ~ign;
}

/* focal on logits: the loss, and *wk = gy with dz_c = gy ([c = y] - p_c). q = the sum of the
 * other classes' p: no cancellation as p_y -> 1. */
SL_VINLINE vf plain_focal(const sl__ce_args *a, const int64_t C, vi yv, vf s, vf ey, vf inv, vf lpy,
                          vf wy, vf *wk)
{
    const vf zero = vset(0.0f);
    vf q = (s - ey) * inv, py = ey * inv;
    SL_UNROLL
    for (int64_t c = 0; c < C; c++)
        q = vsel(vieq(yv, viset((int32_t)c)), q, q);
    vf qg = vpow(q, a->gamma), d = zero - qg;
    if (a->gamma != 0.0f) {
        vi pos = vgt(q, zero);
        d = d + vsel(pos, vset(a->gamma) * py * (qg / vsel(pos, q, vset(1.0f))) * lpy, zero);
    }
    vf g = wy * d * vset(a->gk);
    *wk = zero - g;
    return wy * ((zero - qg) * lpy);
}

/* marginal_ce on logits: the loss, and its gradient into gs (when not NULL). The merged
 * background S = {0} and the classes not annotated: at y = 0, l = -log q_S. */
SL_VINLINE vf plain_marginal(const sl__ce_args *a, const int64_t C, const uint8_t *ann,
                             const vf *xv, const vf *e, vi yv, vf m, vf ls, vf lpy, vf wy, vf inv,
                             float *gs, int64_t S)
{
    const vf zero = vset(0.0f);
    vi bg = vieq(yv, viset(0));
    vf mS = xv[0], eS = vset(1.0f);
    int merged = 0;
    SL_UNROLL
    for (int64_t c = 1; c < C; c++)
        if (!ann[c]) {
            mS = vmax(mS, xv[c]);
            merged = 1;
        }
    if (merged) {
        eS = zero;
        SL_UNROLL
        for (int64_t c = 0; c < C; c++)
            if (c == 0 || !ann[c]) eS += vexp(xv[c] - mS);
    }
    vf lq = merged ? ((mS - m) + vlog(eS)) - ls : (xv[0] - m) - ls;
    vf l = zero - wy * vsel(bg, lq, lpy);
    vf wk = wy * vset(a->gk);
    if (!gs) return l;
    vf ieS = vset(1.0f) / eS;
    SL_UNROLL
    for (int64_t c = 0; c < C; c++) {
        vf T;
        if (c == 0 || !ann[c])
            T = vsel(bg, (merged ? vexp(xv[c] - mS) : vset(1.0f)) * ieS, zero);
        else
            T = vmask01(vieq(yv, viset((int32_t)c)));
        vf dz = wk * (e[c] * inv - T);
        vstore(gs + c * S, a->accumulate ? vload(gs + c * S) + dz : dz);
    }
    return l;
}

/* One vector of pixels of the family's common case - label maps, logits, no smoothing - in one
 * pass per class, for a kind and a class count C that are constants where ce_chunk can make
 * them so. With gy = dl/dlog p_y (the only nonzero one) and T_c the target the gradient pulls
 * towards:
 *   ce        l = -w_y log p_y;                   dz_c = w_y (p_c - [c = y])
 *   missing   the same, with background pixels left out where the argmax is not annotated
 *   marginal  y != 0 as ce; y = 0: l = -log q_S, q_S = sum over S = {0} and the classes not
 *             annotated of p_c;                   dz_c = p_c - [c in S] p_c / q_S
 *   focal     l = -a_y q^g log p_y, q = 1 - p_y;  dz_c = gy ([c = y] - p_c)
 * x and g are strided by S between classes; y and m contiguous. */
SL_VINLINE void ce_plain_vec(const sl__ce_args *a, const int64_t C, const sl__ce_kind kind,
                             const uint8_t *ann, const float *xs, const int32_t *ys, float *gs,
                             float *ms, int64_t S, vi live, double *acc, int64_t off, vi *bad)
{
    const vf zero = vset(0.0f);
    vf xv[MAXC], e[MAXC];
    vf m = vload(xs), s = zero;
    vi bi = viset(0);
    SL_UNROLL
    for (int64_t c = 0; c < C; c++) {
        xv[c] = vload(xs + c * S);
        *bad |= nonfinite(xv[c]);
        if (kind == SL__CE_MISSING) /* the argmax, lowest index on ties */
            bi = (vi)vsel(vgt(xv[c], m), (vf)viset((int32_t)c), (vf)bi);
        m = vmax(m, xv[c]);
    }
    vi yv = viload(ys);
    vi valid = label_masks(yv, C, a->has_ignore, a->ignore, live, bad);
    if (kind == SL__CE_MISSING) {
        vi gate = viset(0);
        SL_UNROLL
        for (int64_t c = 1; c < C; c++)
            if (!ann[c]) gate |= vieq(bi, viset((int32_t)c));
        valid &= ~(gate & vieq(yv, viset(0)));
    }
    vf wy = vset(a->w ? 0.0f : 1.0f), xy = zero, ey = zero;
    SL_UNROLL
    for (int64_t c = 0; c < C; c++) {
        vi is = vieq(yv, viset((int32_t)c));
        xy = vsel(is, xv[c], xy);
        if (a->w) wy = vsel(is, vset(a->w[c]), wy);
        e[c] = vexp(xv[c] - m);
        s += e[c];
        if (kind == SL__CE_FOCAL) ey = vsel(is, e[c], ey);
    }
    wy = vsel(valid, wy, zero);
    vf ls = vlog(s), inv = vset(1.0f) / s;
    vf lpy = (xy - m) - ls, l, wk;
    if (kind == SL__CE_FOCAL) {
        l = plain_focal(a, C, yv, s, ey, inv, lpy, wy, &wk);
    } else if (kind == SL__CE_MARGINAL) {
        l = plain_marginal(a, C, ann, xv, e, yv, m, ls, lpy, wy, inv, gs, S);
        vacc(acc, off, l);
        if (ms) put(ms, l, a->mk, a->accumulate);
        return;
    } else {
        l = (zero - wy) * lpy;
        wk = wy * vset(a->gk);
    }
    vacc(acc, off, l);
    if (ms) put(ms, l, a->mk, a->accumulate);
    if (!gs) return;
    SL_UNROLL
    for (int64_t c = 0; c < C; c++) {
        vf oh = vmask01(vieq(yv, viset((int32_t)c)));
        vf dz = wk * (e[c] * inv - oh);
        vstore(gs + c * S, a->accumulate ? vload(gs + c * S) + dz : dz);
    }
}

/* The pieces of ce_vec, each for one vector of pixels, x and t strided by S between classes. */

/* Log-probabilities lp and probabilities p; for probabilities as input also the renormalised u
 * and the sum *sp (forced to 1 where it is not positive, which is flagged). */
SL_VINLINE void ce_logp(const sl__ce_args *a, const int64_t C, const float *xs, int64_t S, vi live,
                        vf *lp, vf *p, vf *u, vf *sp, vi *bad)
{
    vf s = vset(0.0f);
    if (!a->probs) {
        vf m = vload(xs);
        for (int64_t c = 0; c < C; c++) {
            vf xc = vload(xs + c * S);
            *bad |= nonfinite(xc);
            m = vmax(m, xc);
        }
        for (int64_t c = 0; c < C; c++) {
            lp[c] = vload(xs + c * S) - m;
            p[c] = vexp(lp[c]);
            s += p[c];
        }
        vf ls = vlog(s), inv = vset(1.0f) / s;
        for (int64_t c = 0; c < C; c++) {
            lp[c] = lp[c] - ls;
            p[c] = p[c] * inv;
        }
    } else {
        const vf lo = vset(a->eps), hi = vset(1.0f - a->eps);
        for (int64_t c = 0; c < C; c++) {
            vf xc = vload(xs + c * S);
            *bad |= nonfinite(xc) | vlt(xc, vset(0.0f));
            s += xc;
        }
        *bad |= live & ~vgt(s, vset(0.0f));
        s = vsel(vgt(s, vset(0.0f)), s, vset(1.0f));
        for (int64_t c = 0; c < C; c++) {
            u[c] = vload(xs + c * S) / s;
            p[c] = vmin(vmax(u[c], lo), hi);
            lp[c] = vlog(p[c]);
        }
    }
    *sp = s;
}

/* ce: the loss and gg = dl/dlp, with label smoothing. */
SL_VINLINE vf ce_term_ce(const sl__ce_args *a, const int64_t C, const float *ts, int64_t S,
                         const int32_t *ys, vi yv, const vf *lp, vf *gg)
{
    const float a2 = a->smoothing / (float)C, a1 = 1.0f - a->smoothing;
    vf l = vset(0.0f);
    if (!ys) {
        for (int64_t c = 0; c < C; c++) {
            vf tc = vfma(vload(ts + c * S), vset(a1), vset(a2));
            gg[c] = vset(-(a->w ? a->w[c] : 1.0f)) * tc;
            l = vfma(gg[c], lp[c], l);
        }
        return l;
    }
    vf wy = vset(a->w ? 0.0f : 1.0f), lpy = vset(0.0f), swl = vset(0.0f);
    for (int64_t c = 0; c < C; c++) {
        vi is = vieq(yv, viset((int32_t)c));
        lpy = vsel(is, lp[c], lpy);
        if (a->w) wy = vsel(is, vset(a->w[c]), wy);
        if (a2 != 0.0f) swl = vfma(vset(a->w ? a->w[c] : 1.0f), lp[c], swl);
    }
    l = vset(-a1) * wy * lpy;
    if (a2 != 0.0f) l = vfma(vset(-a2), swl, l);
    vf wya = vset(a1) * wy;
    for (int64_t c = 0; c < C; c++) {
        vi is = vieq(yv, viset((int32_t)c));
        vf gc = vset(-a2 * (a->w ? a->w[c] : 1.0f));
        gg[c] = vsel(is, gc - wya, gc);
    }
    return l;
}

/* focal: f = -q^g lp, df/dlp = -q^g + g p q^(g-1) lp, q = 1 - p = -expm1(lp). */
SL_VINLINE vf ce_term_focal(const sl__ce_args *a, const int64_t C, const float *ts, int64_t S,
                            const int32_t *ys, vi yv, const vf *lp, const vf *p, vf *gg)
{
    const float gam = a->gamma;
    vf l = vset(0.0f);
    for (int64_t c = 0; c < C; c++) {
        vf wc;
        if (ys)
            wc = vsel(vieq(yv, viset((int32_t)c)), vset(a->w ? a->w[c] : 1.0f), vset(0.0f));
        else
            wc = vset(a->w ? a->w[c] : 1.0f) * vload(ts + c * S);
        vf q = vmax(vset(0.0f) - vexpm1(lp[c]), vset(0.0f));
        vf qg = vpow(q, gam);
        vf second = vset(0.0f);
        if (gam != 0.0f) {
            vi pos = vgt(q, vset(0.0f));
            vf qs = vsel(pos, q, vset(1.0f));
            second = vsel(pos, vset(gam) * p[c] * (qg / qs) * lp[c], vset(0.0f));
        }
        vf f = (vset(0.0f) - qg) * lp[c];
        vf d = second - qg;
        gg[c] = vsel(vne(wc, vset(0.0f)), wc * d, vset(0.0f));
        l = vsel(vne(wc, vset(0.0f)), vfma(wc, f, l), l);
    }
    return l;
}

/* missing_ce: the gate is the input's argmax (lowest index on ties) being a class not annotated;
 * gated background pixels leave *valid (label map) or lose their background term. */
SL_VINLINE vf ce_term_missing(const sl__ce_args *a, const int64_t C, const uint8_t *ann,
                              const float *xs, const float *ts, int64_t S, const int32_t *ys, vi yv,
                              const vf *lp, vf *gg, vi *valid)
{
    vf best = vload(xs), l = vset(0.0f);
    vi bi = viset(0);
    for (int64_t c = 1; c < C; c++) {
        vf xc = vload(xs + c * S);
        vi gt = vgt(xc, best);
        best = vsel(gt, xc, best);
        bi = (vi)vsel(gt, (vf)viset((int32_t)c), (vf)bi);
    }
    vi gate = viset(0);
    for (int64_t c = 1; c < C; c++)
        if (!ann[c]) gate |= bi == viset((int32_t)c);
    if (!ys) {
        for (int64_t c = 0; c < C; c++) {
            gg[c] = vset(-(a->w ? a->w[c] : 1.0f)) * vload(ts + c * S);
            if (c == 0) gg[c] = vsel(gate, vset(0.0f), gg[c]);
            l = vfma(gg[c], lp[c], l);
        }
        return l;
    }
    *valid &= ~(gate & vieq(yv, viset(0)));
    vf wy = vset(a->w ? 0.0f : 1.0f), lpy = vset(0.0f);
    for (int64_t c = 0; c < C; c++) {
        vi is = vieq(yv, viset((int32_t)c));
        lpy = vsel(is, lp[c], lpy);
        if (a->w) wy = vsel(is, vset(a->w[c]), wy);
    }
    l = (vset(0.0f) - wy) * lpy;
    for (int64_t c = 0; c < C; c++)
        gg[c] = vsel(vieq(yv, viset((int32_t)c)), vset(0.0f) - wy, vset(0.0f));
    return l;
}

/* marginal_ce: the merged background S = {0} and the classes not annotated in the image,
 * lq = logsumexp over S of lp. */
SL_VINLINE vf ce_term_marginal(const sl__ce_args *a, const int64_t C, const uint8_t *ann,
                               const float *ts, int64_t S, const int32_t *ys, vi yv, const vf *lp,
                               vf *gg)
{
    (void)a;
    vf mS = lp[0], l = vset(0.0f);
    for (int64_t c = 1; c < C; c++)
        if (!ann[c]) mS = vmax(mS, lp[c]);
    vf sS = vset(0.0f);
    for (int64_t c = 0; c < C; c++)
        if (c == 0 || !ann[c]) sS += vexp(lp[c] - mS);
    vf lq = mS + vlog(sS);
    vf t0;
    if (ys) {
        vi bg = vieq(yv, viset(0));
        t0 = vmask01(bg);
        vf lpy = vset(0.0f);
        for (int64_t c = 0; c < C; c++) {
            vi is = vieq(yv, viset((int32_t)c));
            lpy = vsel(is, lp[c], lpy);
            gg[c] = vsel(is & ~bg, vset(-1.0f), vset(0.0f));
        }
        l = vsel(bg, vset(0.0f) - lq, vset(0.0f) - lpy);
    } else {
        t0 = vset(0.0f);
        for (int64_t c = 0; c < C; c++) {
            vf tc = vload(ts + c * S);
            gg[c] = vset(0.0f);
            if (c == 0 || !ann[c]) {
                t0 += tc;
            } else {
                gg[c] = vset(0.0f) - tc;
                l = vfma(gg[c], lp[c], l);
            }
        }
        l = l - t0 * lq;
    }
    for (int64_t c = 0; c < C; c++)
        if (c == 0 || !ann[c]) gg[c] = gg[c] - t0 * vexp(lp[c] - lq);
    return l;
}

/* Back to the input from gg = dl/dlp: through the softmax, or for probabilities
 * G_c = g_c / u_c inside [eps, 1 - eps] (else 0), dx_c = (G_c - sum_inside g) / s. */
SL_VINLINE void ce_back(const sl__ce_args *a, const int64_t C, const vf *gg, const vf *p,
                        const vf *u, vf s, vi valid, float *gs, int64_t S)
{
    vf sg = vset(0.0f);
    if (!a->probs) {
        for (int64_t c = 0; c < C; c++) sg += gg[c];
        for (int64_t c = 0; c < C; c++) {
            vf dz = vsel(valid, gg[c] - p[c] * sg, vset(0.0f));
            put(gs + c * S, dz, a->gk, a->accumulate);
        }
        return;
    }
    const vf lo = vset(a->eps), hi = vset(1.0f - a->eps);
    for (int64_t c = 0; c < C; c++) {
        vi in = vge(u[c], lo) & vle(u[c], hi);
        sg += vsel(in, gg[c], vset(0.0f));
    }
    for (int64_t c = 0; c < C; c++) {
        vi in = vge(u[c], lo) & vle(u[c], hi);
        vf G = vsel(in, gg[c] / vsel(in, u[c], vset(1.0f)), vset(0.0f));
        vf dx = vsel(valid, (G - sg) / s, vset(0.0f));
        put(gs + c * S, dx, a->gk, a->accumulate);
    }
}

/* One vector of pixels of any member of the family: x, t, g strided by S between classes; y, m
 * contiguous. One copy, called for the body and the tail. */
static __attribute__((noinline)) void ce_vec(const sl__ce_args *a, const int64_t C,
                                             const uint8_t *ann, const float *xs, const float *ts,
                                             const int32_t *ys, float *gs, float *ms, int64_t S,
                                             vi live, double *acc, int64_t off, vi *bad)
{
    vf lp[MAXC], p[MAXC], gg[MAXC], u[MAXC];
    vf s;
    for (int64_t c = 0; c < C; c++)
        gg[c] = u[c] = vset(0.0f);
    ce_logp(a, C, xs, S, live, lp, p, u, &s, bad);
    /* the loss l and gg = dl/dlp */
    vf l = vset(0.0f);
    vi valid = live;
    vi yv = viset(0);
    if (ys) {
        yv = viload(ys);
        valid = label_masks(yv, C, a->has_ignore, a->ignore, live, bad);
    } else {
        for (int64_t c = 0; c < C; c++) {
            vf tc = vload(ts + c * S);
            *bad |= nonfinite(tc) | vlt(tc, vset(0.0f));
        }
    }
    switch (a->kind) {
    case SL__CE: l = ce_term_ce(a, C, ts, S, ys, yv, lp, gg); break;
    case SL__CE_FOCAL: l = ce_term_focal(a, C, ts, S, ys, yv, lp, p, gg); break;
    case SL__CE_MISSING: l = ce_term_missing(a, C, ann, xs, ts, S, ys, yv, lp, gg, &valid); break;
    case SL__CE_MARGINAL: l = ce_term_marginal(a, C, ann, ts, S, ys, yv, lp, gg); break;
    }
    l = vsel(valid, l, vset(0.0f));
    vacc(acc, off, l);
    if (ms) put(ms, l, a->mk, a->accumulate);
    if (gs) ce_back(a, C, gg, p, u, s, valid, gs, S);
}

/* The sweep over [p0, p1) of image n; kind and C are constants on the plain path. The tail is
 * copied into padded buffers and goes through the same code as the body (one copy of it, and
 * the same formula for every pixel on every ISA). */
SL_VINLINE void ce_run(const sl__ce_args *a, const int64_t C, const int plain,
                       const sl__ce_kind kind, int64_t n, int64_t p0, int64_t p1, double *acc,
                       vi *bad)
{
    const int64_t P = a->P;
    const float *x = a->x + n * C * P;
    const float *t = a->t ? a->t + n * C * P : NULL;
    const int32_t *y = a->y ? a->y + n * P : NULL;
    float *g = a->grad ? a->grad + n * C * P : NULL;
    float *m = a->map ? a->map + n * P : NULL;
    const uint8_t *ann = a->ann ? a->ann + n * C : NULL;
    tail_buf tb;
    for (int64_t i = p0; i < p1; i += SL_VW) {
        int64_t nb = p1 - i < SL_VW ? p1 - i : SL_VW;
        vec_at v = vec_locate(&tb, x, t, y, g, m, a->accumulate, C, P, i, nb);
        if (plain)
            ce_plain_vec(a, C, kind, ann, v.x, v.y, v.g, v.m, v.S, v.live, acc, i - p0, bad);
        else
            ce_vec(a, C, ann, v.x, v.t, v.y, v.g, v.m, v.S, v.live, acc, i - p0, bad);
        if (nb < SL_VW) tail_out(&tb, g ? g + i : NULL, m ? m + i : NULL, C, P, nb);
    }
}

/* The class counts made constants: the usual ones on the vector paths; the portable path
 * (a fallback; its fmaf is a call) keeps one copy. */
#if defined(SL_VEC_AVX512) || defined(SL_VEC_AVX2)
#define CE_CASES(K)                                                                             \
    case 2: ce_run(a, 2, 1, K, n, p0, p1, acc, &bad); break;                                   \
    case 3: ce_run(a, 3, 1, K, n, p0, p1, acc, &bad); break;                                   \
    case 4: ce_run(a, 4, 1, K, n, p0, p1, acc, &bad); break;                                   \
    case 5: ce_run(a, 5, 1, K, n, p0, p1, acc, &bad); break;                                   \
    case 8: ce_run(a, 8, 1, K, n, p0, p1, acc, &bad); break;                                   \
    default: ce_run(a, a->C, 1, K, n, p0, p1, acc, &bad); break;
#else
#define CE_CASES(K)                                                                             \
    default: ce_run(a, a->C, 1, K, n, p0, p1, acc, &bad); break;
#endif

static int ce_chunk(const void *va, int64_t n, int64_t p0, int64_t p1, double *part)
{
    const sl__ce_args *a = va;
    double acc[SL_ACC] = {0};
    vi bad = viset(0);
    int plain = a->y && !a->probs && (a->kind != SL__CE || a->smoothing == 0.0f);
    switch (plain ? (int)a->kind : -1) {
    case SL__CE:
        switch (a->C) { CE_CASES(SL__CE) }
        break;
    case SL__CE_FOCAL:
        switch (a->C) { CE_CASES(SL__CE_FOCAL) }
        break;
    case SL__CE_MISSING:
        switch (a->C) { CE_CASES(SL__CE_MISSING) }
        break;
    case SL__CE_MARGINAL:
        switch (a->C) { CE_CASES(SL__CE_MARGINAL) }
        break;
    default: ce_run(a, a->C, 0, a->kind, n, p0, p1, acc, &bad); break;
    }
    part[0] += vdsum(acc);
    return bad_seen(bad);
}

/* ---------------------------------------------------------------------------------------------
 * Sigmoid pair on logits
 */

SL_VINLINE void sig_vec(const sl__sig_args *a, int64_t c, const float *xs, const float *ts,
                        const int32_t *ys, float *gs, float *ms, vi live, double *acc,
                        int64_t off, vi *bad)
{
    vf x = vload(xs);
    *bad |= nonfinite(x);
    vi valid = live;
    vf t;
    if (ys) {
        vi yv = viload(ys);
        valid = label_masks(yv, a->C + a->binary, a->has_ignore, a->ignore, live, bad);
        t = vmask01(vieq(yv, viset((int32_t)(c + a->binary))));
    } else {
        t = vload(ts);
        *bad |= nonfinite(t) | vlt(t, vset(0.0f));
    }
    const vf one = vset(1.0f), zero = vset(0.0f);
    vf e = vexp(zero - vabs(x));
    vf sp = one / (one + e); /* 1 / (1 + e^-|x|) */
    vi nonneg = vge(x, zero);
    vf sig = vsel(nonneg, sp, e * sp), sign = vsel(nonneg, e * sp, sp); /* s(x), s(-x) */
    /* log1p(e): log of v = 1 + e, corrected by the rounding of v, with 1 / v already at hand */
    vf v = one + e;
    vf L = vfma(e - (v - one), sp, vlog(v));
    vf l, d;
    if (!a->focal) {
        float w = a->w ? a->w[c] : 1.0f, pw = a->pw ? a->pw[c] : 1.0f;
        vf cc = vfma(vset(pw - 1.0f), t, one);
        /* ((1 - t) x - cc min(x, 0)) + cc L */
        vf base = (one - t) * x - cc * vmin(x, zero);
        l = vset(w) * vfma(cc, L, base);
        d = vset(w) * ((one - t) * sig - vset(pw) * t * sign);
    } else {
        vf ce = vfma(one, L, (one - t) * x - vmin(x, zero));
        vf mm = vmax(sig * (one - t) + sign * t, zero);
        vf mod = vpow(mm, a->gamma);
        vf dmod = zero;
        if (a->gamma != 0.0f) {
            vi pos = vgt(mm, zero);
            dmod = vsel(pos, vset(a->gamma) * (mod / vsel(pos, mm, one)) * (one - vset(2.0f) * t) *
                                 sig * sign,
                        zero);
        }
        vf at = a->alpha >= 0.0f ? vset(a->alpha) * t + vset(1.0f - a->alpha) * (one - t) : one;
        if (a->w) at = vset(a->w[c]) * at; /* per-class weight */
        l = at * ce * mod;
        d = at * (((one - t) * sig - t * sign) * mod + ce * dmod);
    }
    l = vsel(valid, l, zero);
    vacc(acc, off, l);
    if (ms) put(ms, l, a->mk, a->accumulate);
    if (gs) put(gs, vsel(valid, d, zero), a->gk, a->accumulate);
}

static int sig_chunk(const void *va, int64_t n, int64_t p0, int64_t p1, double *part)
{
    const sl__sig_args *a = va;
    const int64_t C = a->C, P = a->P;
    double acc[SL_ACC] = {0};
    vi bad = viset(0);
    for (int64_t c = 0; c < C; c++) {
        int64_t off = (n * C + c) * P;
        const float *x = a->x + off;
        const float *t = a->t ? a->t + off : NULL;
        const int32_t *y = a->y ? a->y + n * P : NULL;
        float *g = a->grad ? a->grad + off : NULL;
        float *m = a->map ? a->map + off : NULL;
        int64_t i = p0;
        for (; i + SL_VW <= p1; i += SL_VW)
            sig_vec(a, c, x + i, t ? t + i : NULL, y ? y + i : NULL, g ? g + i : NULL,
                    m ? m + i : NULL, viset(-1), acc, i - p0, &bad);
        if (i < p1) {
            float xb[SL_VW] = {0}, tb[SL_VW] = {0}, gb[SL_VW] = {0}, mb[SL_VW] = {0};
            int32_t yb[SL_VW] = {0};
            int64_t nb = p1 - i;
            for (int64_t j = 0; j < nb; j++) {
                xb[j] = x[i + j];
                if (t) tb[j] = t[i + j];
                if (y) yb[j] = y[i + j];
                if (g && a->accumulate) gb[j] = g[i + j];
                if (m && a->accumulate) mb[j] = m[i + j];
            }
            sig_vec(a, c, xb, t ? tb : NULL, y ? yb : NULL, g ? gb : NULL, m ? mb : NULL,
                    vfirst(nb), acc, i - p0, &bad);
            for (int64_t j = 0; j < nb; j++) {
                if (g) g[i + j] = gb[j];
                if (m) m[i + j] = mb[j];
            }
        }
    }
    part[0] += vdsum(acc);
    return bad_seen(bad);
}

/* ---------------------------------------------------------------------------------------------
 * Overlap family
 */

/* Probabilities p (softmax of logits, or the input as given), targets r, the valid lanes. */
SL_VINLINE vi ov_load(const sl__ov_args *a, const int64_t C, const float *xs, const float *ts,
                      const int32_t *ys, int64_t S, vi live, vf *p, vf *r, vi *bad)
{
    vi valid = live;
    if (ys) {
        vi yv = viload(ys);
        valid = label_masks(yv, C + a->binary, a->has_ignore, a->ignore, live, bad);
        SL_UNROLL
        for (int64_t c = 0; c < C; c++)
            r[c] = vmask01(vieq(yv, viset((int32_t)(c + a->binary))));
    } else {
        SL_UNROLL
        for (int64_t c = 0; c < C; c++) {
            r[c] = vload(ts + c * S);
            *bad |= nonfinite(r[c]) | vlt(r[c], vset(0.0f));
        }
    }
    vf s = vset(0.0f);
    if (a->probs) {
        SL_UNROLL
        for (int64_t c = 0; c < C; c++) {
            p[c] = vload(xs + c * S);
            *bad |= nonfinite(p[c]) | vlt(p[c], vset(0.0f));
            s += p[c];
        }
        if (!a->sigmoid) *bad |= live & ~vgt(s, vset(0.0f));
        return valid;
    }
    if (a->sigmoid) {
        /* p = 1 / (1 + e^-x), from e^-|x| on either side of 0 */
        const vf one = vset(1.0f), zero = vset(0.0f);
        SL_UNROLL
        for (int64_t c = 0; c < C; c++) {
            vf x = vload(xs + c * S);
            *bad |= nonfinite(x);
            vf e = vexp(zero - vabs(x)), sp = one / (one + e);
            p[c] = vsel(vge(x, zero), sp, e * sp);
        }
        return valid;
    }
    vf m = vload(xs);
    SL_UNROLL
    for (int64_t c = 0; c < C; c++) {
        p[c] = vload(xs + c * S);
        *bad |= nonfinite(p[c]);
        m = vmax(m, p[c]);
    }
    SL_UNROLL
    for (int64_t c = 0; c < C; c++) {
        p[c] = vexp(p[c] - m);
        s += p[c];
    }
    vf inv = vset(1.0f) / s;
    SL_UNROLL
    for (int64_t c = 0; c < C; c++) p[c] = p[c] * inv;
    return valid;
}

/* Pass 1 over one vector: per class I += q r, S += q (q^2), G += r (r^2). */
SL_VINLINE void ov_sums_vec(const sl__ov_args *a, const int64_t C, const float *xs,
                            const float *ts, const int32_t *ys, int64_t S, vi live,
                            double (*acc)[SL_ACC], int64_t off, vi *bad)
{
    vf p[MAXC], r[MAXC];
    vi valid = ov_load(a, C, xs, ts, ys, S, live, p, r, bad);
    const vf zero = vset(0.0f);
    SL_UNROLL
    for (int64_t c = 0; c < C; c++) {
        vf q = vsel(valid, p[c], zero), rr = vsel(valid, r[c], zero);
        vacc(acc[3 * c], off, a->soft ? vmin(q, rr) : q * rr);
        vacc(acc[3 * c + 1], off, a->squared ? q * q : q);
        vacc(acc[3 * c + 2], off, a->squared ? rr * rr : rr);
    }
}

/* Pass 2 over one vector: dL/dq_c = kI_c r_c + kS_c dS/dq_c, back through the softmax. */
SL_VINLINE void ov_grad_vec(const sl__ov_args *a, const int64_t C, const float *kI,
                            const float *kS, const float *xs, const float *ts, const int32_t *ys,
                            float *gs, int64_t S, vi live, vi *bad)
{
    vf p[MAXC], r[MAXC], d[MAXC];
    vi valid = ov_load(a, C, xs, ts, ys, S, live, p, r, bad);
    const vf zero = vset(0.0f);
    vf sp = zero;
    SL_UNROLL
    for (int64_t c = 0; c < C; c++) {
        vf dS = a->squared ? vset(2.0f * kS[c]) * p[c] : vset(kS[c]);
        vf dI = r[c];
        if (a->soft) {
            /* MONAI's L1 form, S = sum |p|, I = (sum |p| + sum |r| - sum |p - r|) / 2, with
             * autograd's sign(0) = 0: dS/dp = sign(p), dI/dp = (sign(p) - sign(p - r)) / 2 */
            const vf one = vset(1.0f), half = vset(0.5f);
            vf sgp = vsel(vgt(p[c], zero), one, zero);
            vf sgd = vsel(vgt(p[c], r[c]), one, zero) - vsel(vlt(p[c], r[c]), one, zero);
            dI = half * (sgp - sgd);
            dS = dS * sgp;
        }
        d[c] = vfma(vset(kI[c]), dI, dS);
        sp = vfma(p[c], d[c], sp);
    }
    SL_UNROLL
    for (int64_t c = 0; c < C; c++) {
        vf dz = a->probs     ? d[c]
                : a->sigmoid ? p[c] * (vset(1.0f) - p[c]) * d[c]
                             : p[c] * (d[c] - sp);
        put(gs + c * S, vsel(valid, dz, zero), 1.0f, a->accumulate);
    }
}

/* Both passes over [p0, p1) of image n, the tail through the body's code (as ce_run). */
SL_VINLINE void ov_run(const sl__ov_args *a, const int64_t C, const int grad, int64_t n,
                       int64_t p0, int64_t p1, double (*acc)[SL_ACC], vi *bad)
{
    const int64_t P = a->P;
    const float *x = a->x + n * C * P;
    const float *t = a->t ? a->t + n * C * P : NULL;
    const int32_t *y = a->y ? a->y + n * P : NULL;
    float *g = grad ? a->grad + n * C * P : NULL;
    float kI[MAXC], kS[MAXC];
    if (grad)
        for (int64_t c = 0; c < C; c++) {
            kI[c] = (float)a->kI[n * a->kstride + c];
            kS[c] = (float)a->kS[n * a->kstride + c];
        }
    tail_buf tb;
    for (int64_t i = p0; i < p1; i += SL_VW) {
        int64_t nb = p1 - i < SL_VW ? p1 - i : SL_VW;
        vec_at v = vec_locate(&tb, x, t, y, g, NULL, a->accumulate, C, P, i, nb);
        if (grad)
            ov_grad_vec(a, C, kI, kS, v.x, v.t, v.y, v.g, v.S, v.live, bad);
        else
            ov_sums_vec(a, C, v.x, v.t, v.y, v.S, v.live, acc, i - p0, bad);
        if (nb < SL_VW && grad) tail_out(&tb, g + i, NULL, C, P, nb);
    }
}

#if defined(SL_VEC_AVX512) || defined(SL_VEC_AVX2)
#define OV_CASES(G)                                                                             \
    case 2: ov_run(a, 2, G, n, p0, p1, acc, &bad); break;                                      \
    case 3: ov_run(a, 3, G, n, p0, p1, acc, &bad); break;                                      \
    case 4: ov_run(a, 4, G, n, p0, p1, acc, &bad); break;                                      \
    case 5: ov_run(a, 5, G, n, p0, p1, acc, &bad); break;                                      \
    case 8: ov_run(a, 8, G, n, p0, p1, acc, &bad); break;                                      \
    default: ov_run(a, a->C, G, n, p0, p1, acc, &bad); break;
#else
#define OV_CASES(G)                                                                             \
    default: ov_run(a, a->C, G, n, p0, p1, acc, &bad); break;
#endif

static int ov_sums_chunk(const void *va, int64_t n, int64_t p0, int64_t p1, double *part)
{
    const sl__ov_args *a = va;
    double acc[3 * MAXC][SL_ACC];
    memset(acc, 0, (size_t)(3 * a->C) * sizeof acc[0]);
    vi bad = viset(0);
    switch (a->C) { OV_CASES(0) }
    for (int64_t k = 0; k < 3 * a->C; k++) part[k] += vdsum(acc[k]);
    return bad_seen(bad);
}

static int ov_grad_chunk(const void *va, int64_t n, int64_t p0, int64_t p1, double *part)
{
    const sl__ov_args *a = va;
    double (*acc)[SL_ACC] = NULL;
    vi bad = viset(0);
    (void)part;
    switch (a->C) { OV_CASES(1) }
    return bad_seen(bad);
}

/* ---------------------------------------------------------------------------------------------
 * Label counts per class (the normalisers of means, and which classes an image has)
 */
static int count_chunk(const void *va, int64_t n, int64_t p0, int64_t p1, double *part)
{
    const sl__ce_args *a = va;
    const int64_t C = a->C;
    const int32_t *y = a->y + n * a->P;
    vi bad = viset(0);
    for (int64_t c = 0; c < C; c++) {
        vi cnt = viset(0);
        int64_t i = p0;
        for (; i + SL_VW <= p1; i += SL_VW) cnt -= vieq(viload(y + i), viset((int32_t)c));
        int64_t k = 0;
        for (; i < p1; i++) k += y[i] == c;
        for (int j = 0; j < SL_VW; j++) k += cnt[j];
        part[c] += (double)k;
    }
    int64_t i = p0;
    for (; i + SL_VW <= p1; i += SL_VW)
        label_masks(viload(y + i), C, a->has_ignore, a->ignore, viset(-1), &bad);
    if (i < p1) {
        int32_t yb[SL_VW] = {0};
        memcpy(yb, y + i, (size_t)(p1 - i) * sizeof(int32_t));
        label_masks(viload(yb), C, a->has_ignore, a->ignore, vfirst(p1 - i), &bad);
    }
    return bad_seen(bad);
}

/* ---------------------------------------------------------------------------------------------
 * Softmax into a buffer, and the chain rule back from dL/dp
 */

SL_VINLINE void sm_vec(const sl__sm_args *a, const float *xs, float *ps, int64_t S, vi live,
                       vi *bad)
{
    const int64_t C = a->C;
    if (a->probs) {
        vf s = vset(0.0f);
        for (int64_t c = 0; c < C; c++) {
            vf xc = vload(xs + c * S);
            *bad |= nonfinite(xc) | vlt(xc, vset(0.0f));
            s += xc;
            vstore(ps + c * S, xc);
        }
        *bad |= live & ~vgt(s, vset(0.0f));
        return;
    }
    vf m = vload(xs), s = vset(0.0f);
    for (int64_t c = 0; c < C; c++) {
        vf xc = vload(xs + c * S);
        *bad |= nonfinite(xc);
        m = vmax(m, xc);
    }
    for (int64_t c = 0; c < C; c++) {
        vf e = vexp(vload(xs + c * S) - m);
        s += e;
        vstore(ps + c * S, e);
    }
    vf inv = vset(1.0f) / s;
    for (int64_t c = 0; c < C; c++) vstore(ps + c * S, vload(ps + c * S) * inv);
}

static int softmax_chunk(const void *va, int64_t n, int64_t p0, int64_t p1, double *part)
{
    const sl__sm_args *a = va;
    const int64_t C = a->C, P = a->P;
    const float *x = a->x + n * C * P;
    float *p = a->p + n * C * P;
    vi bad = viset(0);
    int64_t i = p0;
    (void)part;
    for (; i + SL_VW <= p1; i += SL_VW) sm_vec(a, x + i, p + i, P, viset(-1), &bad);
    if (i < p1) {
        tail_buf tb;
        int64_t nb = p1 - i;
        tail_in(&tb, x + i, NULL, NULL, NULL, NULL, C, P, nb);
        sm_vec(a, tb.x, tb.g, SL_VW, vfirst(nb), &bad);
        tail_out(&tb, p + i, NULL, C, P, nb);
    }
    return bad_seen(bad);
}

SL_VINLINE void chain_vec(const sl__chain_args *a, const float *ps, const float *gs, float *os,
                          int64_t S)
{
    const int64_t C = a->C;
    if (!a->softmax) {
        for (int64_t c = 0; c < C; c++) put(os + c * S, vload(gs + c * S), a->k, a->accumulate);
        return;
    }
    vf t = vset(0.0f);
    for (int64_t c = 0; c < C; c++) t = vfma(vload(ps + c * S), vload(gs + c * S), t);
    for (int64_t c = 0; c < C; c++) {
        vf pc = vload(ps + c * S);
        put(os + c * S, pc * (vload(gs + c * S) - t), a->k, a->accumulate);
    }
}

static int chain_chunk(const void *va, int64_t n, int64_t p0, int64_t p1, double *part)
{
    const sl__chain_args *a = va;
    const int64_t C = a->C, P = a->P, off = n * C * P;
    int64_t i = p0;
    (void)part;
    for (; i + SL_VW <= p1; i += SL_VW)
        chain_vec(a, a->p + off + i, a->g + off + i, a->grad + off + i, P);
    if (i < p1) {
        tail_buf tb;
        int64_t nb = p1 - i;
        /* x holds p, t holds g, g holds the output */
        tail_in(&tb, a->p + off + i, a->g + off + i, NULL,
                a->accumulate ? a->grad + off + i : NULL, NULL, C, P, nb);
        chain_vec(a, tb.x, tb.t, tb.g, SL_VW);
        tail_out(&tb, a->grad + off + i, NULL, C, P, nb);
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * The floor: the bytes of ce (read x and labels, write a gradient), no maths.
 */
static int floor_chunk(const void *va, int64_t n, int64_t p0, int64_t p1, double *part)
{
    const sl__ce_args *a = va;
    const int64_t C = a->C, P = a->P;
    const float *x = a->x + n * C * P;
    const int32_t *y = a->y + n * P;
    float *g = a->grad + n * C * P;
    vi ys = viset(0);
    int64_t i = p0;
    for (; i + SL_VW <= p1; i += SL_VW) {
        ys += viload(y + i);
        for (int64_t c = 0; c < C; c++) vstore(g + c * P + i, vload(x + c * P + i));
    }
    int64_t s = 0;
    for (; i < p1; i++) {
        s += y[i];
        for (int64_t c = 0; c < C; c++) g[c * P + i] = x[c * P + i];
    }
    for (int j = 0; j < SL_VW; j++) s += ys[j];
    part[0] += (double)s;
    return 0;
}

static void math_fn(int f, const float *x, float *y, int64_t n)
{
    for (int64_t i = 0; i < n; i += SL_VW) {
        float xb[SL_VW] = {0}, yb[SL_VW];
        int64_t nb = n - i < SL_VW ? n - i : SL_VW;
        memcpy(xb, x + i, (size_t)nb * sizeof(float));
        vf v = vload(xb), r;
        switch (f) {
        case 0: r = vexp(v); break;
        case 1: r = vlog(v); break;
        case 2: r = vlog1p(v); break;
        default: r = vexpm1(v); break;
        }
        vstore(yb, r);
        memcpy(y + i, yb, (size_t)nb * sizeof(float));
    }
}

const sl__kern SL_KERN_TABLE = {
    SL_KERN_NAME, ce_chunk,      sig_chunk,   ov_sums_chunk, ov_grad_chunk,
    count_chunk,   softmax_chunk, chain_chunk, floor_chunk, math_fn,
};
