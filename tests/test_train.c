/* Tests of the trainer's network (train/): finite-difference checks of every layer's backward
 * and of the whole network's, AdamW against the textbook update, the model file (round trip,
 * truncated, corrupt, wrong version), same bits for a seed on any thread count, errors.
 *
 * `test_train --dump DIR` writes a small network's weights, inputs, logits, gradients and the
 * weights after two AdamW steps as .npy files; tests/check_train.py compares them with PyTorch. */
#include "segloss_data.h"

#include "check.h"
#include "fixture.h"
#include "layers.h"
#include "net.h"
#include "net_internal.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static sl_rng rng;
static double fd_h = 1e-2;

static void fill(float *a, size_t n, double sd)
{
    for (size_t i = 0; i < n; i++)
        a[i] = (float)(sd * sl_rng_normal(&rng));
}

/* Images img [B, 1, H, W] and a loss weight r of nl values, N(0, 1); the network's biases
 * N(0, 0.1), nonzero so that every bias matters. */
static void random_case(sl_net *net, float *img, size_t nimg, float *r, size_t nl)
{
    fill(img, nimg, 1.0);
    fill(r, nl, 1.0);
    float *p = sl_net_params(net);
    for (int l = 0; l < SL__NLAYER; l++)
        for (size_t i = net->layer[l].b; i < net->layer[l].b + net->layer[l].co; i++)
            p[i] = (float)(0.1 * sl_rng_normal(&rng));
}

static double dot(const float *y, const float *r, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += (double)y[i] * r[i];
    return s;
}

/* ---- layer checks ---------------------------------------------------------------------- */

enum { K_CONV3, K_CONV3_RELU, K_CONV1, K_POOL, K_UP };

typedef struct {
    int kind, ci, co, H, W; /* for K_UP, H x W is the input size */
    float *x, *w, *b, *y, *col;
    uint8_t *arg;
    size_t nx, nw, nb, ny;
} lcase;

static void lforward(lcase *c)
{
    switch (c->kind) {
    case K_CONV3:
    case K_CONV3_RELU:
        sl__conv3x3_forward(c->x, c->ci, c->H, c->W, c->w, c->b, c->co, c->kind == K_CONV3_RELU,
                            c->y, c->col);
        break;
    case K_CONV1: sl__conv1x1_forward(c->x, c->ci, c->H * c->W, c->w, c->b, c->co, c->y); break;
    case K_POOL: sl__maxpool2_forward(c->x, c->ci, c->H, c->W, c->y, c->arg); break;
    case K_UP: sl__upconv2_forward(c->x, c->ci, c->H, c->W, c->w, c->b, c->co, c->y, c->col);
    }
}

/* The ReLU's zero set or the pool's winners, to skip a difference that crosses a kink. */
static void lpattern(const lcase *c, unsigned char *pat)
{
    for (size_t i = 0; i < c->ny; i++)
        pat[i] = c->kind == K_POOL ? c->arg[i] : (unsigned char)(c->y[i] == 0.0f);
}

