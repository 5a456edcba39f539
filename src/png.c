/* Pictures like the post's figures: class colours, strips of images side by side, and a minimal
 * PNG writer (8-bit RGB, no filtering, one IDAT chunk compressed by zlib). */
#include "internal.h"
#include "segloss_data.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* Background black; then the post's three objects, ellipse red, square green, circle blue;
 * then further colours that stay apart from those and from each other: orange, purple, cyan,
 * magenta, yellow, brown, pink, teal, mint, maroon, lavender, olive. Classes past the end cycle
 * through entries 1.. so every class still gets a colour. */
static const uint8_t palette[][3] = {
    {0, 0, 0},       {228, 26, 28},  {60, 180, 75},   {40, 100, 220},
    {255, 170, 0},   {150, 60, 180}, {0, 200, 200},   {240, 50, 200},
    {230, 230, 40},  {140, 90, 40},  {250, 160, 170}, {0, 120, 110},
    {170, 255, 150}, {120, 0, 40},   {130, 130, 255}, {128, 128, 0},
};
#define NPALETTE ((int64_t)(sizeof palette / sizeof palette[0]))

/* Negative labels (ignore values such as -100) render mid grey; the gaps between images are a
 * lighter grey so the two are never confused. */
static const uint8_t negative_grey = 128;
static const uint8_t gap_grey = 200;

void sl_class_colour(int64_t c, uint8_t rgb[3])
{
    if (c < 0) {
        rgb[0] = rgb[1] = rgb[2] = negative_grey;
        return;
    }
    int64_t k = c == 0 ? 0 : 1 + (c - 1) % (NPALETTE - 1);
    rgb[0] = palette[k][0];
    rgb[1] = palette[k][1];
    rgb[2] = palette[k][2];
}

void sl_strip_size(int64_t N, int64_t H, int64_t W, int64_t gap, int64_t *out_h, int64_t *out_w)
{
    if (N < 0) N = 0;
    if (H < 0) H = 0;
    if (W < 0) W = 0;
    if (gap < 0) gap = 0;
    *out_h = N > 0 ? H : 0;
    *out_w = N > 0 ? N * W + (N - 1) * gap : 0;
}

/* Fill the whole strip with the gap colour; the images are drawn over it. */
static void fill_gaps(uint8_t *rgb, int64_t oh, int64_t ow)
{
    memset(rgb, gap_grey, (size_t)(oh * ow * 3));
}

void sl_render_labels(const int32_t *labels, int64_t N, int64_t H, int64_t W, int64_t gap,
                      uint8_t *rgb)
{
    int64_t oh, ow;
    sl_strip_size(N, H, W, gap, &oh, &ow);
    if (oh == 0 || ow == 0) return;
    if (gap < 0) gap = 0;
    fill_gaps(rgb, oh, ow);
    for (int64_t i = 0; i < N; i++) {
        const int32_t *img = labels + i * H * W;
        for (int64_t y = 0; y < H; y++) {
            uint8_t *row = rgb + (y * ow + i * (W + gap)) * 3;
            for (int64_t x = 0; x < W; x++)
                sl_class_colour(img[y * W + x], row + x * 3);
        }
    }
}

void sl_render_probs(const float *probs, int64_t N, int64_t C, int64_t H, int64_t W, int64_t gap,
                     uint8_t *rgb)
{
    int64_t oh, ow;
    sl_strip_size(N, H, W, gap, &oh, &ow);
    if (oh == 0 || ow == 0) return;
    if (gap < 0) gap = 0;
    if (C < 0) C = 0;
    fill_gaps(rgb, oh, ow);
    int64_t P = H * W;
    for (int64_t i = 0; i < N; i++) {
        const float *img = probs + i * C * P;
        for (int64_t y = 0; y < H; y++) {
            uint8_t *row = rgb + (y * ow + i * (W + gap)) * 3;
            for (int64_t x = 0; x < W; x++) {
                double acc[3] = {0, 0, 0};
                for (int64_t c = 0; c < C; c++) {
                    double v = img[c * P + y * W + x];
                    if (!isfinite(v)) continue; /* a NaN must not poison the picture */
                    uint8_t col[3];
                    sl_class_colour(c, col);
                    for (int k = 0; k < 3; k++)
                        acc[k] += v * col[k];
                }
                for (int k = 0; k < 3; k++) {
                    double v = acc[k] < 0 ? 0 : acc[k] > 255 ? 255 : acc[k];
                    row[x * 3 + k] = (uint8_t)lround(v);
                }
            }
        }
    }
}

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Finish a chunk whose length, type and data are already at p: append the CRC of type + data.
 * Returns the chunk's total size. */
