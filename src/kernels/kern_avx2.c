/* The kernels for AVX2 + FMA (compiled with -mavx2 -mfma). */
#if defined(__x86_64__) || defined(__i386__)
#define SL_VEC_AVX2
#define SL_KERN_TABLE sl__kern_avx2
#define SL_KERN_NAME "avx2"
#include "body.h"
#else
typedef int sl__kern_avx2_unused;
#endif
