/* The pictures of label maps and predictions (segloss demo, masks --png, predict --png): the
 * images in a grid, small ones magnified, each numbered as the text counts them (from 0), with
 * a title and a legend of the class colours. */
#include "cli.h"
#include "out.h"
#include "plot.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t white[3] = {255, 255, 255}, ink[3] = {30, 30, 30},
                     frame_c[3] = {150, 150, 150};

/* The post's classes by name; others as "class k". */
static void class_name(int64_t c, int64_t nclass, char *buf, size_t len)
{
    static const char *const post[SL_NCLASS] = {"background", "ellipse", "square", "circle"};
    if (nclass == SL_NCLASS)
        snprintf(buf, len, "%s", post[c]);
    else if (c == 0)
        snprintf(buf, len, "background");
    else
        snprintf(buf, len, "class %lld", (long long)c);
}

/* Where everything goes. */
typedef struct {
    int64_t scale, iw, ih, lab_h, cell_w, cell_h, cols, rows, width, height, legend_line, title_h;
    int fs; /* font scale of the image numbers and the legend */
} layout;

/* The legend: a swatch and a name per class, in as many lines as it takes within the width,
 * drawn at line y when img is not NULL. Returns the number of lines. */
static int64_t legend(plot_img *img, const layout *L, int64_t nclass, int y)
{
    const int margin = 10;
    int64_t lx = margin, nlines = 1;
    char name[64];
    for (int64_t c = 0; c < nclass; c++) {
        class_name(c, nclass, name, sizeof name);
        int64_t item = 16 + 6 + plot_text_width(name, L->fs) + 18;
        if (lx + item > L->width - margin && lx > margin) {
            nlines++;
            lx = margin;
            y += (int)L->legend_line;
        }
        if (img) {
            uint8_t col[3];
            sl_class_colour(c, col);
            plot_rect(img, (int)lx, y, 16, 16, col);
            plot_frame(img, (int)lx, y, 16, 16, frame_c);
            plot_text(img, (int)lx + 22, y + 8 - PLOT_CHAR_H * L->fs / 2, name, ink, L->fs);
        }
        lx += item;
    }
    return nlines;
}

/* The layout at magnification L->scale; whether the picture fits the limits. */
static int layout_at(layout *L, const char *title, int64_t n, int64_t nclass, int64_t h, int64_t w)
{
    const int gap = 14, margin = 10;
    L->title_h = title ? PLOT_CHAR_H * 2 + 10 : 0;
    L->iw = w * L->scale;
    L->ih = h * L->scale;
    L->fs = L->iw >= 200 ? 2 : 1;
    L->lab_h = PLOT_CHAR_H * L->fs + 4;
    L->cell_w = L->iw + 2;
    L->cell_h = L->lab_h + L->ih + 2;
    int64_t cols = (1400 - 2 * margin) / (L->cell_w + gap);
    if (L->scale == 1) {
        /* Unmagnified: many images go into a roughly square grid. */
        int64_t sq =
            (int64_t)ceil(sqrt((double)n * (double)(L->cell_h + gap) / (double)(L->cell_w + gap)));
        if (sq > cols) cols = sq;
    }
    if (cols < 1) cols = 1;
    if (cols > n) cols = n;
    L->rows = (n + cols - 1) / cols;
    L->cols = cols = (n + L->rows - 1) / L->rows; /* rows as even as they can be */
    L->width = 2 * margin + cols * L->cell_w + (cols - 1) * gap;
    int64_t min_w = title ? 2 * margin + plot_text_width(title, 2) : 0;
    if (L->width < min_w) L->width = min_w;
    if (L->width < 2 * margin + 40 + plot_text_width("background", L->fs))
        L->width = 2 * margin + 40 + plot_text_width("background", L->fs);
    L->legend_line = 8 + PLOT_CHAR_H * L->fs;
    L->height = margin + L->title_h + L->rows * L->cell_h + (L->rows - 1) * gap + 12 +
                legend(NULL, L, nclass, 0) * L->legend_line + margin;
    return L->width <= 30000 && L->height <= 30000 && L->width * L->height <= ((int64_t)1 << 27);
}

/* Image i in its cell at (cx, cy): its number above it, framed. */
static void picture_cell(plot_img *img, const layout *L, int64_t i, int cx, int cy,
                         const uint8_t *rgb, int64_t h, int64_t w)
{
    char name[64];
    snprintf(name, sizeof name, "image %lld", (long long)i);
    if (plot_text_width(name, L->fs) > L->cell_w) snprintf(name, sizeof name, "%lld", (long long)i);
    int f = plot_text_width(name, L->fs) > L->cell_w ? 1 : L->fs;
    plot_text(img, cx + ((int)L->cell_w - plot_text_width(name, f)) / 2, cy, name, ink, f);
    plot_frame(img, cx, cy + (int)L->lab_h, (int)L->cell_w, (int)L->ih + 2, frame_c);
    plot_blit(img, cx + 1, cy + (int)L->lab_h + 1, rgb, (int)w, (int)h, (int)L->scale);
}

int cli_class_picture(cli_outs *outs, const char *path, const char *title, const int32_t *labels,
                      const float *probs, int64_t n, int64_t nclass, int64_t h, int64_t w)
{
    const int gap = 14, margin = 10;
    /* Magnify so that an image is about 256 pixels across (at most 16 times), less when the
     * picture would be too large. */
    layout L;
    int64_t side = h > w ? h : w;
    L.scale = side >= 256 ? 1 : 256 / side;
    if (L.scale > 16) L.scale = 16;
    while (!layout_at(&L, title, n, nclass, h, w)) {
        if (L.scale == 1)
            return cli_fail(outs->cmd, CLI_RUNTIME,
                            "%s: %lld images of %lld x %lld make a picture too large to write",
                            path, (long long)n, (long long)h, (long long)w);
        L.scale--;
    }
    plot_img img;
    uint8_t *one = malloc((size_t)(h * w * 3));
    if (!one || plot_img_init(&img, (int)L.width, (int)L.height, white)) {
        free(one);
        return cli_fail(outs->cmd, CLI_RUNTIME, "out of memory for the picture %s", path);
    }
    int y = margin;
    if (title) {
        plot_text(&img, margin, y, title, ink, 2);
        y += (int)L.title_h;
    }
    for (int64_t i = 0; i < n; i++) {
        if (labels)
            sl_render_labels(labels + i * h * w, 1, h, w, 0, one);
        else
            sl_render_probs(probs + i * nclass * h * w, 1, nclass, h, w, 0, one);
        picture_cell(&img, &L, i, (int)(margin + (i % L.cols) * (L.cell_w + gap)),
                     (int)(y + (i / L.cols) * (L.cell_h + gap)), one, h, w);
    }
    legend(&img, &L, nclass, (int)(y + L.rows * L.cell_h + (L.rows - 1) * gap + 12));
    free(one);
    int rc = cli_outs_png(outs, path, img.rgb, img.h, img.w);
    plot_img_free(&img);
    return rc;
}
