#!/usr/bin/python3
"""Peak resident memory of `segloss loss`, against the bytes of its inputs and outputs.

For each spec, S1-sized inputs (float32 logits [8, 4, 512, 512], int32 labels) are written as
.npy files, `segloss loss SPEC --input X --target Y --grad G` runs in a fresh process, and its
peak resident set (from wait4's rusage) is compared with inputs + outputs (the gradient). The
difference is what segloss itself costs: the program, its libraries, the workspace (the
program alone, `segloss list`, is shown for scale; its figure includes this script's share).

The bound segloss aims at is inputs + outputs + one input-sized workspace, over the
program alone: each row says whether the spec is within it, and with --check the script exits 1
when one is not.

    /usr/bin/python3 bench/memory.py [--segloss build/segloss] [--size 8,4,512,512] [--check]
                                     [SPEC ...]
"""
import argparse
import os
import subprocess
import sys
import tempfile

# The data is written by a child process: this one stays small (a child starts as a copy of its
# parent, and its peak counts that copy), so numpy is never imported here.
MAKE_DATA = """
import sys
import numpy as np
shape = tuple(int(v) for v in sys.argv[1].split(","))
rng = np.random.default_rng(1)
np.save(sys.argv[2], (rng.standard_normal(shape, dtype=np.float32) * 2).astype(np.float32))
np.save(sys.argv[3], rng.integers(0, shape[1], size=(shape[0],) + shape[2:], dtype=np.int32))
"""


def peak_kib(cmd):
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, ru = os.wait4(proc.pid, 0)
    err = proc.stderr.read().decode()
    proc.stderr.close()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.exit("memory.py: %s failed (%d): %s" % (" ".join(cmd), code, err.strip()))
    return ru.ru_maxrss  # KiB on Linux


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--segloss", default="build/segloss")
    ap.add_argument("--size", default="8,4,512,512")
    ap.add_argument("--check", action="store_true",
                    help="exit 1 when a spec's peak exceeds the bound")
    ap.add_argument("specs", nargs="*",
                    default=["ce", "missing_ce", "dice + ce", "bce", "lovasz", "boundary"])
    args = ap.parse_args()
    shape = tuple(int(v) for v in args.size.split(","))
    numel = 1
    for v in shape:
        numel *= v
    mib = 1024.0 * 1024.0
    with tempfile.TemporaryDirectory() as d:
        xp, yp, gp = (os.path.join(d, n) for n in ("x.npy", "y.npy", "g.npy"))
        subprocess.run(["/usr/bin/python3", "-c", MAKE_DATA, args.size, xp, yp], check=True)
        nx, ny = 4 * numel, 4 * numel // shape[1]
        # the program alone: segloss list
        base = peak_kib([args.segloss, "list"]) * 1024.0
        io = nx + ny + nx
        print("segloss loss at %s: inputs %.1f MiB (logits float32, labels int32), output %.1f MiB "
              "(the gradient); the program alone (segloss list) %.1f MiB"
              % ("x".join(map(str, shape)), (nx + ny) / mib, nx / mib, base / mib))
        # the bound: inputs + outputs + one input-sized workspace (the logits), over the program
        bound = base + io + nx
        print("%-16s %9s %11s %18s %10s" % ("spec", "peak MiB", "in+out MiB",
                                            "peak - in - out MiB", "bound MiB"))
        over = []
        for spec in args.specs:
            peak = peak_kib([args.segloss, "loss", spec, "--input", xp, "--target", yp,
                             "--grad", gp]) * 1024.0
            within = peak <= bound
            if not within:
                over.append(spec)
            print("%-16s %9.1f %11.1f %18.1f %10.1f %s" % (
                spec, peak / mib, io / mib, (peak - io) / mib, bound / mib,
                "within" if within else "OVER"))
        if over:
            print("memory.py: over the bound: %s" % ", ".join(over))
        if over and args.check:
            sys.exit(1)


if __name__ == "__main__":
    main()
