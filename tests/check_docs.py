#!/usr/bin/python3
"""The README's and the docs' example outputs are what the build prints.

A fenced block in README.md or docs/*.md that shows real output is marked by an HTML comment
on the line before it (invisible when the Markdown is rendered):

  <!-- example: run COMMAND -->      the block is COMMAND's whole output (stdout)
  <!-- example: excerpt COMMAND -->  each line of the block is a line of COMMAND's output, in
                                     the same order (rows may be left out)
  <!-- example: json COMMAND -->     the block, with its `...` left out, is JSON that
                                     COMMAND's JSON output contains: every key shown with the
                                     value shown; a list shown is the start of the real list
  <!-- example: session -->          `$ COMMAND` lines (a trailing backslash continues one),
                                     each followed by its whole output (stdout and stderr)

Commands run with bash in one fresh temporary folder per block, with the build folder first on
PATH (so `segloss` is $SEGLOSS), once on each vector path the CPU has (SEGLOSS_ISA) and on one
and two threads: the outputs must not depend on either. Trailing spaces are ignored. docs/cli.md must also be what
scripts/cli-doc.sh generates from the build. Run with /usr/bin/python3; ends with
`check_docs: N passed, M failed`.
"""
import glob
import json
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import checklib  # noqa: E402
from checklib import check, fail, ok  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MARK = re.compile(r"^<!-- example: (run|excerpt|json|session)\s*(.*?)\s*-->\s*$")


def blocks(path):
    """(line number, kind, command, block text) for every marked block of a Markdown file."""
    lines = open(path, encoding="utf-8").read().split("\n")
    out = []
    for i, line in enumerate(lines):
        m = MARK.match(line)
        if not m:
            continue
        if i + 1 >= len(lines) or not lines[i + 1].startswith("```"):
            fail("%s:%d: an example mark not followed by a fenced block" % (path, i + 1))
            continue
        j = i + 2
        while j < len(lines) and not lines[j].startswith("```"):
            j += 1
        out.append((i + 1, m.group(1), m.group(2), "\n".join(lines[i + 2:j])))
    return out


RUN_ENV = {}


def vector_paths():
    """scalar, and avx2 and avx512 where the CPU has them (as tests/run.sh decides)."""
    flags = set()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    except OSError:
        pass
    paths = ["scalar"]
    if {"avx2", "fma"} <= flags:
        paths.append("avx2")
    if {"avx512f", "avx512dq", "avx512bw", "avx512vl", "fma"} <= flags:
        paths.append("avx512")
    return paths


def env():
    e = dict(os.environ)
    e.update(RUN_ENV)
    segloss = os.path.abspath(os.path.join(ROOT, checklib.SEGLOSS))
    e["PATH"] = os.path.dirname(segloss) + os.pathsep + e.get("PATH", "")
    return e


def shell(cmd, cwd, merge=False):
    p = subprocess.run(["bash", "-c", cmd], cwd=cwd, env=env(), stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT if merge else subprocess.PIPE, timeout=600)
    return p.returncode, p.stdout.decode("utf-8", "replace")


def norm(text):
    return [line.rstrip() for line in text.rstrip("\n").split("\n")]


def first_difference(want, got):
    for k, (a, b) in enumerate(zip(want, got)):
        if a != b:
            return "line %d: docs %r, build %r" % (k + 1, a, b)
    return "docs have %d lines, the build printed %d" % (len(want), len(got))


def contains(want, got, where="$"):
    """Why the JSON value want is not contained in got, or None."""
    if isinstance(want, dict):
        if not isinstance(got, dict):
            return "%s: an object in the docs, %r in the output" % (where, got)
        for k, v in want.items():
            if k not in got:
                return "%s: key %r is not in the output" % (where, k)
            why = contains(v, got[k], "%s.%s" % (where, k))
            if why:
                return why
        return None
    if isinstance(want, list):
        if not isinstance(got, list) or len(got) < len(want):
            return "%s: list %r in the docs, %r in the output" % (where, want, got)
        for k, v in enumerate(want):
            why = contains(v, got[k], "%s[%d]" % (where, k))
            if why:
                return why
        return None
    return None if want == got else "%s: %r in the docs, %r in the output" % (where, want, got)


