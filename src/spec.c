/* The loss spec language, parsed by sl_spec_parse for the CLI and for programs using the library:
 *   spec  := term ('+' term)*
 *   term  := [number '*'] name ['(' [key '=' value (',' key '=' value)*] ')']
 *   value := number | '[' [number (',' number)*] ']' | word
 *   number := ['+' | '-'] (digits ['.' [digits]] | '.' digits) [('e' | 'E') ['+' | '-'] digits]
 *   word  := [A-Za-z_][A-Za-z0-9_]*
 * Numbers are decimal only: no hex floats, no inf or nan, at most 64 characters, finite.
 * Besides a loss's own keys, any term takes input=logits|probs: how that term reads the input
 * tensor (default: the batch's input_kind), so one spec can score one tensor as logits in one
 * term and as probabilities in another (MONAI's DiceCELoss without softmax: dice(input=probs) +
 * ce). The options of every loss come from the registry.
 * Whitespace may stand between tokens. Unknown names, keys and values are errors that list
 * what is valid. */
#include "internal.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SL_SPEC_MAX_TERMS 16

#define SL_SPEC_MAX_LISTS 4

typedef struct {
    double k;
    const sl_loss_info *loss;
    sl_options opt;
    double *lists[SL_SPEC_MAX_LISTS]; /* owned storage of the term's list options */
    int nlists;
    int input; /* the term's `input=logits|probs`, or -1: the batch's input kind */
} spec_term;

struct sl_spec {
    int n;
    spec_term t[SL_SPEC_MAX_TERMS];
};

typedef struct {
    const char *text, *p;
    sl_error *err;
} parser;

static void skip_ws(parser *ps)
{
    while (isspace((unsigned char)*ps->p)) ps->p++;
}

static sl_status fail_at(parser *ps, const char *what)
{
    return sl__fail(ps->err, SL_E_PARSE, "loss spec '%s': %s at position %d", ps->text, what,
                    (int)(ps->p - ps->text) + 1);
}

static int starts_number(const char *p)
{
    return isdigit((unsigned char)p[0]) || ((p[0] == '-' || p[0] == '+' || p[0] == '.') &&
                                            (isdigit((unsigned char)p[1]) || p[1] == '.'));
}

/* The length of the `number` (see the grammar above) at p, 0 when there is none. */
static size_t scan_number(const char *p)
{
    size_t i = 0, digits = 0;
    if (p[i] == '+' || p[i] == '-') i++;
    while (isdigit((unsigned char)p[i]))
        i++, digits++;
    if (p[i] == '.') {
        i++;
        while (isdigit((unsigned char)p[i]))
            i++, digits++;
    }
    if (!digits) return 0;
    if (p[i] == 'e' || p[i] == 'E') {
        size_t j = i + 1;
        if (p[j] == '+' || p[j] == '-') j++;
        if (!isdigit((unsigned char)p[j])) return i; /* "2e" is 2 followed by a stray 'e' */
        while (isdigit((unsigned char)p[j]))
            j++;
        i = j;
    }
    return i;
}

static sl_status parse_number(parser *ps, double *out)
{
    skip_ws(ps);
    if (!starts_number(ps->p)) return fail_at(ps, "expected a number");
    size_t len = scan_number(ps->p);
    char buf[65];
    if (len == 0 || len >= sizeof buf) return fail_at(ps, "bad number");
    /* strtod on exactly the scanned text: it reads no further than the grammar allows */
    memcpy(buf, ps->p, len);
    buf[len] = 0;
    char *end;
    errno = 0;
    double v = strtod(buf, &end);
    if (end != buf + len || errno == ERANGE || !isfinite(v)) return fail_at(ps, "bad number");
    ps->p += len;
    *out = v;
    return SL_OK;
}

/* A word [A-Za-z_][A-Za-z0-9_]* into buf. */
static int parse_word(parser *ps, char *buf, size_t len)
{
    skip_ws(ps);
    size_t n = 0;
    if (!(isalpha((unsigned char)*ps->p) || *ps->p == '_')) return 0;
    while (isalnum((unsigned char)*ps->p) || *ps->p == '_') {
        if (n + 1 < len) buf[n++] = *ps->p;
        ps->p++;
    }
    buf[n] = 0;
    return 1;
}

