#!/usr/bin/python3
"""A loss is one file and one line: the CLI of the test build that adds tests/newloss/'s
`example` (its file and its line in tests/newloss/losses.def, nothing else) lists it with its
keys, parses it in a spec and runs it; the value is checked against numpy from the definition
(the Brier score sum_c w_c (p_c - t_c)^2 per pixel, p the softmax, t the one-hot label, the
mean over pixels not ignored). The generic checks of test_losses run on it in
build/tests/test_newloss. The binary is $BUILD/newloss/segloss (default build/newloss/segloss).
Ends with `check_newloss: N passed, M failed`; exits 1 when M > 0.
"""
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import checklib  # noqa: E402
from checklib import check, summary  # noqa: E402

PROG = os.path.join(os.environ.get("BUILD", "build"), "newloss", "segloss")


def main():
    rc, out, err = checklib.run_program([PROG, "list"])
    check(rc == 0, "list runs: %s" % err)
    entry = out.split("\n\nexample\n")
    check(len(entry) == 2, "list shows the example loss last")
    body = entry[-1]
    for key in ("weight=none", "ignore_index=-100", "eps=1e-7", "reduction=mean"):
        check(key in body, "example lists %s" % key)
    rc, out, err = checklib.run_program([checklib.SEGLOSS, "list"])
    check(rc == 0 and "\nexample\n" not in out, "the library's own build does not list it")

    rng = np.random.RandomState(10)
    x = rng.normal(0, 2, (2, 3, 5, 4)).astype(np.float32)
    y = rng.randint(0, 3, (2, 5, 4)).astype(np.int32)
    y[0, 0, :] = 255
    w = np.array([0.5, 1.0, 2.0])
    with checklib.temp_dir("newloss") as tmp:
        np.save(os.path.join(tmp, "x.npy"), x)
        np.save(os.path.join(tmp, "y.npy"), y)
        spec = "2*example(weight=[0.5,1,2],ignore_index=255)"
        rc, out, err = checklib.run_program([PROG, "loss", spec, "--input",
                                             os.path.join(tmp, "x.npy"), "--target",
                                             os.path.join(tmp, "y.npy"), "--json"])
        check(rc == 0, "%s runs: %s" % (spec, err))
        got = json.loads(out)["loss"] if rc == 0 else float("nan")
    z = x.astype(np.float64)
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    keep = y != 255
    t = np.stack([(y == c) for c in range(3)], axis=1).astype(np.float64)
    per = (w[None, :, None, None] * (p - t) ** 2).sum(axis=1)
    want = 2 * per[keep].mean()
    check(abs(got - want) <= 1e-6 * abs(want) + 1e-9, "value %r, numpy %r" % (got, want))
    return summary("check_newloss")


if __name__ == "__main__":
    sys.exit(main())
