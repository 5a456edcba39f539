#!/usr/bin/python3
"""Interoperability of segloss's .npy reader and writer with numpy.

numpy writes files of every supported dtype and format version; `test_npy --roundtrip IN OUT`
loads each with segloss and saves it again; numpy must read OUT back identically (and OUT must be
version 1.0 with the data 64-byte aligned). Malformed and unsupported files must give exit
status 1 and one line on stderr naming the problem, never a crash, and no OUT file.

Run with /usr/bin/python3 (Debian's numpy). The binary is $BUILD/tests/test_npy (BUILD defaults
to build). Last line: `check_npy: N passed, M failed`; exit 1 when anything failed.
"""
import io
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import checklib  # noqa: E402
from checklib import check  # noqa: E402

BUILD = os.environ.get("BUILD", "build")
BIN = os.path.join(BUILD, "tests", "test_npy")


def run_roundtrip(inp, out):
    return checklib.run_program([BIN, "--roundtrip", inp, out])


def npy_bytes(arr, version):
    f = io.BytesIO()
    np.lib.format.write_array(f, arr, version=version, allow_pickle=True)
    return f.getvalue()


def header_bytes(header, version=(1, 0)):
    """A .npy prefix with the given dict text, padded like numpy pads."""
    h = header.encode("latin1")
    pre = 10 if version[0] == 1 else 12
    pad = (-(pre + len(h) + 1)) % 64
    h = h + b" " * pad + b"\n"
    if version[0] == 1:
        return b"\x93NUMPY\x01\x00" + len(h).to_bytes(2, "little") + h
    return b"\x93NUMPY" + bytes(version) + len(h).to_bytes(4, "little") + h


def good_cases():
    rng = np.random.default_rng(7)
    shapes = [(), (5,), (2, 3), (1, 2, 3, 2, 2), (3, 0, 2), (0,), (4, 4, 4)]
    dtypes = ["<f4", "<f8", "|u1", "<i4", "<i8"]
    for dt in dtypes:
        for shape in shapes:
            n = int(np.prod(shape)) if shape else 1
            if dt in ("<f4", "<f8"):
                a = rng.standard_normal(n).astype(dt)
                if n >= 4:
                    a[:4] = [np.nan, -0.0, np.inf, -np.inf]
            else:
                info = np.iinfo(np.dtype(dt))
                a = rng.integers(info.min, info.max, size=n, dtype=np.dtype(dt), endpoint=True)
                if n >= 2:
                    a[:2] = [info.min, info.max]
            a = a.reshape(shape)
            for version in [(1, 0), (2, 0), (3, 0)]:
                yield "%s %s v%d" % (dt, shape, version[0]), a, npy_bytes(a, version)
    # np.save's own output, and a non-contiguous view (numpy writes it in C order)
    big = np.arange(24, dtype="<i4").reshape(4, 6)[:, ::2]
    f = io.BytesIO()
    np.save(f, big)
    yield "np.save of a strided view", big, f.getvalue()
    # numpy pads with extra room for the growth axis on some versions; a hand-made header with
    # other spacing and quotes must work too
    a = np.arange(6, dtype="<f8").reshape(2, 3)
    yield "double-quoted header", a, header_bytes(
        '{"shape": (2,3), "fortran_order": False, "descr": "<f8"}') + a.tobytes()


