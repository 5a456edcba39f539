/* A small raster plotter: canvas, rectangles, lines, a 5x7 bitmap font and a line chart. */
#include "plot.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The font: ASCII 32..126, 7 rows per glyph, 5 columns per row in the low bits (0x10 is the
 * leftmost column). */
static const uint8_t font5x7[95][7] = {
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}, /* ' ' */
    {0x04, 0x04, 0x04, 0x04, 0x04, 0x00, 0x04}, /* ! */
    {0x0A, 0x0A, 0x0A, 0x00, 0x00, 0x00, 0x00}, /* " */
    {0x0A, 0x0A, 0x1F, 0x0A, 0x1F, 0x0A, 0x0A}, /* # */
    {0x04, 0x0F, 0x14, 0x0E, 0x05, 0x1E, 0x04}, /* $ */
    {0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03}, /* % */
    {0x0C, 0x12, 0x14, 0x08, 0x15, 0x12, 0x0D}, /* & */
    {0x0C, 0x04, 0x08, 0x00, 0x00, 0x00, 0x00}, /* ' */
    {0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02}, /* ( */
    {0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08}, /* ) */
    {0x00, 0x04, 0x15, 0x0E, 0x15, 0x04, 0x00}, /* * */
    {0x00, 0x04, 0x04, 0x1F, 0x04, 0x04, 0x00}, /* + */
    {0x00, 0x00, 0x00, 0x00, 0x0C, 0x04, 0x08}, /* , */
    {0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00}, /* - */
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C}, /* . */
    {0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00}, /* / */
    {0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E}, /* 0 */
    {0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E}, /* 1 */
    {0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F}, /* 2 */
    {0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E}, /* 3 */
    {0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02}, /* 4 */
    {0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E}, /* 5 */
    {0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E}, /* 6 */
    {0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08}, /* 7 */
    {0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E}, /* 8 */
    {0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C}, /* 9 */
    {0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x0C, 0x00}, /* : */
    {0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x04, 0x08}, /* ; */
    {0x02, 0x04, 0x08, 0x10, 0x08, 0x04, 0x02}, /* < */
    {0x00, 0x00, 0x1F, 0x00, 0x1F, 0x00, 0x00}, /* = */
    {0x08, 0x04, 0x02, 0x01, 0x02, 0x04, 0x08}, /* > */
    {0x0E, 0x11, 0x01, 0x02, 0x04, 0x00, 0x04}, /* ? */
    {0x0E, 0x11, 0x01, 0x0D, 0x15, 0x15, 0x0E}, /* @ */
    {0x0E, 0x11, 0x11, 0x11, 0x1F, 0x11, 0x11}, /* A */
    {0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E}, /* B */
    {0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E}, /* C */
    {0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C}, /* D */
    {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F}, /* E */
    {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10}, /* F */
    {0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F}, /* G */
    {0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11}, /* H */
    {0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E}, /* I */
    {0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C}, /* J */
    {0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11}, /* K */
    {0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F}, /* L */
    {0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11}, /* M */
    {0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11}, /* N */
    {0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}, /* O */
    {0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10}, /* P */
    {0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D}, /* Q */
    {0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11}, /* R */
    {0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E}, /* S */
    {0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04}, /* T */
    {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}, /* U */
    {0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04}, /* V */
    {0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A}, /* W */
    {0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11}, /* X */
    {0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04}, /* Y */
    {0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F}, /* Z */
    {0x0E, 0x08, 0x08, 0x08, 0x08, 0x08, 0x0E}, /* [ */
    {0x00, 0x10, 0x08, 0x04, 0x02, 0x01, 0x00}, /* \ */
    {0x0E, 0x02, 0x02, 0x02, 0x02, 0x02, 0x0E}, /* ] */
    {0x04, 0x0A, 0x11, 0x00, 0x00, 0x00, 0x00}, /* ^ */
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1F}, /* _ */
    {0x08, 0x04, 0x02, 0x00, 0x00, 0x00, 0x00}, /* ` */
    {0x00, 0x00, 0x0E, 0x01, 0x0F, 0x11, 0x0F}, /* a */
    {0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x1E}, /* b */
    {0x00, 0x00, 0x0E, 0x10, 0x10, 0x11, 0x0E}, /* c */
    {0x01, 0x01, 0x0D, 0x13, 0x11, 0x11, 0x0F}, /* d */
    {0x00, 0x00, 0x0E, 0x11, 0x1F, 0x10, 0x0E}, /* e */
    {0x06, 0x09, 0x08, 0x1C, 0x08, 0x08, 0x08}, /* f */
    {0x00, 0x00, 0x0F, 0x11, 0x0F, 0x01, 0x0E}, /* g */
    {0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x11}, /* h */
    {0x04, 0x00, 0x0C, 0x04, 0x04, 0x04, 0x0E}, /* i */
    {0x02, 0x00, 0x06, 0x02, 0x02, 0x12, 0x0C}, /* j */
    {0x10, 0x10, 0x12, 0x14, 0x18, 0x14, 0x12}, /* k */
    {0x0C, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E}, /* l */
    {0x00, 0x00, 0x1A, 0x15, 0x15, 0x11, 0x11}, /* m */
    {0x00, 0x00, 0x16, 0x19, 0x11, 0x11, 0x11}, /* n */
    {0x00, 0x00, 0x0E, 0x11, 0x11, 0x11, 0x0E}, /* o */
    {0x00, 0x00, 0x1E, 0x11, 0x1E, 0x10, 0x10}, /* p */
    {0x00, 0x00, 0x0D, 0x13, 0x0F, 0x01, 0x01}, /* q */
    {0x00, 0x00, 0x16, 0x19, 0x10, 0x10, 0x10}, /* r */
    {0x00, 0x00, 0x0E, 0x10, 0x0E, 0x01, 0x1E}, /* s */
    {0x08, 0x08, 0x1C, 0x08, 0x08, 0x09, 0x06}, /* t */
    {0x00, 0x00, 0x11, 0x11, 0x11, 0x13, 0x0D}, /* u */
    {0x00, 0x00, 0x11, 0x11, 0x11, 0x0A, 0x04}, /* v */
    {0x00, 0x00, 0x11, 0x11, 0x15, 0x15, 0x0A}, /* w */
    {0x00, 0x00, 0x11, 0x0A, 0x04, 0x0A, 0x11}, /* x */
    {0x00, 0x00, 0x11, 0x11, 0x0F, 0x01, 0x0E}, /* y */
    {0x00, 0x00, 0x1F, 0x02, 0x04, 0x08, 0x1F}, /* z */
    {0x02, 0x04, 0x04, 0x08, 0x04, 0x04, 0x02}, /* { */
    {0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04}, /* | */
    {0x08, 0x04, 0x04, 0x02, 0x04, 0x04, 0x08}, /* } */
    {0x00, 0x00, 0x08, 0x15, 0x02, 0x00, 0x00}, /* ~ */
};

