#!/usr/bin/env python3
"""The tree's structure check: no C function in src/, cli/ or train/ longer than LIMIT lines,
counted from the line its signature starts on to the line of its closing brace.

Functions are found by reading the C as written here (C11, no K&R definitions): comments,
strings and character constants are blanked first, preprocessor lines are set aside, and a
function is a `{` at file level whose text since the previous `;`, `}` or directive ends with a
parameter list `)` and is not an initialiser (`= {`), a struct, union or enum. The bodies of
`#define`s are read the same way, so a macro that defines a function (src/kernels) is measured
over its continuation lines.

    check_structure.py [--limit N] [--list] [--self-test] [paths...]

Prints each function over the limit as `path:first-last name (N lines)` and a last line
`check_structure: N passed, M failed` (a pass per function within the limit); exits 1 on a failure.
"""
import os
import re
import sys

LIMIT = 80
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DIRS = ("src", "cli", "train")
IDENT = re.compile(r"[A-Za-z_]\w*")
NOT_FUNCTIONS = {"struct", "union", "enum", "typedef"}


def blank_comments_and_strings(text):
    """The text with comments, string and character literals replaced by spaces (newlines
    kept, so offsets and line numbers stay those of the file)."""
    out = list(text)
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
        elif text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
        elif ch in "\"'":
            j = i + 1
            while j < n and text[j] != ch and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1, n)
        else:
            i += 1
            continue
        for k in range(i, j):
            if out[k] != "\n":
                out[k] = " "
        i = j
    return "".join(out)


def split_directives(text):
    """(code, macros): code is the text with every preprocessor line (continuations included)
    blanked; macros is a list of (offset, body) for each #define's replacement text,
    continuation backslashes blanked (comments and strings are blanked before, so a backslash
    left is a continuation), offset the body's place in the file."""
    code = list(text)
    macros = []
    pos, n = 0, len(text)
    while pos < n:
        nl = text.find("\n", pos)
        nl = n if nl < 0 else nl
        if not text[pos:nl].lstrip().startswith("#"):
            pos = nl + 1
            continue
        end = nl
        while text[pos:end].rstrip().endswith("\\") and end < n:  # continuation lines
            nxt = text.find("\n", end + 1)
            end = n if nxt < 0 else nxt
        directive = text[pos:end]
        m = re.match(r"\s*#\s*define\s+\w+(\([^)]*\))?", directive)
        if m:
            macros.append((pos + m.end(), directive[m.end():].replace("\\", " ")))
        for k in range(pos, end):
            if code[k] != "\n":
                code[k] = " "
        pos = end + 1
    return "".join(code), macros


def function_name(head):
    """The name of a function whose head (text before its `{`) ends with a parameter list, or
    None when the head is not a function's."""
    h = re.sub(r"\s*##\s*", "", head.rstrip())  # a macro's pasted name reads as one word
    if not h.endswith(")") or "=" in re.sub(r"\([^()]*\)", "", h):
        return None
    words = set(IDENT.findall(h.split("(")[0]))
    if words & NOT_FUNCTIONS:
        return None
    depth = 0
    for k in range(len(h) - 1, -1, -1):  # the '(' that opens the final parameter list
        if h[k] == ")":
            depth += 1
        elif h[k] == "(":
            depth -= 1
            if depth == 0:
                names = IDENT.findall(h[:k])
                return names[-1] if names else None
    return None


def functions_in(code, base, line_of):
    """(name, first line, last line) of each function defined at file level of code, whose
    offset 0 is offset `base` of the file."""
    found = []
    depth = 0
    head_start = 0
    k, n = 0, len(code)
    while k < n:
        ch = code[k]
        if ch == "{" and depth == 0:
            head = code[head_start:k]
            name = function_name(head)
            body_depth, j = 0, k
            while j < n:  # the matching brace
                if code[j] == "{":
                    body_depth += 1
                elif code[j] == "}":
                    body_depth -= 1
                    if body_depth == 0:
                        break
                j += 1
            if name:
                first = head_start + (len(head) - len(head.lstrip()))
                found.append((name, line_of(base + first), line_of(base + min(j, n - 1))))
            k = j + 1
            head_start = k
            continue
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == ";" and depth == 0:
            head_start = k + 1
        k += 1
    return found


def functions(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def line_of(off):
        lo, hi = 0, len(starts) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if starts[mid] <= off:
                lo = mid
            else:
                hi = mid - 1
        return lo + 1

    code, macros = split_directives(blank_comments_and_strings(text))
    found = functions_in(code, 0, line_of)
    for off, body in macros:
        found += [(name + " (macro)", a, b) for name, a, b in functions_in(body, off, line_of)]
    return found


def tree_files(paths):
    for top in paths:
        if os.path.isfile(top):
            yield top
            continue
        for d, subdirs, files in os.walk(top):
            subdirs.sort()
            for f in sorted(files):
                if f.endswith((".c", ".h")):
                    yield os.path.join(d, f)


SELF_TESTS = [
    # (source, expected [(name, first, last)])
    ("static int\nf(int a,\n  int b)\n{\n  return a + b;\n}\n", [("f", 1, 6)]),
    ("int g(void) { return '}'; } /* } */ // {\nint h(void)\n{\n}\n", [("g", 1, 1), ("h", 2, 4)]),
    ('static const char *s = "{";\nstatic int t[] = {1, 2};\nstruct S { int a; };\n', []),
    ("#define F(n) \\\n  static int n(void) \\\n  { \\\n    return 1; \\\n  }\nF(a)\n",
     [("n (macro)", 2, 5)]),
    ("#define G(n) static int n##_run(void) { return 0; }\n", [("n_run (macro)", 1, 1)]),
    ("static __attribute__((noinline)) void v(int x)\n{\n  if (x) {\n  }\n}\n", [("v", 1, 5)]),
    ("#if A\nint k(int a)\n#else\nint k(int a, int b)\n#endif\n{\n}\n", [("k", 2, 7)]),
]


def self_test():
    import tempfile

    passed = failed = 0
    for src, want in SELF_TESTS:
        with tempfile.NamedTemporaryFile("w", suffix=".c", delete=False) as f:
            f.write(src)
        got = functions(f.name)
        os.unlink(f.name)
        if got == want:
            passed += 1
        else:
            failed += 1
            print(f"self-test: {src!r}: found {got}, want {want}")
    return passed, failed


def main(argv):
    limit, show, paths = LIMIT, False, []
    args = iter(argv)
    for a in args:
        if a == "--limit":
            limit = int(next(args))
        elif a == "--list":
            show = True
        elif a == "--self-test":
            p, f = self_test()
            print(f"check_structure self-test: {p} passed, {f} failed")
            return 1 if f else 0
        else:
            paths.append(a)
    p0, f0 = self_test()  # the finder itself first: a check that cannot see is no check
    if not paths:
        paths = [os.path.join(ROOT, d) for d in DIRS]
    passed, failed = p0, f0
    for path in tree_files(paths):
        rel = os.path.relpath(path, ROOT)
        for name, first, last in functions(path):
            length = last - first + 1
            if show:
                print(f"{rel}:{first}-{last} {name} ({length} lines)")
            if length > limit:
                failed += 1
                print(f"{rel}:{first}-{last} {name} is {length} lines (limit {limit})")
            else:
                passed += 1
    print(f"check_structure: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