static void valid_names(char *buf, size_t len)
{
    size_t o = 0;
    buf[0] = 0;
    for (int i = 0; i < sl_loss_count() && o < len; i++)
        o += (size_t)snprintf(buf + o, len - o, i ? ", %s" : "%s", sl_loss_at(i)->name);
}

static void valid_keys(const sl_loss_info *loss, char *buf, size_t len)
{
    size_t o = 0;
    buf[0] = 0;
    for (int i = 0; i < loss->nkeys && o < len; i++)
        o += (size_t)snprintf(buf + o, len - o, i ? ", %s" : "%s",
                              sl_option_info(loss->keys[i].id)->key);
}

/* A LIST value: "none" or [a,b,...], into storage the term owns. */
static sl_status parse_list(parser *ps, spec_term *t, const sl_param_info *pi, const char *key)
{
    char w[16];
    const char *save = ps->p;
    if (parse_word(ps, w, sizeof w)) {
        if (strcmp(w, "none") == 0) {
            sl__set_list(&t->opt, pi, NULL, 0);
            return SL_OK;
        }
        ps->p = save;
    }
    if (*ps->p != '[')
        return sl__fail(ps->err, SL_E_PARSE, "%s: %s takes a list like [1,2,3]", t->loss->name,
                        key);
    ps->p++;
    double vals[1024];
    int64_t n = 0;
    skip_ws(ps);
    while (*ps->p != ']') {
        if (n > 0 && *ps->p++ != ',') {
            ps->p--;
            return fail_at(ps, "expected ',' or ']' in a list");
        }
        sl_status st = parse_number(ps, &vals[n < 1024 ? n : 1023]);
        if (st != SL_OK) return st;
        if (++n > 1024) return fail_at(ps, "list longer than 1024 values");
        skip_ws(ps);
    }
    ps->p++;
    if (n == 0)
        return sl__fail(ps->err, SL_E_PARSE, "%s: %s is an empty list", t->loss->name, key);
    if (t->nlists >= SL_SPEC_MAX_LISTS) return fail_at(ps, "too many lists");
    double *copy = malloc((size_t)n * sizeof(double));
    if (!copy) return sl__fail(ps->err, SL_E_NOMEM, "out of memory");
    memcpy(copy, vals, (size_t)n * sizeof(double));
    t->lists[t->nlists++] = copy;
    sl__set_list(&t->opt, pi, copy, n);
    return SL_OK;
}

/* The value of key (as the spec spells it) for the loss's key pi. */
static sl_status set_param(parser *ps, spec_term *t, const sl_param_info *pi, const char *key)
{
    const char *name = t->loss->name;
    skip_ws(ps);
    if (pi->type == SL_PARAM_LIST) return parse_list(ps, t, pi, key);
    if (pi->type == SL_PARAM_WORD || pi->type == SL_PARAM_BOOL) {
        const char *words = pi->type == SL_PARAM_BOOL ? "false|true" : pi->words;
        char w[64];
        if (!parse_word(ps, w, sizeof w))
            return sl__fail(ps->err, SL_E_PARSE, "%s: %s must be one of %s", name, key, words);
        int idx = sl__word_index(words, w, strlen(w));
        /* Python's spellings of a boolean, as a spec pasted from Python code has them */
        if (idx < 0 && pi->type == SL_PARAM_BOOL) idx = sl__word_index("False|True", w, strlen(w));
        if (idx < 0)
            return sl__fail(ps->err, SL_E_PARSE, "%s: %s must be one of %s, got '%s'", name,
                            key, words, w);
        sl__set_scalar(&t->opt, pi, idx);
        return SL_OK;
    }
    if (!starts_number(ps->p))
        return sl__fail(ps->err, SL_E_PARSE, "%s: %s takes a%s number", name, key,
                        pi->type == SL_PARAM_INT ? "n integer" : "");
    double v;
    sl_status st = parse_number(ps, &v);
    if (st != SL_OK) return st;
    if (pi->type == SL_PARAM_INT && (v != floor(v) || fabs(v) > 9.0e15))
        return sl__fail(ps->err, SL_E_PARSE, "%s: %s takes an integer, got %g", name, key, v);
    sl__set_scalar(&t->opt, pi, v);
    return SL_OK;
}