int plot_img_init(plot_img *img, int w, int h, const uint8_t bg[3])
{
    img->rgb = NULL;
    img->w = w;
    img->h = h;
    if (w <= 0 || h <= 0) return -1;
    img->rgb = malloc((size_t)w * (size_t)h * 3);
    if (!img->rgb) return -1;
    for (size_t i = 0; i < (size_t)w * (size_t)h; i++)
        memcpy(img->rgb + 3 * i, bg, 3);
    return 0;
}

void plot_img_free(plot_img *img)
{
    free(img->rgb);
    img->rgb = NULL;
    img->w = img->h = 0;
}

void plot_pixel(plot_img *img, int x, int y, const uint8_t c[3])
{
    if (x < 0 || y < 0 || x >= img->w || y >= img->h) return;
    memcpy(img->rgb + 3 * ((size_t)y * (size_t)img->w + (size_t)x), c, 3);
}

void plot_rect(plot_img *img, int x, int y, int w, int h, const uint8_t c[3])
{
    int x0 = x < 0 ? 0 : x, y0 = y < 0 ? 0 : y;
    int x1 = x + w > img->w ? img->w : x + w, y1 = y + h > img->h ? img->h : y + h;
    for (int j = y0; j < y1; j++)
        for (int i = x0; i < x1; i++)
            memcpy(img->rgb + 3 * ((size_t)j * (size_t)img->w + (size_t)i), c, 3);
}

void plot_frame(plot_img *img, int x, int y, int w, int h, const uint8_t c[3])
{
    if (w <= 0 || h <= 0) return;
    plot_rect(img, x, y, w, 1, c);
    plot_rect(img, x, y + h - 1, w, 1, c);
    plot_rect(img, x, y, 1, h, c);
    plot_rect(img, x + w - 1, y, 1, h, c);
}

