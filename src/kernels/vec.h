/* Vectors of 16 floats and the maths the kernels need, written once for every ISA.
 *
 * A kernel file includes this after defining SL_VEC_AVX512, SL_VEC_AVX2 or neither (the portable
 * path), and is compiled with the matching -m flags. The vector type is GCC's generic vector of
 * the ISA's own width (zmm, ymm or xmm). Each operation is an IEEE operation per lane (add, sub,
 * mul, div, compare, select, and a fused multiply-add through the ISA's own instruction or
 * fmaf), sums go to 16 logical lanes in a fixed order, and the files are compiled with
 * -ffp-contract=off, so every path computes the same bits from the same inputs.
 *
 * exp, log, log1p and expm1 are our own (range reduction and minimax polynomials after Cephes'
 * single-precision functions), accurate to about 1 ulp on the ranges the losses use. NaN and Inf
 * never reach them: the library refuses such inputs before any kernel runs. */
#ifndef SEGLOSS_VEC_H
#define SEGLOSS_VEC_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(SL_VEC_AVX512) || defined(SL_VEC_AVX2)
#include <immintrin.h>
#elif defined(__SSE__)
#include <xmmintrin.h>
#endif

/* The native width of each path: 16 lanes (AVX-512), 8 (AVX2) or 4 (SSE2, or GCC's generic
 * vectors elsewhere). Every operation is per lane, so the width changes no result; the sums
 * (vacc) go to 16 logical lanes whatever the width, so they add in the same order too. */
#if defined(SL_VEC_AVX512)
#define SL_VW 16
#elif defined(SL_VEC_AVX2)
#define SL_VW 8
#else
#define SL_VW 4
#endif

typedef float vf __attribute__((vector_size(SL_VW * 4)));
typedef int32_t vi __attribute__((vector_size(SL_VW * 4)));
typedef float vfh __attribute__((vector_size(SL_VW * 2))); /* half a vector */
typedef double vdh __attribute__((vector_size(SL_VW * 4))); /* half a vector, widened */

#define SL_VINLINE static inline __attribute__((always_inline))

SL_VINLINE vf vset(float a)
{
    vf v;
    for (int i = 0; i < SL_VW; i++) v[i] = a;
    return v;
}

SL_VINLINE vi viset(int32_t a)
{
    vi v;
    for (int i = 0; i < SL_VW; i++) v[i] = a;
    return v;
}

SL_VINLINE vf vload(const float *p)
{
    vf v;
    memcpy(&v, p, sizeof v);
    return v;
}

SL_VINLINE vi viload(const int32_t *p)
{
    vi v;
    memcpy(&v, p, sizeof v);
    return v;
}

SL_VINLINE void vstore(float *p, vf v)
{
    memcpy(p, &v, sizeof v);
}

/* a * b + c, rounded once. */
SL_VINLINE vf vfma(vf a, vf b, vf c)
{
#if defined(SL_VEC_AVX512)
    return (vf)_mm512_fmadd_ps((__m512)a, (__m512)b, (__m512)c);
#elif defined(SL_VEC_AVX2)
    return (vf)_mm256_fmadd_ps((__m256)a, (__m256)b, (__m256)c);
#else
    vf r;
    for (int i = 0; i < SL_VW; i++) r[i] = fmaf(a[i], b[i], c[i]);
    return r;
#endif
}

/* Comparisons give lane masks: vi of 0 or -1. */
SL_VINLINE vi vlt(vf a, vf b)
{
    return (vi)(a < b);
}

SL_VINLINE vi vle(vf a, vf b)
{
    return (vi)(a <= b);
}

SL_VINLINE vi veq(vf a, vf b)
{
    return (vi)(a == b);
}

SL_VINLINE vi vne(vf a, vf b)
{
    return (vi)(a != b);
}

SL_VINLINE vi vieq(vi a, vi b)
{
    return a == b;
}

SL_VINLINE vi vigt(vi a, vi b)
{
    return a > b;
}

SL_VINLINE vi vgt(vf a, vf b)
{
    return vlt(b, a);
}

SL_VINLINE vi vge(vf a, vf b)
{
    return vle(b, a);
}

