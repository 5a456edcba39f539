/* libFuzzer harness: the loss spec parser (sl_spec_parse) on arbitrary text, and every spec it
 * accepts evaluated on a small fixed batch with gradient and map. Invariants: a refusal is one
 * printable line; an accepted spec either fails in one line or gives a finite value (or the NaN
 * of a mean over nothing) and a finite gradient and map. */
#include "../tests/fixture.h"
#include "fuzz.h"
#include "segloss.h"

#include <math.h>
#include <string.h>

#define N 2
#define C 3
#define H 5
#define W 4

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_text(data, size, 4096);
    if (!text) return 0;
    sl_spec *spec = NULL;
    sl_error err;
    sl_status st = sl_spec_parse(text, &spec, &err);
    free(text);
    if (st != SL_OK) {
        fuzz_one_line(err.msg);
        return 0;
    }
    /* a fixed batch: logits with a pattern, labels 0..C-1 and one pixel of 255 */
    static float x[N * C * H * W], grad[N * C * H * W], map[N * C * H * W];
    static int32_t y[N * H * W];
    for (int i = 0; i < N * C * H * W; i++)
        x[i] = (float)((i * 37) % 11) * 0.5f - 2.5f;
    for (int i = 0; i < N * H * W; i++)
        y[i] = (i * 7) % C;
    y[3] = 255;
    sl_batch b = test_batch(N, C, H, W, x, y);
    sl_shape ms;
    int want_map =
        sl_spec_map_shape(spec, &b, &ms, &err) == SL_OK && sl_shape_numel(&ms) <= N * C * H * W;
    size_t wsz = sl_spec_workspace_size(spec, &b);
    void *ws = malloc(wsz ? wsz : 1);
    if (ws) {
        sl_output out = {0.0, grad, want_map ? map : NULL, ws, wsz, 1};
        st = sl_spec_eval(spec, &b, SL_IMPL_FAST, &out, &err);
        if (st != SL_OK) {
            fuzz_one_line(err.msg);
        } else {
            if (isinf(out.loss)) abort();
            for (int i = 0; i < N * C * H * W; i++)
                if (!isfinite(grad[i])) abort();
            for (int64_t i = 0; want_map && i < sl_shape_numel(&ms); i++)
                if (!isfinite(map[i])) abort();
        }
        free(ws);
    }
    sl_spec_free(spec);
    return 0;
}