void plot_line(plot_img *img, double x0, double y0, double x1, double y1, int thick,
               const uint8_t c[3])
{
    if (!isfinite(x0) || !isfinite(y0) || !isfinite(x1) || !isfinite(y1)) return;
    if (thick < 1) thick = 1;
    double dx = x1 - x0, dy = y1 - y0;
    double len = sqrt(dx * dx + dy * dy);
    /* Keep absurd coordinates from running forever: nothing useful lies that far out. */
    if (len > 1e6) return;
    int steps = (int)ceil(len * 2.0) + 1;
    int off = (thick - 1) / 2;
    for (int s = 0; s <= steps; s++) {
        double t = (double)s / steps;
        int px = (int)floor(x0 + t * dx + 0.5) - off, py = (int)floor(y0 + t * dy + 0.5) - off;
        plot_rect(img, px, py, thick, thick, c);
    }
}

/* On and off lengths, in pixels along the line, of each dash pattern. */
static const double DASH_ON[PLOT_NDASH] = {1, 9, 2}, DASH_OFF[PLOT_NDASH] = {0, 5, 4};

void plot_line_dashed(plot_img *img, double x0, double y0, double x1, double y1, int thick,
                      int dash, double *phase, const uint8_t c[3])
{
    if (dash <= PLOT_SOLID || dash >= PLOT_NDASH) {
        plot_line(img, x0, y0, x1, y1, thick, c);
        return;
    }
    if (!isfinite(x0) || !isfinite(y0) || !isfinite(x1) || !isfinite(y1)) return;
    double dx = x1 - x0, dy = y1 - y0, len = sqrt(dx * dx + dy * dy);
    if (len > 1e6) return;
    double on = DASH_ON[dash], period = on + DASH_OFF[dash];
    /* Walk the segment in pieces that end where the pattern switches. */
    double t = 0.0;
    while (t < len) {
        double ph = fmod(*phase + t, period);
        int drawing = ph < on;
        double piece = drawing ? on - ph : period - ph;
        double t1 = t + piece < len ? t + piece : len;
        if (drawing)
            plot_line(img, x0 + dx * t / len, y0 + dy * t / len, x0 + dx * t1 / len,
                      y0 + dy * t1 / len, thick, c);
        t = t1;
    }
    *phase = fmod(*phase + len, period);
}

void plot_marker(plot_img *img, int x, int y, int r, int shape, const uint8_t c[3])
{
    switch (shape) {
    case PLOT_CIRCLE:
        for (int j = -r; j <= r; j++)
            for (int i = -r; i <= r; i++)
                if (i * i + j * j <= r * r + r) plot_pixel(img, x + i, y + j, c);
        break;
    case PLOT_TRIANGLE:
        for (int j = -r; j <= r; j++) {
            int half = (j + r) / 2; /* widens downwards */
            plot_rect(img, x - half, y + j, 2 * half + 1, 1, c);
        }
        break;
    case PLOT_DIAMOND:
        for (int j = -r; j <= r; j++) {
            int half = r - (j < 0 ? -j : j);
            plot_rect(img, x - half, y + j, 2 * half + 1, 1, c);
        }
        break;
    case PLOT_CROSS:
        for (int k = -r; k <= r; k++) {
            plot_rect(img, x + k, y + k, 2, 1, c);
            plot_rect(img, x + k, y - k, 2, 1, c);
        }
        break;
    default: plot_rect(img, x - r, y - r, 2 * r + 1, 2 * r + 1, c); break;
    }
}

void plot_nice_range(double vmin, double vmax, double *lo, double *hi, int *nticks)
{
    if (!(vmax > vmin)) {
        double pad = fabs(vmin) > 0 ? 0.05 * fabs(vmin) : 0.05;
        vmin -= pad;
        vmax += pad;
    }
    double raw = (vmax - vmin) / 5.0, mag = pow(10.0, floor(log10(raw))), step = 10 * mag;
    static const double m[4] = {1, 2, 2.5, 5};
    for (int k = 0; k < 4; k++)
        if (m[k] * mag >= raw) {
            step = m[k] * mag;
            break;
        }
    *lo = floor(vmin / step + 1e-9) * step;
    *hi = ceil(vmax / step - 1e-9) * step;
    int n = (int)floor((*hi - *lo) / step + 0.5) + 1;
    *nticks = n < 3 ? 3 : n > 7 ? 7 : n;
}

void plot_blit(plot_img *img, int x, int y, const uint8_t *src, int sw, int sh, int scale)
{
    if (scale < 1) scale = 1;
    for (int j = 0; j < sh * scale; j++) {
        int ty = y + j;
        if (ty < 0 || ty >= img->h) continue;
        for (int i = 0; i < sw * scale; i++) {
            int tx = x + i;
            if (tx < 0 || tx >= img->w) continue;
            const uint8_t *p = src + 3 * ((size_t)(j / scale) * (size_t)sw + (size_t)(i / scale));
            memcpy(img->rgb + 3 * ((size_t)ty * (size_t)img->w + (size_t)tx), p, 3);
        }
    }
}

