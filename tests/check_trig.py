#!/usr/bin/python3
"""The drawing's sine and cosine (src/trig.c, sl__sincos) against values computed here to 80
decimal digits with Python's decimal module and rounded once to double: every whole degree
0..179 as np.deg2rad gives it, the neighbours of pi/2 and pi, and thousands of random doubles
in [0, pi). Every one must be the correctly rounded value.

Then, for the record, which whole degrees numpy's and libm's sin and cos on this machine round
differently (numpy takes them from SVML on CPUs with AVX-512, from libm elsewhere); this part
only prints. The library is $BUILD/libsegloss.so (default build). Run with /usr/bin/python3;
ends with `check_trig: N passed, M failed`.
"""
import math
import os
import random
import subprocess
import sys
from decimal import Decimal, getcontext

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import checklib  # noqa: E402
from checklib import check  # noqa: E402

getcontext().prec = 80


def _pi():
    """pi to 80 digits: Machin's formula."""
    def arctan_inv(n):
        x, s, k, sign = Decimal(1) / n, Decimal(0), 1, 1
        t, x2 = x, x * x
        while True:
            term = t / k
            if term < Decimal(10) ** -85:
                return s
            s += sign * term
            t *= x2
            k += 2
            sign = -sign
    return 4 * (4 * arctan_inv(5) - arctan_inv(239))


PI = _pi()


def exact_sincos(x):
    """(sin x, cos x) of the double x, rounded once to double."""
    d = Decimal(x)  # exact
    # Reduce to |r| <= pi/4 with k quarter turns, as sin/cos of r.
    k = int((d / (PI / 2)).to_integral_value())
    r = d - k * (PI / 2)
    r2 = r * r
    s, c = Decimal(0), Decimal(0)
    term = r  # r^(2j+1) / (2j+1)!
    j = 0
    while abs(term) > Decimal(10) ** -90 or j < 2:
        s += term
        term = -term * r2 / ((2 * j + 2) * (2 * j + 3))
        j += 1
    term = Decimal(1)
    j = 0
    while abs(term) > Decimal(10) ** -90 or j < 2:
        c += term
        term = -term * r2 / ((2 * j + 1) * (2 * j + 2))
        j += 1
    q = k % 4
    sv, cv = [(s, c), (c, -s), (-s, -c), (-c, s)][q]
    return float(sv), float(cv)  # float(Decimal) rounds correctly


def main():
    tool = os.path.join(os.environ.get("BUILD", "build"), "tools", "trig_values")

    degrees = [float(np.deg2rad(k)) for k in range(180)]
    xs = list(degrees)
    for v in (math.pi / 2, math.pi, math.pi / 4, 3 * math.pi / 4, 0.0):
        x = v
        for _ in range(4):
            xs.append(x)
            x = math.nextafter(x, 0.0)
        x = v
        for _ in range(4):
            x = math.nextafter(x, 4.0)
            if x < math.pi:
                xs.append(x)
    rng = random.Random(20261130)
    ncases = int(os.environ.get("CHECK_TRIG_CASES", "4000"))
    xs += [rng.uniform(0.0, math.pi) for _ in range(ncases)]
    xs += [rng.uniform(0.0, 1e-3) for _ in range(200)]
    out = subprocess.run([tool], input="".join(x.hex() + "\n" for x in xs), capture_output=True,
                         text=True, check=True).stdout.split()
    values = [(float.fromhex(out[2 * i]), float.fromhex(out[2 * i + 1])) for i in range(len(xs))]
    bad = 0
    for x, got in zip(xs, values):
        want = exact_sincos(x)
        same = got == want
        bad += not same
        if not same and bad < 10:
            check(False, "sl__sincos(%r) = %r, correctly rounded %r" % (x, got, want))
        elif same:
            check(True, "")
    print("sl__sincos: %d arguments, %d not correctly rounded" % (len(xs), bad))

    # For the record: whole degrees where numpy and libm on this machine are not correctly
    # rounded (they only print: the drawing no longer uses them).
    np_off, libm_off = [], []
    for k, x in enumerate(degrees):
        want = exact_sincos(x)
        if (float(np.sin(x)), float(np.cos(x))) != want:
            np_off.append(k)
        if (math.sin(x), math.cos(x)) != want:
            libm_off.append(k)
    print("whole degrees where numpy's sin/cos are not correctly rounded here: %s" % np_off)
    print("whole degrees where libm's sin/cos are not correctly rounded here: %s" % libm_off)
    return checklib.summary("check_trig")


if __name__ == "__main__":
    sys.exit(main())
