/* The manual's table of how each loss reads its input (the section "How each loss reads its
 * input" of include/segloss.h), checked row by row against the losses themselves, so that the
 * table cannot silently go wrong. The test reads the header (SEGLOSS_HEADER, else
 * include/segloss.h from the repository root), and every registered loss must have a row.
 *
 * Each word of a row is a numerical fact, checked on both implementations:
 *   renormalised      the value of 0.5 p is the value of p; "as given": it is not
 *   clipped           probabilities at exactly 0 and 1 score as those moved inside the clip
 *                     zone (eps = 0.05, entries 0.01 and 0.97); "not clipped": they do not;
 *                     "log clipped": they do not, but do with gamma = 0
 *   softmax           logits x score as the probabilities softmax(x), and as x + 1.5
 *   sigmoid           logits x score as the probabilities sigmoid(x), not as x + 1.5
 *   as given          logits u score as the probabilities u
 * plus "sigmoid=true: sigmoid" (the sigmoid facts with that key) and "one channel: as given"
 * (the as-given fact on one channel). Last, the header's rule for one channel of probabilities
 * (its "Tensors"): which losses refuse it, and lovasz's constant. */
#include "check.h"
#include "segloss.h"

#include <stdlib.h>
#include <string.h>

enum { NI = 2, NC = 4, HH = 6, WW = 6, NP = HH * WW, NEL = NI * NC * NP };

typedef struct {
    float x[NEL], shifted[NEL], p[NEL], half[NEL], sig[NEL], at01[NEL], inside[NEL];
    int32_t y[NI * NP]; /* labels of C = 4: each image misses a class */
    float t1[NI * NP];  /* the per-class target of C = 1: 0 or 1 */
} data;

