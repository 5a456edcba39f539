#!/usr/bin/python3
"""`make install` into a temporary prefix, as a user of the library would use it: the files
are where the conventions put them; a small C program builds and links with
`pkg-config --cflags --libs segloss` and runs; the shared library exports only sl_ names; the
installed CLI says its version; a plain `import segloss` from the installed package (not the
source tree) finds the installed library; DESTDIR stages under a root; `make uninstall`
removes it all. Prints `check_install: N passed, M failed`."""
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("BUILD", "build")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import checklib  # noqa: E402
from checklib import check  # noqa: E402


def sh(cmd, env=None, cwd=ROOT):
    r = subprocess.run(cmd, shell=isinstance(cmd, str), env=env, cwd=cwd, capture_output=True,
                       text=True)
    return r.returncode, r.stdout + r.stderr


def version():
    for line in open(os.path.join(ROOT, "include", "segloss.h")):
        if line.startswith("#define SL_VERSION_STRING"):
            return line.split('"')[1]
    return "?"


PROG = r"""
#include <segloss.h>
#include <segloss_data.h>
#include <stdio.h>
#include <string.h>
int main(void)
{
    float x[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int32_t y[4] = {0, 1, 1, 0};
    sl_batch b;
    memset(&b, 0, sizeof b);
    b.shape.ndim = 4;
    b.shape.dim[0] = 1; b.shape.dim[1] = 2; b.shape.dim[2] = 2; b.shape.dim[3] = 2;
    b.input = x;
    b.labels = y;
    const sl_loss_info *ce = sl_loss_find("ce");
    sl_options o;
    sl_options_for(ce, &o);
    static unsigned char ws[1 << 16];
    sl_output out = {0, NULL, NULL, ws, sizeof ws, 1};
    sl_error err;
    if (sl_loss_eval(ce, &o, &b, SL_IMPL_FAST, &out, &err) != SL_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    sl_rng r;
    sl_rng_seed(&r, 0);
    printf("%s %s %.6f %s %lld\n", SL_VERSION_STRING, sl_version(), out.loss,
           sl_dtype_name(SL_DT_I32), (long long)sl_rng_randint(&r, 90));
    return strcmp(SL_VERSION_STRING, sl_version()) != 0;
}
"""


def sanitizer(lib):
    """(cflags, env additions) when the build is sanitized: the program and Python need its
    runtime."""
    if not checklib.sanitized(lib):
        return [], {}
    pre = []
    for rt in ("asan", "ubsan"):
        _, p = sh(["gcc", "-print-file-name=lib%s.so" % rt])
        if os.path.isabs(p.strip()):
            pre.append(p.strip())
    return ["-fsanitize=address,undefined"], {"LD_PRELOAD": " ".join(pre),
                                              "ASAN_OPTIONS": "detect_leaks=0"}


