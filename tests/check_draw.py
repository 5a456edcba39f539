"""Cross-check `segloss draw` and `segloss masks` against scikit-image and numpy.

Run with /usr/bin/python3 (numpy and scikit-image 0.19). The CLI is $SEGLOSS (default
build/segloss). Prints each failure and ends with `check_draw: N passed, M failed`.

The reference is skimage's own code, run with correctly rounded sin and cos (computed to 80
digits by tests/check_trig.py's exact_sincos), which is what segloss uses on every machine:
every picture must be pixel-identical to it. skimage as numpy runs it on this machine takes sin
and cos from numpy (SVML on CPUs with AVX-512, libm elsewhere); the pictures may differ from
that one only where numpy's sin or cos of the rotation is not correctly rounded - which is
checked too, and the count of such cases printed.
"""
import os
import sys
import random
import warnings

import numpy as np
import skimage.draw.draw as skdraw
from skimage.draw import disk, ellipse, polygon

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import checklib  # noqa: E402
from checklib import check, fail  # noqa: E402
from check_trig import exact_sincos  # noqa: E402


class _CorrectlyRoundedNumpy:
    """numpy, but with correctly rounded sin and cos of scalars (skimage's ellipse takes the
    sin and cos of one rotation)."""

    def __getattr__(self, name):
        return getattr(np, name)

    @staticmethod
    def sin(x):
        assert np.ndim(x) == 0
        return np.float64(exact_sincos(float(x))[0])

    @staticmethod
    def cos(x):
        assert np.ndim(x) == 0
        return np.float64(exact_sincos(float(x))[1])


def numpy_trig_exact(rotation):
    """Whether numpy's sin and cos are correctly rounded at the angles skimage's ellipse uses."""
    rot = rotation % np.pi
    return all((float(np.sin(x)), float(np.cos(x))) == exact_sincos(float(x))
               for x in (rot, rot % np.pi))


def ellipse_cr(*args, **kw):
    """skimage.draw.ellipse with correctly rounded sin and cos."""
    skdraw.np = _CorrectlyRoundedNumpy()
    try:
        return ellipse(*args, **kw)
    finally:
        skdraw.np = np


# Cases where skimage with this machine's numpy gives other pixels (each only where numpy's
# trigonometry is not correctly rounded).
NUMPY_DIFFERS = [0]

warnings.simplefilter("ignore")  # skimage divides by a zero radius on purpose


def fmt(xs):
    return ",".join(repr(float(x)) for x in xs)


def num(rng, lo, hi):
    """A number in [lo, hi]; often whole or half, where outlines pass through pixel centres."""
    x = rng.uniform(lo, hi)
    q = rng.random()
    if q < 0.3:
        return float(round(x))
    if q < 0.45:
        return round(x * 2) / 2
    return x


def rotation(rng):
    q = rng.random()
    if q < 0.25:
        return float(np.deg2rad(rng.randint(-359, 359)))
    if q < 0.35:
        return rng.choice([0.0, np.pi, -np.pi, np.pi / 2, -np.pi / 2, 2 * np.pi, 1e-20, -1e-20])
    return rng.uniform(-7, 7)


def check_shape(tmp, kind, h, w, args, ref):
    out = os.path.join(tmp, "d.npy")
    if os.path.exists(out):
        os.remove(out)
    rc, _, err = checklib.run_segloss(["draw", kind, "--shape", "%d,%d" % (h, w), "--out", out]
                                      + args)
    if rc != 0:
        fail("draw %s %s: exit %d: %s" % (kind, args, rc, err.strip()))
        return
    got = np.load(out)
    want = np.zeros((h, w), np.uint8)
    rr, cc = ref
    want[rr, cc] = 1
    same = got.dtype == np.uint8 and got.shape == (h, w) and np.array_equal(got, want)
    check(same, "draw %s --shape %d,%d %s: %d pixels differ from skimage"
          % (kind, h, w, " ".join(args),
             int((got != want).sum()) if got.shape == want.shape else -1))


def check_numpy_skimage(ref, plain, rotation, what):
    """skimage with numpy's trigonometry may differ from the reference only where numpy's sin
    or cos is not correctly rounded."""
    same = np.array_equal(np.asarray(ref[0]), np.asarray(plain[0])) and \
        np.array_equal(np.asarray(ref[1]), np.asarray(plain[1]))
    if not same:
        NUMPY_DIFFERS[0] += 1
        check(not numpy_trig_exact(rotation),
              "%s: skimage with numpy differs though numpy's sin and cos are exact" % what)


