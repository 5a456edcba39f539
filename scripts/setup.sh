#!/usr/bin/env bash
# Checks for the tools the project needs and installs the missing ones through apt where apt
# exists (Debian and derivatives); elsewhere it names what is missing and fails.
#   setup.sh build   a C compiler with OpenMP, make, zlib (header and library), OpenBLAS (the
#                    trainer's matrix products)
#   setup.sh test    the above, plus /usr/bin/python3 with numpy, torch, scikit-image, scipy and
#                    pytest, and pkg-config (the install test)
#   setup.sh fuzz    the build's, plus clang and its runtime with libFuzzer
# Each need is one line below: the Debian package that provides it, what it is, and a probe (a
# shell command that succeeds when the need is met). Nothing is installed when every probe passes.
set -euo pipefail
mode=${1:-build}
CC=${CC:-cc}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Compiles and links a C program that includes $1, with the flags that follow.
ctest() {
    local inc=$1
    shift
    printf '#include <%s>\nint main(void) { return 0; }\n' "$inc" >"$tmp/t.c"
    "$CC" "$tmp/t.c" -o "$tmp/t" "$@" >/dev/null 2>&1
}
# clang builds and links a libFuzzer harness.
fuzztest() {
    printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n);\n%s\n' \
        'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { return d && n; }' \
        >"$tmp/f.c"
    command -v clang >/dev/null && clang -fsanitize=fuzzer "$tmp/f.c" -o "$tmp/f" >/dev/null 2>&1
}
# /usr/bin/python3 imports module $1.
pyimport() { [ -x /usr/bin/python3 ] && /usr/bin/python3 -c "import $1" >/dev/null 2>&1; }

join() { # the arguments, separated by "; "
    local out=$1
    shift
    for a in "$@"; do out="$out; $a"; done
    printf '%s' "$out"
}

packages=()
missing=()
want() { # package, description, probe
    if ! eval "$3"; then
        packages+=("$1")
        missing+=("$2")
    fi
}
probe_all() {
    packages=()
    missing=()
    want gcc "a C compiler with OpenMP ($CC -fopenmp)" 'ctest omp.h -fopenmp'
    want make "make" 'command -v make >/dev/null'
    want zlib1g-dev "zlib's header and library (zlib.h, -lz)" 'ctest zlib.h -lz'
    want libopenblas-dev "OpenBLAS (cblas.h, -lopenblas)" 'ctest cblas.h -lopenblas'
    if [ "$mode" = fuzz ]; then
        want clang "clang" 'command -v clang >/dev/null'
        want libclang-rt-14-dev "libFuzzer (clang -fsanitize=fuzzer)" 'fuzztest'
    fi
    if [ "$mode" = test ]; then
        want python3 "/usr/bin/python3" '[ -x /usr/bin/python3 ]'
        want python3-numpy "numpy for /usr/bin/python3" 'pyimport numpy'
        want python3-torch "PyTorch for /usr/bin/python3" 'pyimport torch'
        want python3-skimage "scikit-image for /usr/bin/python3" 'pyimport skimage'
        want python3-scipy "SciPy for /usr/bin/python3" 'pyimport scipy'
        want python3-pytest "pytest for /usr/bin/python3" 'pyimport pytest'
        want pkg-config "pkg-config" 'command -v pkg-config >/dev/null'
    fi
}

probe_all
[ ${#packages[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
    echo "setup: missing, and no apt-get to install it: $(join "${missing[@]}")" >&2
    exit 1
fi
echo "setup: installing ${packages[*]}" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${packages[@]}" >/dev/null
probe_all
if [ ${#packages[@]} -ne 0 ]; then
    echo "setup: still missing after apt-get install: $(join "${missing[@]}")" >&2
    exit 1
fi
