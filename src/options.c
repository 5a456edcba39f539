/* Options: where each registry key lives in sl_options, a loss's defaults, and the one check
 * of option values that the spec parser and sl_loss_eval share. */
#include "internal.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *key;
    size_t off;
    char kind; /* 'd' double, 'i' int64_t, 'b' bool (int), 'e' enum (int) */
} scalar_field;

static const scalar_field scalars[] = {
    {"reduction", offsetof(sl_options, reduction), 'e'},
    {"ignore_index", offsetof(sl_options, ignore_index), 'i'},
    {"label_smoothing", offsetof(sl_options, label_smoothing), 'd'},
    {"eps", offsetof(sl_options, eps), 'd'},
    {"denominator", offsetof(sl_options, denominator), 'e'},
    {"include_background", offsetof(sl_options, include_background), 'b'},
    {"squared", offsetof(sl_options, squared), 'b'},
    {"jaccard", offsetof(sl_options, jaccard), 'b'},
    {"batch", offsetof(sl_options, batch), 'b'},
    {"smooth_nr", offsetof(sl_options, smooth_nr), 'd'},
    {"smooth_dr", offsetof(sl_options, smooth_dr), 'd'},
    {"w_type", offsetof(sl_options, w_type), 'e'},
    {"alpha", offsetof(sl_options, alpha), 'd'},
    {"beta", offsetof(sl_options, beta), 'd'},
    {"gamma", offsetof(sl_options, gamma), 'd'},
    {"classes", offsetof(sl_options, classes), 'e'},
    {"per_image", offsetof(sl_options, per_image), 'b'},
    {"sigmoid", offsetof(sl_options, sigmoid), 'b'},
    {"soft_label", offsetof(sl_options, soft_label), 'b'},
    {"weight", offsetof(sl_options, uweight), 'd'}, /* a number: asymmetric_unified_focal */
    {"delta", offsetof(sl_options, delta), 'd'},
};

typedef struct {
    const char *key;
    size_t off, count_off;
} list_field;

static const list_field lists[] = {
    {"weight", offsetof(sl_options, weight), offsetof(sl_options, nweight)},
    {"alpha", offsetof(sl_options, alpha_list), offsetof(sl_options, nalpha)},
    {"pos_weight", offsetof(sl_options, pos_weight), offsetof(sl_options, npos_weight)},
    {"idc", offsetof(sl_options, idc), offsetof(sl_options, nidc)},
};

static const scalar_field *find_scalar(const char *key)
{
    for (size_t i = 0; i < sizeof scalars / sizeof scalars[0]; i++)
        if (strcmp(scalars[i].key, key) == 0) return &scalars[i];
    return NULL;
}

static const list_field *find_list(const char *key)
{
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++)
        if (strcmp(lists[i].key, key) == 0) return &lists[i];
    return NULL;
}

void sl_options_default(sl_options *o)
{
    memset(o, 0, sizeof *o);
    o->reduction = SL_REDUCE_MEAN;
    o->ignore_index = -100;
    o->eps = 1e-7;
    o->include_background = 1;
    o->smooth_nr = 1e-5;
    o->smooth_dr = 1e-5;
    o->alpha = 0.5;
    o->beta = 0.5;
    o->gamma = 2.0;
}

int sl__word_index(const char *words, const char *w, size_t wl)
{
    int idx = 0;
    for (const char *p = words;; idx++) {
        const char *bar = strchr(p, '|');
        size_t n = bar ? (size_t)(bar - p) : strlen(p);
        if (n == wl && strncmp(p, w, n) == 0) return idx;
        if (!bar) return -1;
        p = bar + 1;
    }
}

void sl__set_scalar(sl_options *o, const sl_param_info *pi, double v)
{
    const scalar_field *f = find_scalar(pi->key);
    if (!f) return;
    char *base = (char *)o + f->off;
    switch (f->kind) {
    case 'd': *(double *)(void *)base = v; break;
    case 'i': *(int64_t *)(void *)base = (int64_t)v; break;
    default: *(int *)(void *)base = (int)v; break;
    }
}

double sl__get_scalar(const sl_options *o, const sl_param_info *pi)
{
    const scalar_field *f = find_scalar(pi->key);
    if (!f) return 0.0;
    const char *base = (const char *)o + f->off;
    switch (f->kind) {
    case 'd': return *(const double *)(const void *)base;
    case 'i': return (double)*(const int64_t *)(const void *)base;
    default: return *(const int *)(const void *)base;
    }
}