static uint32_t lcg(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

static void make_data(data *d)
{
    uint32_t s = 12345;
    for (int i = 0; i < NEL; i++) {
        d->x[i] = (float)(lcg(&s) % 4001) / 1000.0f - 2.0f;
        d->shifted[i] = d->x[i] + 1.5f;
        d->sig[i] = (float)(1.0 / (1.0 + exp(-(double)d->x[i])));
    }
    for (int n = 0; n < NI; n++)
        for (int i = 0; i < NP; i++) {
            const float *x = d->x + n * NC * NP + i;
            double z = 0.0;
            for (int c = 0; c < NC; c++)
                z += exp((double)x[c * NP]);
            int hot = (int)(lcg(&s) % NC);
            for (int c = 0; c < NC; c++) {
                int e = (n * NC + c) * NP + i;
                d->p[e] = (float)(exp((double)x[c * NP]) / z);
                d->half[e] = 0.5f * d->p[e];
                d->at01[e] = c == hot ? 1.0f : 0.0f;
                d->inside[e] = c == hot ? 0.97f : 0.01f;
            }
            /* image 0 holds classes 0, 1, 2 and image 1 holds 0, 1, 3 */
            int32_t k = (int32_t)(lcg(&s) % 3);
            d->y[n * NP + i] = n == 1 && k == 2 ? 3 : k;
            d->t1[n * NP + i] = (float)(lcg(&s) % 2);
        }
}

/* Set while refusals are expected: their messages are not printed. */
static int expect_refusals;

/* The loss of spec on input x read as kind, on C = 4 channels with labels or on C = 1 with a
 * per-class target. NAN when the spec does
 * not parse (a key the loss does not take) or the evaluation fails. */
static double eval(const char *spec, int C, sl_input_kind kind, const float *x, const data *d,
                   sl_impl impl)
{
    sl_spec *s;
    sl_error err;
    if (sl_spec_parse(spec, &s, &err) != SL_OK) return NAN;
    sl_batch b;
    memset(&b, 0, sizeof b);
    b.shape.ndim = 4;
    b.shape.dim[0] = NI, b.shape.dim[1] = C, b.shape.dim[2] = HH, b.shape.dim[3] = WW;
    b.input = x;
    b.input_kind = kind;
    b.target_kind = C == 1 ? SL_TARGET_PROBS : SL_TARGET_LABELS;
    b.labels = d->y;
    b.target = d->t1;
    size_t ws = sl_spec_workspace_size(s, &b);
    sl_output out;
    memset(&out, 0, sizeof out);
    out.workspace = malloc(ws ? ws : 1);
    out.workspace_size = ws;
    out.threads = 1;
    double v = NAN;
    if (out.workspace && sl_spec_eval(s, &b, impl, &out, &err) == SL_OK)
        v = out.loss;
    else if (!expect_refusals)
        fprintf(stderr, "%s: %s\n", spec, out.workspace ? err.msg : "out of memory");
    free(out.workspace);
    sl_spec_free(s);
    return v;
}

static int same(double a, double b, double rtol)
{
    return isfinite(a) && isfinite(b) && fabs(a - b) <= rtol * fmax(fabs(a), fabs(b)) + 1e-12;
}

static int differ(double a, double b)
{
    return isfinite(a) && isfinite(b) && fabs(a - b) > 1e-4 * fmax(fabs(a), fabs(b));
}

static const char *impl_name(sl_impl impl)
{
    return impl == SL_IMPL_REF ? "ref" : "fast";
}

/* name(keys) with eps = 0.05 when the loss takes eps, and `extra` keys. */
static void spec_with(char *buf, size_t len, const char *name, const char *extra, int eps)
{
    snprintf(buf, len, "%s(%s%s%s)", name, eps ? "eps=0.05" : "", eps && *extra ? "," : "", extra);
    if (!eps && !*extra) snprintf(buf, len, "%s", name);
}

static int takes_eps(const char *name)
{
    char spec[128];
    spec_with(spec, sizeof spec, name, "", 1);
    sl_spec *s;
    sl_error err;
    if (sl_spec_parse(spec, &s, &err) != SL_OK) return 0;
    sl_spec_free(s);
    return 1;
}

/* The SL_INPUT_PROBS column. */
static void check_probs(const char *name, const char *col, const data *d, sl_impl impl)
{
    const char *im = impl_name(impl);
    double full = eval(name, NC, SL_INPUT_PROBS, d->p, d, impl);
    double half = eval(name, NC, SL_INPUT_PROBS, d->half, d, impl);
    if (strncmp(col, "renormalised", 12) == 0)
        CHECK(same(full, half, 1e-9), "%s [%s]: renormalised, yet p gives %.10g and 0.5 p %.10g",
              name, im, full, half);
    else if (strncmp(col, "as given", 8) == 0)
        CHECK(differ(full, half), "%s [%s]: as given, yet p gives %.10g and 0.5 p %.10g", name, im,
              full, half);
    else
        CHECK(0,
              "%s: probabilities column '%s' starts with neither 'renormalised' nor "
              "'as given'",
              name, col);

    int eps = takes_eps(name);
    char spec[128];
    spec_with(spec, sizeof spec, name, "", eps);
    double a = eval(spec, NC, SL_INPUT_PROBS, d->at01, d, impl);
    double b = eval(spec, NC, SL_INPUT_PROBS, d->inside, d, impl);
    if (strstr(col, "not clipped")) {
        CHECK(differ(a, b), "%s [%s]: not clipped, yet 0/1 gives %.10g and 0.01/0.97 %.10g", spec,
              im, a, b);
    } else if (strstr(col, "log clipped")) {
        CHECK(eps && differ(a, b),
              "%s [%s]: clipped in the log only, yet 0/1 gives %.10g and 0.01/0.97 %.10g", spec, im,
              a, b);
        spec_with(spec, sizeof spec, name, "gamma=0", eps);
        a = eval(spec, NC, SL_INPUT_PROBS, d->at01, d, impl);
        b = eval(spec, NC, SL_INPUT_PROBS, d->inside, d, impl);
        CHECK(same(a, b, 1e-9), "%s [%s]: the log clipped, yet 0/1 gives %.10g and 0.01/0.97 %.10g",
              spec, im, a, b);
    } else if (strstr(col, "clipped")) {
        CHECK(eps && same(a, b, 1e-9),
              "%s [%s]: clipped (to eps), yet 0/1 gives %.10g and 0.01/0.97 %.10g", spec, im, a, b);
    } else {
        CHECK(0, "%s: probabilities column '%s' says neither 'clipped' nor 'not clipped'", name,
              col);
    }
}

/* Logits x score as the probabilities f(x) (f: "softmax" or "sigmoid"), and as x + 1.5 only
 * for the softmax, which a shift of every class does not change. */
static void check_form(const char *spec, const char *f, const data *d, sl_impl impl)
{
    int softmax = strcmp(f, "softmax") == 0;
    const char *im = impl_name(impl);
    double lx = eval(spec, NC, SL_INPUT_LOGITS, d->x, d, impl);
    double lp = eval(spec, NC, SL_INPUT_PROBS, softmax ? d->p : d->sig, d, impl);
    double ls = eval(spec, NC, SL_INPUT_LOGITS, d->shifted, d, impl);
    CHECK(same(lx, lp, 1e-5), "%s [%s]: %s, yet x gives %.10g and %s(x) %.10g", spec, im, f, lx, f,
          lp);
    CHECK(softmax ? same(lx, ls, 1e-5) : differ(lx, ls),
          "%s [%s]: %s, yet x gives %.10g and x + 1.5 %.10g", spec, im, f, lx, ls);
}

static void check_as_given(const char *spec, int C, const data *d, sl_impl impl)
{
    double lx = eval(spec, C, SL_INPUT_LOGITS, d->p, d, impl);
    double lp = eval(spec, C, SL_INPUT_PROBS, d->p, d, impl);
    CHECK(same(lx, lp, 1e-9),
          "%s [%s, C = %d]: logits as given, yet u gives %.10g as logits and "
          "%.10g as probabilities",
          spec, impl_name(impl), C, lx, lp);
}

/* The SL_INPUT_LOGITS column: "softmax", "sigmoid" or "as given", then optionally
 * "; sigmoid=true: sigmoid" or "; one channel: as given". */
static void check_logits(const char *name, const char *col, const data *d, sl_impl impl)
{
    char spec[128];
    if (strncmp(col, "softmax", 7) == 0)
        check_form(name, "softmax", d, impl);
    else if (strncmp(col, "sigmoid", 7) == 0)
        check_form(name, "sigmoid", d, impl);
    else if (strncmp(col, "as given", 8) == 0)
        check_as_given(name, NC, d, impl);
    else
        CHECK(0, "%s: logits column '%s' names no known form", name, col);
    const char *more = strchr(col, ';');
    if (!more) return;
    if (strcmp(more, "; sigmoid=true: sigmoid") == 0) {
        spec_with(spec, sizeof spec, name, "sigmoid=true", 0);
        check_form(spec, "sigmoid", d, impl);
    } else if (strcmp(more, "; one channel: as given") == 0) {
        check_as_given(name, 1, d, impl);
    } else {
        CHECK(0, "%s: logits column '%s': unknown '%s'", name, col, more);
    }
}

/* A row "   name   probabilities column   logits column" (columns two or more spaces apart)
 * into its three parts, in place. 0 when the line is not a row. */
static int split_row(char *line, char **name, char **probs, char **logits)
{
    char *f[3];
    int nf = 0;
    char *s = line;
    while (nf < 3) {
        while (*s == ' ')
            s++;
        if (!*s) break;
        f[nf++] = s;
        char *e = strstr(s, "  ");
        if (!e) {
            s += strlen(s);
            break;
        }
        *e = 0;
        s = e + 1;
    }
    if (nf != 3) return 0;
    *name = f[0], *probs = f[1], *logits = f[2];
    return 1;
}

/* The header's rule for one channel of probabilities ("Tensors"): refused by the losses that
 * renormalise probabilities (their flag SL_LOSS_RENORMALISES, checked against this list); every
 * other loss scores it. */
static void check_one_channel(const data *d)
{
    expect_refusals = 1;
    static const char *refused[] = {"ce", "focal", "missing_ce", "marginal_ce", "lovasz"};
    for (int i = 0; i < sl_loss_count(); i++) {
        const char *name = sl_loss_name(sl_loss_at(i));
        int want_refused = 0;
        for (size_t k = 0; k < sizeof refused / sizeof refused[0]; k++)
            want_refused |= strcmp(name, refused[k]) == 0;
        double a = eval(name, 1, SL_INPUT_PROBS, d->p, d, SL_IMPL_REF);
        CHECK(want_refused == isnan(a), "%s on one channel of probabilities: %s", name,
              want_refused ? "scored, the header says refused" : "refused");
        CHECK(want_refused == !!(sl_loss_flags(sl_loss_at(i)) & SL_LOSS_RENORMALISES),
              "%s: its flag SL_LOSS_RENORMALISES disagrees with the header's list", name);
    }
    expect_refusals = 0;
}

int main(void)
{
    const char *path = getenv("SEGLOSS_HEADER");
    if (!path) path = "include/segloss.h";
    FILE *fp = fopen(path, "r");
    CHECK(fp != NULL, "cannot open %s (run from the repository root, or set SEGLOSS_HEADER)", path);
    if (!fp) return check_finish("test_inputs");
    static data d;
    make_data(&d);
    int nloss = sl_loss_count(), *rows = calloc((size_t)nloss, sizeof(int)), in_table = 0;
    char line[512];
    while (rows && fgets(line, sizeof line, fp)) {
        line[strcspn(line, "\n")] = 0;
        if (strcmp(line, " * How each loss reads its input") == 0) in_table = 1;
        if (!in_table || strncmp(line, " *   ", 5) != 0) {
            if (in_table && strstr(line, "*/")) break;
            continue;
        }
        char *name, *probs, *logits;
        if (!split_row(line + 2, &name, &probs, &logits)) continue;
        const sl_loss_info *loss = sl_loss_find(name);
        if (!loss) continue; /* the legend's lines */
        for (int i = 0; i < nloss; i++)
            if (sl_loss_at(i) == loss) rows[i]++;
        for (int impl = SL_IMPL_FAST; impl <= SL_IMPL_REF; impl++) {
            check_probs(name, probs, &d, (sl_impl)impl);
            check_logits(name, logits, &d, (sl_impl)impl);
        }
    }
    fclose(fp);
    check_one_channel(&d);
    for (int i = 0; rows && i < nloss; i++)
        CHECK(rows[i] == 1, "%s has %d rows in the input table of %s (want 1)", sl_loss_name(sl_loss_at(i)),
              rows[i], path);
    free(rows);
    return check_finish("test_inputs");
}
