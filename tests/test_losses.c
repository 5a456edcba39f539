/* Table-driven tests over every registered loss: fast against reference (values, maps,
 * gradients), finite-difference gradient checks, extreme inputs, the worked values of
 * the worked example of docs/losses.md, the spec language and the errors a user can cause. */
#include "check.h"
#include "segloss_data.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Deterministic test data from the library's own RNG. */
static sl_rng rng;

static double unif(double a, double b)
{
    return a + (b - a) * sl_rng_uniform(&rng);
}

typedef struct {
    sl_batch b;
    float x[2 * 5 * 7 * 3];
    float t[2 * 5 * 7 * 3];
    int32_t y[2 * 7 * 3];
    uint8_t ann[2 * 5];
} problem;

/* A random problem: N=2, C=5, 7x3 pixels. */
static void make_problem(problem *pr, sl_input_kind ik, sl_target_kind tk, int ignore,
                         int annotated, int missing_class)
{
    memset(pr, 0, sizeof *pr);
    const int64_t N = 2, C = 5, P = 21;
    pr->b.shape.ndim = 4;
    pr->b.shape.dim[0] = N;
    pr->b.shape.dim[1] = C;
    pr->b.shape.dim[2] = 7;
    pr->b.shape.dim[3] = 3;
    for (int64_t i = 0; i < N * C * P; i++)
        pr->x[i] = (float)(ik == SL_INPUT_LOGITS ? unif(-3, 3) : unif(0.05, 1.0));
    for (int64_t n = 0; n < N; n++)
        for (int64_t i = 0; i < P; i++) {
            int32_t y = (int32_t)sl_rng_randint(&rng, C);
            if (missing_class && y == 3) y = 0; /* class 3 is never annotated */
            if (ignore && i % 7 == 3) y = 255;
            pr->y[n * P + i] = y;
            double s = 0;
            for (int64_t c = 0; c < C; c++) {
                double v = tk == SL_TARGET_PROBS ? unif(0, 1) : (c == y);
                if (missing_class && c == 3) v = 0;
                pr->t[(n * C + c) * P + i] = (float)v;
                s += v;
            }
            if (tk == SL_TARGET_PROBS)
                for (int64_t c = 0; c < C; c++)
                    pr->t[(n * C + c) * P + i] /= (float)s;
        }
    for (int64_t i = 0; i < N * C; i++)
        pr->ann[i] = (uint8_t) !(missing_class && i % C == 3);
    pr->b.input = pr->x;
    pr->b.input_kind = ik;
    pr->b.target_kind = tk;
    pr->b.labels = pr->y;
    pr->b.target = pr->t;
    pr->b.annotated = annotated ? pr->ann : NULL;
}

/* Whether the per-loss checks take this loss: every loss, or in the test build of a loss that
 * exists only there (tests/newloss/, TEST_ONLY_LOSS) that loss alone. */
static int selected(const sl_loss_info *loss)
{
#ifdef TEST_ONLY_LOSS
    return strcmp(sl_loss_name(loss), TEST_ONLY_LOSS) == 0;
#else
    (void)loss;
    return 1;
#endif
}

static int quiet; /* finite-difference steps may fail on purpose (a probability past 1) */

static sl_status run(const sl_spec *spec, const sl_batch *b, sl_impl impl, double *loss,
                     float *grad, float *map)
{
    size_t wsz = sl_spec_workspace_size(spec, b);
    void *ws = malloc(wsz + 1);
    sl_output out = {0, grad, map, ws, wsz, 0};
    sl_error err;
    sl_status st = sl_spec_eval(spec, b, impl, &out, &err);
    if (st != SL_OK && !quiet) fprintf(stderr, "  (%s)\n", err.msg);
    free(ws);
    *loss = out.loss;
    return st;
}

/* Bit c of the result: probability c of the pixel (softmax of logits, or the input as given)
 * is above 0.5. hausdorff_dt's distance fields threshold there. */
static unsigned above_half(const problem *pr, int64_t pix, int64_t C, int64_t P)
{
    const float *x = pr->x + pix;
    double m = x[0], s = 0;
    unsigned bits = 0;
    for (int64_t c = 1; c < C; c++)
        m = fmax(m, x[c * P]);
    for (int64_t c = 0; c < C; c++)
        s += exp(x[c * P] - m);
    for (int64_t c = 0; c < C; c++) {
        double p = pr->b.input_kind == SL_INPUT_LOGITS ? exp(x[c * P] - m) / s : x[c * P];
        bits |= (unsigned)(p > 0.5) << c;
    }
    return bits;
}

/* Fast against reference, and the reference's gradient against finite differences. */
static void check_spec(const char *text, problem *pr)
{
    sl_spec *spec;
    sl_error err;
    sl_status st = sl_spec_parse(text, &spec, &err);
    CHECK(st == SL_OK, "parse %s: %s", text, err.msg);
    if (st != SL_OK) return;
    int64_t numel = sl_shape_numel(&pr->b.shape);
    sl_shape ms;
    CHECK(sl_spec_map_shape(spec, &pr->b, &ms, &err) == SL_OK, "%s: map shape", text);
    int64_t nm = sl_shape_numel(&ms);
    float gf[210], gr[210], mf[210], mr[210];
    double lf, lr;
    CHECK(run(spec, &pr->b, SL_IMPL_FAST, &lf, gf, mf) == SL_OK, "%s fast runs", text);
    CHECK(run(spec, &pr->b, SL_IMPL_REF, &lr, gr, mr) == SL_OK, "%s ref runs", text);
    CHECK(isfinite(lf), "%s: finite loss", text);
    CHECK_CLOSE(lf, lr, 1e-6, 1e-5, text);
    double worst = 0;
    for (int64_t i = 0; i < numel; i++)
        worst = fmax(worst, fabs(gf[i] - gr[i]));
    CHECK(worst < 1e-5, "%s: fast vs ref gradient differ by %g", text, worst);
    worst = 0;
    for (int64_t i = 0; i < nm; i++)
        worst = fmax(worst, fabs(mf[i] - mr[i]));
    CHECK(worst < 1e-5, "%s: fast vs ref map differ by %g", text, worst);

    /* Central differences on the reference. */
    int bad = 0, tried = 0;
    for (int64_t i = 0; i < numel; i += 3) {
        float x0 = pr->x[i];
        /* A small step: Lovasz is piecewise linear (its kinks are where the error order
         * changes) and log(1 - p) of the sigmoid losses curves sharply near p = 1. */
        double h = 1e-4;
        if (pr->b.input_kind == SL_INPUT_PROBS && x0 > 0.995f) continue;
        float xp = (float)(x0 + h), xm = (float)(x0 - h);
        double lp, lm;
        int64_t C = pr->b.shape.dim[1], P = numel / (pr->b.shape.dim[0] * C);
        int64_t pix = (i / (C * P)) * C * P + i % P, a0 = 0, ap = 0, am = 0;
        for (int64_t c = 1; c < C; c++)
            a0 = pr->x[pix + c * P] > pr->x[pix + a0 * P] ? c : a0;
        unsigned h0 = above_half(pr, pix, C, P), hp, hm;
        pr->x[i] = xp;
        for (int64_t c = 1; c < C; c++)
            ap = pr->x[pix + c * P] > pr->x[pix + ap * P] ? c : ap;
        hp = above_half(pr, pix, C, P);
        quiet = 1;
        sl_status sp = run(spec, &pr->b, SL_IMPL_REF, &lp, NULL, NULL);
        pr->x[i] = xm;
        for (int64_t c = 1; c < C; c++)
            am = pr->x[pix + c * P] > pr->x[pix + am * P] ? c : am;
        hm = above_half(pr, pix, C, P);
        sl_status sm = run(spec, &pr->b, SL_IMPL_REF, &lm, NULL, NULL);
        quiet = 0;
        pr->x[i] = x0;
        if (sp != SL_OK || sm != SL_OK) continue; /* a step past a probability of 1 */
        /* Gates are piecewise constant: missing_ce's argmax, and the distance fields of
         * hausdorff_dt, which change where a probability crosses 0.5 (the loss jumps there).
         * A coordinate whose perturbation moves either is skipped. */
        if (ap != a0 || am != a0 || hp != h0 || hm != h0) continue;
        double fd = (lp - lm) / ((double)xp - (double)xm);
        tried++;
        /* A kink inside the step (Lovasz's order of errors, a clip of the probability): the
         * one-sided difference on the side without it is the derivative at x0. */
        if (!check_close(gr[i], fd, 2e-4, 2e-2) &&
            (check_close(gr[i], (lp - lr) / ((double)xp - (double)x0), 2e-4, 2e-2) ||
             check_close(gr[i], (lr - lm) / ((double)x0 - (double)xm), 2e-4, 2e-2)))
            fd = gr[i];
        if (!check_close(gr[i], fd, 2e-4, 2e-2)) {
            if (bad < 3)
                fprintf(stderr, "  %s: grad[%lld] = %g, finite difference %g\n", text, (long long)i,
                        gr[i], fd);
            bad++;
        }
    }
    CHECK(bad == 0 && tried > 10,
          "%s: %d of %d gradient entries disagree with finite "
          "differences",
          text, bad, tried);
    sl_spec_free(spec);
}