int plot_text_width(const char *s, int scale)
{
    if (scale < 1) scale = 1;
    return (int)strlen(s) * PLOT_CHAR_W * scale;
}

int plot_text(plot_img *img, int x, int y, const char *s, const uint8_t c[3], int scale)
{
    if (scale < 1) scale = 1;
    int cx = x;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        int ch = (*p >= 32 && *p <= 126) ? *p : '?';
        const uint8_t *g = font5x7[ch - 32];
        for (int row = 0; row < 7; row++)
            for (int col = 0; col < 5; col++)
                if (g[row] & (0x10 >> col))
                    plot_rect(img, cx + col * scale, y + row * scale, scale, scale, c);
        cx += PLOT_CHAR_W * scale;
    }
    return cx - x;
}

void plot_series_colour(int i, uint8_t rgb[3])
{
    static const uint8_t palette[][3] = {
        {31, 119, 180}, {214, 39, 40},   {44, 160, 44},   {255, 127, 14}, {148, 103, 189},
        {140, 86, 75},  {227, 119, 194}, {127, 127, 127}, {188, 189, 34}, {23, 190, 207},
        {0, 0, 128},    {128, 0, 0},     {0, 100, 0},     {255, 0, 255},  {0, 0, 0},
        {184, 134, 11}, {70, 130, 180},  {205, 92, 92},   {60, 179, 113}, {106, 90, 205},
    };
    const int np = (int)(sizeof palette / sizeof palette[0]);
    if (i >= 0 && i < np) {
        memcpy(rgb, palette[i], 3);
        return;
    }
    /* Beyond the palette: hues a golden angle apart at a fixed saturation and value. */
    double hue = fmod((double)i * 137.507764, 360.0) / 60.0;
    double s = 0.8, v = 0.75;
    int sector = (int)hue;
    double f = hue - sector;
    double p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f));
    double r, g, b;
    switch (sector % 6) {
    case 0: r = v, g = t, b = p; break;
    case 1: r = q, g = v, b = p; break;
    case 2: r = p, g = v, b = t; break;
    case 3: r = p, g = q, b = v; break;
    case 4: r = t, g = p, b = v; break;
    default: r = v, g = p, b = q; break;
    }
    rgb[0] = (uint8_t)(r * 255 + 0.5);
    rgb[1] = (uint8_t)(g * 255 + 0.5);
    rgb[2] = (uint8_t)(b * 255 + 0.5);
}

