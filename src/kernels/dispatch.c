/* Run-time choice of the kernel table: the best the CPU has, or the one SEGLOSS_ISA names. */
#include "kern.h"

#include <stdlib.h>
#include <string.h>

static int cpu_has(const char *name)
{
#if defined(__x86_64__) || defined(__i386__)
    if (strcmp(name, "avx512") == 0)
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
               __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
               __builtin_cpu_supports("fma");
    if (strcmp(name, "avx2") == 0)
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
    return strcmp(name, "scalar") == 0;
}

const sl__kern *sl__kern_named(const char *name)
{
    if (!name || !cpu_has(name)) return NULL;
#if defined(__x86_64__) || defined(__i386__)
    if (strcmp(name, "avx512") == 0) return &sl__kern_avx512;
    if (strcmp(name, "avx2") == 0) return &sl__kern_avx2;
#endif
    return &sl__kern_scalar;
}

const sl__kern *sl__kern_select(void)
{
    const sl__kern *k = sl__kern_named(getenv("SEGLOSS_ISA"));
    if (k) return k;
    if ((k = sl__kern_named("avx512"))) return k;
    if ((k = sl__kern_named("avx2"))) return k;
    return &sl__kern_scalar;
}