def bad_cases():
    a = np.arange(6, dtype="<f4").reshape(2, 3)
    good = npy_bytes(a, (1, 0))
    yield "truncated data", good[:-3], ["truncated", "needs 24 bytes"]
    yield "truncated header", good[:40], ["truncated", "header length"]
    yield "truncated magic", good[:5], ["truncated"]
    yield "empty file", b"", ["truncated"]
    yield "bad magic", b"\x93NUMPZ" + good[6:], ["magic"]
    yield "not npy at all", b"hello, world, this is text\n" * 3, ["magic"]
    yield "version 9.0", good[:6] + b"\x09\x00" + good[8:], ["version 9.0"]
    yield "big-endian >f4", npy_bytes(a.astype(">f4"), (1, 0)), ["big-endian", ">f4"]
    yield "big-endian >i8", npy_bytes(a.astype(">i8"), (1, 0)), ["big-endian", ">i8"]
    yield "fortran order", npy_bytes(np.asfortranarray(a), (1, 0)), ["Fortran order"]
    yield "object dtype", npy_bytes(np.array([1, "a", None], dtype=object), (1, 0)), ["object"]
    yield "complex <c8", npy_bytes(a.astype("<c8"), (1, 0)), ["unsupported", "<c8"]
    yield "float16", npy_bytes(a.astype("<f2"), (1, 0)), ["unsupported", "<f2"]
    yield "bool", npy_bytes(a > 2, (1, 0)), ["unsupported", "|b1"]
    yield "int8", npy_bytes(a.astype("i1"), (1, 0)), ["unsupported", "|i1"]
    yield "uint16", npy_bytes(a.astype("<u2"), (1, 0)), ["unsupported", "<u2"]
    yield "unicode", npy_bytes(np.array(["ab", "c"]), (1, 0)), ["unsupported", "<U2"]
    st = np.zeros(3, dtype=[("x", "<f4"), ("y", "<i4")])
    yield "structured", npy_bytes(st, (1, 0)), ["structured"]
    yield "huge shape overflow", header_bytes(
        "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }"
    ) + a.tobytes(), ["overflow"]
    yield "byte count overflow", header_bytes(
        "{'descr': '<f8', 'fortran_order': False, 'shape': (2305843009213693952,), }"
    ) + a.tobytes(), ["overflow"]
    yield "size beyond int64", header_bytes(
        "{'descr': '<f8', 'fortran_order': False, 'shape': (123456789012345678901234,), }"
    ) + a.tobytes(), ["too large"]
    yield "shape bigger than the data", header_bytes(
        "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 3), }"
    ) + a.tobytes(), ["truncated", "needs 36 bytes", "24"]
    yield "trailing bytes", good + b"\0\0\0\0", ["trailing", "28"]
    yield "negative size", header_bytes(
        "{'descr': '<f4', 'fortran_order': False, 'shape': (-2, 3), }") + a.tobytes(), \
        ["negative"]
    yield "float size", header_bytes(
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2.0, 3), }") + a.tobytes(), \
        ["not an integer"]
    yield "missing key", header_bytes(
        "{'descr': '<f4', 'shape': (2, 3), }") + a.tobytes(), ["missing key 'fortran_order'"]
    yield "not a dict", header_bytes("('<f4', False, (2, 3))") + a.tobytes(), ["malformed"]
    yield "33 dims", header_bytes(
        "{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }" % ("1, " * 33)
    ) + a.tobytes()[:4], ["more than 32 dimensions"]


def numpy_reads(data):
    """numpy's own verdict on a file's header: True when np.load would parse it."""
    f = io.BytesIO(data)
    try:
        version = np.lib.format.read_magic(f)
        np.lib.format._read_array_header(f, version)
        return True
    except Exception:  # noqa: BLE001 - any refusal counts
        return False


def header_variants():
    """Headers at the edge of numpy's grammar: (name, file bytes). Each has data for the shape it
    means, so that only the header decides."""
    base = "{'descr': '<f4', 'fortran_order': False, 'shape': %s, }"
    sizes = {"(2, 08)": 16, "(2, 00)": 0, "(2, 0)": 0, "(2L, 3L)": 6, "(2l, 3)": 6,
             "(2 L, 3)": 6, "(1_0,)": 10, "(+2, 3)": 6, "(True, 3)": 3, "(0x2, 3)": 6,
             "(2, 3)": 6, "( 2 , 3 )": 6, "(007,)": 7, "(0,)": 0}
    for shape, n in sizes.items():
        for version in [(1, 0), (2, 0), (3, 0)]:
            yield "shape %s v%d" % (shape, version[0]), \
                header_bytes(base % shape, version) + b"\0" * (4 * n)
    # what follows the dict: numpy's padding is spaces then one newline
    for tail in [" ", "\t", "\r", "\n ", "\n\t", "\n\r", "\x0c", "\x0b", "\x00", "\n\x0c"]:
        h = (base % "(2, 3)" + tail).encode("latin1")
        raw = h + b" " * ((-(10 + len(h) + 1)) % 64) + b"\n"
        raw = b"\x93NUMPY\x01\x00" + len(raw).to_bytes(2, "little") + raw
        yield "tail %r" % tail, raw + b"\0" * 24
    for lead in [" ", "\t", "\n", "\r", "\x0c"]:
        yield "lead %r" % lead, header_bytes(lead + base % "(2, 3)") + b"\0" * 24
    for inner in ["\t", "\n", "\r", "\x0c", "\x1b"]:
        yield "inside %r" % inner, header_bytes(
            "{'descr':%s'<f4', 'fortran_order': False, 'shape': (2, 3), }" % inner) + b"\0" * 24


