/* train_speed - times training steps of the trainer's network (bench/train_peers.py runs it
 * beside the same network in PyTorch).
 *
 *   train_speed [--batch B] [--size S] [--width W] [--classes K] [--threads T] [--steps N]
 *               [--seed S] [--save DIR]
 *
 * One step is forward, `ce` (sl_spec_eval with its gradient), backward and an AdamW step, on a
 * fixed batch of images (a bright square of class 1..K-1 on noise; labels the square). Prints
 * one JSON line: the first three steps' losses (before any timing; --save DIR also writes the
 * initial weights, images and labels as .npy so a peer can recompute them), the loss after the
 * timed steps, steps per second over the timed steps and the process's CPU seconds in them. Exits 1
 * when the loss does not go down. */
#include "segloss_data.h"

#include "../tests/fixture.h"

#include "net.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double clock_s(clockid_t id)
{
    struct timespec t;
    clock_gettime(id, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int save(const char *dir, const char *name, sl_dtype t, const void *data, int nd,
                const int64_t *shape)
{
    return test_save_npy("train_speed", dir, name, t, data, nd, shape);
}

int main(int argc, char **argv)
{
    int B = 16, S = 64, width = 16, K = 4, threads = 1, steps = 10, seed = 1;
    const char *dir = NULL;
    const struct {
        const char *name;
        int *value;
    } ints[] = {{"--batch", &B},   {"--size", &S},          {"--width", &width},
                {"--classes", &K}, {"--threads", &threads}, {"--steps", &steps},
                {"--seed", &seed}};
    const size_t nints = sizeof ints / sizeof ints[0];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            fprintf(stderr, "train_speed: %s needs a value\n", a);
            return 2;
        }
        size_t k = 0;
        while (k < nints && strcmp(a, ints[k].name))
            k++;
        if (k < nints)
            *ints[k].value = atoi(v);
        else if (!strcmp(a, "--save"))
            dir = v;
        else {
            fprintf(stderr, "train_speed: unknown option %s\n", a);
            return 2;
        }
        i++;
    }
    if (B < 1 || S < 4 || S % 4 || K < 2 || steps < 1 || threads < 1) {
        fprintf(stderr, "train_speed: bad sizes\n");
        return 2;
    }
    sl_error e;
    sl_net_config cfg = {1, K, width};
    sl_net *net;
    if (sl_net_create(&cfg, (uint64_t)seed, &net, &e) ||
        sl_net_reserve(net, B, S, S, threads, &e)) {
        fprintf(stderr, "train_speed: %s\n", e.msg);
        return 1;
    }
    size_t HW = (size_t)S * S, nl = (size_t)B * K * HW;
    float *img = malloc((size_t)B * HW * 4), *lg = malloc(nl * 4), *g = malloc(nl * 4);
    int32_t *lab = malloc((size_t)B * HW * 4);
    sl_rng rng;
    sl_rng_seed(&rng, (uint32_t)seed + 1);
    for (int n = 0; n < B; n++) {
        int c = 1 + n % (K - 1), side = S / 4 + (int)sl_rng_randint(&rng, S / 4);
        int r0 = (int)sl_rng_randint(&rng, S - side), c0 = (int)sl_rng_randint(&rng, S - side);
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++) {
                int in = y >= r0 && y < r0 + side && x >= c0 && x < c0 + side;
                size_t i = (size_t)n * HW + (size_t)y * S + x;
                img[i] = (float)(0.3 * sl_rng_normal(&rng) + (in ? 0.5 * c : 0.0));
                lab[i] = in ? c : 0;
            }
    }
    if (dir) {
        int64_t sp[1] = {(int64_t)sl_net_param_count(net)}, si[4] = {B, 1, S, S}, sl[3] = {B, S, S};
        if (save(dir, "params0", SL_DT_F32, sl_net_params(net), 1, sp) ||
            save(dir, "images", SL_DT_F32, img, 4, si) ||
            save(dir, "labels", SL_DT_I32, lab, 3, sl))
            return 1;
    }
    sl_spec *spec;
    if (sl_spec_parse("ce", &spec, &e)) {
        fprintf(stderr, "train_speed: %s\n", e.msg);
        return 1;
    }
    sl_batch b = test_batch(B, K, S, S, lg, lab);
    size_t wsz = sl_spec_workspace_size(spec, &b);
    void *ws = malloc(wsz ? wsz : 1);
    sl_output out = {0};
    out.grad = g;
    out.workspace = ws;
    out.workspace_size = wsz;
    out.threads = threads;
    sl_adamw opt = sl_adamw_default();
    double first[3] = {0, 0, 0}, t0 = 0, c0 = 0, last = 0;
    for (int s = 0; s < 3 + steps; s++) {
        if (s == 3) {
            t0 = clock_s(CLOCK_MONOTONIC);
            c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
        }
        if (sl_net_forward(net, img, B, lg, &e) || sl_spec_eval(spec, &b, SL_IMPL_FAST, &out, &e) ||
            sl_net_backward(net, g, &e)) {
            fprintf(stderr, "train_speed: %s\n", e.msg);
            return 1;
        }
        sl_net_step(net, &opt);
        if (s < 3) first[s] = out.loss;
        last = out.loss;
    }
    double t = clock_s(CLOCK_MONOTONIC) - t0, cpu = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
    printf("{\"batch\": %d, \"size\": %d, \"width\": %d, \"classes\": %d, \"threads\": %d, "
           "\"first_losses\": [%.9g, %.9g, %.9g], \"last_loss\": %.9g, \"steps\": %d, "
           "\"seconds\": %.6f, \"cpu_seconds\": %.6f, \"steps_per_second\": %.6f}\n",
           B, S, width, K, threads, first[0], first[1], first[2], last, steps, t, cpu, steps / t);
    int ok = last < first[0];
    if (!ok) fprintf(stderr, "train_speed: the loss went from %g to %g\n", first[0], last);
    sl_spec_free(spec);
    sl_net_free(net);
    free(img), free(lg), free(g), free(lab), free(ws);
    return ok ? 0 : 1;
}
