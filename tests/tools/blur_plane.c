/* blur_plane: reads "h w sigma" and then h * w doubles (C99 hex floats) from stdin, blurs the
 * plane with the library's one Gaussian blur (src/blur.c, sl__blur, an internal function the
 * shared library does not export) and prints the h * w results as hex floats, one per line, for
 * tests/check_blur.py. Repeats until the input ends. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

size_t sl__blur_scratch(int64_t h, int64_t w);
void sl__blur(double *plane, int64_t h, int64_t w, double sigma, double *scratch);

int main(void)
{
    long long h, w;
    double sigma;
    while (scanf("%lld %lld %la", &h, &w, &sigma) == 3) {
        if (h < 1 || w < 1 || h > 4096 || w > 4096) return 1;
        double *plane = malloc((size_t)(h * w) * sizeof(double));
        double *scratch = malloc(sl__blur_scratch(h, w) * sizeof(double));
        if (!plane || !scratch) return 1;
        for (long long i = 0; i < h * w; i++)
            if (scanf("%la", &plane[i]) != 1) return 1;
        sl__blur(plane, h, w, sigma, scratch);
        for (long long i = 0; i < h * w; i++)
            printf("%a\n", plane[i]);
        free(plane);
        free(scratch);
    }
    return 0;
}
