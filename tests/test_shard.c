/* Sharded evaluation (sl_spec_stats, sl_spec_finish): a batch split into shards of unequal
 * sizes, statistics added up, must give the whole batch's value (the parts' sum) and its
 * gradient (each shard's slice), on the fast path and the reference, for every loss that has
 * statistics; the losses without statistics refuse with one line. */
#include "check.h"
#include "fixture.h"
#include "segloss_data.h"

#include <stdlib.h>
#include <string.h>

#define N 5
#define C 4
#define H 9
#define W 13
#define P (H * W)

static float x[N * C * P], probs[N * C * P], tgt[N * C * P];
static int32_t y[N * P], yi[N * P]; /* yi: some labels are 255 (ignored) */
static float g_whole[N * C * P], g_shard[N * C * P];

static void make_data(void)
{
    sl_rng r;
    sl_rng_seed(&r, 8);
    for (int i = 0; i < N * C * P; i++)
        x[i] = (float)(2.0 * sl_rng_normal(&r));
    for (int i = 0; i < N * P; i++) {
        int64_t v = sl_rng_randint(&r, C + 1);
        yi[i] = v == C ? 255 : (int32_t)v;
        y[i] = v == C ? 1 : (int32_t)v;
    }
    for (int n = 0; n < N; n++)
        for (int i = 0; i < P; i++) {
            double s = 0.0, ts = 0.0;
            for (int c = 0; c < C; c++) {
                probs[(n * C + c) * P + i] = (float)(0.05 + sl_rng_uniform(&r));
                tgt[(n * C + c) * P + i] = (float)sl_rng_uniform(&r);
                s += probs[(n * C + c) * P + i];
                ts += tgt[(n * C + c) * P + i];
            }
            for (int c = 0; c < C; c++) {
                probs[(n * C + c) * P + i] = (float)(probs[(n * C + c) * P + i] / s);
                tgt[(n * C + c) * P + i] = (float)(tgt[(n * C + c) * P + i] / ts);
            }
        }
}

/* Images [n0, n0 + nn) of the batch as a batch of their own. */
static sl_batch slice(const sl_batch *whole, int n0, int nn)
{
    sl_batch b = *whole;
    b.shape.dim[0] = nn;
    b.input += (size_t)n0 * C * P;
    if (b.labels) b.labels += (size_t)n0 * P;
    if (b.target) b.target += (size_t)n0 * C * P;
    return b;
}

static void check_one(const char *text, sl_input_kind ik, sl_target_kind tk, sl_impl impl)
{
    char what[300];
    snprintf(what, sizeof what, "%s (%s, %s, %s)", text, ik == SL_INPUT_LOGITS ? "logits" : "probs",
             tk == SL_TARGET_LABELS ? "labels" : "targets", impl == SL_IMPL_REF ? "ref" : "fast");
    sl_error err;
    sl_spec *s = NULL;
    if (sl_spec_parse(text, &s, &err) != SL_OK) {
        CHECK(0, "%s: %s", what, err.msg);
        return;
    }
    sl_batch whole = test_batch(N, C, H, W, ik == SL_INPUT_LOGITS ? x : probs,
                                tk == SL_TARGET_LABELS ? (strstr(text, "255") ? yi : y) : NULL);
    whole.input_kind = ik;
    whole.target_kind = tk;
    whole.target = tk == SL_TARGET_LABELS ? NULL : tgt;
    size_t wsz = sl_spec_workspace_size(s, &whole);
    void *ws = malloc(wsz ? wsz : 1);
    sl_output out = {0, g_whole, NULL, ws, wsz, 2};
    sl_status st = sl_spec_eval(s, &whole, impl, &out, &err);
    CHECK(st == SL_OK, "%s: eval: %s", what, err.msg);
    double want = out.loss;

    /* shards of 1, 3 and 1 images */
    static const int n0s[3] = {0, 1, 4}, nns[3] = {1, 3, 1};
    size_t ns = 0;
    st = sl_spec_stats_size(s, &whole, &ns, &err);
    CHECK(st == SL_OK && ns >= 1, "%s: stats size: %s", what, err.msg);
    double *part = calloc(3 * ns, sizeof(double)), *sum = calloc(ns, sizeof(double));
    for (int k = 0; k < 3 && st == SL_OK; k++) {
        sl_batch b = slice(&whole, n0s[k], nns[k]);
        sl_output o2 = {0, NULL, NULL, ws, wsz, 1};
        st = sl_spec_stats(s, &b, impl, part + k * ns, &o2, &err);
        CHECK(st == SL_OK, "%s: stats of shard %d: %s", what, k, err.msg);
        for (size_t j = 0; j < ns; j++)
            sum[j] += part[k * ns + j];
    }
    CHECK(sum[0] == 3.0, "%s: shard count %g", what, sum[0]);
    double total = 0.0;
    for (int k = 0; k < 3 && st == SL_OK; k++) {
        sl_batch b = slice(&whole, n0s[k], nns[k]);
        sl_output o2 = {0, g_shard + (size_t)n0s[k] * C * P, NULL, ws, wsz, 2};
        st = sl_spec_finish(s, &b, impl, sum, &o2, &err);
        CHECK(st == SL_OK, "%s: finish of shard %d: %s", what, k, err.msg);
        total += o2.loss;
    }
    if (st == SL_OK) {
        CHECK_CLOSE(total, want, 1e-6, 1e-6, what);
        double worst = 0.0, gmax = 0.0;
        for (int i = 0; i < N * C * P; i++) {
            double d = fabs((double)g_shard[i] - (double)g_whole[i]);
            if (d > worst) worst = d;
            if (fabs(g_whole[i]) > gmax) gmax = fabs(g_whole[i]);
        }
        CHECK(worst <= 1e-6 * (gmax > 1e-3 ? gmax : 1e-3) + 1e-9,
              "%s: gradient differs by %g (largest entry %g)", what, worst, gmax);
    }
    /* a shard alone is the whole evaluation of that shard */
    if (st == SL_OK) {
        sl_batch b = slice(&whole, 1, 3);
        sl_output o1 = {0, g_whole, NULL, ws, wsz, 1}, o2 = {0, g_shard, NULL, ws, wsz, 1};
        sl_status a = sl_spec_eval(s, &b, impl, &o1, &err);
        sl_status c = sl_spec_stats(s, &b, impl, part, &o2, &err);
        if (c == SL_OK) c = sl_spec_finish(s, &b, impl, part, &o2, &err);
        CHECK(a == SL_OK && c == SL_OK && check_close(o1.loss, o2.loss, 1e-9, 1e-9) &&
                  memcmp(g_whole, g_shard, (size_t)3 * C * P * sizeof(float)) == 0,
              "%s: one shard %.10g vs eval %.10g", what, o2.loss, o1.loss);
    }
    free(part);
    free(sum);
    free(ws);
    sl_spec_free(s);
}

