#!/usr/bin/env bash
# Every user error of the CLI: one line on stderr that names the problem, the right non-zero
# exit code, no crash, and no output file left behind.
set -u
SEGLOSS=${SEGLOSS:-build/segloss}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0
fail=0

# npy FILE DESCR SHAPE [printf-format-of-data...]: a hand-made .npy (version 1.0).
npy() {
    local f=$1 descr=$2 shape=$3
    shift 3
    local h="{'descr': '$descr', 'fortran_order': False, 'shape': $shape, }"
    while [ $(((${#h} + 11) % 64)) -ne 0 ]; do h="$h "; done
    h="$h"$'\n'
    local len=${#h}
    {
        printf '\x93NUMPY\x01\x00'
        printf "\\x$(printf %02x $((len % 256)))\\x$(printf %02x $((len / 256)))"
        printf '%s' "$h"
        [ $# -gt 0 ] && printf "$@"
    } >"$f"
}

# expect CODE PATTERN OUTFILE -- command...: exit CODE, one stderr line matching PATTERN
# (case-insensitive), OUTFILE (or "-") not created.
expect() {
    local code=$1 pat=$2 out=$3
    shift 4
    [ "$out" != - ] && rm -f "$out"
    "$@" >"$T/stdout" 2>"$T/stderr"
    local rc=$?
    local lines
    lines=$(wc -l <"$T/stderr")
    local why=""
    [ "$rc" -eq "$code" ] || why="exit $rc, want $code"
    [ "$lines" -eq 1 ] || why="$why; $lines stderr lines"
    grep -qi -- "$pat" "$T/stderr" || why="$why; stderr lacks '$pat'"
    [ "$out" != - ] && [ -e "$out" ] && why="$why; $out was written"
    ls -a "$T" | grep -q '\.tmp\.\|^\.sl-' && why="$why; a temporary file was left"
    if [ -z "$why" ]; then
        pass=$((pass + 1))
    else
        fail=$((fail + 1))
        echo "FAIL: $*: $why"
        sed 's/^/    stderr: /' "$T/stderr" | head -3
    fi
}

# Valid files made by the CLI itself.
"$SEGLOSS" masks --n 2 --size 24,24 --seed 1 --out "$T/m.npy" --labels "$T/y.npy" \
    --onehot "$T/oh.npy" >/dev/null || { echo "cannot make masks"; exit 1; }
"$SEGLOSS" predict --labels "$T/y.npy" --out "$T/p.npy" --seed 2 >/dev/null ||
    { echo "cannot make predictions"; exit 1; }
# 1 image, 2 classes, 2 pixels
npy "$T/x.npy" '<f4' '(1, 2, 2)' '\x00\x00\x80\x3f\x00\x00\x00\x40\x00\x00\x00\x00\x00\x00\x80\x3f'
npy "$T/y2.npy" '|u1' '(1, 2)' '\x00\x01'
npy "$T/nan.npy" '<f4' '(1, 2, 2)' '\x00\x00\xc0\x7f\x00\x00\x00\x40\x00\x00\x00\x00\x00\x00\x80\x3f'
npy "$T/inf.npy" '<f4' '(1, 2, 2)' '\x00\x00\x80\x3f\x00\x00\x80\x7f\x00\x00\x00\x00\x00\x00\x80\x3f'
npy "$T/neg.npy" '<f4' '(1, 2, 2)' '\x00\x00\x80\xbf\x00\x00\x00\x40\x00\x00\x00\x00\x00\x00\x80\x3f'
npy "$T/ybad.npy" '|u1' '(1, 2)' '\x00\x07'
npy "$T/ybig.npy" '<i8' '(1, 2)' '\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00'
npy "$T/yshape.npy" '|u1' '(1, 3)' '\x00\x01\x01'
npy "$T/ann.npy" '|u1' '(1, 2)' '\x01\x00'
npy "$T/ann3.npy" '|u1' '(1, 2)' '\x01\x03'
npy "$T/annshape.npy" '|u1' '(2, 2)' '\x01\x01\x01\x01'
npy "$T/big.npy" '>f4' '(1, 2, 2)' '\x3f\x80\x00\x00\x3f\x80\x00\x00\x3f\x80\x00\x00\x3f\x80\x00\x00'
npy "$T/fort.npy" '<f4' '(1, 2, 2)' '\x00\x00\x80\x3f\x00\x00\x00\x40\x00\x00\x00\x00\x00\x00\x80\x3f'
sed -i 's/False/True /' "$T/fort.npy"
npy "$T/c8.npy" '<c8' '(1, 2, 2)' '%032d' 0
npy "$T/obj.npy" '|O' '(1, 2, 2)' '%032d' 0
npy "$T/short.npy" '<f4' '(1, 2, 2)' '\x00\x00\x80\x3f'
npy "$T/huge.npy" '<f4' '(4611686018427387904, 4, 4)' '\x00\x00\x80\x3f'
npy "$T/negdim.npy" '<f4' '(1, -2, 2)' '\x00\x00\x80\x3f'
npy "$T/x2d.npy" '<f4' '(2, 2)' '\x00\x00\x80\x3f\x00\x00\x00\x40\x00\x00\x00\x00\x00\x00\x80\x3f'
npy "$T/xu8.npy" '|u1' '(1, 2, 2)' '\x01\x02\x03\x04'
npy "$T/x1.npy" '<f4' '(1, 1, 2)' '\x00\x00\x80\x3f\x00\x00\x00\xc0'
npy "$T/yb2.npy" '|u1' '(1, 2)' '\x00\x02'
npy "$T/y1c.npy" '|u1' '(1, 1, 3)' '\x00\x01\x01'
head -c 30 "$T/x.npy" >"$T/trunc.npy"
printf 'NOTNUMPY\x01\x00\x10\x00' >"$T/magic.npy"
printf '\x93NUMPY\x01\x00\x20\x00{"descr": "<f4", "fortran_ord' >"$T/badhdr.npy"
printf '\x93NUMPY\x09\x00\x10\x00{}              \n' >"$T/version.npy"
printf '\x93NUMPY\x01\x00\x40\x00{'"'"'descr'"'"': '"'"'<f4'"'"', '"'"'shape'"'"': (1, 2, 2), }          \n' >"$T/nokey.npy"
: >"$T/empty.npy"
mkdir "$T/dir.npy"

L="$SEGLOSS loss"
# A loss run on the usual two-class input and labels that must fail: spec_err CODE PATTERN SPEC
# [more options].
spec_err() {
    local code=$1 pat=$2 spec=$3
    shift 3
    expect "$code" "$pat" "$G" -- $L "$spec" --input "$T/x.npy" --target "$T/y2.npy" "$@" --grad "$G"
}
G="$T/g.npy"
# Files
expect 1 "no such file" "$G" -- $L ce --input "$T/missing.npy" --target "$T/y2.npy" --grad "$G"
expect 1 "directory" "$G" -- $L ce --input "$T/dir.npy" --target "$T/y2.npy" --grad "$G"
expect 1 "trunc\|short\|expected" "$G" -- $L ce --input "$T/trunc.npy" --target "$T/y2.npy" --grad "$G"
expect 1 "magic\|not a .npy\|numpy" "$G" -- $L ce --input "$T/magic.npy" --target "$T/y2.npy" --grad "$G"
expect 1 "header\|trunc" "$G" -- $L ce --input "$T/badhdr.npy" --target "$T/y2.npy" --grad "$G"
expect 1 "version" "$G" -- $L ce --input "$T/version.npy" --target "$T/y2.npy" --grad "$G"
expect 1 "fortran_order\|missing\|key" "$G" -- $L ce --input "$T/nokey.npy" --target "$T/y2.npy" --grad "$G"
expect 1 "empty\|trunc\|short" "$G" -- $L ce --input "$T/empty.npy" --target "$T/y2.npy" --grad "$G"
expect 1 "big-endian" "$G" -- $L ce --input "$T/big.npy" --target "$T/y2.npy" --grad "$G"
expect 1 "fortran" "$G" -- $L ce --input "$T/fort.npy" --target "$T/y2.npy" --grad "$G"
expect 1 "c8\|dtype\|unsupported" "$G" -- $L ce --input "$T/c8.npy" --target "$T/y2.npy" --grad "$G"
expect 1 "|O\|dtype\|unsupported" "$G" -- $L ce --input "$T/obj.npy" --target "$T/y2.npy" --grad "$G"
expect 1 "bytes\|short\|trunc" "$G" -- $L ce --input "$T/short.npy" --target "$T/y2.npy" --grad "$G"
expect 1 "overflow\|too large\|exceed" "$G" -- $L ce --input "$T/huge.npy" --target "$T/y2.npy" --grad "$G"
expect 1 "negative\|shape" "$G" -- $L ce --input "$T/negdim.npy" --target "$T/y2.npy" --grad "$G"
expect 1 "uint8.*float32\|dtype" "$G" -- $L ce --input "$T/xu8.npy" --target "$T/y2.npy" --grad "$G"
expect 1 "spatial" "$G" -- $L ce --input "$T/x2d.npy" --target "$T/y2.npy" --grad "$G"
# Values
expect 1 "NaN at \[0, 0, 0\]" "$G" -- $L ce --input "$T/nan.npy" --target "$T/y2.npy" --grad "$G"
expect 1 "Inf at \[0, 0, 1\]" "$G" -- $L ce --input "$T/inf.npy" --target "$T/y2.npy" --grad "$G"
expect 1 "negative value" "$G" -- $L ce --input "$T/neg.npy" --target "$T/y2.npy" --input-kind probs --grad "$G"
expect 1 "label 7 at target\[0, 1\]" "$G" -- $L ce --input "$T/x.npy" --target "$T/ybad.npy" --grad "$G"
expect 1 "label" "$G" -- $L ce --input "$T/x.npy" --target "$T/ybig.npy" --grad "$G"
expect 1 "target shape \[1, 3\]" "$G" -- $L ce --input "$T/x.npy" --target "$T/yshape.npy" --grad "$G"
spec_err 1 "annotation matrix shape \[2, 2\]" ce --annotated "$T/annshape.npy"
spec_err 1 "must be 0 or 1" ce --annotated "$T/ann3.npy"
spec_err 1 "not annotated" marginal_ce --annotated "$T/ann.npy"
expect 1 "label" "$G" -- $L "ce(ignore_index=3)" --input "$T/x.npy" --target "$T/ybad.npy" --grad "$G"
# ignore_index with a per-class target (x.npy read as one): the losses and values that refuse it
expect 2 "not supported with a per-class target" "$G" -- $L "focal(ignore_index=1)" --input "$T/x.npy" --target "$T/x.npy" --grad "$G"
expect 2 "names no channel" "$G" -- $L "ce(ignore_index=2)" --input "$T/x.npy" --target "$T/x.npy" --grad "$G"
expect 2 "sigmoid=true" "$G" -- $L "dice(sigmoid=true,ignore_index=0)" --input "$T/x.npy" --target "$T/x.npy" --grad "$G"
# Specs and options
spec_err 2 "unknown loss 'foo'.*ce" foo
spec_err 2 "unknown parameter 'gamma'.*weight" "ce(gamma=2)"
spec_err 2 "reduction must be one of mean|sum|none" "ce(reduction=avg)"
spec_err 2 "label_smoothing" "ce(label_smoothing=1.5)"
spec_err 2 "label_smoothing" "ce(label_smoothing=-0.1)"
spec_err 2 "weight\[1\] = -1" "ce(weight=[1,-1])"
# binary segmentation: a softmax over one channel is constant; labels of one channel are {0, 1}
expect 2 "one channel.*sigmoid form bce" "$G" -- $L ce --input "$T/x1.npy" --target "$T/y2.npy" --grad "$G"
expect 2 "one channel.*dice(sigmoid=true)" "$G" -- $L dice --input "$T/x1.npy" --target "$T/y2.npy" --grad "$G"
expect 1 "label 2 .*out of range \[0, 2)" "$G" -- $L bce --input "$T/x1.npy" --target "$T/yb2.npy" --grad "$G"
expect 1 "target shape \[1, 1, 3\] matches neither" "$G" -- $L "dice(sigmoid=True)" --input "$T/x1.npy" --target "$T/y1c.npy" --grad "$G"
expect 2 "sigmoid must be one of false|true, got 'yes'" "$G" -- $L "dice(sigmoid=yes)" --input "$T/x1.npy" --target "$T/y2.npy" --grad "$G"
spec_err 1 "weight has 3 values but the input has 2 classes" "ce(weight=[1,1,1])"
spec_err 2 "denominator" "missing_ce(denominator=some)"
spec_err 2 "position" "ce(weight=[1,1]"
spec_err 2 "input-kind" ce --input-kind softmax
spec_err 2 "impl" ce --impl slow
spec_err 2 "unknown option --bogus" ce --bogus
expect 2 "--target is required" "$G" -- $L ce --input "$T/x.npy" --grad "$G"
expect 2 "spec is required" "$G" -- $L --input "$T/x.npy" --target "$T/y2.npy" --grad "$G"
expect 1 "cannot write" - -- $L ce --input "$T/x.npy" --target "$T/y2.npy" --grad "$T/nodir/g.npy"
expect 1 "cannot write" "$G" -- $L ce --input "$T/x.npy" --target "$T/y2.npy" --grad "$G" --loss-map "$T/nodir/m.npy"
expect 2 "unknown command" - -- "$SEGLOSS" frobnicate
# masks and draw: nonsense sizes and counts
M="$T/out.npy"
expect 2 "--n" "$M" -- "$SEGLOSS" masks --n 0 --size 32,32 --out "$M"
expect 2 "--n" "$M" -- "$SEGLOSS" masks --n -3 --size 32,32 --out "$M"
expect 2 "--n" "$M" -- "$SEGLOSS" masks --n abc --size 32,32 --out "$M"
expect 2 "--size" "$M" -- "$SEGLOSS" masks --n 2 --size 0,32 --out "$M"
expect 2 "--size" "$M" -- "$SEGLOSS" masks --n 2 --size 32 --out "$M"
expect 2 "--size" "$M" -- "$SEGLOSS" masks --n 2 --size 999999999,999999999 --out "$M"
expect 2 "--out" "$M" -- "$SEGLOSS" masks --n 2 --size 32,32
expect 2 "angles" "$M" -- "$SEGLOSS" masks --n 2 --size 32,32 --angles 1,2,3 --out "$M"
expect 2 "angle\|0..89\|range" "$M" -- "$SEGLOSS" masks --n 2 --size 32,32 --angles 1,90 --out "$M"
expect 2 "seed" "$M" -- "$SEGLOSS" masks --n 2 --size 32,32 --seed 1 --angles 1,2 --out "$M"
expect 2 "--shape" "$M" -- "$SEGLOSS" draw disk --shape 0,10 --center 1,1 --radius 2 --out "$M"
expect 2 "--shape" "$M" -- "$SEGLOSS" draw disk --shape -5,10 --center 1,1 --radius 2 --out "$M"
expect 2 "radius" "$M" -- "$SEGLOSS" draw disk --shape 10,10 --center 1,1 --radius -2 --out "$M"
expect 2 "radius\|number" "$M" -- "$SEGLOSS" draw disk --shape 10,10 --center 1,1 --radius nan --out "$M"
expect 2 "--radii" "$M" -- "$SEGLOSS" draw ellipse --shape 10,10 --center 1,1 --out "$M"
expect 2 "rows\|cols" "$M" -- "$SEGLOSS" draw polygon --shape 10,10 --rows 1,2,3 --cols 1,2 --out "$M"
expect 2 "triangle\|unknown\|shape kind\|ellipse" "$M" -- "$SEGLOSS" draw triangle --shape 10,10 --out "$M"
expect 2 "--n" - -- "$SEGLOSS" demo --n 0 --out "$T/demo"
expect 2 "--missing" - -- "$SEGLOSS" demo --n 2 --missing 99 --out "$T/demo"
expect 1 "objects\|present\|only" "$M" -- "$SEGLOSS" drop --labels "$T/y.npy" --k 7 --out "$M"
expect 1 "float\|dtype\|integer" "$M" -- "$SEGLOSS" predict --labels "$T/p.npy" --out "$M"

# Successes leave no temporary files and give exit 0.
"$SEGLOSS" loss ce --input "$T/p.npy" --target "$T/y.npy" --input-kind probs --grad "$G" --loss-map "$T/map.npy" >/dev/null
if [ $? -eq 0 ] && [ -s "$G" ] && [ -s "$T/map.npy" ] && ! ls "$T" | grep -q '\.tmp\.'; then
    pass=$((pass + 1))
else
    fail=$((fail + 1))
    echo "FAIL: a valid loss run"
fi
# Overflow: finite inputs and in-range parameters whose result is not finite are errors that name
# the loss and what overflowed, with no output written.
expect 1 "hausdorff_dt.*loss value overflowed" "$G" -- $L 'hausdorff_dt(alpha=1e3)' --input "$T/p.npy" --target "$T/y.npy" --grad "$G"
expect 1 "bce.*overflowed" "$G" -- $L 'bce(pos_weight=[10,1e300,0.5,0.5])' --input "$T/p.npy" --target "$T/y.npy" --grad "$G"
expect 1 "ce.*gradient overflowed" "$G" -- $L '1e300*ce' --input "$T/p.npy" --target "$T/y.npy" --grad "$G"
expect 1 "overflowed" "$G" -- $L '1e300*ce' --input "$T/p.npy" --target "$T/y.npy" --loss-map "$G"
expect 1 "overflowed" - -- $L '1e308*ce + 1e308*ce' --input "$T/p.npy" --target "$T/y.npy"
# A mean over nothing (every pixel ignored) is NaN as in PyTorch, not an error: plain output prints
# "nan" (never "-nan"), --json prints null (strict JSON), the gradient is zero.
npy "$T/yign.npy" '|u1' '(1, 2)' '\xff\xff'
out=$($L 'ce(ignore_index=255)' --input "$T/x.npy" --target "$T/yign.npy" 2>&1)
if [ "$out" = nan ]; then pass=$((pass + 1)); else
    fail=$((fail + 1))
    echo "FAIL: a mean over nothing prints '$out', want nan"
fi
out=$($L 'ce(ignore_index=255)' --input "$T/x.npy" --target "$T/yign.npy" --json 2>&1)
if /usr/bin/python3 -c 'import json,sys; d=json.loads(sys.argv[1], parse_constant=lambda c: 1/0); sys.exit(d["loss"] is not None)' "$out" 2>/dev/null; then
    pass=$((pass + 1))
else
    fail=$((fail + 1))
    echo "FAIL: --json of a mean over nothing is not strict JSON with loss null: $out"
fi
# The spec accepts exactly its grammar: no hex floats, no inf.
expect 2 "loss spec" - -- $L '0x1p3*ce' --input "$T/x.npy" --target "$T/y2.npy"
expect 2 "loss spec" - -- $L 'ce(weight=[0x1,1])' --input "$T/x.npy" --target "$T/y2.npy"
expect 2 "loss spec\|unknown loss" - -- $L 'inf*ce' --input "$T/x.npy" --target "$T/y2.npy"
# One line whatever the user typed: a newline or an escape in a spec or a file name is escaped.
expect 2 "loss spec" - -- $L $'ce\nnope' --input "$T/x.npy" --target "$T/y2.npy"
expect 2 'x1b' - -- $L $'\x1b[31mce' --input "$T/x.npy" --target "$T/y2.npy"
expect 1 'no such file' - -- $L ce --input "$T/a"$'\n'"b.npy" --target "$T/y2.npy"
printf '\x93NUMPY\x01\x00\x10\x00{\x07\n\x1b[2J        \n' >"$T/ctl.npy"
expect 1 'x07\|x1b' - -- $L ce --input "$T/ctl.npy" --target "$T/y2.npy"
# The same file for two outputs is refused before anything runs; an existing one is kept.
echo keep >"$G"
expect 2 "same file" - -- $L ce --input "$T/x.npy" --target "$T/y2.npy" --grad "$G" --loss-map "$G"
expect 2 "same file" - -- $L ce --input "$T/x.npy" --target "$T/y2.npy" --grad "$G" --loss-map "$T/./g.npy"
if [ "$(cat "$G")" = keep ]; then pass=$((pass + 1)); else
    fail=$((fail + 1))
    echo "FAIL: --grad and --loss-map on one file changed it"
fi
rm -f "$G"
# metrics trusts no label: a huge one is refused at once, before anything is allocated for it
npy "$T/ybig.npy" '<i4' '(1, 2)' '\x00\x2d\x31\x01\x00\x00\x00\x00'
expect 1 "20000000.*classes" - -- "$SEGLOSS" metrics --pred "$T/ybig.npy" --target "$T/y2.npy"
expect 1 "out of range" - -- "$SEGLOSS" metrics --pred "$T/ybig.npy" --target "$T/y2.npy" --classes 4
expect 2 "classes" - -- "$SEGLOSS" metrics --pred "$T/y2.npy" --target "$T/y2.npy" --classes 1000000
# threads and the benchmark's sizes
expect 2 "threads" "$G" -- $L ce --input "$T/p.npy" --target "$T/y.npy" --threads 0 --grad "$G"
expect 2 "threads" "$G" -- $L ce --input "$T/p.npy" --target "$T/y.npy" --threads two --grad "$G"
expect 2 "size" - -- "$SEGLOSS" bench --size 1,2
expect 2 "size" - -- "$SEGLOSS" bench --size 8,4,512,0
expect 2 "threads" - -- "$SEGLOSS" bench --threads 1,0
expect 2 "reps" - -- "$SEGLOSS" bench --reps 0
expect 2 "unknown loss\|loss spec" - -- "$SEGLOSS" bench --loss "nope" --size 1,2,8,8 --reps 1

# scripts/setup.sh off Debian: with no apt-get or dpkg on PATH it passes when the tools are
# there, and names what is missing in one line (exit 1) when they are not.
mkdir -p "$T/bin"
for f in /usr/bin/* /bin/*; do
    b=$(basename "$f")
    case $b in apt* | dpkg*) continue ;; esac
    [ -e "$T/bin/$b" ] || ln -s "$f" "$T/bin/$b"
done
if PATH="$T/bin" bash scripts/setup.sh build >"$T/stdout" 2>&1; then pass=$((pass + 1)); else
    fail=$((fail + 1))
    echo "FAIL: setup.sh build without apt-get: $(cat "$T/stdout")"
fi
expect 1 "no apt-get.*C compiler" - -- env PATH="$T/bin" CC="$T/no-such-cc" bash scripts/setup.sh build

# The trainer: images, train, infer, compare. A tiny model to spoil.
"$SEGLOSS" train --loss ce --steps 1 --size 16,16 --width 2 --n 16 --threads 1 --out "$T/tr" \
    >/dev/null || { echo "cannot train a tiny model"; exit 1; }
"$SEGLOSS" images --n 2 --size 16,16 --out "$T/im.npy" --labels "$T/iml.npy" >/dev/null ||
    { echo "cannot make images"; exit 1; }
MD="$T/tr/model.slm"
head -c 100 "$MD" >"$T/trunc.slm"
head -c $(($(wc -c <"$MD") - 4)) "$MD" >"$T/short.slm"
printf 'not a model at all\n' >"$T/junk.slm"
cp "$MD" "$T/flip.slm"
printf '\x55' | dd of="$T/flip.slm" bs=1 seek=$(($(wc -c <"$MD") / 2)) conv=notrunc 2>/dev/null
npy "$T/im3.npy" '<f4' '(1, 3, 4, 4)' '%s' "$(head -c 192 /dev/zero | tr '\0' 'A')"
npy "$T/im6.npy" '<f4' '(1, 1, 6, 6)' '%s' "$(head -c 144 /dev/zero | tr '\0' 'A')"
npy "$T/imi.npy" '<i4' '(1, 1, 4, 4)' '%s' "$(head -c 64 /dev/zero | tr '\0' 'A')"
npy "$T/imnan.npy" '<f4' '(1, 1, 4, 4)' '\x00\x00\xc0\x7f%s' "$(head -c 60 /dev/zero | tr '\0' 'A')"
P="$T/probs.npy"
TR="$SEGLOSS train --steps 1 --size 16,16 --width 2 --n 16 --threads 1"
expect 2 "--loss" "$T/t1/model.slm" -- $TR --out "$T/t1"
expect 2 "unknown loss\|nope" "$T/t1/model.slm" -- $TR --loss nope --out "$T/t1"
expect 2 "parse\|expected\|spec\|unknown" "$T/t1/model.slm" -- $TR --loss "ce(" --out "$T/t1"
expect 2 "unknown.*key\|unknown parameter\|bogus" "$T/t1/model.slm" -- $TR --loss "ce(bogus=1)" --out "$T/t1"
expect 2 "--missing" "$T/t1/model.slm" -- $TR --loss ce --missing 1.5 --out "$T/t1"
expect 2 "--missing-classes" "$T/t1/model.slm" -- $TR --loss ce --missing-classes 0,4 --out "$T/t1"
expect 2 "--epochs\|--steps" "$T/t1/model.slm" -- $TR --loss ce --epochs 2 --out "$T/t1"
expect 2 "--size\|multiple" "$T/t1/model.slm" -- "$SEGLOSS" train --loss ce --size 30,30 --out "$T/t1"
expect 2 "--batch" "$T/t1/model.slm" -- $TR --loss ce --batch 0 --out "$T/t1"
expect 2 "--lr" "$T/t1/model.slm" -- $TR --loss ce --lr -1 --out "$T/t1"
expect 2 "--threads" "$T/t1/model.slm" -- $TR --loss ce --threads 0 --out "$T/t1"
expect 2 "--width" "$T/t1/model.slm" -- $TR --loss ce --width 0 --out "$T/t1"
expect 2 "unknown option" "$T/t1/model.slm" -- $TR --loss ce --bogus --out "$T/t1"
expect 2 "--model" "$P" -- "$SEGLOSS" infer --input "$T/im.npy" --out "$P"
expect 1 "nothere\|no such\|cannot" "$P" -- "$SEGLOSS" infer --model "$T/nothere.slm" --input "$T/im.npy" --out "$P"
expect 1 "trunc\|short\|malformed\|model" "$P" -- "$SEGLOSS" infer --model "$T/trunc.slm" --input "$T/im.npy" --out "$P"
expect 1 "trunc\|short\|malformed\|model" "$P" -- "$SEGLOSS" infer --model "$T/short.slm" --input "$T/im.npy" --out "$P"
expect 1 "magic\|not a\|model" "$P" -- "$SEGLOSS" infer --model "$T/junk.slm" --input "$T/im.npy" --out "$P"
expect 1 "checksum\|corrupt\|model" "$P" -- "$SEGLOSS" infer --model "$T/flip.slm" --input "$T/im.npy" --out "$P"
expect 1 "images must be\|\[1, 3, 4, 4\]" "$P" -- "$SEGLOSS" infer --model "$MD" --input "$T/im3.npy" --out "$P"
expect 1 "multiples of 4\|\[1, 1, 6, 6\]" "$P" -- "$SEGLOSS" infer --model "$MD" --input "$T/im6.npy" --out "$P"
expect 1 "float32\|int32" "$P" -- "$SEGLOSS" infer --model "$MD" --input "$T/imi.npy" --out "$P"
expect 1 "finite" "$P" -- "$SEGLOSS" infer --model "$MD" --input "$T/imnan.npy" --out "$P"
expect 1 "labels must be" "$P" -- "$SEGLOSS" infer --model "$MD" --input "$T/im.npy" --labels "$T/y.npy" --out "$P"
expect 1 "not.*npy\|magic\|npy" "$P" -- "$SEGLOSS" infer --model "$MD" --input "$T/junk.slm" --out "$P"
expect 2 "--n" "$M" -- "$SEGLOSS" images --n 0 --size 16,16 --out "$M" --labels "$T/l.npy"
expect 2 "--size\|at least" "$M" -- "$SEGLOSS" images --n 2 --size 8,8 --out "$M" --labels "$T/l.npy"
expect 2 "--missing" "$M" -- "$SEGLOSS" images --n 2 --size 16,16 --missing 2 --out "$M" --labels "$T/l.npy"
expect 2 "--missing-classes" "$M" -- "$SEGLOSS" images --n 2 --size 16,16 --missing 0.5 --missing-classes 4 --out "$M" --labels "$T/l.npy"
expect 2 "--labels" "$M" -- "$SEGLOSS" images --n 2 --size 16,16 --out "$M"
expect 2 "nope\|unknown loss" "$T/cmp/compare.csv" -- "$SEGLOSS" compare --losses "ce;nope" --out "$T/cmp"
expect 2 "--losses.*empty" "$T/cmp/compare.csv" -- "$SEGLOSS" compare --losses "ce;;dice" --out "$T/cmp"
expect 2 "--missing" "$T/cmp/compare.csv" -- "$SEGLOSS" compare --missing 0.5,0.25 --out "$T/cmp"
expect 2 "--missing" "$T/cmp/compare.csv" -- "$SEGLOSS" compare --missing 0,2 --out "$T/cmp"
expect 2 "--seeds" "$T/cmp/compare.csv" -- "$SEGLOSS" compare --seeds 0 --out "$T/cmp"
expect 2 "--size\|multiple" "$T/cmp/compare.csv" -- "$SEGLOSS" compare --size 18,18 --out "$T/cmp"

for c in loss list demo draw masks predict drop bench images train infer compare; do
    if "$SEGLOSS" $c --help | grep -q usage; then pass=$((pass + 1)); else
        fail=$((fail + 1))
        echo "FAIL: segloss $c --help"
    fi
done
echo "cli_errors: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