/* The term's own reading of the input tensor: `input=logits|probs` (a key of the spec, not of
 * a loss), after its name. */
static sl_status parse_input(parser *ps, spec_term *t)
{
    char w[64];
    if (t->input >= 0)
        return sl__fail(ps->err, SL_E_PARSE, "%s: parameter 'input' given twice", t->loss->name);
    int idx = parse_word(ps, w, sizeof w) ? sl__word_index("logits|probs", w, strlen(w)) : -1;
    if (idx < 0)
        return sl__fail(ps->err, SL_E_PARSE, "%s: input must be one of logits|probs",
                        t->loss->name);
    t->input = idx == 0 ? SL_INPUT_LOGITS : SL_INPUT_PROBS;
    return SL_OK;
}

/* One `key=value` of a term; seen marks the keys given so far. */
static sl_status parse_key_value(parser *ps, spec_term *t, unsigned long long *seen)
{
    char key[64], valid[512];
    if (!parse_word(ps, key, sizeof key)) return fail_at(ps, "expected a parameter name");
    int input = strcmp(key, "input") == 0;
    int pi = input ? -1 : sl_loss_param_find(t->loss, key);
    if (!input && pi < 0) {
        valid_keys(t->loss, valid, sizeof valid);
        return sl__fail(ps->err, SL_E_PARSE,
                        "%s: unknown parameter '%s' (valid: %s; and input=logits|probs)",
                        t->loss->name, key, valid);
    }
    if (!input && (*seen & (1ull << pi)))
        return sl__fail(ps->err, SL_E_PARSE, "%s: parameter '%s' given twice", t->loss->name,
                        key);
    skip_ws(ps);
    if (*ps->p != '=') return fail_at(ps, "expected '=' after a parameter name");
    ps->p++;
    if (input) return parse_input(ps, t);
    *seen |= 1ull << pi;
    sl_param_info info;
    sl_loss_param(t->loss, pi, &info);
    return set_param(ps, t, &info, key);
}

/* [number '*'] name: the factor and the loss, with the loss's defaults. */
static sl_status parse_head(parser *ps, spec_term *t)
{
    char name[64], valid[512];
    skip_ws(ps);
    if (starts_number(ps->p)) {
        sl_status st = parse_number(ps, &t->k);
        if (st != SL_OK) return st;
        skip_ws(ps);
        if (*ps->p != '*') return fail_at(ps, "expected '*' after a factor");
        ps->p++;
    }
    if (!parse_word(ps, name, sizeof name)) {
        valid_names(valid, sizeof valid);
        return sl__fail(ps->err, SL_E_PARSE,
                        "loss spec '%s': expected a loss name at position %d (valid: %s)",
                        ps->text, (int)(ps->p - ps->text) + 1, valid);
    }
    t->loss = sl_loss_find(name);
    if (!t->loss) {
        valid_names(valid, sizeof valid);
        return sl__fail(ps->err, SL_E_PARSE, "unknown loss '%s' (valid: %s)", name, valid);
    }
    sl_options_for(t->loss, &t->opt);
    return SL_OK;
}

static sl_status parse_term(parser *ps, spec_term *t)
{
    t->k = 1.0;
    sl_options_default(&t->opt);
    t->nlists = 0;
    t->input = -1;
    sl_status st = parse_head(ps, t);
    if (st != SL_OK) return st;
    skip_ws(ps);
    if (*ps->p != '(') return SL_OK;
    ps->p++;
    skip_ws(ps);
    if (*ps->p == ')') {
        ps->p++;
        return SL_OK;
    }
    unsigned long long seen = 0;
    for (;;) {
        if ((st = parse_key_value(ps, t, &seen)) != SL_OK) return st;
        skip_ws(ps);
        if (*ps->p == ',') {
            ps->p++;
            continue;
        }
        if (*ps->p != ')') return fail_at(ps, "expected ',' or ')'");
        ps->p++;
        /* Ranges and words, once for every way a value can be out of bounds. */
        st = sl_options_check(t->loss, &t->opt, -1, ps->err);
        return st == SL_OK ? SL_OK : SL_E_PARSE;
    }
}

