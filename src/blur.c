/* The one Gaussian blur of the tree (sl__blur, src/internal.h): the post's typical predictions
 * (src/masks.c) and `segloss play`'s blur mistake both call it.
 *
 * The rule: the kernel is truncated at 3 sigma and renormalised at the borders, i.e. each output
 * is the weighted mean of the taps that fall inside the image. Renormalising invents no values
 * beyond the edge (repeating the edge would weigh the border pixels several times), and since the
 * weights of every output sum to 1, blurring each class's probability plane keeps the
 * probabilities of a pixel summing to 1. The 2-D blur is a row pass then a column pass; with
 * renormalisation per pass it equals blur(x) / blur(ones) of the zero-padded 2-D filter. */
#include "internal.h"

size_t sl__blur_scratch(int64_t h, int64_t w)
{
    return (size_t)((h > w ? h : w) + h * w);
}

/* One pass along an axis of length len with stride step: each output is the weighted mean of the
 * taps that fall inside. */
static void blur_line(const double *in, double *out, int64_t len, int64_t step, const double *taps,
                      int64_t radius)
{
    for (int64_t i = 0; i < len; i++) {
        double s = 0.0, wsum = 0.0;
        int64_t lo = i - radius < 0 ? -i : -radius;
        int64_t hi = i + radius > len - 1 ? len - 1 - i : radius;
        for (int64_t k = lo; k <= hi; k++) {
            double t = taps[k < 0 ? -k : k];
            s += t * in[(i + k) * step];
            wsum += t;
        }
        out[i * step] = s / wsum;
    }
}

void sl__blur(double *plane, int64_t h, int64_t w, double sigma, double *scratch)
{
    if (!(sigma > 0)) return;
    int64_t ntaps = h > w ? h : w;
    double *taps = scratch, *rows = scratch + ntaps;
    /* Taps beyond the longer side never land inside the image, so the radius is capped there
     * (which also keeps a huge sigma finite work). */
    double rd = ceil(3.0 * sigma);
    int64_t radius = rd > (double)(ntaps - 1) ? ntaps - 1 : (int64_t)rd;
    if (radius < 1) return;
    taps[0] = 1.0;
    for (int64_t k = 1; k <= radius; k++) {
        double t = (double)k / sigma;
        taps[k] = exp(-0.5 * t * t);
    }
    for (int64_t r = 0; r < h; r++)
        blur_line(plane + r * w, rows + r * w, w, 1, taps, radius);
    for (int64_t col = 0; col < w; col++)
        blur_line(rows + col, plane + col, h, w, taps, radius);
}