/* A value other than the default for each key a loss may take (C = 5 classes): the samples of
 * the key's row in SL_OPTIONS. */
static const char *sample_value(const sl_param_info *pi, int which)
{
#define SAMPLES(k, type, def, words, lo, hi, flags, s1, s2, help) {s1, s2},
    static const char *const samples[SL_OPT_COUNT][2] = {SL_OPTIONS(SAMPLES)};
#undef SAMPLES
    return samples[pi->id][which];
}

/* Whether w is one of the '|'-separated words. */
static int word_listed(const char *words, const char *w)
{
    size_t n = strlen(w);
    for (const char *p = words; p; p = strchr(p, '|') ? strchr(p, '|') + 1 : NULL)
        if (strncmp(p, w, n) == 0 && (p[n] == '|' || p[n] == 0)) return 0;
    return -1;
}

static void test_registry_battery(void)
{
    for (int li = 0; li < sl_loss_count(); li++) {
        const sl_loss_info *loss = sl_loss_at(li);
        const char *name = sl_loss_name(loss);
        if (!selected(loss)) continue;
        /* The defaults, then each key set to each sample value in turn. */
        for (int pi = -1; pi < sl_loss_nparams(loss); pi++) {
            for (int which = 0; which < 2; which++) {
                char spec[256];
                sl_param_info pp;
                if (pi < 0) {
                    if (which) break;
                    snprintf(spec, sizeof spec, "%s", name);
                } else {
                    sl_loss_param(loss, pi, &pp);
                    const char *v = sample_value(&pp, which);
                    if (v && pp.type == SL_PARAM_WORD &&
                        word_listed(pp.words, v) < 0) /* a word this loss does not take */
                        continue;
                    if (!v) {
                        CHECK(which || strcmp(pp.key, "reduction") == 0 || sample_value(&pp, 0),
                              "%s: no test value for %s", name, pp.key);
                        continue;
                    }
                    /* as a user of the loss's peers writes it: its own spelling, if any */
                    snprintf(spec, sizeof spec, "%s(%s=%s)", name, pp.alias ? pp.alias : pp.key, v);
                }
                /* Each spec's problems come from a seed of its own, so that a key added to
                 * one loss leaves every other spec's problems as they were. */
                uint32_t seed = 2166136261u;
                for (const char *q = spec; *q; q++)
                    seed = (seed ^ (uint8_t)*q) * 16777619u;
                sl_rng_seed(&rng, seed);
                /* ignore_index=255 marks pixels 255; ignore_index=2 leaves out class 2 */
                int ignore = strstr(spec, "ignore_index") != NULL;
                int mark = strstr(spec, "ignore_index=255") != NULL;
                for (int ik = 0; ik < 2; ik++)
                    for (int tk = 0; tk < 2; tk++) {
                        /* a per-class target takes ignore_index=2 (the argmax rule) where the
                         * loss says so; 255 names no channel there (refused, tested below) */
                        if (ignore && tk == SL_TARGET_PROBS &&
                            (mark || !(sl_loss_flags(loss) & SL_LOSS_PROBS_IGNORE)))
                            continue;
                        for (int miss = 0; miss < 2; miss++) {
                            problem pr;
                            make_problem(&pr, (sl_input_kind)ik, (sl_target_kind)tk, mark, miss,
                                         miss);
                            check_spec(spec, &pr);
                        }
                    }
            }
        }
    }
    /* A sum of terms is the sum of its terms. */
    problem pr;
    make_problem(&pr, SL_INPUT_LOGITS, SL_TARGET_LABELS, 0, 0, 1);
    check_spec("0.5*ce + missing_ce(denominator=valid) + 2*marginal_ce", &pr);
    sl_spec *a, *b1, *b2;
    sl_error err;
    sl_spec_parse("0.5*ce + 2 * marginal_ce(reduction=sum)", &a, &err);
    sl_spec_parse("ce", &b1, &err);
    sl_spec_parse("marginal_ce(reduction=sum)", &b2, &err);
    double la, l1, l2;
    run(a, &pr.b, SL_IMPL_FAST, &la, NULL, NULL);
    run(b1, &pr.b, SL_IMPL_FAST, &l1, NULL, NULL);
    run(b2, &pr.b, SL_IMPL_FAST, &l2, NULL, NULL);
    CHECK_CLOSE(la, 0.5 * l1 + 2 * l2, 1e-9, 1e-9, "sum of terms");
    /* A term's own input kind: one tensor read as probabilities by dice and as logits by ce
     * (MONAI's DiceCELoss without softmax) is the sum of the two read each way. */
    {
        problem pp;
        make_problem(&pp, SL_INPUT_PROBS, SL_TARGET_LABELS, 0, 0, 0);
        check_spec("dice(input=probs) + tversky(input=logits)", &pp);
        sl_spec *s3;
        sl_spec_parse("dice(input=probs) + 0.5*ce(input=logits)", &s3, &err);
        CHECK(sl_spec_term_input(s3, 0) == SL_INPUT_PROBS &&
                  sl_spec_term_input(s3, 1) == SL_INPUT_LOGITS,
              "terms' input kinds");
        double l3, ld, lc;
        run(s3, &pp.b, SL_IMPL_FAST, &l3, NULL, NULL);
        sl_spec_free(s3);
        sl_spec_parse("dice", &s3, &err);
        run(s3, &pp.b, SL_IMPL_FAST, &ld, NULL, NULL);
        sl_spec_free(s3);
        pp.b.input_kind = SL_INPUT_LOGITS;
        sl_spec_parse("ce", &s3, &err);
        run(s3, &pp.b, SL_IMPL_FAST, &lc, NULL, NULL);
        sl_spec_free(s3);
        CHECK_CLOSE(l3, ld + 0.5 * lc, 1e-9, 1e-9, "dice(input=probs) + 0.5*ce(input=logits)");
        CHECK(sl_spec_parse("ce(input=softmax)", &s3, &err) == SL_E_PARSE &&
                  strstr(err.msg, "logits|probs"),
              "input=softmax refused");
    }
    sl_spec_free(a);
    sl_spec_free(b1);
    sl_spec_free(b2);
}

/* The worked example of docs/losses.md: B=1, C=3, 4 pixels. */
static const float z9[3][4] = {
    {2.0f, 0.1f, 0.2f, 1.0f}, {0.5f, 1.5f, -0.3f, 1.0f}, {-1.0f, 0.3f, 1.2f, 0.0f}};

