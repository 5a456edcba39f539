/* The kernels for AVX-512 (compiled with -mavx512f -mavx512dq -mavx512bw -mavx512vl). */
#if defined(__x86_64__) || defined(__i386__)
#define SL_VEC_AVX512
#define SL_KERN_TABLE sl__kern_avx512
#define SL_KERN_NAME "avx512"
#include "body.h"
#else
typedef int sl__kern_avx512_unused;
#endif