static void check_layer(const char *name, int kind, int ci, int co, int H, int W)
{
    lcase c = {kind, ci, co, H, W, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    size_t HW = (size_t)H * W;
    c.nx = (size_t)ci * HW;
    c.nw = kind == K_POOL ? 0 : (size_t)ci * co * (kind == K_CONV1 ? 1 : kind == K_UP ? 4 : 9);
    c.nb = kind == K_POOL ? 0 : (size_t)co;
    c.ny = kind == K_POOL ? (size_t)ci * HW / 4 : kind == K_UP ? (size_t)co * HW * 4 : co * HW;
    c.x = malloc(c.nx * 4);
    c.w = malloc((c.nw + 1) * 4);
    c.b = malloc((c.nb + 1) * 4);
    c.y = malloc(c.ny * 4);
    c.col = malloc((sl__conv3x3_scratch(ci, co, HW) + (size_t)co * 4 * HW) * 4);
    c.arg = malloc(c.ny);
    float *r = malloc(c.ny * 4), *dy = malloc(c.ny * 4), *dx = malloc(c.nx * 4);
    float *dw = malloc((c.nw + 1) * 4), *db = malloc((c.nb + 1) * 4);
    unsigned char *p0 = malloc(c.ny), *p1 = malloc(c.ny);
    fill(c.x, c.nx, 1.0);
    fill(c.w, c.nw, 0.5);
    fill(c.b, c.nb, 0.5);
    fill(r, c.ny, 1.0);

    lforward(&c);
    lpattern(&c, p0);
    memcpy(dy, r, c.ny * 4);
    switch (kind) {
    case K_CONV3:
    case K_CONV3_RELU:
        sl__conv3x3_backward(c.x, ci, H, W, c.w, co, c.y, kind == K_CONV3_RELU, dy, dw, db, dx,
                             c.col);
        break;
    case K_CONV1: sl__conv1x1_backward(c.x, ci, (int)HW, c.w, co, dy, dw, db, dx); break;
    case K_POOL:
        for (size_t i = 0; i < c.nx; i++)
            dx[i] = 0.25f; /* it adds: check that too */
        sl__maxpool2_backward(dy, c.arg, ci, H, W, dx);
        for (size_t i = 0; i < c.nx; i++)
            dx[i] -= 0.25f;
        break;
    case K_UP: sl__upconv2_backward(c.x, ci, H, W, c.w, co, dy, dw, db, dx, c.col);
    }

    float *vec[3] = {c.x, c.w, c.b}, *grad[3] = {dx, dw, db};
    size_t len[3] = {c.nx, c.nw, c.nb};
    const char *what[3] = {"input", "weight", "bias"};
    for (int v = 0; v < 3; v++) {
        int bad = 0, skipped = 0, checked = 0;
        double worst = 0.0;
        for (size_t i = 0; i < len[v]; i++) {
            float keep = vec[v][i];
            float hi = keep + 1e-2f, lo = keep - 1e-2f;
            vec[v][i] = hi;
            lforward(&c);
            double lp = dot(c.y, r, c.ny);
            lpattern(&c, p1);
            int same = !memcmp(p0, p1, c.ny);
            vec[v][i] = lo;
            lforward(&c);
            double lm = dot(c.y, r, c.ny);
            lpattern(&c, p1);
            same = same && !memcmp(p0, p1, c.ny);
            vec[v][i] = keep;
            if (!same) {
                skipped++;
                continue;
            }
            checked++;
            double fd = (lp - lm) / ((double)hi - lo);
            double e = fabs(fd - grad[v][i]) / (2e-3 + 2e-3 * fabs(fd));
            if (e > worst) worst = e;
            if (e > 1.0) bad++;
        }
        if (len[v] == 0) continue;
        CHECK(bad == 0, "%s: %s gradient: %d of %d entries off (worst %.3g of tolerance)", name,
              what[v], bad, checked, worst);
        CHECK(skipped <= (int)len[v] / 4 + 1, "%s: %s: %d of %zu differences crossed a kink", name,
              what[v], skipped, len[v]);
    }
    lforward(&c);
    free(c.x), free(c.w), free(c.b), free(c.y), free(c.col), free(c.arg);
    free(r), free(dy), free(dx), free(dw), free(db), free(p0), free(p1);
}

/* ---- whole network --------------------------------------------------------------------- */

/* L = sum(logits * r): its gradient with respect to the logits is r. */
static double net_loss(sl_net *net, const float *img, int B, float *logits, const float *r,
                       size_t nl)
{
    sl_error e;
    if (sl_net_forward(net, img, B, logits, &e)) return NAN;
    return dot(logits, r, nl);
}

/* Which ReLU outputs are 0 and which pool inputs won, over the batch. */
static void pattern(const sl_net *net, unsigned char *pat, size_t na, size_t ng)
{
    for (size_t i = 0; i < na; i++)
        pat[i] = net->act[i] == 0.0f;
    memcpy(pat + na, net->arg, ng);
}

static void check_network(void)
{
    sl_net_config cfg = {1, 3, 2};
    sl_net *net;
    sl_error e;
    int B = 3, H = 8, W = 12;
    CHECK(sl_net_create(&cfg, 11, &net, &e) == SL_OK, "create: %s", e.msg);
    CHECK(sl_net_reserve(net, B, H, W, 2, &e) == SL_OK, "reserve: %s", e.msg);
    size_t P = sl_net_param_count(net), nl = (size_t)B * 3 * H * W;
    float *img = malloc((size_t)B * H * W * 4), *logits = malloc(nl * 4), *r = malloc(nl * 4);
    float *g = malloc(P * 4), *d = malloc(P * 4), *p0 = malloc(P * 4);
    random_case(net, img, (size_t)B * H * W, r, nl);
    float *p = sl_net_params(net);
    memcpy(p0, p, P * 4);
    net_loss(net, img, B, logits, r, nl);
    CHECK(sl_net_backward(net, r, &e) == SL_OK, "backward: %s", e.msg);
    memcpy(g, sl_net_grads(net), P * 4);
    /* Per layer, weights and biases apart: the change of L along a random direction in them
     * against the gradient's dot product with the change actually made (after float rounding).
     * While no ReLU changes sides and no pool changes its winner, L is linear in one layer's
     * parameters, so the difference is exact up to rounding; a step that changes the pattern
     * is halved. */
    static const char *names[SL__NLAYER] = {"e1a", "e1b", "e2a", "e2b", "ba",  "bb",  "up2",
                                            "d2a", "d2b", "up1", "d1a", "d1b", "head"};
    size_t na = (size_t)B * net->act_off[SL__A_N], ng = (size_t)B * net->arg_size;
    unsigned char *pat0 = malloc(na + ng), *pat1 = malloc(na + ng);
    pattern(net, pat0, na, ng);
    /* the rounding noise of L: float logits, relative error of a few ulps each */
    double scale = 0;
    for (size_t i = 0; i < nl; i++)
        scale += fabs((double)logits[i] * r[i]);
    for (int l = 0; l < SL__NLAYER; l++) {
        for (int part = 0; part < 2; part++) {
            size_t a = part ? net->layer[l].b : net->layer[l].w;
            size_t z = part ? net->layer[l].b + net->layer[l].co : net->layer[l].b;
            for (size_t i = a; i < z; i++)
                d[i] = (float)sl_rng_normal(&rng);
            double h = fd_h, got = 0, want = 0;
            int tries = 0, same = 0;
            for (; tries < 20 && !same; tries++, h *= 0.5) {
                want = 0;
                for (size_t i = a; i < z; i++)
                    p[i] = p0[i] + (float)h * d[i];
                double lp = net_loss(net, img, B, logits, r, nl);
                pattern(net, pat1, na, ng);
                same = !memcmp(pat0, pat1, na + ng);
                for (size_t i = a; i < z; i++) {
                    float up = p[i];
                    p[i] = p0[i] - (float)h * d[i];
                    want += (double)g[i] * ((double)up - p[i]);
                }
                double lm = net_loss(net, img, B, logits, r, nl);
                pattern(net, pat1, na, ng);
                same = same && !memcmp(pat0, pat1, na + ng);
                got = lp - lm;
                memcpy(p, p0, P * 4);
            }
            CHECK(same, "network %s: no step without a kink", names[l]);
            CHECK(check_close(got, want, 1e-6 * scale, 1e-3),
                  "network %s %s: dL %.8g along a direction, gradient says %.8g (step %g)",
                  names[l], part ? "bias" : "weight", got, want, 2 * h);
        }
    }
    free(pat0), free(pat1);
    memcpy(p, p0, P * 4);
    /* The gradient is overwritten, not accumulated: a second backward gives the same. */
    net_loss(net, img, B, logits, r, nl);
    sl_net_backward(net, r, &e);
    CHECK(!memcmp(g, sl_net_grads(net), P * 4), "second backward differs from the first");
    free(img), free(logits), free(r), free(g), free(d), free(p0);
    sl_net_free(net);
}

/* ---- AdamW ----------------------------------------------------------------------------- */

static void check_adamw(void)
{
    sl_net_config cfg = {1, 2, 1};
    sl_net *net;
    sl_error e;
    CHECK(sl_net_create(&cfg, 3, &net, &e) == SL_OK, "create: %s", e.msg);
    size_t P = sl_net_param_count(net);
    double *p = malloc(P * 8), *m = calloc(P, 8), *v = calloc(P, 8);
    for (size_t i = 0; i < P; i++)
        p[i] = net->param[i];
    sl_adamw o = sl_adamw_default();
    CHECK(o.lr == 1e-3f && o.beta1 == 0.9f && o.beta2 == 0.999f && o.eps == 1e-8f &&
              o.weight_decay == 1e-2f,
          "AdamW defaults are not PyTorch's");
    o.lr = 0.01f;
    o.weight_decay = 0.1f;
    int bad = 0;
    for (int t = 1; t <= 4; t++) {
        for (size_t i = 0; i < P; i++)
            net->grad[i] = (float)sl_rng_normal(&rng) * (float)t;
        net->grad[0] = 0.0f; /* a zero gradient: only the decay and the momentum move it */
        sl_net_step(net, &o);
        for (size_t i = 0; i < P; i++) {
            double gi = net->grad[i];
            p[i] -= (double)o.lr * o.weight_decay * p[i];
            m[i] = o.beta1 * m[i] + (1 - (double)o.beta1) * gi;
            v[i] = o.beta2 * v[i] + (1 - (double)o.beta2) * gi * gi;
            double mh = m[i] / (1 - pow(o.beta1, t)), vh = v[i] / (1 - pow(o.beta2, t));
            p[i] -= (double)o.lr * mh / (sqrt(vh) + o.eps);
            if (!check_close(net->param[i], p[i], 1e-7, 1e-5)) bad++;
        }
    }
    CHECK(bad == 0, "AdamW: %d parameters off the textbook update", bad);
    CHECK(sl_net_steps(net) == 4, "step count %lld", (long long)sl_net_steps(net));
    free(p), free(m), free(v);
    sl_net_free(net);
}

/* ---- reproducibility ------------------------------------------------------------------- */

static void train_steps(sl_net *net, const float *img, const float *r, int B, int steps,
                        float *logits)
{
    sl_error e;
    sl_adamw o = sl_adamw_default();
    for (int s = 0; s < steps; s++) {
        sl_net_forward(net, img, B, logits, &e);
        sl_net_backward(net, r, &e);
        sl_net_step(net, &o);
    }
    sl_net_forward(net, img, B, logits, &e);
}

static void check_threads(void)
{
    sl_net_config cfg = {1, 4, 4};
    int B = 5, H = 16, W = 8;
    size_t nl = (size_t)B * 4 * H * W;
    float *img = malloc((size_t)B * H * W * 4), *r = malloc(nl * 4);
    fill(img, (size_t)B * H * W, 1.0);
    fill(r, nl, 1e-2);
    float *ref = malloc(nl * 4), *out = malloc(nl * 4), *pref = NULL;
    int threads[4] = {1, 2, 3, 8};
    for (int k = 0; k < 4; k++) {
        sl_net *net;
        sl_error e;
        sl_net_create(&cfg, 42, &net, &e);
        CHECK(sl_net_reserve(net, B, H, W, threads[k], &e) == SL_OK, "reserve: %s", e.msg);
        train_steps(net, img, r, B, 3, k ? out : ref);
        size_t P = sl_net_param_count(net);
        if (!k) {
            pref = malloc(P * 4);
            memcpy(pref, sl_net_params(net), P * 4);
        } else {
            CHECK(!memcmp(ref, out, nl * 4), "logits on %d threads differ from 1 thread",
                  threads[k]);
            CHECK(!memcmp(pref, sl_net_params(net), P * 4),
                  "weights after 3 steps on %d threads differ from 1 thread", threads[k]);
        }
        sl_net_free(net);
    }
    /* two networks trained at once from two threads give what one gave alone */
    {
        sl_net *two[2];
        float *outs[2] = {malloc(nl * 4), malloc(nl * 4)};
        sl_error e2;
        for (int k = 0; k < 2; k++) {
            sl_net_create(&cfg, 42, &two[k], &e2);
            sl_net_reserve(two[k], B, H, W, 2, &e2);
        }
#pragma omp parallel for num_threads(2)
        for (int k = 0; k < 2; k++)
            train_steps(two[k], img, r, B, 3, outs[k]);
        for (int k = 0; k < 2; k++) {
            CHECK(!memcmp(ref, outs[k], nl * 4), "network %d trained beside another differs", k);
            CHECK(!memcmp(pref, sl_net_params(two[k]), sl_net_param_count(two[k]) * 4),
                  "weights of network %d trained beside another differ", k);
            sl_net_free(two[k]);
            free(outs[k]);
        }
    }
    /* another seed gives other weights */
    sl_net *a, *b;
    sl_error e;
    sl_net_create(&cfg, 42, &a, &e);
    sl_net_create(&cfg, 43, &b, &e);
    CHECK(memcmp(sl_net_params(a), sl_net_params(b), sl_net_param_count(a) * 4) != 0,
          "seeds 42 and 43 give the same weights");
    /* He initialisation: the first conv's weights have standard deviation sqrt(2 / 9) */
    sl_net_config big = {1, 4, 16};
    sl_net *h;
    sl_net_create(&big, 1, &h, &e);
    double s2 = 0;
    size_t n = h->layer[SL__E1B].b - h->layer[SL__E1B].w;
    for (size_t i = h->layer[SL__E1B].w; i < h->layer[SL__E1B].b; i++)
        s2 += (double)h->param[i] * h->param[i];
    CHECK_CLOSE(sqrt(s2 / n), sqrt(2.0 / (16 * 9)), 0, 0.05, "He std of e1's second conv");
    sl_net_free(h);
    sl_net_free(a);
    sl_net_free(b);
    free(img), free(r), free(ref), free(out), free(pref);
}

/* A few AdamW steps on a fixed batch lower L = 0.5 sum (logits - target)^2. */
static void check_learns(void)
{
    sl_net_config cfg = {1, 2, 4};
    int B = 4, H = 8, W = 8;
    size_t nl = (size_t)B * 2 * H * W;
    float *img = malloc((size_t)B * H * W * 4), *t = malloc(nl * 4), *lg = malloc(nl * 4);
    float *g = malloc(nl * 4);
    fill(img, (size_t)B * H * W, 1.0);
    for (size_t i = 0; i < nl; i++)
        t[i] = img[i % ((size_t)H * W) + (i / (2 * H * W)) * H * W];
    sl_net *net;
    sl_error e;
    sl_net_create(&cfg, 5, &net, &e);
    sl_net_reserve(net, B, H, W, 2, &e);
    sl_adamw o = sl_adamw_default();
    o.lr = 1e-2f;
    double first = 0, last = 0;
    for (int s = 0; s < 60; s++) {
        sl_net_forward(net, img, B, lg, &e);
        double L = 0;
        for (size_t i = 0; i < nl; i++) {
            g[i] = lg[i] - t[i];
            L += 0.5 * (double)g[i] * g[i];
        }
        if (!s) first = L;
        last = L;
        sl_net_backward(net, g, &e);
        sl_net_step(net, &o);
    }
    CHECK(last < 0.5 * first, "60 AdamW steps took the loss from %g only to %g", first, last);
    sl_net_free(net);
    free(img), free(t), free(lg), free(g);
}

/* ---- model file ------------------------------------------------------------------------ */

static unsigned char *slurp(const char *path, size_t *len)
{
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n + 1);
    *len = fread(b, 1, (size_t)n, f);
    fclose(f);
    return b;
}