static double clampd(double v, double lo, double hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* A tick label: %g with at most 4 significant digits, "-0" written as "0". */
static void tick_label(double v, char *buf, size_t len)
{
    if (fabs(v) < 1e-12) v = 0.0;
    snprintf(buf, len, "%.4g", v);
}

static const uint8_t chart_ink[3] = {40, 40, 40}, chart_grid[3] = {225, 225, 225},
                     chart_frame[3] = {120, 120, 120};

/* A chart's plotting area (ax, ay, aw, ah) and its mapping of data to pixels. */
typedef struct {
    int ax, ay, aw, ah, pad;
    double xmin, xmax, ymin, ymax, sx, sy;
} chart_axes;

static double chart_px(const chart_axes *a, double v)
{
    return a->ax + a->pad + (v - a->xmin) * a->sx;
}

static double chart_py(const chart_axes *a, double v)
{
    return a->ay + a->ah - 1 - a->pad - (clampd(v, a->ymin, a->ymax) - a->ymin) * a->sy;
}

/* The area inside (x, y, w, h) left of the y tick labels; 0 when too small to draw in. */
static int chart_area(const plot_chart *c, int x, int y, int w, int h, int nyt, chart_axes *a)
{
    int lab_w = 0;
    char buf[64];
    for (int k = 0; k < nyt; k++) {
        tick_label(c->ymin + (c->ymax - c->ymin) * k / (nyt - 1), buf, sizeof buf);
        int tw = plot_text_width(buf, 1);
        if (tw > lab_w) lab_w = tw;
    }
    a->ax = x + lab_w + 10, a->ay = y + 18;
    a->aw = x + w - 10 - a->ax, a->ah = y + h - 22 - a->ay;
    if (a->aw < 10 || a->ah < 10) return 0;
    a->xmin = 0, a->xmax = 1;
    for (int i = 0; i < c->npts; i++) {
        if (i == 0 || c->x[i] < a->xmin) a->xmin = c->x[i];
        if (i == 0 || c->x[i] > a->xmax) a->xmax = c->x[i];
    }
    if (!(a->xmax > a->xmin)) {
        a->xmin -= 0.5;
        a->xmax += 0.5;
    }
    a->ymin = c->ymin, a->ymax = c->ymax > c->ymin ? c->ymax : c->ymin + 1;
    /* A little room inside the frame so that lines at the extremes stay visible. */
    a->pad = 5;
    a->sx = (a->aw - 1 - 2 * a->pad) / (a->xmax - a->xmin);
    a->sy = (a->ah - 1 - 2 * a->pad) / (a->ymax - a->ymin);
    return 1;
}

/* Grid and y ticks; x ticks at every point's x, thinned so that labels keep apart. */
static void chart_ticks(plot_img *img, const plot_chart *c, const chart_axes *a, int nyt)
{
    char buf[64];
    for (int k = 0; k < nyt; k++) {
        double v = a->ymin + (a->ymax - a->ymin) * k / (nyt - 1);
        int py = (int)floor(chart_py(a, v) + 0.5);
        plot_rect(img, a->ax + 1, py, a->aw - 2, 1, chart_grid);
        plot_rect(img, a->ax - 3, py, 3, 1, chart_frame);
        tick_label(v, buf, sizeof buf);
        plot_text(img, a->ax - 5 - plot_text_width(buf, 1), py - 3, buf, chart_ink, 1);
    }
    int every = 1;
    for (;;) {
        int ok = 1, last_right = -1000000;
        for (int i = 0; i < c->npts && ok; i += every) {
            tick_label(c->x[i], buf, sizeof buf);
            int tw = plot_text_width(buf, 1);
            int left = (int)floor(chart_px(a, c->x[i]) + 0.5) - tw / 2;
            if (left < last_right + 4) ok = 0;
            last_right = left + tw;
        }
        if (ok || every >= c->npts) break;
        every++;
    }
    for (int i = 0; i < c->npts; i += every) {
        int px = (int)floor(chart_px(a, c->x[i]) + 0.5);
        plot_rect(img, px, a->ay + a->ah, 1, 3, chart_frame);
        tick_label(c->x[i], buf, sizeof buf);
        plot_text(img, px - plot_text_width(buf, 1) / 2, a->ay + a->ah + 5, buf, chart_ink, 1);
    }
}

/* Series s: its line, then its markers on top. */
static void chart_series(plot_img *img, const plot_chart *c, const chart_axes *a, int s)
{
    const uint8_t *col = c->colour + 3 * s;
    const double *v = c->y[s];
    double phase = 0.0;
    int dash = c->dash ? c->dash[s] : PLOT_SOLID;
    for (int i = 0; i + 1 < c->npts; i++) {
        if (!isfinite(v[i]) || !isfinite(v[i + 1])) continue;
        plot_line_dashed(img, chart_px(a, c->x[i]), chart_py(a, v[i]), chart_px(a, c->x[i + 1]),
                         chart_py(a, v[i + 1]), 2, dash, &phase, col);
    }
    for (int i = 0; i < c->npts; i++) {
        if (!isfinite(v[i])) continue;
        int px = (int)floor(chart_px(a, c->x[i]) + 0.5), py = (int)floor(chart_py(a, v[i]) + 0.5);
        if (c->marker) {
            plot_marker(img, px, py, 3, c->marker[s], col);
        } else {
            /* Sizes 7, 5, 3 in turn: curves that coincide show as nested squares. */
            int r = 3 - s % 3;
            plot_rect(img, px - r, py - r, 2 * r + 1, 2 * r + 1, col);
        }
    }
}

void plot_chart_draw(plot_img *img, int x, int y, int w, int h, const plot_chart *c)
{
    static const uint8_t white[3] = {255, 255, 255};
    plot_rect(img, x, y, w, h, white);
    /* Title, centred. */
    if (c->title) {
        int tw = plot_text_width(c->title, 1);
        plot_text(img, x + (w - tw) / 2, y + 4, c->title, chart_ink, 1);
    }
    int nyt = c->nyticks < 2 ? 2 : c->nyticks;
    chart_axes a;
    if (!chart_area(c, x, y, w, h, nyt, &a)) return;
    chart_ticks(img, c, &a, nyt);
    plot_frame(img, a.ax, a.ay, a.aw, a.ah, chart_frame);
    for (int s = 0; s < c->nseries; s++)
        chart_series(img, c, &a, s);
}
