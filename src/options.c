/* Options: the keys of SL_OPTIONS (include/segloss.h) as a table, where each lives in
 * sl_options, a loss's keys with what it gives its own, the defaults, and the one check of
 * option values that the spec parser and sl_loss_eval share. */
#include "internal.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define INFO(k, type, def, words, lo, hi, flags, s1, s2, help)                                     \
    {#k, NULL, SL_PARAM_##type, def, words, help, lo, hi, flags, SL_OPT_##k},
static const sl_param_info options[SL_OPT_COUNT] = {SL_OPTIONS(INFO)};

/* Where a key lives: its field, and for a LIST the field of its length. */
#define AT_NUMBER(k) offsetof(sl_options, k), 0
#define AT_INT(k) offsetof(sl_options, k), 0
#define AT_WORD(k) offsetof(sl_options, k), 0
#define AT_BOOL(k) offsetof(sl_options, k), 0
#define AT_LIST(k) offsetof(sl_options, k), offsetof(sl_options, n##k)
#define AT(k, type, ...) {AT_##type(k)},
static const struct {
    size_t off, count_off;
} fields[SL_OPT_COUNT] = {SL_OPTIONS(AT)};

const sl_param_info *sl_option_info(sl_option_id id)
{
    return (unsigned)id < SL_OPT_COUNT ? &options[id] : NULL;
}

void sl__key_info(const sl__key *k, sl_param_info *out)
{
    *out = options[k->id];
    out->alias = k->alias;
    if (k->def) out->def = k->def;
    if (k->words) out->words = k->words;
    if (k->help) out->help = k->help;
    if (k->lo < k->hi) {
        out->lo = k->lo;
        out->hi = k->hi;
    }
}

const char *sl__key_name(const sl_param_info *pi)
{
    return pi->alias ? pi->alias : pi->key;
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
    char *base = (char *)o + fields[pi->id].off;
    switch (pi->type) {
    case SL_PARAM_NUMBER: *(double *)(void *)base = v; break;
    case SL_PARAM_INT: *(int64_t *)(void *)base = (int64_t)v; break;
    case SL_PARAM_LIST: break;
    default: *(int *)(void *)base = (int)v; break;
    }
}

double sl__get_scalar(const sl_options *o, const sl_param_info *pi)
{
    const char *base = (const char *)o + fields[pi->id].off;
    switch (pi->type) {
    case SL_PARAM_NUMBER: return *(const double *)(const void *)base;
    case SL_PARAM_INT: return (double)*(const int64_t *)(const void *)base;
    case SL_PARAM_LIST: return 0.0;
    default: return *(const int *)(const void *)base;
    }
}

void sl__set_list(sl_options *o, const sl_param_info *pi, const double *v, int64_t n)
{
    *(const double **)(void *)((char *)o + fields[pi->id].off) = v;
    *(int64_t *)(void *)((char *)o + fields[pi->id].count_off) = n;
}

void sl__get_list(const sl_options *o, const sl_param_info *pi, const double **v, int64_t *n)
{
    *v = *(const double *const *)(const void *)((const char *)o + fields[pi->id].off);
    *n = *(const int64_t *)(const void *)((const char *)o + fields[pi->id].count_off);
}

/* A key set to its default as written in a spec. */
static void set_default(sl_options *o, const sl_param_info *pi)
{
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

void sl_options_default(sl_options *o)
{
    memset(o, 0, sizeof *o);
    for (int i = 0; i < SL_OPT_COUNT; i++)
        set_default(o, &options[i]);
}

void sl_options_for(const sl_loss_info *loss, sl_options *o)
{
    sl_options_default(o);
    for (int i = 0; i < loss->nkeys; i++) {
        sl_param_info pi;
        sl__key_info(&loss->keys[i], &pi);
        set_default(o, &pi);
    }
}

static int in_range(const sl_param_info *pi, double v)
{
    if (!isfinite(v)) return 0;
    return pi->lo == pi->hi || (v >= pi->lo && v <= pi->hi);
}

/* A list's length and values; C < 0 skips what depends on the number of classes. */
static sl_status check_list(const sl_loss_info *loss, const sl_param_info *pi, const sl_options *o,
                            int64_t C, sl_error *err)
{
    const double *v;
    int64_t n;
    const char *key = sl__key_name(pi);
    sl__get_list(o, pi, &v, &n);
    if (!v) return SL_OK;
    if (C >= 0 && (pi->flags & SL_KEY_PER_CLASS) && n != C)
        return sl__fail(err, SL_E_SHAPE, "%s: %s has %lld values but the input has %lld classes",
                        loss->name, key, (long long)n, (long long)C);
    for (int64_t k = 0; k < n; k++) {
        if (!in_range(pi, v[k]))
            return sl__fail(err, SL_E_ARG, "%s: %s[%lld] = %g must be in [%g, %g]", loss->name, key,
                            (long long)k, v[k], pi->lo, pi->hi);
        if ((pi->flags & SL_KEY_CLASS_INDEX) && C >= 0 && v[k] >= (double)C)
            return sl__fail(err, SL_E_ARG, "%s: %s[%lld] = %g is not a class of the input's %lld",
                            loss->name, key, (long long)k, v[k], (long long)C);
    }
    return SL_OK;
}

static sl_status check_scalar(const sl_loss_info *loss, const sl_param_info *pi,
                              const sl_options *o, sl_error *err)
{
    double v = sl__get_scalar(o, pi);
    const char *key = sl__key_name(pi);
    if (pi->type == SL_PARAM_WORD) {
        int nwords = 1;
        for (const char *p = pi->words; *p; p++)
            nwords += *p == '|';
        if (v < 0 || v >= nwords)
            return sl__fail(err, SL_E_ARG, "%s: %s must be one of %s", loss->name, key, pi->words);
    } else if (pi->type == SL_PARAM_BOOL) {
        if (v != 0 && v != 1)
            return sl__fail(err, SL_E_ARG, "%s: %s must be true or false", loss->name, key);
    } else if (!in_range(pi, v)) {
        return sl__fail(err, SL_E_ARG, "%s: %s = %g must be in [%g, %g]", loss->name, key, v,
                        pi->lo, pi->hi);
    }
    return SL_OK;
}

sl_status sl__options_check(const sl_loss_info *loss, const sl_options *o, int64_t C,
                            int lists_only, sl_error *err)
{
    for (int i = 0; i < loss->nkeys; i++) {
        sl_param_info pi;
        sl__key_info(&loss->keys[i], &pi);
        sl_status st = pi.type == SL_PARAM_LIST ? check_list(loss, &pi, o, C, err)
                       : lists_only             ? SL_OK
                                                : check_scalar(loss, &pi, o, err);
        if (st != SL_OK) return st;
    }
    return SL_OK;
}

sl_status sl_options_check(const sl_loss_info *loss, const sl_options *o, int64_t C, sl_error *err)
{
    return sl__options_check(loss, o, C, 0, err);
}
