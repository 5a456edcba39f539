#!/usr/bin/python3
"""Runs the Python package's pytest suite (tests/python/: the numpy API and segloss.torch
against PyTorch, bad input, the 2-rank DDP equivalence) on the library of $BUILD, and prints
`check_python: N passed, M failed` (pytest's counts; errors count as failures). With a
sanitizer build the sanitizer's runtime is preloaded into Python."""
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("BUILD", "build")
LIB = os.path.join(ROOT, BUILD, "libsegloss.so")


def sanitizer_env(env):
    """A library built with -fsanitize=address needs its runtime loaded before Python's."""
    try:
        dyn = subprocess.run(["readelf", "-d", LIB], capture_output=True, text=True).stdout
    except OSError:
        return
    pre = []
    for rt in ("asan", "ubsan"):
        if "lib%s.so" % rt in dyn:
            path = subprocess.run(["gcc", "-print-file-name=lib%s.so" % rt], capture_output=True,
                                  text=True).stdout.strip()
            if os.path.isabs(path):
                pre.append(path)
    if pre:
        env["LD_PRELOAD"] = " ".join(pre)
        # Python and torch allocate for the life of the process; leaks are not the question here
        env["ASAN_OPTIONS"] = "detect_leaks=0:" + env.get("ASAN_OPTIONS", "")


def main():
    env = dict(os.environ)
    env["SEGLOSS_LIB"] = LIB
    env["PYTHONPATH"] = os.path.join(ROOT, "python") + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    sanitizer_env(env)
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
           os.path.join(ROOT, "tests", "python")] + sys.argv[1:]
    r = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
    sys.stdout.write(r.stdout)
    sys.stdout.write(r.stderr)
    last = (r.stdout.strip().splitlines() or [""])[-1]
    counts = {k: int(n) for n, k in re.findall(r"(\d+) (passed|failed|errors?|skipped)", last)}
    passed = counts.get("passed", 0)
    failed = counts.get("failed", 0) + counts.get("error", 0) + counts.get("errors", 0)
    if r.returncode != 0 and failed == 0:
        failed = 1  # pytest itself failed (an import, a collection error)
    print("check_python: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