static double anchor(const char *text, int32_t *y, const float *t, double *map, float *grad)
{
    sl_batch b = {.shape = {3, {1, 3, 4}},
                  .input = &z9[0][0],
                  .target_kind = t ? SL_TARGET_PROBS : SL_TARGET_LABELS,
                  .labels = y,
                  .target = t};
    sl_spec *s;
    sl_error err;
    if (sl_spec_parse(text, &s, &err) != SL_OK) {
        CHECK(0, "%s", err.msg);
        return NAN;
    }
    float m[4];
    double loss = NAN;
    for (int impl = 0; impl < 2; impl++) {
        CHECK(run(s, &b, (sl_impl)impl, &loss, grad, m) == SL_OK, "anchor %s", text);
        if (map)
            for (int i = 0; i < 4; i++)
                CHECK_CLOSE(m[i], map[i], 1e-6, 1e-6, text);
    }
    sl_spec_free(s);
    return loss;
}

static void test_anchors(void)
{
    int32_t y[4] = {0, 1, 0, 1};
    double ce_map[4] = {0.24131130, 0.43682887, 1.46436878, 0.86199480};
    float g[12];
    CHECK_CLOSE(anchor("ce", y, NULL, ce_map, g), 0.751125938, 1e-8, 1e-7, "ce mean");
    static const double g9[4][3] = {{-0.05360074, 0.0438226, 0.00977814},
                                    {0.03983046, -0.0884795, 0.04864904},
                                    {-0.19219403, 0.0350611, 0.15713293},
                                    {0.1055797, -0.1444203, 0.0388406}};
    for (int i = 0; i < 4; i++)
        for (int c = 0; c < 3; c++)
            CHECK_CLOSE(g[c * 4 + i], g9[i][c], 1e-7, 1e-5, "ce grad");
    CHECK_CLOSE(anchor("ce(weight=[0.2,1,2])", y, NULL, NULL, g), 0.683316536, 1e-8, 1e-7,
                "ce weight");
    int32_t yi[4] = {0, 1, 0, -100};
    CHECK_CLOSE(anchor("ce", yi, NULL, NULL, g), 0.714169649, 1e-8, 1e-7, "ce ignore");
    CHECK_CLOSE(anchor("ce(label_smoothing=0.1)", y, NULL, NULL, g), 0.814459271, 1e-8, 1e-7,
                "ce smoothing");
    CHECK_CLOSE(anchor("ce(weight=[0.2,1,2],label_smoothing=0.1)", yi, NULL, NULL, g), 0.870025725,
                1e-8, 1e-7, "ce weight+ignore+smoothing");
    float t[12] = {0};
    for (int i = 0; i < 4; i++)
        t[y[i] * 4 + i] = 1.0f;
    CHECK_CLOSE(anchor("ce(weight=[0.2,1,2],label_smoothing=0.1)", NULL, t, NULL, g), 0.538111030,
                1e-8, 1e-7, "ce probability targets");
    double blog[4] = {0.24131130, 0.43682887, 0, 0.86199480};
    CHECK_CLOSE(anchor("missing_ce", y, NULL, blog, g), 0.385033742, 1e-8, 1e-7, "blog loss");
    CHECK_CLOSE(anchor("missing_ce(denominator=valid)", y, NULL, blog, g), 0.513378322, 1e-8, 1e-7,
                "blog loss, valid");
    double marg[4] = {0.19272395, 0.43682887, 0.15110710, 0.86199480};
    CHECK_CLOSE(anchor("marginal_ce", y, NULL, marg, g), 0.410663678, 1e-8, 1e-7, "marginal ce");

    /* Keras: categorical_crossentropy([0,1,0], [1,0,0]) = -log(1e-7). */
    float p[3] = {1, 0, 0}, tt[3] = {0, 1, 0};
    sl_batch b = {.shape = {3, {1, 3, 1}},
                  .input = p,
                  .input_kind = SL_INPUT_PROBS,
                  .target_kind = SL_TARGET_PROBS,
                  .target = tt};
    sl_spec *s;
    sl_error err;
    sl_spec_parse("ce", &s, &err);
    double l;
    float gp[3];
    for (int impl = 0; impl < 2; impl++) {
        CHECK(run(s, &b, (sl_impl)impl, &l, gp, NULL) == SL_OK, "keras anchor runs");
        CHECK_CLOSE(l, 16.118095651, 1e-5, 1e-6, "keras clip anchor");
        CHECK(isfinite(gp[0]) && isfinite(gp[1]) && isfinite(gp[2]), "finite grad at clip");
    }
    sl_spec_free(s);
}

static void test_extremes(void)
{
    problem pr;
    make_problem(&pr, SL_INPUT_LOGITS, SL_TARGET_LABELS, 0, 0, 0);
    for (int i = 0; i < 210; i++)
        pr.x[i] = (i % 3 == 0) ? 1e4f : (i % 3 == 1 ? -1e4f : 0.0f);
    for (int li = 0; li < sl_loss_count(); li++) {
        sl_spec *s;
        sl_error err;
        if (!selected(sl_loss_at(li))) continue;
        sl_spec_parse(sl_loss_name(sl_loss_at(li)), &s, &err);
        float g[210], m[210];
        for (int impl = 0; impl < 2; impl++) {
            double l;
            CHECK(run(s, &pr.b, (sl_impl)impl, &l, g, m) == SL_OK, "extreme logits run");
            int finite = isfinite(l);
            for (int i = 0; i < 210; i++)
                finite &= isfinite(g[i]);
            sl_shape ms;
            sl_spec_map_shape(s, &pr.b, &ms, &err);
            for (int64_t i = 0; i < sl_shape_numel(&ms); i++)
                finite &= isfinite(m[i]);
            CHECK(finite, "%s: finite loss, gradient and map for logits of +-1e4",
                  sl_loss_name(sl_loss_at(li)));
        }
        sl_spec_free(s);
    }
    make_problem(&pr, SL_INPUT_PROBS, SL_TARGET_LABELS, 0, 0, 0);
    for (int i = 0; i < 210; i++)
        pr.x[i] = (i % 2) ? 1.0f : 0.0f;
    for (int i = 0; i < 21; i++)
        pr.x[i] = 1.0f; /* no pixel sums to 0 */
    for (int li = 0; li < sl_loss_count(); li++) {
        sl_spec *s;
        sl_error err;
        if (!selected(sl_loss_at(li))) continue;
        sl_spec_parse(sl_loss_name(sl_loss_at(li)), &s, &err);
        float g[210];
        double l;
        CHECK(run(s, &pr.b, SL_IMPL_FAST, &l, g, NULL) == SL_OK, "probabilities 0 and 1 run");
        int finite = isfinite(l) && l <= -log(1e-7) + 1e-6;
        for (int i = 0; i < 210; i++)
            finite &= isfinite(g[i]);
        CHECK(finite, "%s: finite, bounded by -log(eps), for probabilities exactly 0 and 1",
              sl_loss_name(sl_loss_at(li)));
        sl_spec_free(s);
    }
}

/* lovasz with piles of tied errors (equal logits, then two values): buckets larger than the
 * fast path's scratch, which it sorts another way, must keep the reference's order (descending
 * error, then pixel order), which the gradient shows. */
