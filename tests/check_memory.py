#!/usr/bin/python3
"""Peak resident memory of `segloss loss` for every loss in the registry, against the bound of
issue 11: the program + inputs + outputs + one input-sized workspace.

Each case runs in a fresh process under build/tools/peak_rss, a small helper that forks the
command and reports its own peak (from Python directly, the child would inherit Python's peak as
a floor and hide anything below it). "The program" is `segloss loss ce` on a 1x4x8x8 input: the
binary, its libraries and its threads started, with no data to speak of.

Every loss of `segloss list` runs, with a gradient (outputs: the gradient) and without one
(outputs: the value), on four sets of float32 logits and int32 labels: 2x4x512x512 random
logits; the same with every logit 0 (every error tied: the sorting losses' worst case);
2x2x512x512 (two classes: a class's row is half the input); 1x4x512x512 (one image: a per-image
workspace is the whole input's). Besides: each loss as the second term of `dice + LOSS` with a
gradient (a later term adds into a gradient that holds the first), three specs of several terms
with one loss that keeps its scratch in the gradient on every data set, and the other grouping
of the sorting losses (lovasz per image, lovasz_hinge over the batch). A spec with two such
losses (`lovasz + boundary`) is not promised: README, Reliability.

glibc raises its mmap threshold when a large block is freed, and then keeps freed blocks of the
CLI's file reading resident in its heap: a few MiB that depend on the order of the CLI's
allocations, not on the loss. The children run with MALLOC_MMAP_THRESHOLD_ pinned at glibc's
own default (128 KiB), so that a freed buffer is returned at once and the peak is what is live.
The binary is $SEGLOSS (default build/segloss), the helper $BUILD/tools/peak_rss; arguments, if
any, restrict the run to those losses. Ends with `check_memory: N passed, M failed`; exits 1
when M > 0.
"""
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
MIB = 1024.0 * 1024.0

# The data sets: name -> (shape, every logit 0). The data is written by a child process: this
# one stays small, so numpy is never imported here.
SETS = {
    "2x4": ("2,4,512,512", False),
    "2x4 zeros": ("2,4,512,512", True),
    "2x2": ("2,2,512,512", False),
    "1x4": ("1,4,512,512", False),
}
MAKE_DATA = """
import sys
import numpy as np
shape = tuple(int(v) for v in sys.argv[1].split(","))
rng = np.random.default_rng(1)
x = (rng.standard_normal(shape, dtype=np.float32) * 2).astype(np.float32)
np.save(sys.argv[2], x * 0 if sys.argv[4] == "1" else x)
np.save(sys.argv[3], rng.integers(0, shape[1], size=(shape[0],) + shape[2:], dtype=np.int32))
"""


def peak_bytes(tool, cmd):
    """The command's peak resident set in bytes, or None (with its message) when it failed."""
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="131072")
    r = subprocess.run([tool] + cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        print("  %s failed (%d): %s" % (" ".join(cmd), r.returncode, r.stderr.strip()))
        return None
    return int(r.stdout.split()[-1]) * 1024.0


def cases(names):
    """(data set, label, spec, with a gradient) for every case counted."""
    out = []
    for data in SETS:
        for n in names:
            out.append((data, n, n, True))
            out.append((data, n + ", no gradient", n, False))
    for n in names:
        out.append(("2x4", "dice + " + n, "dice + " + n, True))
    for data in SETS:
        for spec in ("ce + dice + lovasz", "0.5*ce + hausdorff_dt + dice", "bce + lovasz_hinge"):
            out.append((data, spec, spec, True))
    for data in SETS:
        for grad in (True, False):
            tail = "" if grad else ", no gradient"
            out.append((data, "lovasz per image" + tail, "lovasz(per_image=true)", grad))
            out.append((data, "lovasz_hinge over the batch" + tail,
                        "lovasz_hinge(per_image=false)", grad))
    return out


def nbytes(size):
    """The bytes of the logits and of the labels."""
    shape = tuple(int(v) for v in size.split(","))
    numel = 1
    for v in shape:
        numel *= v
    return 4 * numel, 4 * numel // shape[1]


def main():
    segloss = os.environ.get("SEGLOSS", "build/segloss")
    tool = os.path.join(os.environ.get("BUILD", "build"), "tools", "peak_rss")
    for path in (segloss, tool):
        if not os.path.exists(path):
            print("check_memory: %s not found (build first: make all tests)" % path)
            print("check_memory: 0 passed, 1 failed")
            return 1
    sys.path.insert(0, HERE)
    import checklib
    if checklib.sanitized(segloss):
        # AddressSanitizer's shadow memory and quarantine make resident memory meaningless
        print("check_memory: %s is a sanitizer build; peak memory is measured on the plain one"
              % segloss)
        print("check_memory: 0 passed, 0 failed")
        return 0
    names = [line.strip() for line in subprocess.run(
        [segloss, "list"], check=True, capture_output=True, text=True).stdout.splitlines()
        if line and not line[0].isspace()]
    only = sys.argv[1:]
    passed = failed = 0
    with tempfile.TemporaryDirectory() as d:
        gp = os.path.join(d, "g.npy")
        files = {}
        for name, (size, zero) in list(SETS.items()) + [("tiny", ("1,4,8,8", False))]:
            files[name] = (os.path.join(d, "x%d.npy" % len(files)),
                           os.path.join(d, "y%d.npy" % len(files)))
            subprocess.run(["/usr/bin/python3", "-c", MAKE_DATA, size] + list(files[name])
                           + ["1" if zero else "0"], check=True)
        xt, yt = files["tiny"]
        base = peak_bytes(tool, [segloss, "loss", "ce", "--input", xt, "--target", yt])
        if base is None:
            print("check_memory: 0 passed, 1 failed")
            return 1
        print("the program (segloss loss ce on 1x4x8x8): %.1f MiB; bound = the program + inputs "
              "+ outputs + one input-sized workspace" % (base / MIB))
        print("  %-10s %-40s %8s %8s %8s" % ("data", "case", "peak", "bound", "margin"))
        for data, label, spec, grad in cases(names):
            if only and not any(n in spec for n in only):
                continue
            xp, yp = files[data]
            cmd = [segloss, "loss", spec, "--input", xp, "--target", yp]
            if grad:
                cmd += ["--grad", gp]
            nx, ny = nbytes(SETS[data][0])
            bound = base + nx + ny + (nx if grad else 0) + nx
            peak = peak_bytes(tool, cmd)
            within = peak is not None and peak <= bound
            print("  %-10s %-40s %8s %8.1f %8s  %s"
                  % (data, label, "-" if peak is None else "%.1f" % (peak / MIB), bound / MIB,
                     "-" if peak is None else "%.2f" % ((bound - peak) / MIB),
                     "ok" if within else "FAIL over"), flush=True)
            if within:
                passed += 1
            else:
                failed += 1
    print("check_memory: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