static sl_status read_mem(const unsigned char *b, size_t len, sl_net **out, sl_error *e)
{
    FILE *f = fmemopen((void *)b, len ? len : 1, "rb");
    if (!len) fgetc(f); /* an empty stream */
    sl_status s = sl_net_read(f, out, e);
    fclose(f);
    return s;
}

/* A model written to path with sl_net_write (segloss train writes it the same way, into a
 * temporary file of its all-or-nothing outputs, cli/out.h). */
static sl_status save_model(const sl_net *net, const char *path, sl_error *e)
{
    FILE *f = fopen(path, "wb");
    if (!f) {
        snprintf(e->msg, sizeof e->msg, "cannot open %.400s", path);
        return SL_E_IO;
    }
    sl_status s = sl_net_write(net, f, e);
    if (fclose(f) != 0 && s == SL_OK) {
        snprintf(e->msg, sizeof e->msg, "cannot close %.400s", path);
        s = SL_E_IO;
    }
    return s;
}

static void check_model_file(const char *dir)
{
    char path[512];
    snprintf(path, sizeof path, "%s/m.slm", dir);
    sl_net_config cfg = {1, 4, 3};
    sl_net *net, *back = NULL;
    sl_error e;
    sl_net_create(&cfg, 9, &net, &e);
    CHECK(sl_net_set_meta(net, "loss=dice + ce; seed=9", &e) == SL_OK, "meta: %s", e.msg);
    net->t = 123;
    CHECK(save_model(net, path, &e) == SL_OK, "save: %s", e.msg);
    CHECK(sl_net_load(path, &back, &e) == SL_OK, "load: %s", e.msg);
    if (back) {
        sl_net_config c2 = sl_net_get_config(back);
        CHECK(c2.in_channels == 1 && c2.classes == 4 && c2.width == 3, "config after load");
        CHECK(sl_net_param_count(back) == sl_net_param_count(net), "count after load");
        CHECK(!memcmp(sl_net_params(back), sl_net_params(net), sl_net_param_count(net) * 4),
              "weights not bit-exact after load");
        CHECK(!strcmp(sl_net_meta(back), "loss=dice + ce; seed=9"), "meta after load: %s",
              sl_net_meta(back));
        CHECK(sl_net_steps(back) == 123, "steps after load");
        sl_net_free(back);
    }
    size_t len = 0;
    unsigned char *b = slurp(path, &len);
    CHECK(len == 44 + 22 + 4 * sl_net_param_count(net) + 4, "file length %zu", len);
    /* every truncation is refused */
    int bad = 0;
    for (size_t n = 0; n < len; n += (n < 80 ? 1 : 97)) {
        back = NULL;
        sl_status s = read_mem(b, n, &back, &e);
        if (s != SL_E_FORMAT || back || !strstr(e.msg, "model file")) bad++;
    }
    CHECK(bad == 0, "%d truncated files not refused as such", bad);
    /* every flipped byte is refused */
    bad = 0;
    for (size_t i = 0; i < len; i += (i < 80 ? 1 : 13)) {
        b[i] ^= 0x20;
        back = NULL;
        if (read_mem(b, len, &back, &e) != SL_E_FORMAT || back) bad++;
        b[i] ^= 0x20;
    }
    CHECK(bad == 0, "%d corrupted files not refused", bad);
    CHECK(read_mem(b, len, &back, &e) == SL_OK, "intact copy: %s", e.msg);
    sl_net_free(back);
    /* one line for each kind of trouble */
    b[8] = 2;
    CHECK(read_mem(b, len, &back, &e) == SL_E_FORMAT && strstr(e.msg, "version 2"), "version 2: %s",
          e.msg);
    b[8] = 1;
    b[0] = 'X';
    CHECK(read_mem(b, len, &back, &e) == SL_E_FORMAT && strstr(e.msg, "magic"), "magic: %s", e.msg);
    b[0] = 'S';
    /* a header claiming a huge width with a short file: refused, nothing huge allocated */
    b[20] = 0;
    b[21] = 1; /* width 256 */
    CHECK(read_mem(b, len, &back, &e) == SL_E_FORMAT, "width 256 in a small file: %s", e.msg);
    b[20] = 3;
    b[21] = 0;
    unsigned char *longer = malloc(len + 1);
    memcpy(longer, b, len);
    longer[len] = 0;
    CHECK(read_mem(longer, len + 1, &back, &e) == SL_E_FORMAT && strstr(e.msg, "after"),
          "trailing byte: %s", e.msg);
    free(longer);
    snprintf(path, sizeof path, "%s/absent.slm", dir);
    CHECK(sl_net_load(path, &back, &e) == SL_E_IO && strstr(e.msg, "absent.slm"), "absent: %s",
          e.msg);
    /* a write that fails (a full disk) is reported */
    FILE *full = fopen("/dev/full", "wb");
    if (full) {
        CHECK(sl_net_write(net, full, &e) == SL_E_IO && strstr(e.msg, "write failed"),
              "write to a full disk: %s", e.msg);
        fclose(full);
    }
    free(b);
    sl_net_free(net);
}