def main():
    v = version()
    soname = "libsegloss.so." + v.split(".")[0]
    with tempfile.TemporaryDirectory() as tmp:
        prefix = os.path.join(tmp, "prefix")
        rc, out = sh(["make", "--no-print-directory", "BUILD=" + BUILD, "PREFIX=" + prefix,
                      "install"])
        check(rc == 0, "make install: " + out[-2000:])
        pydir = os.path.join(prefix, "lib", "python%d.%d" % sys.version_info[:2], "dist-packages")
        files = ["include/segloss.h", "include/segloss_data.h", "lib/libsegloss.a", "lib/libsegloss.so." + v,
                 "lib/" + soname, "lib/libsegloss.so", "lib/pkgconfig/segloss.pc", "bin/segloss"]
        for f in files:
            check(os.path.exists(os.path.join(prefix, f)), "installed " + f)
        check(os.readlink(os.path.join(prefix, "lib", soname)) == "libsegloss.so." + v,
              "soname link")
        check(os.readlink(os.path.join(prefix, "lib", "libsegloss.so")) == soname, "dev link")
        for f in ("__init__.py", "_lib.py", "torch.py", "_installed.py"):
            check(os.path.exists(os.path.join(pydir, "segloss", f)), "installed python " + f)
        lib = os.path.join(prefix, "lib", "libsegloss.so." + v)
        _, dyn = sh(["readelf", "-d", lib])
        check("[%s]" % soname in dyn, "soname in the library: " + soname)
        # only the public names
        _, syms = sh(["nm", "-D", "--defined-only", lib])
        names = [ln.split()[-1] for ln in syms.splitlines() if len(ln.split()) == 3]
        bad = [n for n in names if not n.startswith("sl_") or n.startswith("sl__")]
        check(not bad and len(names) > 40, "exports: %d names, unexpected %s" % (len(names), bad[:8]))
        for n in ("sl_spec_eval", "sl_spec_stats", "sl_spec_finish", "sl_version"):
            check(n in names, "exports " + n)
        # the C program, built the pkg-config way
        env = dict(os.environ, PKG_CONFIG_PATH=os.path.join(prefix, "lib", "pkgconfig"))
        rc, flags = sh(["pkg-config", "--cflags", "--libs", "segloss"], env=env)
        check(rc == 0 and "-lsegloss" in flags and prefix in flags, "pkg-config: " + flags)
        rc, modv = sh(["pkg-config", "--modversion", "segloss"], env=env)
        check(modv.strip() == v, "pkg-config --modversion: " + modv)
        src = os.path.join(tmp, "prog.c")
        open(src, "w").write(PROG)
        san_flags, san_env = sanitizer(lib)
        exe = os.path.join(tmp, "prog")
        rc, out = sh(["cc", "-std=c11", "-Wall", "-Werror", src, "-o", exe,
                      "-Wl,-rpath," + os.path.join(prefix, "lib")] + san_flags + flags.split(),
                     env=env)
        check(rc == 0, "cc prog.c $(pkg-config --cflags --libs segloss): " + out)
        if rc == 0:
            _, needed = sh(["readelf", "-d", exe])
            check("[%s]" % soname in needed, "the program links the shared library")
            rc, out = sh([exe], env=dict(os.environ, **san_env))
            check(rc == 0 and out.strip() == "%s %s 0.693147 int32 44" % (v, v), "program ran: " + out)
        rc, out = sh([os.path.join(prefix, "bin", "segloss"), "--version"])
        check(rc == 0 and out.strip() == "segloss " + v, "segloss --version: " + out)
        # the installed Python package, away from the source tree
        penv = {k: val for k, val in os.environ.items() if k not in ("SEGLOSS_LIB", "PYTHONPATH")}
        penv.update(san_env, PYTHONPATH=pydir, PYTHONDONTWRITEBYTECODE="1")
        rc, out = sh([sys.executable, "-c",
                      "import segloss, numpy as np; print(segloss.__file__); "
                      "print(segloss._lib.path); print(segloss.__version__); "
                      "print('%.6f' % segloss.loss('ce', np.zeros((1, 2, 2, 2)), "
                      "np.array([[[0, 1], [1, 0]]])))"], env=penv, cwd=tmp)
        lines = out.strip().splitlines()
        check(rc == 0 and len(lines) == 4, "import segloss (installed): " + out[-2000:])
        if rc == 0 and len(lines) == 4:
            check(lines[0].startswith(pydir), "the installed package: " + lines[0])
            check(lines[1] == os.path.join(prefix, "lib", soname), "the installed library: " + lines[1])
            check(lines[2] == v and lines[3] == "0.693147", "values: " + out)
        rc, out = sh(["make", "--no-print-directory", "BUILD=" + BUILD, "PREFIX=" + prefix,
                      "uninstall"])
        check(rc == 0, "make uninstall: " + out)
        left = [os.path.join(d, f) for d, _, fs in os.walk(prefix) for f in fs]
        check(not left, "left after uninstall: %s" % left[:5])
        # DESTDIR: staged under a root, paths inside the files are the final ones
        stage = os.path.join(tmp, "stage")
        rc, out = sh(["make", "--no-print-directory", "BUILD=" + BUILD, "PREFIX=/opt/sl",
                      "DESTDIR=" + stage, "install"])
        check(rc == 0 and os.path.exists(os.path.join(stage, "opt/sl/lib/libsegloss.so." + v)),
              "make install DESTDIR: " + out[-2000:])
        pc = os.path.join(stage, "opt/sl/lib/pkgconfig/segloss.pc")
        check(os.path.exists(pc) and "prefix=/opt/sl\n" in open(pc).read() and stage not in open(pc).read(),
              "segloss.pc under DESTDIR names the final prefix")
        rc, out = sh(["make", "--no-print-directory", "BUILD=" + BUILD, "PREFIX=/opt/sl",
                      "DESTDIR=" + stage, "uninstall"])
        left = [os.path.join(d, f) for d, _, fs in os.walk(stage) for f in fs]
        check(rc == 0 and not left, "make uninstall DESTDIR: left %s" % left[:5])
    return checklib.summary("check_install")


if __name__ == "__main__":
    sys.exit(main())