static void test_lovasz_ties(void)
{
    static const char *const specs[] = {
        "lovasz(ignore_index=255)", "lovasz(per_image=true,ignore_index=255)",
        "lovasz(classes=all,ignore_index=255)", "lovasz(reduction=sum,ignore_index=255)"};
    for (int v = 0; v < 2; v++) {
        problem pr;
        make_problem(&pr, SL_INPUT_LOGITS, SL_TARGET_LABELS, 1, 0, 0);
        for (int i = 0; i < 210; i++)
            pr.x[i] = v == 0 ? 0.0f : (i % 4 == 0 ? 1.5f : -0.5f);
        for (size_t k = 0; k < sizeof specs / sizeof specs[0]; k++) {
            sl_spec *s;
            sl_error err;
            CHECK(sl_spec_parse(specs[k], &s, &err) == SL_OK, "parse %s", specs[k]);
            float gf[210], gr[210], mf[210], mr[210];
            double lf, lr;
            CHECK(run(s, &pr.b, SL_IMPL_FAST, &lf, gf, mf) == SL_OK, "%s fast runs", specs[k]);
            CHECK(run(s, &pr.b, SL_IMPL_REF, &lr, gr, mr) == SL_OK, "%s ref runs", specs[k]);
            CHECK_CLOSE(lf, lr, 1e-6, 1e-5, specs[k]);
            double worst = 0;
            for (int i = 0; i < 210; i++)
                worst = fmax(worst, fabs(gf[i] - gr[i]));
            CHECK(worst < 1e-5, "%s with tied errors: fast vs ref gradient differ by %g", specs[k],
                  worst);
            sl_spec_free(s);
        }
    }
}

/* One evaluation of spec text on b with `threads` threads: the value, the map (mp), and the
 * gradient when g is not NULL. */
static sl_status eval_threads(const char *text, const sl_batch *b, sl_impl impl, int threads,
                              double *loss, float *g, float *mp)
{
    sl_spec *s;
    sl_error err;
    if (sl_spec_parse(text, &s, &err) != SL_OK) return SL_E_PARSE;
    size_t wsz = sl_spec_workspace_size(s, b);
    void *ws = malloc(wsz + 1);
    sl_output out = {0, g, mp, ws, wsz, threads};
    sl_status st = sl_spec_eval(s, b, impl, &out, &err);
    free(ws);
    sl_spec_free(s);
    *loss = out.loss;
    return st;
}

/* The value without a gradient of each of specs (ns; those with ignore_index for labels, the
 * last for per-class targets) has the bits of the value with one, on 1 and 2 threads, and its
 * map too, and agrees with the reference. */
static void value_bits_case(const char *const *specs, int ns, const sl_batch *b, const char *what)
{
    const int64_t numel = sl_shape_numel(&b->shape);
    float *g = malloc((size_t)numel * sizeof(float));
    for (int k = 0; k < ns; k++) {
        if ((b->target_kind == SL_TARGET_PROBS) != (k == ns - 1)) continue;
        double lg, l1, l2, lr;
        float mg[16] = {0}, m1[16] = {0}, m2[16] = {0}, mr[16] = {0};
        CHECK(eval_threads(specs[k], b, SL_IMPL_FAST, 1, &lg, g, mg) == SL_OK &&
                  eval_threads(specs[k], b, SL_IMPL_FAST, 1, &l1, NULL, m1) == SL_OK &&
                  eval_threads(specs[k], b, SL_IMPL_FAST, 2, &l2, NULL, m2) == SL_OK &&
                  eval_threads(specs[k], b, SL_IMPL_REF, 1, &lr, NULL, mr) == SL_OK,
              "%s on %s runs", specs[k], what);
        CHECK(memcmp(&lg, &l1, sizeof lg) == 0 && memcmp(&lg, &l2, sizeof lg) == 0 &&
                  memcmp(mg, m1, sizeof mg) == 0 && memcmp(mg, m2, sizeof mg) == 0,
              "%s on %s: the value without a gradient (%.17g, 2 threads %.17g) has the bits "
              "of the value with one (%.17g)",
              specs[k], what, l1, l2, lg);
        CHECK_CLOSE(l1, lr, 1e-6, 1e-5, specs[k]);
    }
    free(g);
}

/* A batch of n images of c channels and h x 128 pixels on x, y and t (kinds not set). */
static void grad_batch(sl_batch *b, int64_t n, int64_t c, int64_t h, float *x, int32_t *y, float *t)
{
    memset(b, 0, sizeof *b);
    b->shape.ndim = 4;
    b->shape.dim[0] = n, b->shape.dim[1] = c, b->shape.dim[2] = h, b->shape.dim[3] = 128;
    b->input = x, b->labels = y, b->target = t;
}

/* lovasz with a gradient where a pair's keys do not fit (2 classes over the batch, or one
 * image) sorts them in ranges, dL/dp into a row of its own: its gradient must have the values
 * of the one-range path's, which 3 classes take; with probabilities as input a third class of
 * zeros changes neither the other two's probabilities nor their words, so on 2 classes and on
 * the same 2 plus a class of zeros (not present: not counted) the value, the map and the first
 * two classes' gradient agree (== for the gradient: the chain's sum of a third term 0 may turn
 * a -0 into +0), on 1 and 2 threads. */
static void lovasz_grad_ranges(void)
{
    static const char *const specs[] = {"lovasz(ignore_index=255)",
                                        "lovasz(reduction=sum,ignore_index=255)",
                                        "lovasz(per_image=true,ignore_index=255)", "lovasz"};
    const int64_t P = 128 * 128;
    float *x2 = malloc((size_t)(2 * 2 * P) * sizeof(float)), *x3 = malloc((size_t)(2 * 3 * P) * 4);
    float *t2 = malloc((size_t)(2 * 2 * P) * sizeof(float)), *t3 = malloc((size_t)(2 * 3 * P) * 4);
    float *g2 = malloc((size_t)(2 * 2 * P) * sizeof(float)), *g3 = malloc((size_t)(2 * 3 * P) * 4);
    int32_t *y = malloc((size_t)(2 * P) * sizeof(int32_t));
    for (int64_t N = 1; N <= 2; N++)
        for (int kind = 0; kind < 3; kind++) {
            sl_batch b2, b3;
            grad_batch(&b2, N, 2, 128, x2, y, t2), grad_batch(&b3, N, 3, 128, x3, y, t3);
            b2.input_kind = b3.input_kind = SL_INPUT_PROBS;
            b2.target_kind = b3.target_kind = kind == 2 ? SL_TARGET_PROBS : SL_TARGET_LABELS;
            for (int64_t n = 0; n < N; n++)
                for (int64_t i = 0; i < P; i++) {
                    y[n * P + i] = i % 13 == 4 ? 255 : (int32_t)sl_rng_randint(&rng, 2);
                    for (int64_t k = 0; k < 3; k++) {
                        float v = kind == 0 ? (float)(1 + sl_rng_randint(&rng, 3)) / 4.0f
                                            : (float)unif(0.05, 1.0);
                        float tv = (float)unif(0, 1);
                        x3[(n * 3 + k) * P + i] = k < 2 ? v : 0.0f;
                        t3[(n * 3 + k) * P + i] = k < 2 ? tv : 0.0f;
                        if (k < 2) x2[(n * 2 + k) * P + i] = v, t2[(n * 2 + k) * P + i] = tv;
                    }
                }
            for (size_t k = 0; k < sizeof specs / sizeof specs[0]; k++) {
                if ((kind == 2) != (k == 3)) continue;
                for (int th = 1; th <= 2; th++) {
                    double l2, l3;
                    float m2[16] = {0}, m3[16] = {0};
                    CHECK(eval_threads(specs[k], &b2, SL_IMPL_FAST, th, &l2, g2, m2) == SL_OK &&
                              eval_threads(specs[k], &b3, SL_IMPL_FAST, th, &l3, g3, m3) == SL_OK,
                          "%s with a gradient on %dx2 and %dx3 runs", specs[k], (int)N, (int)N);
                    int64_t bad = 0, nz = 0;
                    for (int64_t n = 0; n < N; n++)
                        for (int64_t i = 0; i < 2 * P; i++) {
                            bad += g2[n * 2 * P + i] != g3[n * 3 * P + i];
                            nz += g2[n * 2 * P + i] != 0.0f;
                        }
                    int maps = 1;
                    for (int64_t q = 0; q < N * 2; q++)
                        maps &= memcmp(&m2[q], &m3[q / 2 * 3 + q % 2], sizeof(float)) == 0;
                    CHECK(bad == 0 && nz > P / 2 && maps && memcmp(&l2, &l3, sizeof l2) == 0,
                          "%s, kind %d, %d threads: %dx2 in ranges against %dx3 in one range: "
                          "%lld gradient values differ (%lld nonzero), value %.17g vs %.17g",
                          specs[k], kind, th, (int)N, (int)N, (long long)bad, (long long)nz, l2,
                          l3);
                }
            }
        }
    free(x2), free(x3), free(t2), free(t3), free(g2), free(g3), free(y);
}