/* ---- errors ---------------------------------------------------------------------------- */

static void check_errors(void)
{
    sl_net *net = NULL;
    sl_error e;
    sl_net_config bad = {1, 1, 16};
    CHECK(sl_net_create(&bad, 1, &net, &e) == SL_E_ARG && !net, "1 class accepted");
    bad.classes = 4;
    bad.width = 0;
    CHECK(sl_net_create(&bad, 1, &net, &e) == SL_E_ARG, "width 0 accepted");
    sl_net_config def = {1, 4, 16};
    CHECK(sl_net_create(&def, 1, &net, &e) == SL_OK && sl_net_param_count(net) == 116804,
          "the default network has %zu parameters, docs/train.md says 116804",
          net ? sl_net_param_count(net) : 0);
    sl_net_free(net);
    sl_net_config cfg = {1, 4, 2};
    sl_net_create(&cfg, 1, &net, &e);
    float img[16 * 16 * 2], lg[4 * 16 * 16 * 2];
    memset(img, 0, sizeof img);
    CHECK(sl_net_forward(net, img, 1, lg, &e) == SL_E_ARG, "forward before reserve");
    CHECK(sl_net_reserve(net, 2, 18, 16, 1, &e) == SL_E_SHAPE, "height 18 accepted");
    CHECK(sl_net_reserve(net, 0, 16, 16, 1, &e) == SL_E_ARG, "batch 0 accepted");
    CHECK(sl_net_reserve(net, 2, 16, 16, 1, &e) == SL_OK, "reserve: %s", e.msg);
    CHECK(sl_net_backward(net, lg, &e) == SL_E_ARG, "backward before forward");
    CHECK(sl_net_forward(net, img, 3, lg, &e) == SL_E_SHAPE, "batch 3 of 2 accepted");
    CHECK(sl_net_forward(net, img, 2, lg, &e) == SL_OK, "forward: %s", e.msg);
    /* a zero image through zero biases gives zero logits */
    int zero = 1;
    for (size_t i = 0; i < sizeof lg / 4; i++)
        zero &= lg[i] == 0.0f;
    CHECK(zero, "zero image, zero biases: nonzero logits");
    CHECK(sl_net_reserve(net, 1, 8, 8, 0, &e) == SL_OK, "reserve again: %s", e.msg);
    CHECK(sl_net_backward(net, lg, &e) == SL_E_ARG, "backward after a new reserve");
    char big[SL_NET_META_MAX + 2];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = 0;
    CHECK(sl_net_set_meta(net, big, &e) == SL_E_ARG, "oversized meta accepted");
    sl_net_free(net);
}

