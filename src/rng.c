/* MT19937 with the draws of numpy's legacy np.random (RandomState), so that a seed gives the
 * same numbers here as in the post's Python. */
#include "internal.h"
#include "segloss_data.h"

#include <math.h>

#define MT_N 624
#define MT_M 397

/* np.random.seed(s) for an integer s is Matsumoto and Nishimura's init_genrand(s); it also
 * forgets any cached normal. */
void sl_rng_seed(sl_rng *r, uint32_t seed)
{
    r->mt[0] = seed;
    for (int i = 1; i < MT_N; i++) {
        uint32_t prev = r->mt[i - 1];
        r->mt[i] = 1812433253u * (prev ^ (prev >> 30)) + (uint32_t)i;
    }
    r->mti = MT_N;
    r->has_gauss = 0;
    r->gauss = 0.0;
}

static void mt_refill(sl_rng *r)
{
    const uint32_t upper = 0x80000000u, lower = 0x7fffffffu, matrix = 0x9908b0dfu;
    uint32_t *mt = r->mt;
    for (int i = 0; i < MT_N; i++) {
        uint32_t y = (mt[i] & upper) | (mt[(i + 1) % MT_N] & lower);
        mt[i] = mt[(i + MT_M) % MT_N] ^ (y >> 1) ^ ((y & 1u) ? matrix : 0u);
    }
    r->mti = 0;
}

uint32_t sl_rng_u32(sl_rng *r)
{
    /* A state that was never seeded (mti out of range) is refilled rather than read out of
     * bounds; it still needs sl_rng_seed to mean anything. */
    if (r->mti >= MT_N || r->mti < 0) mt_refill(r);
    uint32_t y = r->mt[r->mti++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
}

/* 53 random bits: 27 from one draw and 26 from the next, as numpy's random_sample. */
double sl_rng_uniform(sl_rng *r)
{
    uint32_t a = sl_rng_u32(r) >> 5;
    uint32_t b = sl_rng_u32(r) >> 6;
    return ((double)a * 67108864.0 + (double)b) / 9007199254740992.0;
}

/* numpy's legacy randint draws with masked rejection: the smallest all-ones mask covering
 * high - 1, then draws until one fits. Ranges that need more than 32 bits take 64-bit draws
 * made of two 32-bit ones, high word first. A range of one value draws nothing. */
int64_t sl_rng_randint(sl_rng *r, int64_t high)
{
    if (high <= 1) return 0;
    uint64_t max = (uint64_t)high - 1;
    uint64_t mask = max;
    mask |= mask >> 1;
    mask |= mask >> 2;
    mask |= mask >> 4;
    mask |= mask >> 8;
    mask |= mask >> 16;
    mask |= mask >> 32;
    uint64_t v;
    if (max <= 0xffffffffu) {
        do {
            v = sl_rng_u32(r) & mask;
        } while (v > max);
    } else {
        do {
            uint64_t hi = sl_rng_u32(r);
            uint64_t lo = sl_rng_u32(r);
            v = ((hi << 32) | lo) & mask;
        } while (v > max);
    }
    return (int64_t)v;
}

/* The legacy polar method: each accepted pair gives two normals; the second is kept for the
 * next call. */
double sl_rng_normal(sl_rng *r)
{
    if (r->has_gauss) {
        double g = r->gauss;
        r->has_gauss = 0;
        r->gauss = 0.0;
        return g;
    }
    double x1, x2, r2;
    do {
        x1 = 2.0 * sl_rng_uniform(r) - 1.0;
        x2 = 2.0 * sl_rng_uniform(r) - 1.0;
        r2 = x1 * x1 + x2 * x2;
    } while (r2 >= 1.0 || r2 == 0.0);
    double f = sqrt(-2.0 * log(r2) / r2);
    r->gauss = f * x1;
    r->has_gauss = 1;
    return f * x2;
}