/* lovasz_hinge with a gradient where more than three quarters of a group's errors are positive
 * goes in ranges, its counts and pairs in the workspace: its gradient and value must have the
 * bits of the one-range path, which the same image takes beside a second image of elements
 * with e <= 0 (label 0, logit -5: never sorted, no target, so the same walk) over the batch.
 * Images of 1024x128, large enough that a group's counts and pairs fit in its gradient (else
 * they are in the workspace and the group is one range anyway). */
static void lovasz_hinge_grad_ranges(void)
{
    static const char *const specs[] = {"lovasz_hinge(per_image=false,ignore_index=255)",
                                        "lovasz_hinge(per_image=false)"};
    const int64_t P = 1024 * 128;
    float *x = malloc((size_t)(2 * P) * sizeof(float)), *ga = malloc((size_t)(2 * P) * 4);
    float *gb = malloc((size_t)(2 * P) * sizeof(float));
    int32_t *y = malloc((size_t)(2 * P) * sizeof(int32_t));
    for (int kind = 0; kind < 3; kind++)
        for (size_t k = 0; k < sizeof specs / sizeof specs[0]; k++) {
            sl_batch a, b;
            grad_batch(&a, 1, 1, 1024, x, y, NULL), grad_batch(&b, 2, 1, 1024, x, y, NULL);
            a.input_kind = b.input_kind = SL_INPUT_LOGITS;
            a.target_kind = b.target_kind = SL_TARGET_LABELS;
            for (int64_t i = 0; i < P; i++) {
                /* logits 0 (one pile), small random ones, crowded ones: every error positive */
                x[i] = kind == 0   ? 0.0f
                       : kind == 1 ? (float)unif(-0.9, 0.9)
                                   : (i == 7 ? 0.999f : -(float)(i % 1000) * 7e-6f);
                y[i] = k == 0 && i % 7 == 3 ? 255 : (int32_t)sl_rng_randint(&rng, 2);
                x[P + i] = -5.0f, y[P + i] = 0;
            }
            double la, lb;
            float ma[4] = {0}, mb[4] = {0};
            CHECK(eval_threads(specs[k], &a, SL_IMPL_FAST, 1, &la, ga, ma) == SL_OK &&
                      eval_threads(specs[k], &b, SL_IMPL_FAST, 1, &lb, gb, mb) == SL_OK,
                  "%s with a gradient runs", specs[k]);
            int64_t zeros = 0;
            for (int64_t i = 0; i < P; i++)
                zeros += gb[P + i] == 0.0f;
            CHECK(memcmp(ga, gb, (size_t)P * sizeof(float)) == 0 && zeros == P &&
                      memcmp(&la, &lb, sizeof la) == 0,
                  "%s, kind %d: in ranges against one range: the gradient's bits differ or the "
                  "second image's are not 0 (%lld zeros), value %.17g vs %.17g",
                  specs[k], kind, (long long)zeros, la, lb);
        }
    free(x), free(ga), free(gb), free(y);
}

/* lovasz and lovasz_hinge without a gradient keep less than the input's size: lovasz makes
 * the pairs one at a time, their keys in ranges, large buckets refined, piles of tied errors
 * walked from the sweep; lovasz_hinge, where more than half of a group's errors are positive,
 * sorts them in ranges, and a bucket larger than that in batches. Both must walk the same
 * order as with a gradient. Images of 128x128 on 1 (lovasz_hinge), 2 and 3 classes: random
 * logits, logits 0 (one pile of ties), two logits, probabilities, per-class targets, and
 * scores crowded into one bucket of lovasz_hinge's first digit. */
static void test_lovasz_value(void)
{
    static const char *const lz[] = {
        "lovasz(ignore_index=255)", "lovasz(per_image=true,ignore_index=255)",
        "lovasz(classes=all,ignore_index=255)", "lovasz(reduction=sum,ignore_index=255)",
        "lovasz(per_image=true,classes=all)"};
    static const char *const lh[] = {"lovasz_hinge(ignore_index=255)",
                                     "lovasz_hinge(per_image=false,ignore_index=255)",
                                     "lovasz_hinge(per_image=false)"};
    static const char *const kinds[] = {"random logits", "logits 0",          "two logits",
                                        "probabilities", "per-class targets", "crowded scores"};
    const int64_t N = 2, P = 128 * 128;
    float *x = malloc((size_t)(N * 3 * P) * sizeof(float));
    float *t = malloc((size_t)(N * 3 * P) * sizeof(float));
    int32_t *y = malloc((size_t)(N * P) * sizeof(int32_t));
    for (int64_t C = 1; C <= 3; C++)
        for (int v = 0; v < 6; v++) {
            sl_batch b;
            memset(&b, 0, sizeof b);
            b.shape.ndim = 4;
            b.shape.dim[0] = N, b.shape.dim[1] = C, b.shape.dim[2] = 128, b.shape.dim[3] = 128;
            b.input_kind = v == 3 ? SL_INPUT_PROBS : SL_INPUT_LOGITS;
            b.target_kind = v == 4 ? SL_TARGET_PROBS : SL_TARGET_LABELS;
            b.input = x, b.labels = y, b.target = t;
            for (int64_t i = 0; i < N * C * P; i++) {
                x[i] = v == 1 ? 0.0f : v == 2 ? (i % 4 == 0 ? 1.5f : -0.5f) : (float)unif(-4, 4);
                if (v == 3) x[i] = (float)unif(0.05, 1.0);
                if (v == 5) x[i] = i == 7 ? 0.999f : -(float)(i % 1000) * 7e-6f;
                t[i] = (float)unif(0, 1);
            }
            for (int64_t i = 0; i < N * P; i++)
                y[i] = i % 11 == 5 ? 255 : (int32_t)sl_rng_randint(&rng, C > 1 ? C : 2);
            if (v == 5)
                for (int64_t i = 0; i < N * P; i++)
                    y[i] = i % 11 == 5 ? 255 : C > 1 ? 0 : 1;
            char what[64];
            snprintf(what, sizeof what, "2x%dx128x128, %s", (int)C, kinds[v]);
            if (C > 1 && v < 5) value_bits_case(lz, 5, &b, what);
            if (v != 3) value_bits_case(lh, 3, &b, what);
        }
    free(x), free(t), free(y);
    lovasz_grad_ranges();
    lovasz_hinge_grad_ranges();
}

static sl_status eval_status(const char *text, const sl_batch *b);

/* A binary problem: N=2, one channel, 7x3 pixels; a {0, 1} label map (255 on some pixels with
 * ignore) or a per-channel target in [0, 1]. */