/* ---- dump for tests/check_train.py ----------------------------------------------------- */

static int save_f32(const char *dir, const char *name, const float *data, int nd,
                    const int64_t *shape)
{
    return test_save_npy("test_train", dir, name, SL_DT_F32, data, nd, shape);
}

static int dump(const char *dir)
{
    sl_net_config cfg = {1, 4, 4};
    int B = 3, H = 16, W = 12;
    sl_net *net;
    sl_error e;
    if (sl_net_create(&cfg, 2024, &net, &e) || sl_net_reserve(net, B, H, W, 2, &e)) {
        fprintf(stderr, "%s\n", e.msg);
        return 1;
    }
    size_t P = sl_net_param_count(net), nl = (size_t)B * 4 * H * W;
    float *img = malloc((size_t)B * H * W * 4), *r = malloc(nl * 4), *lg = malloc(nl * 4);
    random_case(net, img, (size_t)B * H * W, r, nl);
    float *p = sl_net_params(net);
    int64_t sp[1] = {(int64_t)P}, si[4] = {B, 1, H, W}, sl[4] = {B, 4, H, W};
    int bad = save_f32(dir, "params0", p, 1, sp) + save_f32(dir, "images", img, 4, si) +
              save_f32(dir, "dlogits", r, 4, sl);
    sl_adamw o = sl_adamw_default();
    o.lr = 1e-2f;
    o.weight_decay = 0.05f;
    for (int s = 1; s <= 2; s++) {
        char name[32];
        sl_net_forward(net, img, B, lg, &e);
        sl_net_backward(net, r, &e);
        snprintf(name, sizeof name, "logits%d", s);
        bad += save_f32(dir, name, lg, 4, sl);
        snprintf(name, sizeof name, "grads%d", s);
        bad += save_f32(dir, name, sl_net_grads(net), 1, sp);
        sl_net_step(net, &o);
        snprintf(name, sizeof name, "params%d", s);
        bad += save_f32(dir, name, sl_net_params(net), 1, sp);
    }
    free(img), free(r), free(lg);
    sl_net_free(net);
    return bad != 0;
}