static void test_refusals(void)
{
    static const char *const no[] = {"lovasz", "lovasz(reduction=sum)", "boundary", "marginal_dice",
                                     "ce + lovasz"};
    sl_batch b = test_batch(N, C, H, W, x, y);
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        sl_spec *s = NULL;
        sl_error err;
        size_t n = 0;
        err.msg[0] = 0;
        CHECK(sl_spec_parse(no[i], &s, &err) == SL_OK, "%s: %s", no[i], err.msg);
        sl_status st = sl_spec_stats_size(s, &b, &n, &err);
        CHECK(st == SL_E_ARG && strstr(err.msg, "cannot be evaluated in shards"),
              "%s: stats size gave %d (%s)", no[i], st, err.msg);
        double stats[64] = {1};
        sl_output o = {0, NULL, NULL, NULL, 0, 1};
        CHECK(sl_spec_stats(s, &b, SL_IMPL_FAST, stats, &o, &err) == SL_E_ARG, "%s: stats", no[i]);
        sl_spec_free(s);
    }
    /* zero shards in the statistics */
    sl_spec *s = NULL;
    sl_error err;
    sl_spec_parse("ce", &s, &err);
    double stats[2] = {0.0, 10.0};
    size_t wsz = sl_spec_workspace_size(s, &b);
    void *ws = malloc(wsz);
    sl_output o = {0, NULL, NULL, ws, wsz, 1};
    CHECK(sl_spec_finish(s, &b, SL_IMPL_FAST, stats, &o, &err) == SL_E_ARG &&
              strstr(err.msg, "shards"),
          "finish with 0 shards: %s", err.msg);
    free(ws);
    sl_spec_free(s);
}

int main(void)
{
    make_data();
    static const char *const specs[] = {
        "ce",
        "ce(weight=[0.2,1,2,0.5],ignore_index=255)",
        "ce(reduction=sum,ignore_index=255)",
        "focal(ignore_index=255,alpha=[1,2,1,0.5])",
        "missing_ce(ignore_index=255)",
        "missing_ce(denominator=valid)",
        "marginal_ce(ignore_index=255)",
        "bce(ignore_index=255)",
        "sigmoid_focal",
        "dice(batch=true)",
        "dice(batch=true,include_background=false,squared=true,ignore_index=255)",
        "dice(batch=true,jaccard=true,weight=[1,2,3,4])",
        "dice",
        "dice(reduction=sum)",
        "tversky(batch=true,alpha=0.3,beta=0.7)",
        "focal_tversky(batch=true)",
        "focal_tversky",
        "log_cosh_dice",
        "log_cosh_dice(batch=true)",
        "log_cosh_dice(reduction=sum)",
        "generalized_dice(batch=true)",
        "generalized_dice",
        "generalized_dice(batch=true,w_type=simple,include_background=false)",
        "dice(batch=true,ignore_index=255) + 0.5*ce(weight=[0.2,1,2,0.5],ignore_index=255)",
        "lovasz(per_image=true)",
        "lovasz(per_image=true,classes=all,ignore_index=255)",
        "lovasz(per_image=true) + ce",
        "dice(batch=true,sigmoid=true)",
        "tversky(sigmoid=true,alpha=0.3,beta=0.7)",
        "dice(batch=true,input=logits) + ce(input=logits)",
        "ce(ignore_index=2)",
        "dice(batch=true,ignore_index=2) + 0.5*ce(weight=[0.2,1,2,0.5],ignore_index=2)",
        "generalized_dice(batch=true,ignore_index=2)",
    };
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++)
        for (int impl = 0; impl < 2; impl++) {
            int labels_only = strstr(specs[i], "missing_ce") || strstr(specs[i], "marginal_ce") ||
                              strstr(specs[i], "255");
            check_one(specs[i], SL_INPUT_LOGITS, SL_TARGET_LABELS, (sl_impl)impl);
            if (!strstr(specs[i], "bce") && !strstr(specs[i], "sigmoid"))
                check_one(specs[i], SL_INPUT_PROBS, SL_TARGET_LABELS, (sl_impl)impl);
            if (!labels_only) check_one(specs[i], SL_INPUT_LOGITS, SL_TARGET_PROBS, (sl_impl)impl);
        }
    test_refusals();
    return check_finish("test_shard");
}