static void make_binary(problem *pr, sl_input_kind ik, sl_target_kind tk, int ignore)
{
    memset(pr, 0, sizeof *pr);
    const int64_t N = 2, P = 21;
    pr->b.shape.ndim = 4;
    pr->b.shape.dim[0] = N;
    pr->b.shape.dim[1] = 1;
    pr->b.shape.dim[2] = 7;
    pr->b.shape.dim[3] = 3;
    for (int64_t i = 0; i < N * P; i++) {
        pr->x[i] = (float)(ik == SL_INPUT_LOGITS ? unif(-3, 3) : unif(0.05, 0.95));
        pr->y[i] = (int32_t)sl_rng_randint(&rng, 2);
        if (ignore && i % 7 == 3) pr->y[i] = 255;
        pr->t[i] = (float)(i % 3 ? pr->y[i] == 1 : unif(0, 1));
    }
    pr->b.input = pr->x;
    pr->b.input_kind = ik;
    pr->b.target_kind = tk;
    pr->b.labels = pr->y;
    pr->b.target = pr->t;
}

/* Binary segmentation: every sigmoid loss on one channel with a {0, 1} label map or a
 * per-channel target, fast against reference and finite differences; a softmax loss there is
 * refused with a message that names the sigmoid form. */
static void test_binary(void)
{
    static const char *const specs[] = {
        "bce",
        "sigmoid_focal",
        "dice(sigmoid=true)",
        "dice(sigmoid=True,squared=true)",
        "dice(sigmoid=true,jaccard=true,batch=true)",
        "tversky(sigmoid=true,alpha=0.3,beta=0.7)",
        "focal_tversky(sigmoid=true)",
        "generalized_dice(sigmoid=true)",
        "log_cosh_dice(sigmoid=true)",
        "lovasz_hinge",
        "lovasz_hinge(per_image=false)",
        "0.5*dice(sigmoid=true) + tversky(sigmoid=true)",
    };
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++)
        for (int ik = 0; ik < 2; ik++)
            for (int tk = 0; tk < 2; tk++)
                for (int ign = 0; ign < 1 + (tk == SL_TARGET_LABELS); ign++) {
                    char spec[160];
                    problem pr;
                    make_binary(&pr, (sl_input_kind)ik, (sl_target_kind)tk, ign);
                    if (ign && strchr(specs[i], '+')) continue;
                    if (ign)
                        snprintf(
                            spec, sizeof spec, "%.*s%signore_index=255)",
                            (int)(strchr(specs[i], '(') ? strlen(specs[i]) - 1 : strlen(specs[i])),
                            specs[i], strchr(specs[i], '(') ? "," : "(");
                    else
                        snprintf(spec, sizeof spec, "%s", specs[i]);
                    check_spec(spec, &pr);
                }
    problem pr;
    make_binary(&pr, SL_INPUT_LOGITS, SL_TARGET_LABELS, 0);
    static const char *const softmax[] = {
        "ce",     "focal",      "dice",         "tversky", "generalized_dice",
        "lovasz", "missing_ce", "marginal_dice"};
    for (size_t i = 0; i < sizeof softmax / sizeof softmax[0]; i++) {
        sl_spec *s;
        sl_error err;
        sl_spec_parse(softmax[i], &s, &err);
        size_t wsz = sl_spec_workspace_size(s, &pr.b);
        void *ws = malloc(wsz + 1);
        sl_output out = {0, NULL, NULL, ws, wsz, 0};
        sl_status st = sl_spec_eval(s, &pr.b, SL_IMPL_FAST, &out, &err);
        CHECK(st == SL_E_ARG && strstr(err.msg, "one channel") && strstr(err.msg, "sigmoid"),
              "%s on one channel: refused naming the sigmoid form (%s)", softmax[i],
              st == SL_OK ? "ran" : err.msg);
        free(ws);
        sl_spec_free(s);
    }
    quiet = 1;
    pr.y[4] = 2;
    CHECK(eval_status("bce", &pr.b) == SL_E_LABEL, "binary label 2 is out of range");
    CHECK(eval_status("dice(sigmoid=true)", &pr.b) == SL_E_LABEL, "binary label 2 (dice)");
    quiet = 0;
}

static sl_status eval_status(const char *text, const sl_batch *b)
{
    sl_spec *s;
    sl_error err;
    sl_status st = sl_spec_parse(text, &s, &err);
    if (st != SL_OK) return st;
    size_t wsz = sl_spec_workspace_size(s, b);
    void *ws = malloc(wsz + 1);
    sl_output out = {0, NULL, NULL, ws, wsz, 0};
    st = sl_spec_eval(s, b, SL_IMPL_FAST, &out, &err);
    CHECK(st == SL_OK || (strlen(err.msg) > 10 && !strchr(err.msg, '\n')),
          "one-line message for %s", text);
    free(ws);
    sl_spec_free(s);
    return st;
}

/* The message of a spec on a batch with the reference (every term scans the data), or "". */
static void eval_message(const char *text, const sl_batch *b, char *msg, size_t len)
{
    sl_spec *s;
    sl_error err;
    msg[0] = 0;
    if (sl_spec_parse(text, &s, &err) != SL_OK) {
        snprintf(msg, len, "%s", err.msg);
        return;
    }
    size_t wsz = sl_spec_workspace_size(s, b);
    void *ws = malloc(wsz + 1);
    sl_output out = {0, NULL, NULL, ws, wsz, 0};
    if (sl_spec_eval(s, b, SL_IMPL_REF, &out, &err) != SL_OK) snprintf(msg, len, "%s", err.msg);
    free(ws);
    sl_spec_free(s);
}

/* The terms of a spec share one pass over the data: each term still refuses what it refuses
 * alone, with the message it gives alone, whatever the other terms take (here: labels that
 * one term ignores and the other does not, in either order). */