void sl__set_list(sl_options *o, const sl_param_info *pi, const double *v, int64_t n)
{
    const list_field *f = find_list(pi->key);
    if (!f) return;
    *(const double **)(void *)((char *)o + f->off) = v;
    *(int64_t *)(void *)((char *)o + f->count_off) = n;
}

void sl__get_list(const sl_options *o, const sl_param_info *pi, const double **v, int64_t *n)
{
    const list_field *f = find_list(pi->key);
    *v = NULL;
    *n = 0;
    if (!f) return;
    *v = *(const double *const *)(const void *)((const char *)o + f->off);
    *n = *(const int64_t *)(const void *)((const char *)o + f->count_off);
}

int sl__param_has_storage(const sl_param_info *pi)
{
    return pi->type == SL_PARAM_LIST ? find_list(pi->key) != NULL : find_scalar(pi->key) != NULL;
}

void sl_options_for(const sl_loss_info *loss, sl_options *o)
{
    sl_options_default(o);
    for (int i = 0; i < loss->nparams; i++) {
        const sl_param_info *pi = &loss->params[i];
        switch (pi->type) {
        case SL_PARAM_LIST: sl__set_list(o, pi, NULL, 0); break;
        case SL_PARAM_WORD: {
            int idx = sl__word_index(pi->words, pi->def, strlen(pi->def));
            sl__set_scalar(o, pi, idx < 0 ? 0 : idx);
            break;
        }
        case SL_PARAM_BOOL: sl__set_scalar(o, pi, strcmp(pi->def, "true") == 0); break;
        default: sl__set_scalar(o, pi, strtod(pi->def, NULL)); break;
        }
    }
}

static int in_range(const sl_param_info *pi, double v)
{
    if (!isfinite(v)) return 0;
    return pi->lo == pi->hi || (v >= pi->lo && v <= pi->hi);
}

/* Lists whose length is the number of classes. */
static int per_class(const char *key)
{
    return strcmp(key, "weight") == 0 || strcmp(key, "alpha") == 0 ||
           strcmp(key, "pos_weight") == 0;
}

sl_status sl_options_check(const sl_loss_info *loss, const sl_options *o, int64_t C,
                           sl_error *err)
{
    for (int i = 0; i < loss->nparams; i++) {
        const sl_param_info *pi = &loss->params[i];
        if (pi->type == SL_PARAM_LIST) {
            const double *v;
            int64_t n;
            sl__get_list(o, pi, &v, &n);
            if (!v) continue;
            if (C >= 0 && per_class(pi->key) && n != C)
                return sl__fail(err, SL_E_SHAPE,
                                "%s: %s has %lld values but the input has %lld classes",
                                loss->name, pi->key, (long long)n, (long long)C);
            for (int64_t k = 0; k < n; k++) {
                if (!in_range(pi, v[k]))
                    return sl__fail(err, SL_E_ARG, "%s: %s[%lld] = %g must be in [%g, %g]",
                                    loss->name, pi->key, (long long)k, v[k], pi->lo, pi->hi);
                if (strcmp(pi->key, "idc") == 0 && C >= 0 && v[k] >= (double)C)
                    return sl__fail(err, SL_E_ARG,
                                    "%s: idc[%lld] = %g is not a class of the input's %lld",
                                    loss->name, (long long)k, v[k], (long long)C);
            }
            continue;
        }
        double v = sl__get_scalar(o, pi);
        if (pi->type == SL_PARAM_WORD) {
            int nwords = 1;
            for (const char *p = pi->words; *p; p++) nwords += *p == '|';
            if (v < 0 || v >= nwords)
                return sl__fail(err, SL_E_ARG, "%s: %s must be one of %s", loss->name, pi->key,
                                pi->words);
        } else if (pi->type == SL_PARAM_BOOL) {
            if (v != 0 && v != 1)
                return sl__fail(err, SL_E_ARG, "%s: %s must be true or false", loss->name,
                                pi->key);
        } else if (!in_range(pi, v)) {
            return sl__fail(err, SL_E_ARG, "%s: %s = %g must be in [%g, %g]", loss->name, pi->key,
                            v, pi->lo, pi->hi);
        }
    }
    return SL_OK;
}
