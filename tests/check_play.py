#!/usr/bin/python3
"""`segloss play`: losses against controlled mistakes.

Runs `segloss play --json` on a small batch with ce, missing_ce, marginal_ce, dice, focal,
lovasz, boundary, bce and tversky and checks the JSON object: its structure, every curve starting at the perfect prediction's value (the confidence
mistakes at the typical prediction's), ce rising with the spatial mistakes and noise, and the
post's claim: with annotations missing from the target, ce rises while missing_ce does not.
Checks that both PNGs are valid (signature, IHDR, chunk CRCs, the pixel data's size), that runs
repeat exactly, the table output, and that bad options exit 2 with one line on stderr and write
nothing.

Run with /usr/bin/python3. The program is $SEGLOSS (default build/segloss). Last line:
`check_play: N passed, M failed`; exit 1 when anything failed.
"""
import json
import math
import os
import struct
import sys
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import checklib  # noqa: E402
from checklib import check  # noqa: E402


def run(*args):
    """`segloss play ARGS` -> (exit status, stdout, stderr)."""
    return checklib.run_segloss(["play", *args], timeout=300)


MISTAKES = ["shift", "dilate", "erode", "missed_object", "false_positive", "blur", "noise",
            "over_confidence", "under_confidence", "missing_annotation"]
RISING = ["shift", "dilate", "erode", "missed_object", "false_positive", "noise"]


def png_info(path):
    """(width, height) of a valid 8-bit RGB PNG, or a string saying what is wrong."""
    try:
        data = open(path, "rb").read()
    except OSError as e:
        return "cannot read: %s" % e
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        return "bad signature"
    pos = 8
    chunks = []
    while pos < len(data):
        if pos + 8 > len(data):
            return "truncated chunk header"
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if len(body) != length or pos + 12 + length > len(data):
            return "truncated chunk"
        crc = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])[0]
        if zlib.crc32(kind + body) & 0xFFFFFFFF != crc:
            return "bad CRC in %r" % kind
        chunks.append((kind, body))
        pos += 12 + length
    if not chunks or chunks[0][0] != b"IHDR" or len(chunks[0][1]) != 13:
        return "no IHDR first"
    if chunks[-1][0] != b"IEND":
        return "no IEND last"
    w, h, depth, ctype = struct.unpack(">IIBB", chunks[0][1][:10])
    if w == 0 or h == 0 or depth != 8 or ctype != 2:
        return "IHDR %dx%d depth %d colour type %d" % (w, h, depth, ctype)
    try:
        raw = zlib.decompress(b"".join(b for k, b in chunks if k == b"IDAT"))
    except zlib.error as e:
        return "IDAT: %s" % e
    if len(raw) != h * (1 + 3 * w):
        return "pixel data of %d bytes, want %d" % (len(raw), h * (1 + 3 * w))
    return (w, h)


def close(a, b, rel=1e-12):
    return a is not None and b is not None and abs(a - b) <= rel * max(1.0, abs(a), abs(b))


def nondecreasing(v, rel=1e-6):
    scale = max(abs(x) for x in v) or 1.0
    return all(v[i + 1] >= v[i] - rel * scale for i in range(len(v) - 1))