def check_block(path, line, kind, cmd, text):
    tag = "%s:%d [%s]" % (os.path.relpath(path, ROOT), line,
                          ", ".join("%s=%s" % kv for kv in sorted(RUN_ENV.items())))
    with tempfile.TemporaryDirectory(prefix="check_docs") as tmp:
        if kind == "session":
            check_session(tag, text, tmp)
            return
        rc, out = shell(cmd, tmp)
        if rc != 0:
            fail("%s: `%s` exited %d" % (tag, cmd, rc))
            return
        if kind == "run":
            want, got = norm(text), norm(out)
            check(want == got, "%s: `%s`: %s" % (tag, cmd, first_difference(want, got)))
        elif kind == "excerpt":
            got = norm(out)
            k = 0
            for w in norm(text):
                while k < len(got) and got[k] != w:
                    k += 1
                if k == len(got):
                    fail("%s: `%s`: line %r is not in the output (in this order)" % (tag, cmd, w))
                    return
                k += 1
            ok()
        else:
            shown = re.sub(r",\s*([\]}])", r"\1", re.sub(r"\.\.\.,?", "", text))
            try:
                want = json.loads(shown)
                got = json.loads(out)
            except ValueError as e:
                fail("%s: `%s`: not JSON: %s" % (tag, cmd, e))
                return
            why = contains(want, got)
            check(why is None, "%s: `%s`: %s" % (tag, cmd, why))


def check_session(tag, text, tmp):
    lines = text.split("\n")
    steps = []  # (command, expected output lines)
    k = 0
    while k < len(lines):
        if not lines[k].startswith("$ "):
            fail("%s: session line %r is neither a command nor its output" % (tag, lines[k]))
            return
        cmd = lines[k][2:]
        while cmd.endswith("\\") and k + 1 < len(lines):
            k += 1
            cmd = cmd[:-1] + " " + lines[k].strip()
        k += 1
        want = []
        while k < len(lines) and not lines[k].startswith("$ "):
            want.append(lines[k])
            k += 1
        steps.append((cmd, want))
    for cmd, want in steps:
        rc, out = shell(cmd, tmp, merge=True)
        got = norm(out) if out else []
        want = [w.rstrip() for w in want]
        check(want == got, "%s: `%s`: %s" % (tag, cmd, first_difference(want, got)))


def main():
    files = [os.path.join(ROOT, "README.md")] + sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))
    marked = [(path,) + b for path in files for b in blocks(path)]
    n = len(marked)
    for k, isa in enumerate(vector_paths()):
        RUN_ENV.clear()
        RUN_ENV.update({"SEGLOSS_ISA": isa, "OMP_NUM_THREADS": str(1 + k % 2)})
        for path, line, kind, cmd, text in marked:
            check_block(path, line, kind, cmd, text)
    check(n >= 5, "only %d marked examples found" % n)
    # docs/cli.md is the build's own help.
    with tempfile.TemporaryDirectory(prefix="check_docs") as tmp:
        gen = os.path.join(tmp, "cli.md")
        p = subprocess.run(["bash", os.path.join(ROOT, "scripts", "cli-doc.sh"),
                            os.path.abspath(os.path.join(ROOT, checklib.SEGLOSS)), gen],
                           cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if p.returncode != 0:
            fail("scripts/cli-doc.sh exited %d: %s" % (p.returncode, p.stderr.decode().strip()))
        else:
            want = norm(open(os.path.join(ROOT, "docs", "cli.md")).read())
            got = norm(open(gen).read())
            check(want == got, "docs/cli.md is not what scripts/cli-doc.sh generates: %s; "
                  "run scripts/cli-doc.sh" % first_difference(want, got))
    print("marked examples: %d" % n)
    return checklib.summary("check_docs")


if __name__ == "__main__":
    sys.exit(main())
