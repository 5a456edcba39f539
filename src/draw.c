/* Ellipses, polygons and disks rasterised as scikit-image 0.19's skimage.draw does. Each step
 * repeats skimage's float64 operations in the same order, so the same pixels come out: which
 * pixels lie exactly on an outline is decided by rounding, and only the same arithmetic
 * rounds the same way.
 *
 * sin and cos: numpy >= 1.22 on CPUs with AVX-512 (SKX) computes them with Intel's SVML, whose
 * results differ from libm's in the last place for most angles, and which pixels lie exactly
 * on an outline depends on that (a circle at an integer centre has many). The post's rotations
 * are whole degrees, so np_sincos below returns numpy's own values for whole-degree angles on
 * such CPUs, and libm's elsewhere - where numpy uses libm's too. */
#include "internal.h"

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

/* nr x nc > max_box, without overflow. Empty boxes are never too large. */
static int box_too_large(int64_t nr, int64_t nc, int64_t max_box)
{
    if (nr <= 0 || nc <= 0) return 0;
    return nr > max_box / nc;
}

/* sin and cos of whole degrees 0..179 (np.deg2rad(k)) as numpy computes them with SVML on
 * AVX-512 (SKX) CPUs: {sin, cos}. */
static const double svml_deg[180][2] = {
    {0x0.0p+0, 0x1.0000000000000p+0},
    {0x1.1df0b2b89dd1ep-6, 0x1.ffec097f5af8cp-1},
    {0x1.1de58c9f7dc27p-5, 0x1.ffb0278bf0568p-1},
    {0x1.acbc748efc90ep-5, 0x1.ff4c5ed12e61ep-1},
    {0x1.1db8f6d6a5128p-4, 0x1.fec0b7170fff6p-1},
    {0x1.64fd6b8c28102p-4, 0x1.fe0d3b41815a1p-1},
    {0x1.ac2609b3c576dp-4, 0x1.fd31f94f867c6p-1},
    {0x1.f32d44c4f62d4p-4, 0x1.fc2f025a23e8ap-1},
    {0x1.1d06c968d9e1ap-3, 0x1.fb046a9309478p-1},
    {0x1.4060b67a85375p-3, 0x1.f9b24942fe45bp-1},
    {0x1.63a1a7e0b738ap-3, 0x1.f838b8c811c17p-1},
    {0x1.86c6ddd766250p-3, 0x1.f697d6938b6c2p-1},
    {0x1.a9cd9ac4258f7p-3, 0x1.f4cfc327a0080p-1},
    {0x1.ccb3236cdc676p-3, 0x1.f2e0a214e8710p-1},
    {0x1.ef74bf2e4b91ep-3, 0x1.f0ca99f79ba26p-1},
    {0x1.0907dc1930691p-2, 0x1.ee8dd4748bf16p-1},
    {0x1.1a40add328e2ap-2, 0x1.ec2a7e35e7b80p-1},
    {0x1.2b637cf83d5c8p-2, 0x1.e9a0c6e7bdb20p-1},
    {0x1.3c6ef372fe950p-2, 0x1.e6f0e13445500p-1},
    {0x1.4d61bd000cddcp-2, 0x1.e41b02bfeb4cbp-1},
    {0x1.5e3a8748a0bf6p-2, 0x1.e11f642522d1bp-1},
    {0x1.6ef801fced33dp-2, 0x1.ddfe40effb804p-1},
    {0x1.7f98deee59681p-2, 0x1.dab7d7997cb56p-1},
    {0x1.901bd2298ffabp-2, 0x1.d74c6982c666ep-1},
    {0x1.a07f921061ad2p-2, 0x1.d3bc3aeff7f93p-1},
    {0x1.b0c2d77379853p-2, 0x1.d0079302dd766p-1},
    {0x1.c0e45dabe05c8p-2, 0x1.cc2ebbb5638c8p-1},
    {0x1.d0e2e2b44de00p-2, 0x1.c83201d3d2c6bp-1},
    {0x1.e0bd274245078p-2, 0x1.c411b4f6d2706p-1},
    {0x1.f071eedefa0ecp-2, 0x1.bfce277d339c5p-1},
    {0x1.ffffffffffffep-2, 0x1.bb67ae8584caap-1},
    {0x1.07b3120fddf13p-1, 0x1.b6dea1e76eaddp-1},
    {0x1.0f5193eacdd2ap-1, 0x1.b2335c2cda945p-1},
    {0x1.16daed770771cp-1, 0x1.ad663a8ae2fdcp-1},
    {0x1.1e4e88411fd12p-1, 0x1.a8779cda8eea5p-1},
    {0x1.25abcf87c4977p-1, 0x1.a367e59158748p-1},
    {0x1.2cf2304755a5dp-1, 0x1.9e3779b97f4a9p-1},
    {0x1.342119455beb5p-1, 0x1.98e6c0ea27a15p-1},
    {0x1.3b37fb1bdc938p-1, 0x1.9376253f463d3p-1},
    {0x1.4236484487abdp-1, 0x1.8de613515a32ap-1},
    {0x1.491b7523c161cp-1, 0x1.8836fa2cf503bp-1},
    {0x1.4fe6f81384fd4p-1, 0x1.82694b4a11c38p-1},
    {0x1.5698496e20bd8p-1, 0x1.7c7d7a833bec3p-1},
    {0x1.5d2ee398c9c2cp-1, 0x1.7673fe0c86983p-1},
    {0x1.63aa430e07310p-1, 0x1.704d4e6a54d3ap-1},
    {0x1.6a09e667f3bcdp-1, 0x1.6a09e667f3bcep-1},
    {0x1.704d4e6a54d39p-1, 0x1.63aa430e07311p-1},
    {0x1.7673fe0c86983p-1, 0x1.5d2ee398c9c2cp-1},
    {0x1.7c7d7a833bec3p-1, 0x1.5698496e20bd8p-1},
    {0x1.82694b4a11c38p-1, 0x1.4fe6f81384fd5p-1},
    {0x1.8836fa2cf503ap-1, 0x1.491b7523c161dp-1},
    {0x1.8de613515a329p-1, 0x1.4236484487abdp-1},
    {0x1.9376253f463d3p-1, 0x1.3b37fb1bdc938p-1},
    {0x1.98e6c0ea27a15p-1, 0x1.342119455beb6p-1},
    {0x1.9e3779b97f4a8p-1, 0x1.2cf2304755a5ep-1},
    {0x1.a367e59158747p-1, 0x1.25abcf87c4978p-1},
    {0x1.a8779cda8eea5p-1, 0x1.1e4e88411fd12p-1},
    {0x1.ad663a8ae2fdcp-1, 0x1.16daed770771cp-1},
    {0x1.b2335c2cda945p-1, 0x1.0f5193eacdd2ap-1},
    {0x1.b6dea1e76eadep-1, 0x1.07b3120fddf13p-1},
    {0x1.bb67ae8584ca9p-1, 0x1.0000000000001p-1},
    {0x1.bfce277d339c5p-1, 0x1.f071eedefa0eep-2},
    {0x1.c411b4f6d2706p-1, 0x1.e0bd274245079p-2},
    {0x1.c83201d3d2c6bp-1, 0x1.d0e2e2b44de01p-2},
    {0x1.cc2ebbb5638c8p-1, 0x1.c0e45dabe05c8p-2},
    {0x1.d0079302dd766p-1, 0x1.b0c2d77379853p-2},
    {0x1.d3bc3aeff7f95p-1, 0x1.a07f921061ad1p-2},
    {0x1.d74c6982c666ep-1, 0x1.901bd2298ffaap-2},
    {0x1.dab7d7997cb57p-1, 0x1.7f98deee59681p-2},
    {0x1.ddfe40effb805p-1, 0x1.6ef801fced33fp-2},
    {0x1.e11f642522d1bp-1, 0x1.5e3a8748a0bf8p-2},
    {0x1.e41b02bfeb4cbp-1, 0x1.4d61bd000cdddp-2},
    {0x1.e6f0e13445500p-1, 0x1.3c6ef372fe951p-2},
    {0x1.e9a0c6e7bdb21p-1, 0x1.2b637cf83d5c8p-2},
    {0x1.ec2a7e35e7b81p-1, 0x1.1a40add328e2ap-2},
    {0x1.ee8dd4748bf16p-1, 0x1.0907dc1930691p-2},
    {0x1.f0ca99f79ba27p-1, 0x1.ef74bf2e4b91cp-3},
    {0x1.f2e0a214e8710p-1, 0x1.ccb3236cdc673p-3},
    {0x1.f4cfc327a0081p-1, 0x1.a9cd9ac4258fbp-3},
    {0x1.f697d6938b6c2p-1, 0x1.86c6ddd766254p-3},
    {0x1.f838b8c811c17p-1, 0x1.63a1a7e0b738dp-3},
    {0x1.f9b24942fe45bp-1, 0x1.4060b67a85377p-3},
    {0x1.fb046a9309479p-1, 0x1.1d06c968d9e1bp-3},
    {0x1.fc2f025a23e8ap-1, 0x1.f32d44c4f62d4p-4},
    {0x1.fd31f94f867c6p-1, 0x1.ac2609b3c576bp-4},
    {0x1.fe0d3b41815a2p-1, 0x1.64fd6b8c280ffp-4},
    {0x1.fec0b7170fff6p-1, 0x1.1db8f6d6a5123p-4},
    {0x1.ff4c5ed12e61ep-1, 0x1.acbc748efc921p-5},
    {0x1.ffb0278bf0568p-1, 0x1.1de58c9f7dc37p-5},
    {0x1.ffec097f5af8bp-1, 0x1.1df0b2b89dd37p-6},
    {0x1.0000000000000p+0, 0x1.1a62633145c07p-54},
    {0x1.ffec097f5af8ap-1, -0x1.1df0b2b89dd13p-6},
    {0x1.ffb0278bf0569p-1, -0x1.1de58c9f7dc25p-5},
    {0x1.ff4c5ed12e61ep-1, -0x1.acbc748efc90fp-5},
    {0x1.fec0b7170fff6p-1, -0x1.1db8f6d6a512bp-4},
    {0x1.fe0d3b41815a2p-1, -0x1.64fd6b8c28107p-4},
    {0x1.fd31f94f867c6p-1, -0x1.ac2609b3c5773p-4},
    {0x1.fc2f025a23e8ap-1, -0x1.f32d44c4f62ccp-4},
    {0x1.fb046a930947ap-1, -0x1.1d06c968d9e17p-3},
    {0x1.f9b24942fe45bp-1, -0x1.4060b67a85373p-3},
    {0x1.f838b8c811c18p-1, -0x1.63a1a7e0b7389p-3},
    {0x1.f697d6938b6c3p-1, -0x1.86c6ddd766250p-3},
    {0x1.f4cfc327a0081p-1, -0x1.a9cd9ac4258f7p-3},
    {0x1.f2e0a214e8710p-1, -0x1.ccb3236cdc677p-3},
    {0x1.f0ca99f79ba27p-1, -0x1.ef74bf2e4b920p-3},
    {0x1.ee8dd4748bf16p-1, -0x1.0907dc1930693p-2},
    {0x1.ec2a7e35e7b82p-1, -0x1.1a40add328e28p-2},
    {0x1.e9a0c6e7bdb21p-1, -0x1.2b637cf83d5c6p-2},
    {0x1.e6f0e13445501p-1, -0x1.3c6ef372fe94fp-2},
    {0x1.e41b02bfeb4ccp-1, -0x1.4d61bd000cddbp-2},
    {0x1.e11f642522d1cp-1, -0x1.5e3a8748a0bf6p-2},
    {0x1.ddfe40effb805p-1, -0x1.6ef801fced33dp-2},
    {0x1.dab7d7997cb57p-1, -0x1.7f98deee59682p-2},
    {0x1.d74c6982c666ep-1, -0x1.901bd2298ffacp-2},
    {0x1.d3bc3aeff7f95p-1, -0x1.a07f921061ad3p-2},
    {0x1.d0079302dd767p-1, -0x1.b0c2d77379851p-2},
    {0x1.cc2ebbb5638c8p-1, -0x1.c0e45dabe05cap-2},
    {0x1.c83201d3d2c6cp-1, -0x1.d0e2e2b44ddffp-2},
    {0x1.c411b4f6d2706p-1, -0x1.e0bd27424507bp-2},
    {0x1.bfce277d339c6p-1, -0x1.f071eedefa0eap-2},
    {0x1.bb67ae8584cabp-1, -0x1.ffffffffffffbp-2},
    {0x1.b6dea1e76eadep-1, -0x1.07b3120fddf13p-1},
    {0x1.b2335c2cda946p-1, -0x1.0f5193eacdd28p-1},
    {0x1.ad663a8ae2fdcp-1, -0x1.16daed770771cp-1},
    {0x1.a8779cda8eea6p-1, -0x1.1e4e88411fd10p-1},
    {0x1.a367e59158747p-1, -0x1.25abcf87c4978p-1},
    {0x1.9e3779b97f4a9p-1, -0x1.2cf2304755a5cp-1},
    {0x1.98e6c0ea27a14p-1, -0x1.342119455beb6p-1},
    {0x1.9376253f463d3p-1, -0x1.3b37fb1bdc938p-1},
    {0x1.8de613515a32ap-1, -0x1.4236484487abbp-1},
    {0x1.8836fa2cf503ap-1, -0x1.491b7523c161cp-1},
    {0x1.82694b4a11c39p-1, -0x1.4fe6f81384fd2p-1},
    {0x1.7c7d7a833bec2p-1, -0x1.5698496e20bd8p-1},
    {0x1.7673fe0c86984p-1, -0x1.5d2ee398c9c2ap-1},
    {0x1.704d4e6a54d38p-1, -0x1.63aa430e07311p-1},
    {0x1.6a09e667f3bcep-1, -0x1.6a09e667f3bccp-1},
    {0x1.63aa430e07310p-1, -0x1.704d4e6a54d3ap-1},
    {0x1.5d2ee398c9c2cp-1, -0x1.7673fe0c86982p-1},
    {0x1.5698496e20bd9p-1, -0x1.7c7d7a833bec1p-1},
    {0x1.4fe6f81384fd4p-1, -0x1.82694b4a11c38p-1},
    {0x1.491b7523c161ep-1, -0x1.8836fa2cf5039p-1},
    {0x1.4236484487abdp-1, -0x1.8de613515a329p-1},
    {0x1.3b37fb1bdc939p-1, -0x1.9376253f463d2p-1},
    {0x1.342119455beb5p-1, -0x1.98e6c0ea27a15p-1},
    {0x1.2cf2304755a5ep-1, -0x1.9e3779b97f4a8p-1},
    {0x1.25abcf87c4976p-1, -0x1.a367e59158748p-1},
    {0x1.1e4e88411fd12p-1, -0x1.a8779cda8eea5p-1},
    {0x1.16daed770771ep-1, -0x1.ad663a8ae2fdbp-1},
    {0x1.0f5193eacdd2ap-1, -0x1.b2335c2cda945p-1},
    {0x1.07b3120fddf14p-1, -0x1.b6dea1e76eaddp-1},
    {0x1.ffffffffffffep-2, -0x1.bb67ae8584caap-1},
    {0x1.f071eedefa0eep-2, -0x1.bfce277d339c5p-1},
    {0x1.e0bd274245076p-2, -0x1.c411b4f6d2707p-1},
    {0x1.d0e2e2b44de02p-2, -0x1.c83201d3d2c6bp-1},
    {0x1.c0e45dabe05c6p-2, -0x1.cc2ebbb5638c9p-1},
    {0x1.b0c2d77379854p-2, -0x1.d0079302dd766p-1},
    {0x1.a07f921061ad5p-2, -0x1.d3bc3aeff7f93p-1},
    {0x1.901bd2298ffabp-2, -0x1.d74c6982c666ep-1},
    {0x1.7f98deee59685p-2, -0x1.dab7d7997cb56p-1},
    {0x1.6ef801fced33cp-2, -0x1.ddfe40effb805p-1},
    {0x1.5e3a8748a0bf9p-2, -0x1.e11f642522d1bp-1},
    {0x1.4d61bd000cddbp-2, -0x1.e41b02bfeb4ccp-1},
    {0x1.3c6ef372fe952p-2, -0x1.e6f0e13445500p-1},
    {0x1.2b637cf83d5c6p-2, -0x1.e9a0c6e7bdb21p-1},
    {0x1.1a40add328e2bp-2, -0x1.ec2a7e35e7b80p-1},
    {0x1.0907dc1930695p-2, -0x1.ee8dd4748bf16p-1},
    {0x1.ef74bf2e4b91ep-3, -0x1.f0ca99f79ba26p-1},
    {0x1.ccb3236cdc67dp-3, -0x1.f2e0a214e8710p-1},
    {0x1.a9cd9ac4258f5p-3, -0x1.f4cfc327a0080p-1},
    {0x1.86c6ddd766256p-3, -0x1.f697d6938b6c2p-1},
    {0x1.63a1a7e0b7387p-3, -0x1.f838b8c811c17p-1},
    {0x1.4060b67a85379p-3, -0x1.f9b24942fe45bp-1},
    {0x1.1d06c968d9e15p-3, -0x1.fb046a9309479p-1},
    {0x1.f32d44c4f62d9p-4, -0x1.fc2f025a23e8ap-1},
    {0x1.ac2609b3c5780p-4, -0x1.fd31f94f867c5p-1},
    {0x1.64fd6b8c28104p-4, -0x1.fe0d3b41815a1p-1},
    {0x1.1db8f6d6a5138p-4, -0x1.fec0b7170fff6p-1},
    {0x1.acbc748efc90ap-5, -0x1.ff4c5ed12e61ep-1},
    {0x1.1de58c9f7dc40p-5, -0x1.ffb0278bf0568p-1},
    {0x1.1df0b2b89dd08p-6, -0x1.ffec097f5af8bp-1},
};