SL_VINLINE vi vilt(vi a, vi b)
{
    return vigt(b, a);
}

SL_VINLINE vi vige(vi a, vi b)
{
    return ~vigt(b, a);
}

SL_VINLINE vf vsel(vi m, vf a, vf b) /* m ? a : b */
{
#if defined(SL_VEC_AVX2)
    return (vf)_mm256_blendv_ps((__m256)b, (__m256)a, (__m256)m);
#else
    return (vf)(((vi)a & m) | ((vi)b & ~m));
#endif
}

/* a > b ? a : b and a < b ? a : b: exactly what x86's max and min instructions compute, NaN
 * and signed zeros included (OP max or min; CMP vgt or vlt, the portable form). */
#if defined(SL_VEC_AVX512)
#define SL_VMINMAX(OP, CMP, a, b) (vf) _mm512_##OP##_ps((__m512)(a), (__m512)(b))
#elif defined(SL_VEC_AVX2)
#define SL_VMINMAX(OP, CMP, a, b) (vf) _mm256_##OP##_ps((__m256)(a), (__m256)(b))
#elif defined(__SSE__)
#define SL_VMINMAX(OP, CMP, a, b) (vf) _mm_##OP##_ps((__m128)(a), (__m128)(b))
#else
#define SL_VMINMAX(OP, CMP, a, b) vsel(CMP(a, b), a, b)
#endif

SL_VINLINE vf vmax(vf a, vf b)
{
    return SL_VMINMAX(max, vgt, a, b);
}

SL_VINLINE vf vmin(vf a, vf b)
{
    return SL_VMINMAX(min, vlt, a, b);
}

SL_VINLINE vf vabs(vf a)
{
    return (vf)((vi)a & viset(0x7fffffff));
}

/* 1 where m is set, else 0. */
SL_VINLINE vf vmask01(vi m)
{
    return (vf)(m & (vi)vset(1.0f));
}

/* Nonzero when any lane of m is set. */
SL_VINLINE int vany(vi m)
{
    int32_t r = 0;
    for (int i = 0; i < SL_VW; i++) r |= m[i];
    return r != 0;
}

/* The mask of lanes [0, n): for tails. */
SL_VINLINE vi vfirst(int64_t n)
{
    vi idx;
    for (int i = 0; i < SL_VW; i++) idx[i] = i;
    return vilt(idx, viset((int32_t)n));
}

/* e^x for x <= 88 (larger x are taken as 88; the losses only take exp of numbers <= 0). Below
 * -87.3 the result is 0 (e^x leaves float's normal range there). */
SL_VINLINE vf vexp(vf x)
{
    const vf magic = vset(12582912.0f); /* 1.5 * 2^23: adding it rounds to an integer */
    vf xc = vmin(x, vset(88.0f));
    vi under = vlt(xc, vset(-87.33654f));
    xc = vmax(xc, vset(-87.33654f));
    vf t = vfma(xc, vset(1.44269504088896341f), magic);
    vf n = t - magic;
    vf r = vfma(n, vset(-0.693359375f), xc);
    r = vfma(n, vset(2.12194440e-4f), r);
    vf p = vset(1.9875691500e-4f);
    p = vfma(p, r, vset(1.3981999507e-3f));
    p = vfma(p, r, vset(8.3334519073e-3f));
    p = vfma(p, r, vset(4.1665795894e-2f));
    p = vfma(p, r, vset(1.6666665459e-1f));
    p = vfma(p, r, vset(5.0000001201e-1f));
    vf r2 = r * r;
    p = vfma(p, r2, r) + vset(1.0f);
    /* 2^n, n in [-126, 127] */
    vf sc = (vf)(((vi)t - (vi)magic + viset(127)) << 23);
    return vsel(under, vset(0.0f), p * sc);
}