def check_draw(tmp, rng, ncases):
    for _ in range(ncases):
        h, w = rng.randint(1, 48), rng.randint(1, 48)
        r, c = num(rng, -15, h + 15), num(rng, -15, w + 15)
        rr_, cr = num(rng, 0, 20), num(rng, 0, 20)
        if rng.random() < 0.05:
            rr_ = 0.0
        t = rotation(rng)
        ref = ellipse_cr(r, c, rr_, cr, shape=(h, w), rotation=t)
        check_shape(tmp, "ellipse", h, w,
                    ["--center", fmt([r, c]), "--radii", fmt([rr_, cr]), "--rotation", repr(t)],
                    ref)
        check_numpy_skimage(ref, ellipse(r, c, rr_, cr, shape=(h, w), rotation=t), t,
                            "ellipse %r %r %r %r rotation %r" % (r, c, rr_, cr, t))
    for _ in range(ncases):
        h, w = rng.randint(1, 48), rng.randint(1, 48)
        r, c = num(rng, -15, h + 15), num(rng, -15, w + 15)
        rad = 0.0 if rng.random() < 0.05 else num(rng, 0, 20)
        check_shape(tmp, "disk", h, w, ["--center", fmt([r, c]), "--radius", repr(rad)],
                    disk((r, c), rad, shape=(h, w)))
    for i in range(ncases):
        h, w = rng.randint(1, 48), rng.randint(1, 48)
        n = rng.randint(1, 9)
        rows = [num(rng, -15, h + 15) for _ in range(n)]
        cols = [num(rng, -15, w + 15) for _ in range(n)]
        if i % 20 == 0:
            rows = [rows[0]] * n  # degenerate: a horizontal segment or one point
        if i % 20 == 1:
            rows = [r + 100 for r in rows]  # wholly below the image
        check_shape(tmp, "polygon", h, w, ["--rows", fmt(rows), "--cols", fmt(cols)],
                    polygon(np.array(rows), np.array(cols), shape=(h, w)))


