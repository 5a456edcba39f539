#!/usr/bin/python3
"""The pictures of `segloss masks --png`, `predict --png` and `demo`: valid PNGs in which every
image of the label map appears, magnified by the documented factor (256 // max(H, W), at least
1 and at most 16), in order (left to right, then top to bottom, as the text counts images from
0), and below them a legend with a swatch of every class colour.

The expected image blocks are rendered here with numpy from the label maps and the public
sl_class_colour ($BUILD/libsegloss.so); the picture is decoded with zlib. Run with
/usr/bin/python3; ends with `check_pictures: N passed, M failed`.
"""
import ctypes
import os
import struct
import sys
import zlib

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import checklib  # noqa: E402
from checklib import check, fail  # noqa: E402

LIB_PATH = os.path.join(os.environ.get("BUILD", "build"), "libsegloss.so")
checklib.preload_sanitizer(LIB_PATH)
LIB = ctypes.CDLL(LIB_PATH)
LIB.sl_class_colour.restype = None
LIB.sl_class_colour.argtypes = [ctypes.c_int64, ctypes.POINTER(ctypes.c_uint8)]


def colour(c):
    buf = (ctypes.c_uint8 * 3)()
    LIB.sl_class_colour(c, buf)
    return np.array(list(buf), np.uint8)


def read_png(path):
    """An 8-bit RGB PNG without filtering (what sl_png_write writes) as [H, W, 3]."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "signature"
    pos, idat, w, h = 8, b"", 0, 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        crc = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])[0]
        assert zlib.crc32(kind + body) & 0xFFFFFFFF == crc, "CRC"
        if kind == b"IHDR":
            w, h = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(h, 1 + 3 * w)
    assert (raw[:, 0] == 0).all(), "filter type 0"
    return raw[:, 1:].reshape(h, w, 3)


def find_block(pic, block):
    """(row, col) of every place where block occurs in pic."""
    bh, bw = block.shape[:2]
    first = block[0].tobytes()
    out = []
    for y in range(pic.shape[0] - bh + 1):
        row = pic[y].tobytes()
        start = row.find(first)
        while start >= 0:
            if start % 3 == 0:
                x = start // 3
                if np.array_equal(pic[y:y + bh, x:x + bw], block):
                    out.append((y, x))
            start = row.find(first, start + 1)
    return out


def check_labels_picture(path, labels, nclass, what):
    try:
        pic = read_png(path)
    except (AssertionError, OSError, zlib.error, ValueError) as e:
        fail("%s: not a valid PNG: %s" % (what, e))
        return
    n, h, w = labels.shape
    s = max(1, min(16, 256 // max(h, w)))
    table = np.stack([colour(c) for c in range(nclass)])
    places = []
    for i in range(n):
        block = np.kron(table[labels[i]], np.ones((s, s, 1), np.uint8)).astype(np.uint8)
        found = find_block(pic, block)
        # Identical images give the same block: take the first place not yet used.
        found = [p for p in found if p not in places]
        if not found:
            fail("%s: image %d (magnified %d times) is not in the picture" % (what, i, s))
            return
        places.append(found[0])
    # In order: left to right within a row, rows from the top.
    keys = [(y, x) for y, x in places]
    check(keys == sorted(keys), "%s: images out of order: %s" % (what, keys))
    bottom = max(y for y, _ in places) + h * s
    below = pic[bottom:]
    for c in range(nclass):
        sw = np.broadcast_to(colour(c), (12, 12, 3))
        check(len(find_block(below, np.ascontiguousarray(sw))) > 0,
              "%s: no legend swatch of class %d below the images" % (what, c))


def main():
    with checklib.temp_dir("check_pictures") as tmp:
        for n, H, W, seed in ((3, 24, 24, 1), (8, 64, 64, 0), (2, 96, 300, 5), (5, 12, 20, 2)):
            m, lab, png = (os.path.join(tmp, f) for f in ("m.npy", "l.npy", "m.png"))
            rc, _, err = checklib.run_segloss(["masks", "--n", n, "--size", "%d,%d" % (H, W),
                                               "--seed", seed, "--out", m, "--labels", lab,
                                               "--png", png])
            if rc != 0:
                fail("masks %d %dx%d: exit %d: %s" % (n, H, W, rc, err.strip()))
                continue
            check_labels_picture(png, np.load(lab).astype(np.int64), 4,
                                 "masks --n %d --size %d,%d --png" % (n, H, W))
            pp = os.path.join(tmp, "p.png")
            rc, _, err = checklib.run_segloss(["predict", "--labels", lab, "--out",
                                               os.path.join(tmp, "p.npy"), "--png", pp])
            try:
                pic = read_png(pp) if rc == 0 else None
                s = max(1, min(16, 256 // max(H, W)))
                check(pic is not None and pic.shape[1] >= W * s and pic.shape[0] >= H * s,
                      "predict --png %dx%d: exit %d, picture %s" % (
                          H, W, rc, None if pic is None else pic.shape))
            except (AssertionError, OSError, zlib.error, ValueError) as e:
                fail("predict --png %dx%d: %s" % (H, W, e))
        out = os.path.join(tmp, "demo")
        rc, _, err = checklib.run_segloss(["demo", "--n", "3", "--size", "32,32", "--missing",
                                           "1", "--out", out])
        check(rc == 0, "demo: exit %d: %s" % (rc, err.strip()))
        for name in ("ground_truth.png", "predictions.png", "ground_truth_missing.png"):
            try:
                read_png(os.path.join(out, name))
                check(True, "")
            except (AssertionError, OSError, zlib.error, ValueError) as e:
                fail("demo %s: %s" % (name, e))
    return checklib.summary("check_pictures")


if __name__ == "__main__":
    sys.exit(main())