static int numpy_uses_svml(void)
{
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512vl");
#else
    return 0;
#endif
}

/* np.sin(a), np.cos(a) as this machine's numpy gives them for the angles the post uses. */
static void np_sincos(double a, double *s, double *c)
{
    double k = nearbyint(a / (PI / 180.0));
    if (k >= 0 && k < 180 && k * (PI / 180.0) == a && numpy_uses_svml()) {
        *s = svml_deg[(int)k][0];
        *c = svml_deg[(int)k][1];
        return;
    }
    *s = sin(a);
    *c = cos(a);
}

int sl__ellipse_visit(double r, double c, double r_radius, double c_radius, double rotation,
                      const int64_t *shape, int64_t max_box,
                      int (*put)(void *ctx, int64_t row, int64_t col), void *ctx)
{
    /* skimage.draw.ellipse: `rotation %= np.pi`, then the rotated half-extents. */
    double rot = py_mod(rotation, PI);
    double sin_a, cos_a;
    np_sincos(rot, &sin_a, &cos_a);
    double r_ext = fabs(r_radius * cos_a) + c_radius * sin_a;
    double c_ext = r_radius * sin_a + fabs(c_radius * cos_a);
    double r0 = clamp_box(ceil(r - r_ext)), c0 = clamp_box(ceil(c - c_ext));
    double r1 = clamp_box(floor(r + r_ext)), c1 = clamp_box(floor(c + c_ext));
    if (shape) {
        if (r0 < 0) r0 = 0;
        if (c0 < 0) c0 = 0;
        if (r1 > (double)(shape[0] - 1)) r1 = (double)(shape[0] - 1);
        if (c1 > (double)(shape[1] - 1)) c1 = (double)(shape[1] - 1);
    }
    int64_t ur = (int64_t)r0, uc = (int64_t)c0;
    int64_t nr = (int64_t)r1 - ur + 1, nc = (int64_t)c1 - uc + 1;
    if (nr <= 0 || nc <= 0) return 0;
    if (box_too_large(nr, nc, max_box)) return -1;

    /* A zero radius divides by zero in skimage: inf or nan distances, never < 1. */
    if (r_radius == 0.0 || c_radius == 0.0) return 0;

    /* _ellipse_in_shape: the centre relative to the box corner, and `rotation %= np.pi` once
     * more (it moves a rotation that rounded up to exactly pi back to 0). */
    double sr = r - (double)ur, sc = c - (double)uc;
    double rot2 = py_mod(rot, PI);
    double s, co;
    np_sincos(rot2, &s, &co);
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
    double r0 = clamp_box(floor(rmin > 0 ? rmin : 0)), c0 = clamp_box(floor(cmin > 0 ? cmin : 0));
    double r1 = clamp_box(ceil(rmax)), c1 = clamp_box(ceil(cmax));
    if (shape) {
        if (r1 > (double)(shape[0] - 1)) r1 = (double)(shape[0] - 1);
        if (c1 > (double)(shape[1] - 1)) c1 = (double)(shape[1] - 1);
    }
    int64_t ur = (int64_t)r0, uc = (int64_t)c0;
    int64_t nr = (int64_t)r1 - ur + 1, nc = (int64_t)c1 - uc + 1;
    if (nr <= 0 || nc <= 0) return 0;
    if (box_too_large(nr, nc, max_box)) return -1;
    for (int64_t i = ur; i < ur + nr; i++) {
        for (int64_t j = uc; j < uc + nc; j++) {
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

static sl_status check_image(const char *what, const uint8_t *img, int64_t h, int64_t w,
                             sl_error *err)
{
    if (!img) return sl__fail(err, SL_E_ARG, "%s: the image is NULL", what);
    if (h < 1 || w < 1)
        return sl__fail(err, SL_E_ARG, "%s: image size %lld x %lld must be at least 1 x 1", what,
                        (long long)h, (long long)w);
    if (h > INT64_MAX / w)
        return sl__fail(err, SL_E_ARG, "%s: image size %lld x %lld is too large", what,
                        (long long)h, (long long)w);
    return SL_OK;
}

sl_status sl_draw_ellipse(uint8_t *img, int64_t h, int64_t w, double r, double c, double r_radius,
                          double c_radius, double rotation, sl_error *err)
{
    sl_status st = check_image("ellipse", img, h, w, err);
    if (st) return st;
    if (!isfinite(r) || !isfinite(c))
        return sl__fail(err, SL_E_ARG, "ellipse: centre (%g, %g) is not finite", r, c);
    if (!isfinite(r_radius) || !isfinite(c_radius) || r_radius < 0 || c_radius < 0)
        return sl__fail(err, SL_E_ARG, "ellipse: radii (%g, %g) must be finite and >= 0", r_radius,
                        c_radius);
    if (!isfinite(rotation))
        return sl__fail(err, SL_E_ARG, "ellipse: rotation %g is not finite", rotation);
    int64_t shape[2] = {h, w};
    canvas cv = {img, w};
    sl__ellipse_visit(r, c, r_radius, c_radius, rotation, shape, INT64_MAX, put_pixel, &cv);
    return SL_OK;
}

sl_status sl_draw_disk(uint8_t *img, int64_t h, int64_t w, double r, double c, double radius,
                       sl_error *err)
{
    sl_status st = check_image("disk", img, h, w, err);
    if (st) return st;
    if (!isfinite(r) || !isfinite(c))
        return sl__fail(err, SL_E_ARG, "disk: centre (%g, %g) is not finite", r, c);
    if (!isfinite(radius) || radius < 0)
        return sl__fail(err, SL_E_ARG, "disk: radius %g must be finite and >= 0", radius);
    /* skimage.draw.disk is ellipse(r, c, radius, radius, shape) with rotation 0. */
    int64_t shape[2] = {h, w};
    canvas cv = {img, w};
    sl__ellipse_visit(r, c, radius, radius, 0.0, shape, INT64_MAX, put_pixel, &cv);
    return SL_OK;
}

sl_status sl_draw_polygon(uint8_t *img, int64_t h, int64_t w, const double *rows,
                          const double *cols, int64_t npoints, sl_error *err)
{
    sl_status st = check_image("polygon", img, h, w, err);
    if (st) return st;
    if (npoints < 1)
        return sl__fail(err, SL_E_ARG, "polygon: needs at least 1 point, got %lld",
                        (long long)npoints);
    if (!rows || !cols) return sl__fail(err, SL_E_ARG, "polygon: rows or cols is NULL");
    for (int64_t i = 0; i < npoints; i++)
        if (!isfinite(rows[i]) || !isfinite(cols[i]))
            return sl__fail(err, SL_E_ARG, "polygon: point %lld (%g, %g) is not finite",
                            (long long)i, rows[i], cols[i]);
    int64_t shape[2] = {h, w};
    canvas cv = {img, w};
    sl__polygon_visit(rows, cols, npoints, shape, INT64_MAX, put_pixel, &cv);
    return SL_OK;
}