def main():
    with checklib.temp_dir("check_play") as tmp:
        small = ["--n", "2", "--size", "32,32", "--seed", "3"]
        losses = ["ce", "missing_ce", "marginal_ce", "dice", "focal", "lovasz", "boundary", "bce",
                  "tversky"]

        out = os.path.join(tmp, "a", "b")  # nested: created by play
        steps = 5
        args = ["--losses", ";".join(losses), *small, "--steps", str(steps), "--out", out,
                "--json"]
        rc, so, se = run(*args)
        check(rc == 0, "play --json exits 0 (got %d: %s)" % (rc, se.strip()))
        check(se == "", "play --json writes nothing on stderr (got %r)" % se[:200])
        try:
            doc = json.loads(so)
        except ValueError as e:
            check(False, "stdout is one JSON object: %s" % e)
            return
        check(isinstance(doc, dict), "the JSON is an object")
        check(doc.get("losses") == losses, "losses are the specs given, in order")
        check(doc.get("n") == 2 and doc.get("size") == [32, 32] and doc.get("seed") == 3 and
              doc.get("steps") == steps, "n, size, seed, steps echoed")
        perfect, typical = doc.get("perfect", {}), doc.get("typical", {})
        check(sorted(perfect) == sorted(losses) and sorted(typical) == sorted(losses),
              "perfect and typical values for every loss")
        ms = doc.get("mistakes", [])
        check([m.get("name") for m in ms] == MISTAKES, "the ten mistakes in order")
        by = {m.get("name"): m for m in ms}
        present = doc.get("objects_present")
        check(present == 6, "objects_present is 6 for 2 images (got %r)" % present)
        for m in ms:
            name = m.get("name")
            st = m.get("strengths", [])
            want = steps if name != "missing_annotation" else min(steps - 1, present or 0) + 1
            check(len(st) == want, "%s: %d strengths (got %d)" % (name, want, len(st)))
            check(all(isinstance(s, (int, float)) for s in st), "%s: strengths are numbers" % name)
            check(all(st[i] <= st[i + 1] for i in range(len(st) - 1)),
                  "%s: strengths increase" % name)
            first = 1.0 if name in ("over_confidence", "under_confidence") else 0.0
            check(st and st[0] == first, "%s: the first strength is %g" % (name, first))
            check(isinstance(m.get("strength"), str) and isinstance(m.get("from"), str),
                  "%s: strength and from describe it" % name)
            vals = m.get("values", {})
            check(list(vals) == losses, "%s: one curve per loss, in order" % name)
            for l in losses:
                v = vals.get(l, [])
                check(len(v) == len(st) and all(x is None or isinstance(x, (int, float))
                                                 for x in v),
                      "%s/%s: one number (or null) per strength" % (name, l))
                start = typical if name in ("over_confidence", "under_confidence") else perfect
                check(v and close(v[0], start.get(l)),
                      "%s/%s: strength 0 gives the %s prediction's value (%r vs %r)" %
                      (name, l, "typical" if start is typical else "perfect",
                       v[0] if v else None, start.get(l)))
        # The perfect prediction: logits +-5, so ce = log(1 + 3 e^-10) (float32 arithmetic).
        pce = perfect.get("ce")
        check(pce is not None and abs(pce - math.log1p(3 * math.exp(-10))) < 1e-2 * pce,
              "perfect ce is log(1 + 3 e^-10) (got %r)" % pce)
        for name in RISING:
            v = by[name]["values"]["ce"]
            check(nondecreasing(v), "ce does not fall as %s grows: %r" % (name, v))
            check(v[-1] > 10 * v[0], "ce rises clearly with %s: %r" % (name, v))
        ov = by["over_confidence"]["values"]["ce"]
        check(ov[-1] > ov[0], "ce rises with over-confidence of a typical prediction: %r" % ov)
        # The post's claim.
        ma = by["missing_annotation"]["values"]
        check(nondecreasing(ma["ce"]) and ma["ce"][-1] > 100 * ma["ce"][0],
              "ce rises as annotations go missing: %r" % ma["ce"])
        check(all(x <= ma["missing_ce"][0] * (1 + 1e-6) for x in ma["missing_ce"]),
              "missing_ce does not rise as annotations go missing: %r" % ma["missing_ce"])
        check(all(x <= ma["marginal_ce"][0] * (1 + 1e-6) for x in ma["marginal_ce"]),
              "marginal_ce does not rise as annotations go missing: %r" % ma["marginal_ce"])
        # With every annotation present, missing_ce and marginal_ce agree with ce.
        for name in MISTAKES[:-1]:
            for l in ("missing_ce", "marginal_ce"):
                a, b = by[name]["values"][l], by[name]["values"]["ce"]
                check(all(close(x, y, 1e-5) for x, y in zip(a, b)),
                      "%s equals ce under %s (all annotations present)" % (l, name))

        pics = doc.get("pictures", [])
        check(pics == [os.path.join(out, "play_chart.png"),
                       os.path.join(out, "play_predictions.png")], "pictures listed: %r" % pics)
        check(sorted(os.listdir(out)) == ["play_chart.png", "play_predictions.png"],
              "the output folder holds the two PNGs and nothing else: %r" % os.listdir(out))
        for p in ("play_chart.png", "play_predictions.png"):
            info = png_info(os.path.join(out, p))
            check(isinstance(info, tuple), "%s is a valid PNG (%s)" % (p, info))
        info = png_info(os.path.join(out, "play_predictions.png"))
        if isinstance(info, tuple):
            # 32x32 images are magnified 4 times: 10 rows of at least 128 pixels.
            check(info[1] >= 10 * 128 and info[0] >= steps * 128,
                  "play_predictions.png holds 10 rows of %d images (%dx%d)" % (steps, *info))

        # The same seed, the same numbers.
        rc2, so2, _ = run(*args)
        check(rc2 == 0 and so2 == so, "a second run prints the same JSON")
        rc3, so3, _ = run(*[a if a != "3" else "4" for a in args])
        check(rc3 == 0 and so3 != so, "another seed gives other numbers")

        # The table.
        rc, so, se = run("--losses", "ce;missing_ce", *small, "--steps", "3", "--out",
                         os.path.join(tmp, "table"))
        lines = so.splitlines()
        check(rc == 0 and se == "", "the table run exits 0 quietly")
        hdr = [l for l in lines if l.startswith("mistake")]
        check(len(hdr) == 1 and hdr[0].split() == ["mistake", "strength", "ce", "missing_ce"],
              "the table header names mistake, strength and each loss: %r" % hdr)
        for name in MISTAKES:
            check(any(l.startswith(name + " ") for l in lines), "the table has a %s row" % name)
        check(any(l.startswith("Pictures:") for l in lines), "the table names the pictures")

        rc, so, se = run("--help")
        check(rc == 0 and "usage: segloss play" in so and se == "", "--help exits 0")

        # Bad options: exit 2, one line on stderr, nothing on stdout, nothing written.
        bad = [
            (["--steps", "0"], "steps"),
            (["--steps", "33"], "steps"),
            (["--losses", "ce;no_such_loss"], "no_such_loss"),
            (["--losses", "ce;;missing_ce"], "empty"),
            (["--losses", "ce;ce"], "twice"),
            (["--losses", "ce(weight=[1,2])"], "weight"),
            (["--losses", "ce(gamma=2)"], "gamma"),
            (["--size", "0,5"], "size"),
            (["--size", "8,8"], "size"),
            (["--size", "32"], "size"),
            (["--n", "0"], "n"),
            (["--seed", "-1"], "seed"),
            (["--bogus"], "bogus"),
            (["extra"], "extra"),
        ]
        for i, (a, pat) in enumerate(bad):
            d = os.path.join(tmp, "bad%d" % i)
            rc, so, se = run(*a, "--out", d, "--json")
            check(rc == 2 and checklib.one_line(se) and pat.lower() in se.lower() and so == "" and
                  not os.path.exists(d),
                  "play %s: exit 2, one stderr line naming %r, nothing written (rc %d, %r)" %
                  (" ".join(a), pat, rc, se.strip()))
        # A runtime failure: the output folder cannot be made.
        f = os.path.join(tmp, "file")
        open(f, "w").close()
        rc, so, se = run("--losses", "ce", *small, "--out", os.path.join(f, "sub"), "--json")
        check(rc == 1 and checklib.one_line(se) and so == "",
              "--out under a file: exit 1, one stderr line (rc %d, %r)" % (rc, se.strip()))


main()
sys.exit(checklib.summary("check_play"))