/* log x for x >= 0 (0 gives -Inf); subnormals are handled. */
SL_VINLINE vf vlog(vf x)
{
    vi zero = vle(x, vset(0.0f));
    vi sub = vlt(x, vset(1.17549435e-38f));
    vf xs = vsel(sub, x * vset(8388608.0f), x); /* 2^23 */
    vi bits = (vi)xs;
    vi e = ((bits >> 23) & viset(0xff)) - viset(126);
    vf m = (vf)((bits & viset(0x007fffff)) | viset(0x3f000000)); /* [0.5, 1) */
    vf ef = __builtin_convertvector(e, vf) - vsel(sub, vset(23.0f), vset(0.0f));
    vi small = vlt(m, vset(0.707106781186547524f));
    ef = ef - vmask01(small);
    m = vsel(small, m + m, m) - vset(1.0f);
    vf z = m * m;
    vf y = vset(7.0376836292e-2f);
    y = vfma(y, m, vset(-1.1514610310e-1f));
    y = vfma(y, m, vset(1.1676998740e-1f));
    y = vfma(y, m, vset(-1.2420140846e-1f));
    y = vfma(y, m, vset(1.4249322787e-1f));
    y = vfma(y, m, vset(-1.6668057665e-1f));
    y = vfma(y, m, vset(2.0000714765e-1f));
    y = vfma(y, m, vset(-2.4999993993e-1f));
    y = vfma(y, m, vset(3.3333331174e-1f));
    y = y * m * z;
    y = vfma(ef, vset(-2.12194440e-4f), y);
    y = vfma(z, vset(-0.5f), y);
    vf r = m + y;
    r = vfma(ef, vset(0.693359375f), r);
    return vsel(zero, vset(-INFINITY), r);
}

/* log(1 + u) for u >= 0: log of v = 1 + u, corrected by the rounding of v. */
SL_VINLINE vf vlog1p(vf u)
{
    vf v = u + vset(1.0f);
    vf corr = (u - (v - vset(1.0f))) / v;
    vi tiny = veq(v, vset(1.0f));
    return vsel(tiny, u, vlog(v) + corr);
}

/* e^x - 1 for x <= 0, accurate as x -> 0. */
SL_VINLINE vf vexpm1(vf x)
{
    vi small = vlt(vabs(x), vset(0.35f));
    /* Taylor to x^8 on |x| < 0.35: the remainder is below 2^-24 of the result. */
    vf p = vset(1.0f / 40320.0f);
    p = vfma(p, x, vset(1.0f / 5040.0f));
    p = vfma(p, x, vset(1.0f / 720.0f));
    p = vfma(p, x, vset(1.0f / 120.0f));
    p = vfma(p, x, vset(1.0f / 24.0f));
    p = vfma(p, x, vset(1.0f / 6.0f));
    p = vfma(p, x, vset(0.5f));
    vf ps = vfma(p * x, x, x);
    return vsel(small, ps, vexp(x) - vset(1.0f));
}

/* a^g for a >= 0, g >= 0 (0^0 = 1, 0^g = 0). */
SL_VINLINE vf vpow(vf a, float g)
{
    if (g == 0.0f) return vset(1.0f);
    if (g == 1.0f) return a;
    if (g == 2.0f) return a * a;
    vi zero = vle(a, vset(0.0f));
    return vsel(zero, vset(0.0f), vexp(vset(g) * vlog(a)));
}

/* Sums in double over 16 logical lanes, the same on every path: the vector of pixels
 * [i, i + SL_VW) adds its lanes to acc[i % 16 ...]. Chunks start at multiples of 16. */
#define SL_ACC 16
SL_VINLINE void vacc(double *acc, int64_t i, vf v)
{
    double *a = acc + (i & (SL_ACC - 1));
    vfh lo, hi;
    vdh dlo, dhi;
    memcpy(&lo, &v, sizeof lo);
    memcpy(&hi, (const char *)&v + sizeof lo, sizeof hi);
    memcpy(&dlo, a, sizeof dlo);
    memcpy(&dhi, a + SL_VW / 2, sizeof dhi);
    dlo += __builtin_convertvector(lo, vdh);
    dhi += __builtin_convertvector(hi, vdh);
    memcpy(a, &dlo, sizeof dlo);
    memcpy(a + SL_VW / 2, &dhi, sizeof dhi);
}

/* The 16 logical lanes summed in a fixed order. */
SL_VINLINE double vdsum(const double *acc)
{
    double s = 0.0;
    for (int i = 0; i < SL_ACC; i++) s += acc[i];
    return s;
}

#endif