static void test_shared_scan(void)
{
    problem pr;
    make_problem(&pr, SL_INPUT_LOGITS, SL_TARGET_LABELS, 0, 0, 0);
    char msg[SL_ERR_LEN], alone[SL_ERR_LEN];
    pr.y[3] = 255;
    eval_message("ce(ignore_index=255) + dice", &pr.b, msg, sizeof msg);
    eval_message("dice", &pr.b, alone, sizeof alone);
    CHECK(alone[0] && strcmp(msg, alone) == 0, "a label one term ignores: '%s', alone '%s'", msg,
          alone);
    pr.y[10] = 7;
    static const char *const cases[][2] = {
        {"ce(ignore_index=255) + dice(ignore_index=255)", "ce(ignore_index=255)"},
        {"lovasz(ignore_index=7) + ce(ignore_index=255)", "lovasz(ignore_index=7)"},
        {"dice(ignore_index=255) + 2*ce(ignore_index=7)", "dice(ignore_index=255)"},
        {"ce(ignore_index=255) + lovasz(ignore_index=7)", "ce(ignore_index=255)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char both[SL_ERR_LEN];
        eval_message(cases[i][0], &pr.b, both, sizeof both);
        eval_message(cases[i][1], &pr.b, alone, sizeof alone);
        CHECK(alone[0] && strcmp(both, alone) == 0, "%s: '%s', alone '%s'", cases[i][0], both,
              alone);
    }
    eval_message("ce(ignore_index=255) + dice(ignore_index=255)", &pr.b, msg, sizeof msg);
    CHECK(strstr(msg, "label 7 at target[0, 3, 1]") != NULL, "the label after the ignored: %s",
          msg);
    pr.y[10] = 255;
    eval_message("ce(ignore_index=255) + 0.5*dice(ignore_index=255)", &pr.b, msg, sizeof msg);
    CHECK(msg[0] == 0, "every label valid or ignored: %s", msg);
    pr.x[50] = NAN;
    eval_message("ce(ignore_index=255) + dice", &pr.b, msg, sizeof msg);
    CHECK(strstr(msg, "input has NaN at [0, 2, 2, 2]") != NULL, "NaN before labels: %s", msg);
}

/* The gradient of one spec into grad (210 floats), fast path; its value into *v. */
static sl_status spec_grad(const char *text, const sl_batch *b, float *grad, double *v,
                           char *msg, size_t len)
{
    sl_spec *s;
    sl_error err;
    msg[0] = 0;
    sl_status st = sl_spec_parse(text, &s, &err);
    CHECK(st == SL_OK, "parse %s", text);
    if (st != SL_OK) return st;
    size_t wsz = sl_spec_workspace_size(s, b);
    void *ws = malloc(wsz + 1);
    sl_output out = {0, grad, NULL, ws, wsz, 0};
    st = sl_spec_eval(s, b, SL_IMPL_FAST, &out, &err);
    if (st != SL_OK) snprintf(msg, len, "%s", err.msg);
    *v = out.loss;
    free(ws);
    sl_spec_free(s);
    return st;
}

/* With a gradient, a term that keeps its scratch in the gradient runs first (sl_spec_eval):
 * with two terms the value, the gradient and the refusals are those of the order as written
 * (float addition commutes), and the gradient is the float sum of the terms' own. */
static void test_spec_order(void)
{
    problem pr;
    make_problem(&pr, SL_INPUT_LOGITS, SL_TARGET_LABELS, 0, 0, 0);
    static const char *const pairs[][2] = {
        {"dice", "lovasz"}, {"0.5*ce", "boundary"}, {"lovasz", "2*hausdorff_dt"},
        {"lovasz", "lovasz_hinge"}}; /* the last: lovasz_hinge adds in ranges */
    char msg[SL_ERR_LEN];
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        char ab[160], ba[160];
        snprintf(ab, sizeof ab, "%s + %s", pairs[i][0], pairs[i][1]);
        snprintf(ba, sizeof ba, "%s + %s", pairs[i][1], pairs[i][0]);
        float ga[210], gb[210], gab[210], gba[210];
        double va, vb, vab, vba;
        int ok = spec_grad(pairs[i][0], &pr.b, ga, &va, msg, sizeof msg) == SL_OK &&
                 spec_grad(pairs[i][1], &pr.b, gb, &vb, msg, sizeof msg) == SL_OK &&
                 spec_grad(ab, &pr.b, gab, &vab, msg, sizeof msg) == SL_OK &&
                 spec_grad(ba, &pr.b, gba, &vba, msg, sizeof msg) == SL_OK;
        CHECK(ok, "%s runs (%s)", ab, msg);
        if (!ok) continue;
        int same = 1;
        for (int k = 0; k < 210; k++) same &= gab[k] == gba[k] && gab[k] == ga[k] + gb[k];
        CHECK(same, "%s: the gradient is the float sum of its terms', in either order", ab);
        CHECK(vab == va + vb && vba == vb + va, "%s: the value is the sum as written", ab);
    }
    /* the refusal of the first term as written, though the second runs first */
    make_problem(&pr, SL_INPUT_LOGITS, SL_TARGET_LABELS, 1, 0, 0);
    pr.y[10] = 7;
    static const char *const cases[][2] = {
        {"ce(ignore_index=255) + lovasz(ignore_index=7)", "ce(ignore_index=255)"},
        {"dice(ignore_index=7) + lovasz(ignore_index=255)", "dice(ignore_index=7)"},
        {"ce(ignore_index=7) + boundary", "ce(ignore_index=7)"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        float g[210];
        double v;
        char alone[SL_ERR_LEN];
        sl_status both = spec_grad(cases[i][0], &pr.b, g, &v, msg, sizeof msg);
        sl_status one = spec_grad(cases[i][1], &pr.b, g, &v, alone, sizeof alone);
        CHECK(both != SL_OK && both == one && strcmp(msg, alone) == 0,
              "%s refuses as its first term: '%s', alone '%s'", cases[i][0], msg, alone);
    }
}

/* ignore_index with a per-class target (the argmax rule): a one-hot target gives what its
 * label map gives, value and gradient, on both paths; the ignored pixels' inputs change
 * nothing and get a zero gradient; every pixel ignored is a mean over nothing (ce: NaN). */
static void test_probs_ignore(void)
{
    for (int li = 0; li < sl_loss_count(); li++) {
        const sl_loss_info *loss = sl_loss_at(li);
        if (!(sl_loss_flags(loss) & SL_LOSS_PROBS_IGNORE)) continue;
        char spec[128];
        snprintf(spec, sizeof spec, "%s(ignore_index=2)", sl_loss_name(loss));
        sl_spec *s;
        sl_error err;
        if (sl_spec_parse(spec, &s, &err) != SL_OK) {
            CHECK(0, "parse %s", spec);
            continue;
        }
        for (int ik = 0; ik < 2; ik++)
            for (int impl = 0; impl < 2; impl++) {
                sl_impl im = impl ? SL_IMPL_REF : SL_IMPL_FAST;
                problem pr;
                make_problem(&pr, (sl_input_kind)ik, SL_TARGET_LABELS, 0, 0, 0);
                float gl[sizeof pr.x / sizeof pr.x[0]], gp[sizeof pr.x / sizeof pr.x[0]];
                double vl, vp, vq;
                sl_status a = run(s, &pr.b, im, &vl, gl, NULL);
                pr.b.target_kind = SL_TARGET_PROBS; /* make_problem's t is y one-hot */
                sl_status b = run(s, &pr.b, im, &vp, gp, NULL);
                CHECK(a == SL_OK && b == SL_OK, "%s: runs", spec);
                CHECK(fabs(vp - vl) <= 1e-6 * (1 + fabs(vl)),
                      "%s: one-hot = label map (value %.9g vs %.9g)", spec, vp, vl);
                double worst = 0;
                for (size_t i = 0; i < sizeof gl / sizeof gl[0]; i++)
                    worst = fmax(worst, fabs((double)gp[i] - (double)gl[i]));
                CHECK(worst <= 1e-6, "%s: one-hot = label map (gradient, off by %g)", spec, worst);
                /* change the input at the ignored pixels */
                int64_t C = 5, P = 21, zero = 1;
                for (int64_t n = 0; n < 2; n++)
                    for (int64_t i = 0; i < P; i++)
                        if (pr.y[n * P + i] == 2)
                            for (int64_t c = 0; c < C; c++) {
                                zero &= gp[(n * C + c) * P + i] == 0.0f;
                                pr.x[(n * C + c) * P + i] *= 0.5f;
                            }
                CHECK(zero, "%s: zero gradient at ignored pixels", spec);
                run(s, &pr.b, im, &vq, NULL, NULL);
                CHECK(vq == vp, "%s: ignored pixels change nothing (%.17g vs %.17g)", spec, vq, vp);
            }
        sl_spec_free(s);
    }
    /* every pixel ignored: a mean over nothing */
    problem pr;
    make_problem(&pr, SL_INPUT_LOGITS, SL_TARGET_PROBS, 0, 0, 0);
    for (int64_t i = 0; i < 2 * 5 * 21; i++)
        pr.t[i] = (i / 21) % 5 == 1 ? 1.0f : 0.0f;
    for (int impl = 0; impl < 2; impl++) {
        sl_spec *s;
        sl_error err;
        sl_spec_parse("ce(ignore_index=1)", &s, &err);
        double v = 0;
        float g[sizeof pr.x / sizeof pr.x[0]];
        sl_status st = run(s, &pr.b, impl ? SL_IMPL_REF : SL_IMPL_FAST, &v, g, NULL);
        CHECK(st == SL_OK && isnan(v), "ce: every pixel ignored is NaN (%d, %g)", (int)st, v);
        int zero = 1;
        for (size_t i = 0; i < sizeof g / sizeof g[0]; i++)
            zero &= g[i] == 0.0f;
        CHECK(zero, "ce: every pixel ignored, zero gradient");
        sl_spec_free(s);
    }
}

static void test_errors(void)
{
    problem pr;
    make_problem(&pr, SL_INPUT_LOGITS, SL_TARGET_LABELS, 0, 0, 0);
    pr.x[17] = NAN;
    CHECK(eval_status("ce", &pr.b) == SL_E_VALUE, "NaN input");
    pr.x[17] = INFINITY;
    CHECK(eval_status("ce", &pr.b) == SL_E_VALUE, "Inf input");
    pr.x[17] = 0.5f;
    pr.y[5] = 5;
    CHECK(eval_status("ce", &pr.b) == SL_E_LABEL, "label out of range");
    pr.y[5] = -1;
    CHECK(eval_status("missing_ce", &pr.b) == SL_E_LABEL, "negative label");
    pr.y[5] = 255;
    CHECK(eval_status("ce(ignore_index=255)", &pr.b) == SL_OK, "ignored label");
    pr.y[5] = 0;
    CHECK(eval_status("ce(weight=[1,2])", &pr.b) == SL_E_SHAPE, "weight length");
    pr.b.input_kind = SL_INPUT_PROBS;
    pr.x[17] = -0.1f;
    CHECK(eval_status("ce", &pr.b) == SL_E_VALUE, "negative probability");
    pr.x[17] = 0.5f;
    /* An empty axis: every loss sizes its workspace without dividing by zero (0 bytes) and
     * refuses the batch with SL_E_SHAPE; so does the benchmark's floor. */
    for (int d = 0; d < 4; d++) {
        problem q;
        make_problem(&q, SL_INPUT_LOGITS, SL_TARGET_LABELS, 0, 0, 0);
        q.b.shape.dim[d] = 0;
        for (int i = 0; i < sl_loss_count(); i++) {
            const sl_loss_info *l = sl_loss_at(i);
            sl_options o;
            sl_options_for(l, &o);
            CHECK(sl_loss_workspace_size(l, &o, &q.b) == 0, "%s: workspace of an empty axis %d",
                  sl_loss_name(l), d);
            CHECK(eval_status(sl_loss_name(l), &q.b) == SL_E_SHAPE, "%s: empty axis %d",
                  sl_loss_name(l), d);
        }
        float g[1];
        double sum;
        sl_error err;
        CHECK(sl_bench_floor(&q.b, g, 1, &sum, &err) == SL_E_SHAPE, "bench floor: empty axis %d",
              d);
    }
    /* A pixel of probabilities summing to 0 is refused by every loss that is not per-channel
     * sigmoid, with the message that names the pixel (the header's "Tensors"). */
    {
        problem q;
        make_problem(&q, SL_INPUT_PROBS, SL_TARGET_LABELS, 0, 0, 0);
        CHECK(eval_status("dice", &q.b) == SL_OK, "dice: probabilities");
        for (int c = 0; c < 5; c++)
            q.x[c * 21 + 4] = 0.0f;
        static const char *refuse[] = {"ce", "lovasz", "dice", "hausdorff_dt"};
        for (int k = 0; k < 4; k++) {
            char msg[SL_ERR_LEN];
            eval_message(refuse[k], &q.b, msg, sizeof msg);
            CHECK(eval_status(refuse[k], &q.b) == SL_E_VALUE && strstr(msg, "sum to 0"),
                  "%s: a pixel summing to 0: '%s'", refuse[k], msg);
        }
        CHECK(eval_status("bce", &q.b) == SL_OK, "bce: a pixel of zeros is scored");
    }
    pr.b.input_kind = SL_INPUT_LOGITS;
    pr.ann[3] = 0;
    pr.b.annotated = pr.ann;
    int has3 = 0;
    for (int i = 0; i < 21; i++)
        has3 |= pr.y[i] == 3;
    if (has3) CHECK(eval_status("marginal_ce", &pr.b) == SL_E_LABEL, "unannotated label");
    pr.ann[3] = 7;
    CHECK(eval_status("ce", &pr.b) == SL_E_VALUE, "annotation matrix not 0/1");
    pr.b.annotated = NULL;
    pr.b.target_kind = SL_TARGET_PROBS;
    CHECK(eval_status("ce(ignore_index=3)", &pr.b) == SL_OK, "ignore_index, per-class");
    CHECK(eval_status("ce(ignore_index=5)", &pr.b) == SL_E_ARG, "ignore_index >= C, per-class");
    CHECK(eval_status("focal(ignore_index=3)", &pr.b) == SL_E_ARG,
          "focal: ignore_index, per-class");
    CHECK(eval_status("dice(sigmoid=true,ignore_index=3)", &pr.b) == SL_E_ARG,
          "dice sigmoid: ignore_index, per-class");
    pr.t[4] = NAN;
    CHECK(eval_status("ce", &pr.b) == SL_E_VALUE, "NaN target");
    pr.b.shape.ndim = 2;
    CHECK(eval_status("ce", &pr.b) == SL_E_SHAPE, "2-d input");

    static const char *const bad[] = {
        "",
        "foo",
        "ce(",
        "ce(foo=1)",
        "ce(reduction=avg)",
        "ce(label_smoothing=2)",
        "ce(weight=[1,-2,1])",
        "ce + ",
        "2*",
        "ce(weight=1)",
        "ce(ignore_index=1.5)",
        "ce(eps=0)",
        "ce)",
        "ce(reduction=mean,reduction=sum)",
        "missing_ce(denominator=x)",
        "ce(label_smoothing=nan)",
        "marginal_ce(weight=[1,1])",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sl_spec *s = NULL;
        sl_error err;
        err.msg[0] = 0;
        sl_status st = sl_spec_parse(bad[i], &s, &err);
        CHECK(st == SL_E_PARSE && !s && strlen(err.msg) > 5, "spec '%s' is rejected (%s)", bad[i],
              err.msg);
    }
    sl_spec *s;
    sl_error err;
    CHECK(sl_spec_parse("foo", &s, &err) == SL_E_PARSE && strstr(err.msg, "missing_ce"),
          "unknown loss lists the valid ones: %s", err.msg);
    CHECK(sl_spec_parse("ce(foo=1)", &s, &err) == SL_E_PARSE && strstr(err.msg, "ignore_index"),
          "unknown key lists the valid ones: %s", err.msg);
    CHECK(sl_spec_parse(" 0.5 * ce ( weight = [ 0.2 , 1 ] , ignore_index = 255 ) + missing_ce ", &s,
                        &err) == SL_OK,
          "spaces are allowed: %s", err.msg);
    if (s) {
        double k;
        const sl_loss_info *l;
        const sl_options *o;
        sl_spec_term(s, 0, &k, &l, &o);
        CHECK(k == 0.5 && strcmp(sl_loss_name(l), "ce") == 0 && o->nweight == 2 &&
                  o->weight[0] == 0.2 && o->ignore_index == 255,
              "parsed term 0");
        sl_spec_free(s);
    }
}

int main(void)
{
    sl_rng_seed(&rng, 1234);
#ifdef TEST_ONLY_LOSS
    /* A loss added by one file and one line is in the list and takes every generic check. */
    CHECK(sl_loss_find(TEST_ONLY_LOSS) != NULL, "%s is registered", TEST_ONLY_LOSS);
    test_registry_battery();
    test_extremes();
    /* the checks of particular losses are not this build's */
    (void)test_anchors, (void)test_binary, (void)test_lovasz_ties, (void)test_errors;
    (void)test_lovasz_value;
    (void)test_shared_scan;
    (void)test_probs_ignore, (void)test_spec_order;
    return check_finish("test_newloss");
#else
    test_anchors();
    test_registry_battery();
    test_binary();
    test_extremes();
    test_lovasz_ties();
    test_lovasz_value();
    test_errors();
    test_shared_scan();
    test_probs_ignore();
    test_spec_order();
#endif
    return check_finish("test_losses");
}
