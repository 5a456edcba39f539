/* net_internal.h - the layout of struct sl_net, shared by net.c and model.c (internal). */
#ifndef SEGLOSS_TRAIN_NET_INTERNAL_H
#define SEGLOSS_TRAIN_NET_INTERNAL_H

#include "net.h"

#include "internal.h" /* sl__fail: the library's one-line messages */

#include <stdarg.h>

/* The layers in parameter order (each: weight, then bias). */
enum {
    SL__E1A,
    SL__E1B,
    SL__E2A,
    SL__E2B,
    SL__BA,
    SL__BB,
    SL__UP2,
    SL__D2A,
    SL__D2B,
    SL__UP1,
    SL__D1A,
    SL__D1B,
    SL__HEAD,
    SL__NLAYER
};

typedef struct {
    int ci, co;
    int kind;    /* 3: conv3x3, 2: transposed conv 2x2 stride 2, 1: conv1x1 */
    size_t w, b; /* offsets of the weight and the bias in the parameter vector */
} sl__net_layer;

/* Offsets of one image's activations (floats) inside the activation buffer. */
enum {
    SL__A_IN,
    SL__A_A1,
    SL__A_CAT1,
    SL__A_P1,
    SL__A_A2,
    SL__A_CAT2,
    SL__A_P2,
    SL__A_A3,
    SL__A_B,
    SL__A_A4,
    SL__A_D2,
    SL__A_A5,
    SL__A_D1,
    SL__A_N
};

struct sl_net {
    sl_net_config cfg;
    sl__net_layer layer[SL__NLAYER];
    size_t nparam;
    float *param, *grad, *m, *v; /* nparam each: weights, gradients, AdamW's two moments */
    int64_t t;                   /* AdamW steps taken */
    char *meta;                  /* NULL or a NUL-terminated text */
    /* sl_net_reserve */
    int max_batch, H, W, threads;
    size_t act_off[SL__A_N + 1]; /* per image; act_off[SL__A_N] floats in all */
    size_t arg_off2;             /* per image bytes: pool 1's argmax, then pool 2's from here */
    size_t arg_size;
    size_t col_size; /* floats of im2col scratch per thread */
    size_t ws_size;  /* floats per thread: col, then a gradient copy of act */
    float *act;      /* max_batch images */
    uint8_t *arg;    /* max_batch images */
    float *ws;       /* threads workspaces */
    float *gimg;     /* max_batch per-image gradients, nparam each */
    int B;           /* images of the last forward, 0 before any */
};

/* Fills cfg-derived layer shapes and offsets; returns the parameter count. */
size_t sl__net_layout(const sl_net_config *cfg, sl__net_layer *layer);
/* Checks a configuration; SL_E_ARG with one line when it is out of range. */
sl_status sl__net_config_check(const sl_net_config *cfg, sl_error *err);
/* A network with the configuration's layout and zero parameters (no initialisation). */
sl_status sl__net_alloc(const sl_net_config *cfg, sl_net **out, sl_error *err);

#endif