int main(int argc, char **argv)
{
    sl_rng_seed(&rng, 1234);
    if (getenv("FDH")) fd_h = atof(getenv("FDH"));
    if (argc == 3 && !strcmp(argv[1], "--dump")) return dump(argv[2]);
    char dir[] = "/tmp/test_train.XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    check_layer("conv3x3", K_CONV3, 3, 4, 5, 6);
    check_layer("conv3x3+relu", K_CONV3_RELU, 3, 4, 6, 5);
    check_layer("conv3x3 1 in", K_CONV3_RELU, 1, 2, 4, 4);
    /* images larger than one im2col tile (layers.c: 2^16 / (9 max(ci, co)) pixels, a multiple
     * of 16), so that tiles start in the middle of a row */
    check_layer("conv3x3 tiled, many out", K_CONV3, 3, 64, 12, 13);
    check_layer("conv3x3 tiled, many in", K_CONV3, 40, 2, 14, 15);
    check_layer("conv1x1", K_CONV1, 3, 5, 2, 7);
    check_layer("maxpool2", K_POOL, 3, 0, 6, 8);
    check_layer("upconv2", K_UP, 3, 2, 3, 4);
    check_network();
    check_adamw();
    check_threads();
    check_learns();
    check_model_file(dir);
    check_errors();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return check_finish("test_train");
}
