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

int cli_class_picture(cli_outs *outs, const char *path, const char *title, const int32_t *labels,
                      const float *probs, int64_t n, int64_t nclass, int64_t h, int64_t w)
{
    const char *cmd = outs->cmd;
    /* Magnify so that an image is about 256 pixels across (at most 16 times), less when the
     * picture would be too large. */
    int64_t side = h > w ? h : w;
    int64_t scale = side >= 256 ? 1 : 256 / side;
    if (scale > 16) scale = 16;
    const int gap = 14, margin = 10;
    int64_t title_h = title ? PLOT_CHAR_H * 2 + 10 : 0;
    int64_t iw, ih, lab_h, cell_w, cell_h, cols, rows, width, height, legend_line;
    int fs;
    char name[64];
    for (;;) {
        iw = w * scale;
        ih = h * scale;
        fs = iw >= 200 ? 2 : 1; /* font scale of the image numbers and the legend */
        lab_h = PLOT_CHAR_H * fs + 4;
        cell_w = iw + 2;
        cell_h = lab_h + ih + 2;
        cols = (1400 - 2 * margin) / (cell_w + gap);
        if (scale == 1) {
            /* Unmagnified: many images go into a roughly square grid. */
            int64_t sq = (int64_t)ceil(sqrt((double)n * (double)(cell_h + gap) /
                                            (double)(cell_w + gap)));
            if (sq > cols) cols = sq;
        }
        if (cols < 1) cols = 1;
        if (cols > n) cols = n;
        rows = (n + cols - 1) / cols;
        cols = (n + rows - 1) / rows; /* rows as even as they can be */
        width = 2 * margin + cols * cell_w + (cols - 1) * gap;
        int64_t min_w = title ? 2 * margin + plot_text_width(title, 2) : 0;
        if (width < min_w) width = min_w;
        if (width < 2 * margin + 40 + plot_text_width("background", fs))
            width = 2 * margin + 40 + plot_text_width("background", fs);
        /* The legend: one swatch and name per class, in as many lines as it takes. */
        int64_t lx = margin, nlines = 1;
        legend_line = 8 + PLOT_CHAR_H * fs;
        for (int64_t c = 0; c < nclass; c++) {
            class_name(c, nclass, name, sizeof name);
            int64_t item = 16 + 6 + plot_text_width(name, fs) + 18;
            if (lx + item > width - margin && lx > margin) {
                nlines++;
                lx = margin;
            }
            lx += item;
        }
        height = margin + title_h + rows * cell_h + (rows - 1) * gap + 12 + nlines * legend_line +
                 margin;
        int fits = width <= 30000 && height <= 30000 && width * height <= ((int64_t)1 << 27);
        if (fits) break;
        if (scale == 1)
            return cli_fail(cmd, CLI_RUNTIME,
                            "%s: %lld images of %lld x %lld make a picture too large to write",
                            path, (long long)n, (long long)h, (long long)w);
        scale--;
    }
    plot_img img;
    uint8_t *one = malloc((size_t)(h * w * 3));
    if (!one || plot_img_init(&img, (int)width, (int)height, white)) {
        free(one);
        return cli_fail(cmd, CLI_RUNTIME, "out of memory for the picture %s", path);
    }
    int y = margin;
    if (title) {
        plot_text(&img, margin, y, title, ink, 2);
        y += (int)title_h;
    }
    for (int64_t i = 0; i < n; i++) {
        int cx = (int)(margin + (i % cols) * (cell_w + gap));
        int cy = (int)(y + (i / cols) * (cell_h + gap));
        snprintf(name, sizeof name, "image %lld", (long long)i);
        if (plot_text_width(name, fs) > cell_w) snprintf(name, sizeof name, "%lld", (long long)i);
        int f = plot_text_width(name, fs) > cell_w ? 1 : fs;
        plot_text(&img, cx + ((int)cell_w - plot_text_width(name, f)) / 2, cy, name, ink, f);
        if (labels)
            sl_render_labels(labels + i * h * w, 1, h, w, 0, one);
        else
            sl_render_probs(probs + i * nclass * h * w, 1, nclass, h, w, 0, one);
        plot_frame(&img, cx, cy + (int)lab_h, (int)cell_w, (int)ih + 2, frame_c);
        plot_blit(&img, cx + 1, cy + (int)lab_h + 1, one, (int)w, (int)h, (int)scale);
    }
    int ly = (int)(y + rows * cell_h + (rows - 1) * gap + 12);
    int64_t lx = margin;
    for (int64_t c = 0; c < nclass; c++) {
        class_name(c, nclass, name, sizeof name);
        int64_t item = 16 + 6 + plot_text_width(name, fs) + 18;
        if (lx + item > width - margin && lx > margin) {
            ly += (int)legend_line;
            lx = margin;
        }
        uint8_t col[3];
        sl_class_colour(c, col);
        plot_rect(&img, (int)lx, ly, 16, 16, col);
        plot_frame(&img, (int)lx, ly, 16, 16, frame_c);
        plot_text(&img, (int)lx + 22, ly + 8 - PLOT_CHAR_H * fs / 2, name, ink, fs);
        lx += item;
    }
    free(one);
    int rc = cli_outs_png(outs, path, img.rgb, img.h, img.w);
    plot_img_free(&img);
    return rc;
}