static size_t end_chunk(uint8_t *p, size_t datalen)
{
    uLong crc = crc32(0L, Z_NULL, 0);
    crc = crc32(crc, p + 4, (uInt)(4 + datalen));
    put_u32(p + 8 + datalen, (uint32_t)crc);
    return 12 + datalen;
}

/* sl_png_write (path) and sl_png_write_fd (fd >= 0, path NULL). */
static sl_status png_write(const char *path, int fd, const uint8_t *rgb, int64_t H, int64_t W,
                           sl_error *err)
{
    /* for messages: "cannot write PATH" or "cannot write" */
    const char *sp = path ? " " : "", *pn = path ? path : "";
    if (H < 1 || W < 1)
        return sl__fail(err, SL_E_ARG, "cannot write%s%s: image size %lld x %lld must be >= 1", sp,
                        pn, (long long)H, (long long)W);
    /* PNG sizes are 31-bit; and the raw image (a filter byte per row) must fit in memory
     * sizes and in zlib's uLong without overflowing. */
    if (H > 0x7fffffff || W > 0x7fffffff || (uint64_t)W > (SIZE_MAX - 1) / 3 ||
        (uint64_t)H > SIZE_MAX / (1 + 3 * (uint64_t)W) ||
        (uint64_t)H * (1 + 3 * (uint64_t)W) > (uint64_t)(uLong)-1 / 2)
        return sl__fail(err, SL_E_ARG, "cannot write%s%s: image size %lld x %lld is too large", sp,
                        pn, (long long)H, (long long)W);
    if (!rgb) return sl__fail(err, SL_E_ARG, "cannot write%s%s: pixel buffer is NULL", sp, pn);

    size_t stride = 1 + 3 * (size_t)W;
    size_t rawlen = (size_t)H * stride;
    uint8_t *raw = malloc(rawlen);
    if (!raw) return sl__fail(err, SL_E_NOMEM, "out of memory writing%s%s", sp, pn);
    for (int64_t y = 0; y < H; y++) {
        raw[(size_t)y * stride] = 0; /* filter type 0: the row as is */
        memcpy(raw + (size_t)y * stride + 1, rgb + (size_t)y * 3 * (size_t)W, 3 * (size_t)W);
    }

    uLong bound = compressBound((uLong)rawlen);
    /* signature 8, IHDR 25, IDAT 12 + data, IEND 12 */
    size_t head = 8 + 25 + 8;
    if (bound > SIZE_MAX - head - 4 - 12) {
        free(raw);
        return sl__fail(err, SL_E_ARG, "cannot write%s%s: image too large", sp, pn);
    }
    uint8_t *file = malloc(head + (size_t)bound + 4 + 12);
    if (!file) {
        free(raw);
        return sl__fail(err, SL_E_NOMEM, "out of memory writing%s%s", sp, pn);
    }
    uLongf clen = bound;
    int zr = compress2(file + head, &clen, raw, (uLong)rawlen, 6);
    free(raw);
    if (zr != Z_OK) {
        free(file);
        return sl__fail(err, zr == Z_MEM_ERROR ? SL_E_NOMEM : SL_E_IO,
                        "cannot write%s%s: zlib compression failed (%d)", sp, pn, zr);
    }
    if (clen > 0x7fffffff) {
        free(file);
        return sl__fail(err, SL_E_ARG, "cannot write%s%s: image too large for one chunk", sp, pn);
    }

    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    memcpy(file, sig, 8);
    uint8_t *p = file + 8;
    put_u32(p, 13);
    memcpy(p + 4, "IHDR", 4);
    put_u32(p + 8, (uint32_t)W);
    put_u32(p + 12, (uint32_t)H);
    p[16] = 8; /* bit depth */
    p[17] = 2; /* colour type: RGB */
    p[18] = 0; /* compression: deflate */
    p[19] = 0; /* filter method */
    p[20] = 0; /* no interlace */
    p += end_chunk(p, 13);
    put_u32(p, (uint32_t)clen);
    memcpy(p + 4, "IDAT", 4);
    p += end_chunk(p, (size_t)clen);
    put_u32(p, 0);
    memcpy(p + 4, "IEND", 4);
    p += end_chunk(p, 0);

    sl_status st = sl__write_out(path, fd, file, (size_t)(p - file), NULL, 0, err);
    free(file);
    return st;
}

sl_status sl_png_write(const char *path, const uint8_t *rgb, int64_t H, int64_t W, sl_error *err)
{
    if (!path) return sl__fail(err, SL_E_ARG, "sl_png_write: path is NULL");
    return png_write(path, -1, rgb, H, W, err);
}

sl_status sl_png_write_fd(int fd, const uint8_t *rgb, int64_t H, int64_t W, sl_error *err)
{
    if (fd < 0) return sl__fail(err, SL_E_ARG, "sl_png_write_fd: bad file descriptor %d", fd);
    return png_write(NULL, fd, rgb, H, W, err);
}
