/* A small raster plotter for the CLI's pictures: an RGB canvas, filled rectangles, thick lines,
 * text in a built-in 5x7 bitmap font (ASCII 32..126), and a line-chart panel with axes, ticks
 * and labels. Canvases are written with sl_png_write. Nothing here prints or exits. */
#ifndef SEGLOSS_PLOT_H
#define SEGLOSS_PLOT_H

#include <stdint.h>

/* An 8-bit RGB image, row-major, w * h * 3 bytes, owned by the canvas. */
typedef struct {
    uint8_t *rgb;
    int w, h;
} plot_img;

/* Allocate a canvas filled with bg. Returns 0, or -1 when out of memory (then img->rgb is
 * NULL) or when a size is not positive. */
int plot_img_init(plot_img *img, int w, int h, const uint8_t bg[3]);
void plot_img_free(plot_img *img);

/* Drawing clips to the canvas: anything outside is left out. */
void plot_pixel(plot_img *img, int x, int y, const uint8_t c[3]);
void plot_rect(plot_img *img, int x, int y, int w, int h, const uint8_t c[3]);
/* The outline of a rectangle, one pixel wide. */
void plot_frame(plot_img *img, int x, int y, int w, int h, const uint8_t c[3]);
/* A line from (x0, y0) to (x1, y1) in pixel coordinates, `thick` pixels wide (>= 1). */
void plot_line(plot_img *img, double x0, double y0, double x1, double y1, int thick,
               const uint8_t c[3]);
/* Copy an RGB image of sw x sh, each pixel magnified to scale x scale, with its top left at
 * (x, y). */
void plot_blit(plot_img *img, int x, int y, const uint8_t *src, int sw, int sh, int scale);

/* Text in the 5x7 font: each character is 6 x 8 pixels at scale 1 (a column and a row of
 * spacing included); characters outside 32..126 draw as '?'. (x, y) is the top left. Returns
 * the width drawn. */
#define PLOT_CHAR_W 6
#define PLOT_CHAR_H 8
int plot_text(plot_img *img, int x, int y, const char *s, const uint8_t c[3], int scale);
int plot_text_width(const char *s, int scale);

/* Colour number i of a palette of distinct colours for lines on white (any i >= 0). */
void plot_series_colour(int i, uint8_t rgb[3]);

/* Line styles: dashes (PLOT_SOLID, PLOT_DASHED, PLOT_DOTTED) and marker shapes. */
enum { PLOT_SOLID = 0, PLOT_DASHED, PLOT_DOTTED, PLOT_NDASH };
enum { PLOT_SQUARE = 0, PLOT_CIRCLE, PLOT_TRIANGLE, PLOT_DIAMOND, PLOT_CROSS, PLOT_NMARKER };
/* A line as plot_line, drawn in the dash pattern `dash`; *phase (pixels along the pattern)
 * carries the pattern from one segment to the next (start it at 0). */
void plot_line_dashed(plot_img *img, double x0, double y0, double x1, double y1, int thick,
                      int dash, double *phase, const uint8_t c[3]);
/* A marker of the given shape centred on (x, y), about 2r + 1 pixels across. */
void plot_marker(plot_img *img, int x, int y, int r, int shape, const uint8_t c[3]);
/* A range [*lo, *hi] with round tick steps that holds [vmin, vmax] (finite), and the number
 * of ticks (3 to 7) from *lo to *hi. */
void plot_nice_range(double vmin, double vmax, double *lo, double *hi, int *nticks);

/* A line chart in the rectangle (x, y, w, h): a title on top, a frame, y ticks at `nyticks`
 * evenly spaced values from ymin to ymax labelled with %g, x ticks at the points' x values
 * (thinned so that labels do not overlap) labelled with %g, and one line with markers per
 * series. y[s][i] is series s at x[i]; non-finite values are left out (their segments too). */
typedef struct {
    const char *title;
    const double *x;
    int npts;
    const double *const *y;
    int nseries;
    const uint8_t *colour; /* nseries RGB triples */
    const int *dash;       /* nseries PLOT_SOLID..., or NULL for all solid */
    const int *marker;     /* nseries PLOT_SQUARE..., or NULL for squares of sizes 7, 5, 3 */
    double ymin, ymax;     /* ymax > ymin */
    int nyticks;           /* >= 2 */
} plot_chart;
void plot_chart_draw(plot_img *img, int x, int y, int w, int h, const plot_chart *c);

#endif