def roundtrip_bytes(data, inp, out):
    """run_roundtrip on a file inp holding data, with no out left from before."""
    with open(inp, "wb") as f:
        f.write(data)
    checklib.remove_if_there(out)
    return run_roundtrip(inp, out)


def main():
    if not os.access(BIN, os.X_OK):
        print("check_npy: %s is missing; build it with `make tests`" % BIN)
        print("check_npy: 0 passed, 1 failed")
        return 1
    with checklib.temp_dir("segloss_check_npy") as d:
        inp = os.path.join(d, "in.npy")
        out = os.path.join(d, "out.npy")
        for name, arr, data in good_cases():
            rc, so, se = roundtrip_bytes(data, inp, out)
            check(rc == 0, "%s: roundtrip exit %d: %s" % (name, rc, se.strip()))
            if rc != 0:
                continue
            back = np.load(out, allow_pickle=False)
            check(back.dtype == arr.dtype and back.shape == arr.shape and
                  back.tobytes() == np.ascontiguousarray(arr).tobytes(),
                  "%s: numpy reads back %s %s" % (name, back.dtype, back.shape))
            with open(out, "rb") as f:
                raw = f.read()
            hlen = int.from_bytes(raw[8:10], "little")
            check(raw[6:8] == b"\x01\x00" and (10 + hlen) % 64 == 0 and raw[10 + hlen - 1:
                  10 + hlen] == b"\n", "%s: output is v1.0, 64-aligned" % name)
        for name, data, needles in bad_cases():
            rc, so, se = roundtrip_bytes(data, inp, out)
            lines = se.strip("\n").split("\n") if se.strip() else []
            check(0 <= rc < 128, "%s: crashed (exit %d): %s" % (name, rc, se.strip()))
            check(rc == 1, "%s: exit %d, want 1" % (name, rc))
            check(checklib.one_line(se), "%s: want one line on stderr, got %r" % (name, se))
            msg = lines[0] if lines else ""
            for n in needles:
                check(n in msg, "%s: message %r lacks %r" % (name, msg, n))
            check(inp in msg, "%s: message %r does not name the file" % (name, msg))
            check(not os.path.exists(out), "%s: an output file was written" % name)
        # never looser than numpy: a header numpy refuses is refused, in one line
        for name, data in header_variants():
            with open(inp, "wb") as f:
                f.write(data)
            if os.path.exists(out):
                os.remove(out)
            rc, so, se = run_roundtrip(inp, out)
            theirs = numpy_reads(data)
            if not theirs:
                check(rc == 1, "%s: numpy refuses it, segloss exits %d" % (name, rc))
                check(checklib.one_line(se), "%s: want one line on stderr, got %r" % (name, se))
            else:
                check(rc in (0, 1), "%s: exit %d" % (name, rc))
        # the cases numpy refuses, by name: each
        for name, data in [
                ("leading zero", header_bytes(
                    "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 08, 8), }") +
                 b"\0" * 512),
                ("L in version 3", header_bytes(
                    "{'descr': '<f4', 'fortran_order': False, 'shape': (2L, 3L), }", (3, 0)) +
                 b"\0" * 24)]:
            with open(inp, "wb") as f:
                f.write(data)
            rc, so, se = run_roundtrip(inp, out)
            check(not numpy_reads(data) and rc == 1,
                  "%s: numpy %s, segloss exit %d" % (name, numpy_reads(data), rc))
        # a missing file and a directory
        for name, path, needle in [("missing file", os.path.join(d, "nope.npy"),
                                    "No such file"),
                                   ("directory", d, "directory")]:
            rc, so, se = run_roundtrip(path, out)
            check(rc == 1 and needle in se and path in se,
                  "%s: exit %d, stderr %r" % (name, rc, se))
    return checklib.summary("check_npy")


if __name__ == "__main__":
    sys.exit(main())
