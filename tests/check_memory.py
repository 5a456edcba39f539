#!/usr/bin/python3
"""Peak resident memory of `segloss loss SPEC --grad` for every loss in the registry, against the
bound of issue 11: inputs + outputs + one input-sized workspace, over the program alone.

The measurement is bench/memory.py's (a fresh process per spec, its peak from wait4's rusage),
at 2x4x512x512 float32 logits and int32 labels: large enough that the loss's own buffers rise
above the program alone (whose figure includes this script's share of the child it starts as),
small enough to take a few seconds. A loss listed in KNOWN_OVER is not yet within the bound: it
is measured and shown, not counted. The binary is $SEGLOSS (default build/segloss). Ends with
`check_memory: N passed, M failed`; exits 1 when M > 0.
"""
import importlib.util
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SIZE = "2,4,512,512"
# Losses whose peak is still above the bound (issue 11), shown but not counted.
KNOWN_OVER = {"lovasz_hinge", "hausdorff_dt", "log_hausdorff_dt"}


def load_memory():
    spec = importlib.util.spec_from_file_location(
        "memory", os.path.join(HERE, "..", "bench", "memory.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main():
    segloss = os.environ.get("SEGLOSS", "build/segloss")
    if not os.path.exists(segloss):
        print("check_memory: %s not found (build first)" % segloss)
        print("check_memory: 0 passed, 1 failed")
        return 1
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
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
    shape = tuple(int(v) for v in SIZE.split(","))
    numel = 1
    for v in shape:
        numel *= v
    nx, ny = 4 * numel, 4 * numel // shape[1]
    mib = 1024.0 * 1024.0
    passed = failed = 0
    with tempfile.TemporaryDirectory() as d:
        xp, yp, gp = (os.path.join(d, n) for n in ("x.npy", "y.npy", "g.npy"))
        subprocess.run(["/usr/bin/python3", "-c", mem.MAKE_DATA, SIZE, xp, yp], check=True)
        base = mem.peak_kib([segloss, "list"]) * 1024.0
        bound = base + nx + ny + nx + nx
        print("at %s: bound %.1f MiB (program alone %.1f, inputs %.1f, gradient %.1f, "
              "workspace %.1f)" % ("x".join(map(str, shape)), bound / mib, base / mib,
                                   (nx + ny) / mib, nx / mib, nx / mib))
        for name in names:
            peak = mem.peak_kib([segloss, "loss", name, "--input", xp, "--target", yp,
                                 "--grad", gp]) * 1024.0
            within = peak <= bound
            if name in KNOWN_OVER:
                print("  %-26s %6.1f MiB  %s (known, not counted)"
                      % (name, peak / mib, "within" if within else "over"))
                continue
            print("  %-26s %6.1f MiB  %s" % (name, peak / mib, "ok" if within else "FAIL over"))
            if within:
                passed += 1
            else:
                failed += 1
    print("check_memory: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