sl_status sl_spec_parse(const char *text, sl_spec **out, sl_error *err)
{
    *out = NULL;
    sl_spec *s = calloc(1, sizeof *s);
    if (!s) return sl__fail(err, SL_E_NOMEM, "out of memory");
    parser ps = {text, text, err};
    sl_status st = SL_OK;
    for (;;) {
        if (s->n >= SL_SPEC_MAX_TERMS) {
            st = fail_at(&ps, "too many terms (at most 16)");
            break;
        }
        st = parse_term(&ps, &s->t[s->n]);
        s->n++;
        if (st != SL_OK) break;
        skip_ws(&ps);
        if (*ps.p == '+') {
            ps.p++;
            continue;
        }
        if (*ps.p) st = fail_at(&ps, "expected '+' or the end");
        break;
    }
    if (st != SL_OK) {
        sl_spec_free(s);
        return st;
    }
    *out = s;
    return SL_OK;
}

void sl_spec_free(sl_spec *s)
{
    if (!s) return;
    for (int i = 0; i < s->n; i++)
        for (int k = 0; k < s->t[i].nlists; k++) free(s->t[i].lists[k]);
    free(s);
}

int sl_spec_nterms(const sl_spec *s)
{
    return s->n;
}

/* The batch as term t reads it: its own input kind when it names one. */
static const sl_batch *term_batch(const spec_term *t, const sl_batch *b, sl_batch *tmp)
{
    if (t->input < 0 || (int)b->input_kind == t->input) return b;
    *tmp = *b;
    tmp->input_kind = (sl_input_kind)t->input;
    return tmp;
}

const sl_batch *sl__spec_term_batch(const sl_spec *s, int i, const sl_batch *b, sl_batch *tmp)
{
    return term_batch(&s->t[i], b, tmp);
}

int sl_spec_term_input(const sl_spec *s, int i)
{
    return s->t[i].input;
}

void sl_spec_term(const sl_spec *s, int i, double *k, const sl_loss_info **loss,
                  const sl_options **opt)
{
    if (k) *k = s->t[i].k;
    if (loss) *loss = s->t[i].loss;
    if (opt) *opt = &s->t[i].opt;
}

sl_status sl_spec_map_shape(const sl_spec *s, const sl_batch *b, sl_shape *out, sl_error *err)
{
    sl_batch tmp;
    sl_loss_map_shape(s->t[0].loss, &s->t[0].opt, term_batch(&s->t[0], b, &tmp), out);
    for (int i = 1; i < s->n; i++) {
        sl_shape o;
        sl_loss_map_shape(s->t[i].loss, &s->t[i].opt, term_batch(&s->t[i], b, &tmp), &o);
        int same = o.ndim == out->ndim;
        for (int d = 0; same && d < o.ndim; d++) same = o.dim[d] == out->dim[d];
        if (!same)
            return sl__fail(err, SL_E_ARG,
                            "%s and %s have unreduced maps of different shapes: no common map",
                            s->t[0].loss->name, s->t[i].loss->name);
    }
    return SL_OK;
}

/* Scratch: the largest term's workspace. Terms add into the caller's gradient and map in
 * place, so several terms cost no buffer of their own. */
size_t sl_spec_workspace_size(const sl_spec *s, const sl_batch *b)
{
    size_t w = 0;
    for (int i = 0; i < s->n; i++) {
        sl_batch tmp;
        size_t t = sl_loss_workspace_size(s->t[i].loss, &s->t[i].opt, term_batch(&s->t[i], b, &tmp));
        if (t > w) w = t;
    }
    return w;
}

/* The order the terms run in: as written, except that with a gradient a term that keeps its
 * scratch in a gradient it writes alone (SL_LOSS_GRAD_SCRATCH) runs first: of several such, the
 * one with the largest workspace (the first of equals). A later term adds into a gradient that
 * holds the terms before it, so such a term, run later, would need that scratch beside the
 * gradient. Float addition commutes, so with two terms the gradient and map have the same bits
 * in either order; with more, the order below is the one they are added in. Returns 1 when the
 * order is not as written. */
