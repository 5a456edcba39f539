/* sin and cos for the drawing, correctly rounded and the same bits on every machine.
 *
 * Which pixels lie exactly on an ellipse's outline depends on the last bit of sin and cos, and
 * libm's and numpy's values differ between machines (numpy takes them from Intel's SVML on
 * CPUs with AVX-512, from libm elsewhere; libm versions differ too). So the drawing takes them
 * from here: double-double arithmetic (about 106 bits) from the argument reduction to the end,
 * rounded once to double. Only IEEE double additions and multiplications, each rounded once
 * (the build forbids contraction into fused multiply-adds), so every machine computes the same
 * bits. The result is the correctly rounded value unless the exact one lies within about 2^-100
 * relative of a midpoint between two doubles; tests/check_trig.py compares thousands of
 * arguments, every whole degree among them, with values computed to 80 digits.
 *
 * The argument reduction is exact enough for correct rounding where the drawing uses it,
 * [0, pi); up to |x| = 2^20 the results are still the same bits everywhere, though not
 * always correctly rounded; beyond that this returns libm's values. */
#include "internal.h"

#include <math.h>

typedef struct {
    double hi, lo;
} dd;

/* hi + lo = a + b exactly (Knuth). */
static dd two_sum(double a, double b)
{
    double s = a + b;
    double bb = s - a;
    double err = (a - (s - bb)) + (b - bb);
    return (dd){s, err};
}

static dd fast_two_sum(double a, double b) /* |a| >= |b| */
{
    double s = a + b;
    return (dd){s, b - (s - a)};
}

/* Veltkamp's split: a = hi + lo, each with at most 26 significant bits. */
static void split(double a, double *hi, double *lo)
{
    double t = 134217729.0 * a; /* 2^27 + 1 */
    double h = t - (t - a);
    *hi = h;
    *lo = a - h;
}

/* hi + lo = a * b exactly (Dekker), without a fused multiply-add. */
static dd two_prod(double a, double b)
{
    double p = a * b, ah, al, bh, bl;
    split(a, &ah, &al);
    split(b, &bh, &bl);
    double err = ((ah * bh - p) + ah * bl + al * bh) + al * bl;
    return (dd){p, err};
}

static dd dd_add(dd a, dd b)
{
    dd s = two_sum(a.hi, b.hi), t = two_sum(a.lo, b.lo);
    s.lo += t.hi;
    s = fast_two_sum(s.hi, s.lo);
    s.lo += t.lo;
    return fast_two_sum(s.hi, s.lo);
}

static dd dd_neg(dd a)
{
    dd n = {-a.hi, -a.lo};
    return n;
}

static dd dd_mul(dd a, dd b)
{
    dd p = two_prod(a.hi, b.hi);
    p.lo += a.hi * b.lo + a.lo * b.hi;
    return fast_two_sum(p.hi, p.lo);
}

/* pi/2 in three parts (about 160 bits) and 1/n! as double-doubles, n = 0..31. */
static const double PIO2[3] = {0x1.921fb54442d18p+0, 0x1.1a62633145c07p-54,
                               -0x1.f1976b7ed8fbcp-110};