def gen_masks(N, H, W, angles=None, draw_ellipse=ellipse_cr):
    """The post's genMasks(N, 3, H, W) in Python 3: // for its integer /, disk for circle."""
    X = np.zeros((N, 3, H, W), np.uint8)
    for n in range(N):
        a = angles[n] if angles is not None else np.random.randint(90)
        img = np.zeros((H, W), np.uint8)
        rr, cc = draw_ellipse(H // 4, W // 4, H // 6, W // 6, rotation=np.deg2rad(a))
        img[rr, cc] = 1
        X[n, 0] = img
        r, c, h = 3 * H // 4, 3 * W // 4, H
        img = np.zeros((H, W), np.uint8)
        rr, cc = polygon(np.array([r - h // 6, r - h // 6, r + h // 6, r + h // 6]),
                         np.array([c - h // 6, c + h // 6, c + h // 6, c - h // 6]))
        img[rr, cc] = 1
        X[n, 1] = img
        img = np.zeros((H, W), np.uint8)
        rr, cc = disk((2 * H // 4, 2 * W // 4), H // 6)
        img[rr, cc] = 1
        X[n, 2] = img
    return X


def check_masks(tmp, rng):
    sizes = [(H, H) for H in (1, 2, 5, 6, 7, 12, 17, 24, 31, 32, 48, 64, 100, 128)]
    sizes += [(rng.randint(1, 80), rng.randint(1, 80)) for _ in range(40)]
    sizes += [(10, 100), (100, 10), (12, 50), (30, 4), (6, 40), (128, 64)]
    out, lab, oh = (os.path.join(tmp, f) for f in ("m.npy", "l.npy", "o.npy"))
    for H, W in sizes:
        for mode in ("angles", "seed"):
            N = rng.randint(1, 5)
            for f in (out, lab, oh):
                if os.path.exists(f):
                    os.remove(f)
            if mode == "angles":
                angles = [rng.randint(0, 89) for _ in range(N)]
                opt = ["--angles", ",".join(map(str, angles))]
            else:
                angles = None
                seed = rng.randint(0, 2**32 - 1)
                opt = ["--seed", seed]
                np.random.seed(seed)
            what = "masks --n %d --size %d,%d %s" % (N, H, W, " ".join(map(str, opt)))
            try:
                state = np.random.get_state()
                want = gen_masks(N, H, W, angles)
                np.random.set_state(state)
                plain = gen_masks(N, H, W, angles, ellipse)
                if not np.array_equal(want, plain):
                    NUMPY_DIFFERS[0] += 1
                    np.random.set_state(state)
                    used = angles if angles is not None else \
                        [np.random.randint(90) for _ in range(N)]
                    check(not all(numpy_trig_exact(float(np.deg2rad(a))) for a in used),
                          "masks %dx%d angles %s: skimage with numpy differs though numpy's "
                          "sin and cos are exact" % (H, W, used))
            except IndexError:
                want = None
            rc, _, err = checklib.run_segloss(["masks", "--n", N, "--size", "%d,%d" % (H, W),
                                               "--out", out, "--labels", lab, "--onehot", oh] + opt)
            if want is None:
                check(rc == 1 and checklib.one_line(err) and not os.path.exists(out),
                      "%s: numpy raises IndexError; want exit 1, one line, no output; got %d: %s"
                      % (what, rc, err.strip()))
                continue
            if rc != 0:
                fail("%s: exit %d: %s" % (what, rc, err.strip()))
                continue
            got = np.load(out)
            check(got.dtype == np.uint8 and np.array_equal(got, want),
                  "%s: masks differ from genMasks in %d pixels" % (what, int((got != want).sum())))
            labels = np.zeros((N, H, W), np.uint8)
            for k in range(3):
                labels[want[:, k] != 0] = k + 1
            got_l = np.load(lab)
            check(got_l.dtype == np.uint8 and np.array_equal(got_l, labels), "%s: labels" % what)
            onehot = (labels[:, None] == np.arange(4)[None, :, None, None]).astype(np.uint8)
            got_o = np.load(oh)
            check(got_o.dtype == np.uint8 and np.array_equal(got_o, onehot), "%s: one-hot" % what)


def check_errors(tmp):
    out = os.path.join(tmp, "e.npy")
    bad = [
        ["draw", "ellipse", "--shape", "0,5", "--center", "1,1", "--radii", "1,1", "--out", out],
        ["draw", "ellipse", "--shape", "5,5", "--center", "1,1", "--radii", "-1,1", "--out", out],
        ["draw", "ellipse", "--shape", "5,5", "--center", "1,x", "--radii", "1,1", "--out", out],
        ["draw", "ellipse", "--shape", "5,5", "--radii", "1,1", "--out", out],
        ["draw", "triangle", "--shape", "5,5", "--out", out],
        ["draw", "disk", "--shape", "5,5", "--center", "1,1", "--radius", "nan", "--out", out],
        ["draw", "polygon", "--shape", "5,5", "--rows", "1,2,3", "--cols", "1,2", "--out", out],
        ["draw", "polygon", "--shape", "70000,5", "--rows", "1", "--cols", "1", "--out", out],
        ["masks", "--n", "0", "--size", "8,8", "--out", out],
        ["masks", "--n", "2", "--size", "8,8", "--seed", "1", "--angles", "1,2", "--out", out],
        ["masks", "--n", "2", "--size", "8,8", "--angles", "1,95", "--out", out],
        ["masks", "--n", "2", "--size", "8,8", "--angles", "1", "--out", out],
        ["masks", "--n", "2", "--size", "8,8", "--seed", "-3", "--out", out],
    ]
    for args in bad:
        rc, _, err = checklib.run_segloss(args)
        check(rc == 2 and checklib.one_line(err) and err.startswith("segloss ")
              and not os.path.exists(out),
              "%s: want exit 2 and one line, got %d: %r" % (" ".join(args), rc, err))


def main():
    rng = random.Random(20240521)
    ncases = int(os.environ.get("CHECK_DRAW_CASES", "400"))
    with checklib.temp_dir("check_draw") as tmp:
        check_draw(tmp, rng, ncases)
        check_masks(tmp, rng)
        check_errors(tmp)
    print("cases where skimage with this machine's numpy draws other pixels: %d" % NUMPY_DIFFERS[0])
    return checklib.summary("check_draw")


if __name__ == "__main__":
    sys.exit(main())