static int run_order(const sl_spec *s, const sl_batch *b, int grad, int *order)
{
    int first = -1;
    size_t most = 0;
    for (int i = 0; grad && i < s->n; i++) {
        const spec_term *t = &s->t[i];
        if (!(t->loss->flags & SL_LOSS_GRAD_SCRATCH)) continue;
        sl_batch tmp;
        size_t w = sl_loss_workspace_size(t->loss, &t->opt, term_batch(t, b, &tmp));
        if (first < 0 || w > most) {
            first = i;
            most = w;
        }
    }
    first = first < 0 ? 0 : first;
    int at = 0;
    order[at++] = first;
    for (int i = 0; i < s->n; i++)
        if (i != first) order[at++] = i;
    return first != 0;
}

/* Adds term i's value kv into *total; SL_E_OVERFLOW when k_i * value or the sum overflows. */
static sl_status add_value(const spec_term *t, double v, double *total, sl_error *err)
{
    double kv = t->k * v;
    if (isfinite(v) && !isfinite(kv))
        return sl__fail(err, SL_E_OVERFLOW, "%s: its factor %g times its value %g overflowed",
                        t->loss->name, t->k, v);
    double before = *total;
    *total += kv;
    /* a NaN carried from a mean over nothing stays NaN; finite plus finite must be finite */
    if (isfinite(before) && isfinite(kv) && !isfinite(*total))
        return sl__fail(err, SL_E_OVERFLOW, "%s: the sum of the spec's terms overflowed",
                        t->loss->name);
    return SL_OK;
}

/* Every term, adding k_i times its gradient and map into out's (in run_order's order) and k_i
 * times its value into the total (as written). The terms share one pass over the data
 * (sl__scan); their options were checked when parsed. When the order is not as written, every
 * term's checks run first, as written, so that a spec refuses bad data with the message it
 * gives in any order. With SL__PHASE_FINISH, term i reads its statistics from stats, one
 * term's after another as written. */
sl_status sl__spec_run(const sl_spec *s, const sl_batch *b, sl_impl impl, int phase,
                       double *stats, sl_output *out, sl_error *err)
{
    int stats_phase = phase == SL__PHASE_STATS; /* writes statistics only */
    if (out->loss_map && !stats_phase) {
        sl_shape ms;
        sl_status st = sl_spec_map_shape(s, b, &ms, err);
        if (st != SL_OK) return st;
    }
    sl__scan scan;
    memset(&scan, 0, sizeof scan);
    scan.options_checked = 1;
    sl__run r[SL_SPEC_MAX_TERMS];
    sl_batch tmp[SL_SPEC_MAX_TERMS];
    int order[SL_SPEC_MAX_TERMS];
    int moved = run_order(s, b, !stats_phase && out->grad != NULL, order);
    size_t at = 0;
    for (int i = 0; i < s->n; i++) {
        const spec_term *t = &s->t[i];
        r[i] = sl__run_of(t->loss, &t->opt, term_batch(t, b, &tmp[i]), impl, out);
        r[i].grad = stats_phase ? NULL : out->grad;
        r[i].map = stats_phase ? NULL : out->loss_map;
        r[i].k = t->k;
        r[i].scan = &scan;
        sl_status st = phase ? sl__stats_at(&r[i], phase, stats, &at, err) : SL_OK;
        if (st == SL_OK && moved) st = sl__loss_check(&r[i], err);
        if (st != SL_OK) return st;
    }
    double v[SL_SPEC_MAX_TERMS], total = 0.0;
    for (int j = 0; j < s->n; j++) {
        int i = order[j];
        r[i].accumulate = j > 0;
        sl_status st = sl__loss_run(&r[i], err, &v[i]);
        if (st == SL_OK && !moved) st = add_value(&s->t[i], v[i], &total, err);
        if (st != SL_OK) return st;
    }
    for (int i = 0; moved && i < s->n; i++) {
        sl_status st = add_value(&s->t[i], v[i], &total, err);
        if (st != SL_OK) return st;
    }
    if (!stats_phase) out->loss = total;
    return SL_OK;
}

sl_status sl_spec_eval(const sl_spec *s, const sl_batch *b, sl_impl impl, sl_output *out,
                       sl_error *err)
{
    return sl__spec_run(s, b, impl, 0, NULL, out, err);
}