static const dd INV_FACT[32] = {
    {0x1.0000000000000p+0, 0x0.0p+0},
    {0x1.0000000000000p+0, 0x0.0p+0},
    {0x1.0000000000000p-1, 0x0.0p+0},
    {0x1.5555555555555p-3, 0x1.5555555555555p-57},
    {0x1.5555555555555p-5, 0x1.5555555555555p-59},
    {0x1.1111111111111p-7, 0x1.1111111111111p-63},
    {0x1.6c16c16c16c17p-10, -0x1.f49f49f49f49fp-65},
    {0x1.a01a01a01a01ap-13, 0x1.a01a01a01a01ap-73},
    {0x1.a01a01a01a01ap-16, 0x1.a01a01a01a01ap-76},
    {0x1.71de3a556c734p-19, -0x1.c154f8ddc6c00p-73},
    {0x1.27e4fb7789f5cp-22, 0x1.cbbc05b4fa99ap-76},
    {0x1.ae64567f544e4p-26, -0x1.c062e06d1f209p-80},
    {0x1.1eed8eff8d898p-29, -0x1.2aec959e14c06p-83},
    {0x1.6124613a86d09p-33, 0x1.f28e0cc748ebep-87},
    {0x1.93974a8c07c9dp-37, 0x1.05d6f8a2efd1fp-92},
    {0x1.ae7f3e733b81fp-41, 0x1.1d8656b0ee8cbp-97},
    {0x1.ae7f3e733b81fp-45, 0x1.1d8656b0ee8cbp-101},
    {0x1.952c77030ad4ap-49, 0x1.ac981465ddc6cp-103},
    {0x1.6827863b97d97p-53, 0x1.eec01221a8b0bp-107},
    {0x1.2f49b46814157p-57, 0x1.2650f61dbdcb4p-112},
    {0x1.e542ba4020225p-62, 0x1.ea72b4afe3c2fp-120},
    {0x1.71b8ef6dcf572p-66, -0x1.d043ae40c4647p-120},
    {0x1.0ce396db7f853p-70, -0x1.aebcdbd20331cp-124},
    {0x1.761b41316381ap-75, -0x1.3423c7d91404fp-130},
    {0x1.f2cf01972f578p-80, -0x1.9ada5fcc1ab14p-135},
    {0x1.3f3ccdd165fa9p-84, -0x1.58ddadf344487p-139},
    {0x1.88e85fc6a4e5ap-89, -0x1.71c37ebd16540p-143},
    {0x1.d1ab1c2dccea3p-94, 0x1.054d0c78aea14p-149},
    {0x1.0a18a2635085dp-98, 0x1.b9e2e28e1aa54p-153},
    {0x1.259f98b4358adp-103, 0x1.eaf8c39dd9bc5p-157},
    {0x1.3932c5047d60ep-108, 0x1.832b7b530a627p-162},
    {0x1.434d2e783f5bcp-113, 0x1.0b87b91be9affp-167},
};

/* sum_{j} (-1)^j r2^j / (2j + first)!, j = 0.. while 2j + first <= 31 (Horner, from the top):
 * first = 1 gives sin(r) / r, first = 0 gives cos(r). For |r| <= pi/4 + 2^-20 the first term
 * left out is below 2^-115 of the sum. */
static dd series(dd r2, int first)
{
    int top = first + 2 * ((31 - first) / 2);
    dd acc = INV_FACT[top];
    for (int n = top - 2; n >= first; n -= 2)
        acc = dd_add(dd_neg(dd_mul(acc, r2)), INV_FACT[n]);
    return acc;
}

void sl__sincos(double x, double *s, double *c)
{
    if (!(fabs(x) <= 1048576.0)) {
        *s = sin(x);
        *c = cos(x);
        return;
    }
    /* x = k pi/2 + r, |r| <= pi/4 + a little; r in double-double. k * PIO2[i] is exact as a
     * double-double (two_prod), and x - k PIO2[0] is exact for |k| <= 2 (Sterbenz) and
     * accurate to the rounding of a double-double for larger k. */
    double k = nearbyint(x * 0x1.45f306dc9c883p-1);
    dd r = {x, 0.0};
    for (int i = 0; i < 3; i++)
        r = dd_add(r, dd_neg(two_prod(k, PIO2[i])));
    dd r2 = dd_mul(r, r);
    dd sr = dd_mul(r, series(r2, 1)), cr = series(r2, 0);
    double sv = sr.hi + sr.lo, cv = cr.hi + cr.lo; /* the one rounding to double */
    long q = (long)k & 3;
    switch (q) {
    case 0: *s = sv, *c = cv; break;
    case 1: *s = cv, *c = -sv; break;
    case 2: *s = -sv, *c = -cv; break;
    default: *s = -cv, *c = sv; break;
    }
}
