#!/usr/bin/python3
"""Peak resident memory of `segloss loss` for every loss in the registry, against the bound of
issue 11: the program alone + inputs + outputs + one input-sized workspace.

At 2x4x512x512 float32 logits (8 MiB) and int32 labels (2 MiB) each case runs in a fresh
process under build/tools/peak_rss, a small helper that forks the command and reports its own
peak (from Python directly, the child would inherit Python's peak as a floor and hide anything
below it). The program alone is `segloss list`. Every case counts: every loss of `segloss list`
with --grad (bound: program + inputs + gradient + workspace), the other grouping of the
sorting losses, lovasz with per_image=true and lovasz_hinge with per_image=false, and boundary on
one image (1x4x512x512: its workspace, one image's, is then the whole input's size unless its
probabilities share the gradient). Not yet within the bound, so not among the cases (README,
Reliability): lovasz without a gradient or as a later term of a spec (`dice + lovasz`), lovasz
with C = 2 over the whole batch, lovasz_hinge when every error is positive, hausdorff_dt and
log_hausdorff_dt on one image.

glibc raises its mmap threshold when a large block is freed, and then keeps freed blocks of the
CLI's file reading resident in its heap: a few MiB that depend on the order of the CLI's
allocations, not on the loss. The children run with MALLOC_MMAP_THRESHOLD_ pinned at glibc's
own default (128 KiB), so that a freed buffer is returned at once and the peak is what is live.
The binary is $SEGLOSS (default build/segloss), the helper $BUILD/tools/peak_rss. Ends with
`check_memory: N passed, M failed`; exits 1 when M > 0.
"""
import importlib.util
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SIZE = "2,4,512,512"
ONE = "1,4,512,512"  # one image
MIB = 1024.0 * 1024.0


def load_memory():
    spec = importlib.util.spec_from_file_location(
        "memory", os.path.join(HERE, "..", "bench", "memory.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def peak_bytes(tool, cmd):
    """The command's peak resident set in bytes, or None (with its message) when it failed."""
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="131072")
    r = subprocess.run([tool] + cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        print("  %s failed (%d): %s" % (" ".join(cmd), r.returncode, r.stderr.strip()))
        return None
    return int(r.stdout.split()[-1]) * 1024.0


def cases(names):
    """(label, spec, with a gradient, size) for every case counted."""
    out = [(n, n, True, SIZE) for n in names]
    out.append(("lovasz, per_image=true", "lovasz(per_image=true)", True, SIZE))
    out.append(("lovasz_hinge, per_image=false", "lovasz_hinge(per_image=false)", True, SIZE))
    out.append(("boundary, one image", "boundary", True, ONE))
    return out


def sizes(size):
    """The shape, and the bytes of the logits and of the labels."""
    shape = tuple(int(v) for v in size.split(","))
    numel = 1
    for v in shape:
        numel *= v
    return shape, 4 * numel, 4 * numel // shape[1]


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
    mem = load_memory()
    names = [line.strip() for line in subprocess.run(
        [segloss, "list"], check=True, capture_output=True, text=True).stdout.splitlines()
        if line and not line[0].isspace()]
    shape, nx, ny = sizes(SIZE)
    passed = failed = 0
    with tempfile.TemporaryDirectory() as d:
        gp = os.path.join(d, "g.npy")
        data = {}
        for size in (SIZE, ONE):
            data[size] = (os.path.join(d, "x%s.npy" % size), os.path.join(d, "y%s.npy" % size))
            subprocess.run(["/usr/bin/python3", "-c", mem.MAKE_DATA, size] + list(data[size]),
                           check=True)
        base = peak_bytes(tool, [segloss, "list"])
        if base is None:
            print("check_memory: 0 passed, 1 failed")
            return 1
        print("at %s: program alone %.1f MiB, inputs %.1f, gradient %.1f, workspace %.1f"
              % ("x".join(map(str, shape)), base / MIB, (nx + ny) / MIB, nx / MIB, nx / MIB))
        print("  %-32s %8s %8s %8s" % ("case", "peak", "bound", "margin"))
        for label, spec, grad, size in cases(names):
            xp, yp = data[size]
            cmd = [segloss, "loss", spec, "--input", xp, "--target", yp]
            if grad:
                cmd += ["--grad", gp]
            _, nx, ny = sizes(size)
            bound = base + nx + ny + (nx if grad else 0) + nx
            peak = peak_bytes(tool, cmd)
            within = peak is not None and peak <= bound
            print("  %-32s %8s %8.1f %8s  %s"
                  % (label, "-" if peak is None else "%.1f" % (peak / MIB), bound / MIB,
                     "-" if peak is None else "%.1f" % ((bound - peak) / MIB),
                     "ok" if within else "FAIL over"))
            if within:
                passed += 1
            else:
                failed += 1
    print("check_memory: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
