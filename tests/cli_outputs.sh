#!/usr/bin/env bash
# All or nothing, and nothing lost, for every command that writes files: loss, masks,
# predict, drop, draw, demo, play, and the trainer's images, train, infer, compare (tiny runs).
#   - a failed write of any output (a full disk: /dev/full through SEGLOSS_TEST_FULL_DISK, and a
#     real small tmpfs when this test may mount one) exits 1 in one line, leaves every existing
#     output as it was and no temporary file;
#   - an output in a missing folder is refused before anything is written;
#   - a symbolic link planted at the temporary name is never followed (SEGLOSS_TEST_TEMP_NAME
#     makes the first name tried a known one), dangling or not;
#   - a 255-byte file name works;
#   - two outputs naming one file are refused before anything is written;
#   - the outputs of a successful run are all there, and no temporary file is.
set -u
SEGLOSS=${SEGLOSS:-build/segloss}
T=$(mktemp -d)
MNT=""
cleanup() {
    [ -n "$MNT" ] && umount "$MNT" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() {
    fail=$((fail + 1))
    echo "FAIL: $*"
}

"$SEGLOSS" masks --n 2 --size 24,24 --seed 1 --out "$T/m.npy" --labels "$T/y.npy" >/dev/null ||
    { echo "cannot make masks"; echo "cli_outputs: 0 passed, 1 failed"; exit 1; }
"$SEGLOSS" predict --labels "$T/y.npy" --out "$T/p.npy" --seed 2 >/dev/null ||
    { echo "cannot make predictions"; echo "cli_outputs: 0 passed, 1 failed"; exit 1; }
# the trainer's: images and a tiny model to run
TRAIN="train --loss ce --steps 1 --size 16,16 --width 2 --n 16 --threads 1"
"$SEGLOSS" images --n 2 --size 16,16 --seed 6 --out "$T/im.npy" --labels "$T/iml.npy" >/dev/null &&
    "$SEGLOSS" $TRAIN --out "$T/tm" >/dev/null ||
    { echo "cannot make a tiny model"; echo "cli_outputs: 0 passed, 1 failed"; exit 1; }

# run_CMD DIR FIRST: the command writing its outputs into DIR, the first named FIRST;
# names_CMD: the other outputs' names (FIRST excluded). demo and play write fixed names into a
# folder: FIRST is ignored and names_* lists them all.
run_loss() { "$SEGLOSS" loss ce --input "$T/p.npy" --target "$T/y.npy" --grad "$1/$2" --loss-map "$1/map.npy"; }
names_loss="map.npy"
run_masks() { "$SEGLOSS" masks --n 2 --size 16,16 --seed 3 --out "$1/$2" --labels "$1/l.npy" --onehot "$1/o.npy" --png "$1/p.png"; }
names_masks="l.npy o.npy p.png"
run_predict() { "$SEGLOSS" predict --labels "$T/y.npy" --seed 4 --out "$1/$2" --png "$1/p.png"; }
names_predict="p.png"
run_drop() { "$SEGLOSS" drop --labels "$T/y.npy" --k 1 --seed 5 --out "$1/$2" --dropped "$1/d.npy"; }
names_drop="d.npy"
run_draw() { "$SEGLOSS" draw disk --shape 8,8 --center 4,4 --radius 2 --out "$1/$2"; }
names_draw=""
run_demo() { "$SEGLOSS" demo --n 1 --size 16,16 --out "$1"; }
names_demo="ground_truth.png predictions.png ground_truth_missing.png"
run_play() { "$SEGLOSS" play --n 1 --size 16,16 --steps 2 --out "$1"; }
names_play="play_chart.png play_predictions.png"
run_images() { "$SEGLOSS" images --n 2 --size 16,16 --seed 7 --out "$1/$2" --labels "$1/l.npy" --png "$1/p.png"; }
names_images="l.npy p.png"
run_train() { "$SEGLOSS" $TRAIN --out "$1"; }
names_train="log.csv curves.png predictions.png model.slm"
run_infer() { "$SEGLOSS" infer --model "$T/tm/model.slm" --input "$T/im.npy" --threads 1 --out "$1/$2"; }
names_infer=""
run_compare() { "$SEGLOSS" compare --losses ce --missing 0 --seeds 1 --steps 1 --size 16,16 --width 2 --n 16 --jobs 1 --out "$1"; }
names_compare="compare.csv compare.png"
fixed_names() { case $1 in demo | play | train | compare) return 0 ;; esac; return 1; }

# outputs CMD FIRST: every output's name
outputs() {
    local v="names_$1"
    if fixed_names "$1"; then echo "${!v}"; else echo "$2 ${!v}"; fi
}

# leftovers DIR: temporary files left in DIR
leftovers() { ls -A "$1" | grep -E '^\.sl-|\.tmp\.' | grep -v '^\.sl-PLANTEDLINK0$'; }

# plant DIR CMD FIRST: an old version of every output
plant() {
    local n
    for n in $(outputs "$2" "$3"); do echo "old $n" >"$1/$n"; done
}

# unchanged DIR CMD FIRST: every output still holds its old version
unchanged() {
    local n
    for n in $(outputs "$2" "$3"); do
        [ "$(cat "$1/$n" 2>/dev/null)" = "old $n" ] || return 1
    done
}

# one_error FILE: exactly one line
one_error() { [ "$(wc -l <"$1")" -eq 1 ]; }

long=$(printf 'a%.0s' $(seq 251)).npy # 255 bytes

for c in loss masks predict drop draw demo play images train infer compare; do
    first=out.npy
    nout=$(outputs $c $first | wc -w)

    # 1. success: every output written, nothing else left
    D="$T/ok_$c"
    mkdir "$D"
    if run_$c "$D" $first >/dev/null 2>"$T/err"; then ok; else bad "$c: a valid run failed: $(cat "$T/err")"; fi
    allthere=1
    for n in $(outputs $c $first); do [ -s "$D/$n" ] || allthere=0; done
    if [ $allthere = 1 ] && [ -z "$(leftovers "$D")" ]; then ok; else bad "$c: outputs missing or temporaries left: $(ls -A "$D")"; fi

    # 2. a full disk at each output in turn: exit 1, one line, old outputs intact, nothing left
    for k in $(seq 1 "$nout"); do
        D="$T/full_${c}_$k"
        mkdir "$D"
        plant "$D" $c $first
        SEGLOSS_TEST_FULL_DISK=$k run_$c "$D" $first >/dev/null 2>"$T/err"
        rc=$?
        if [ $rc -eq 1 ] && one_error "$T/err" && grep -q "No space left" "$T/err"; then ok; else
            bad "$c: full disk at output $k: exit $rc, stderr $(cat "$T/err")"
        fi
        if unchanged "$D" $c $first && [ -z "$(leftovers "$D")" ]; then ok; else
            bad "$c: full disk at output $k: existing outputs changed or temporaries left: $(ls -A "$D")"
        fi
    done

    # 3. a later output in a missing folder: refused before anything is written
    if ! fixed_names $c && [ -n "$(outputs $c $first | cut -s -d' ' -f2)" ]; then
        D="$T/missing_$c"
        mkdir "$D"
        plant "$D" $c $first
        # the command with its last output in a folder that does not exist
        case $c in
        loss) "$SEGLOSS" loss ce --input "$T/p.npy" --target "$T/y.npy" --grad "$D/$first" --loss-map "$D/no/map.npy" ;;
        masks) "$SEGLOSS" masks --n 2 --size 16,16 --seed 3 --out "$D/$first" --labels "$D/l.npy" --onehot "$D/o.npy" --png "$D/no/p.png" ;;
        predict) "$SEGLOSS" predict --labels "$T/y.npy" --seed 4 --out "$D/$first" --png "$D/no/p.png" ;;
        drop) "$SEGLOSS" drop --labels "$T/y.npy" --k 1 --seed 5 --out "$D/$first" --dropped "$D/no/d.npy" ;;
        images) "$SEGLOSS" images --n 2 --size 16,16 --seed 7 --out "$D/$first" --labels "$D/l.npy" --png "$D/no/p.png" ;;
        esac >/dev/null 2>"$T/err"
        rc=$?
        if [ $rc -eq 1 ] && one_error "$T/err" && [ "$(cat "$D/$first")" = "old $first" ] &&
            [ -z "$(leftovers "$D")" ]; then ok; else
            bad "$c: a later output in a missing folder: exit $rc, $(cat "$T/err"), first output: $(head -c 20 "$D/$first")"
        fi
    fi

    # 4. a symbolic link planted at the first temporary name tried is skipped, never followed;
    #    dangling or not
    for kind in existing dangling; do
        D="$T/link_${c}_$kind"
        mkdir "$D"
        victim="$T/victim_${c}_$kind"
        [ $kind = existing ] && echo victim >"$victim"
        ln -s "$victim" "$D/.sl-PLANTEDLINK0"
        SEGLOSS_TEST_TEMP_NAME=PLANTEDLINK0 run_$c "$D" $first >/dev/null 2>"$T/err"
        rc=$?
        if [ $kind = existing ]; then
            intact=$([ "$(cat "$victim")" = victim ] && echo 1)
        else
            intact=$([ ! -e "$victim" ] && echo 1)
        fi
        if [ $rc -eq 0 ] && [ "$intact" = 1 ] && [ -L "$D/.sl-PLANTEDLINK0" ]; then ok; else
            bad "$c: planted $kind link: exit $rc, victim $( [ -e "$victim" ] && head -c 30 "$victim" || echo absent), $(cat "$T/err")"
        fi
        allthere=1
        for n in $(outputs $c $first); do [ -s "$D/$n" ] && [ ! -L "$D/$n" ] || allthere=0; done
        if [ $allthere = 1 ]; then ok; else bad "$c: planted $kind link: outputs missing"; fi
        rm -f "$D/.sl-PLANTEDLINK0"
        if [ -z "$(leftovers "$D")" ]; then ok; else bad "$c: planted link: temporaries left: $(ls -A "$D")"; fi
    done

    # 5. a 255-byte name (for demo and play: a 255-byte folder name)
    D="$T/long_$c"
    mkdir "$D"
    if fixed_names $c; then
        run_$c "$D/$long" x >/dev/null 2>"$T/err"
        rc=$?
        there=$([ -s "$D/$long/$(outputs $c x | cut -d' ' -f1)" ] && echo 1)
    else
        run_$c "$D" "$long" >/dev/null 2>"$T/err"
        rc=$?
        there=$([ -s "$D/$long" ] && echo 1)
    fi
    if [ $rc -eq 0 ] && [ "$there" = 1 ]; then ok; else bad "$c: a 255-byte name: exit $rc, $(cat "$T/err")"; fi
done

# 6. Two outputs naming one file (spelt alike or not): refused before anything is written, the
#    existing file as it was
D="$T/same"
mkdir "$D"
for pair in "$D/a.npy $D/a.npy" "$D/a.npy $D/./a.npy" "$D/a.npy $T/same/../same/a.npy"; do
    set -- $pair
    echo "old a" >"$D/a.npy"
    "$SEGLOSS" images --n 2 --size 16,16 --out "$1" --labels "$2" >/dev/null 2>"$T/err"
    rc=$?
    if [ $rc -eq 2 ] && one_error "$T/err" && grep -q "same file" "$T/err" &&
        [ "$(cat "$D/a.npy")" = "old a" ] && [ "$(ls -A "$D")" = a.npy ]; then ok; else
        bad "images --out $1 --labels $2: exit $rc, $(cat "$T/err"), left: $(ls -A "$D")"
    fi
done
echo "old a" >"$D/a.npy"
"$SEGLOSS" images --n 2 --size 16,16 --out "$D/x.npy" --labels "$D/l.npy" --png "$D/x.npy" >/dev/null 2>"$T/err"
rc=$?
if [ $rc -eq 2 ] && one_error "$T/err" && [ "$(ls -A "$D")" = a.npy ]; then ok; else
    bad "images --out and --png naming one file: exit $rc, $(cat "$T/err"), left: $(ls -A "$D")"
fi

# 7. A training that fails after its folder is made (a loss whose gradient overflows) leaves an
#    earlier run's outputs as they were
D="$T/diverge"
mkdir "$D"
plant "$D" train x
"$SEGLOSS" train --loss "1e300*ce" --steps 3 --size 16,16 --width 2 --n 16 --threads 1 --out "$D" >/dev/null 2>"$T/err"
rc=$?
if [ $rc -ne 0 ] && one_error "$T/err" && unchanged "$D" train x && [ -z "$(leftovers "$D")" ]; then ok; else
    bad "a failed training: exit $rc, $(cat "$T/err"), left: $(ls -A "$D")"
fi

# 8. A real full disk: a 64 KiB tmpfs, where this test may mount one (root, outside most
#    containers). The outputs of loss there are larger than the disk.
if [ "$(id -u)" -eq 0 ] && mkdir "$T/small" && mount -t tmpfs -o size=64k tmpfs "$T/small" 2>/dev/null; then
    MNT="$T/small"
    "$SEGLOSS" predict --labels "$T/y.npy" --seed 2 --classes 12 --out "$T/big.npy" >/dev/null
    echo "old grad" >"$MNT/g.npy"
    echo "old map" >"$MNT/map.npy"
    "$SEGLOSS" loss ce --input "$T/big.npy" --target "$T/y.npy" --grad "$MNT/g.npy" --loss-map "$MNT/map.npy" >/dev/null 2>"$T/err"
    rc=$?
    if [ $rc -eq 1 ] && one_error "$T/err" && [ "$(cat "$MNT/g.npy")" = "old grad" ] &&
        [ "$(cat "$MNT/map.npy")" = "old map" ] && [ -z "$(leftovers "$MNT")" ]; then ok; else
        bad "a full tmpfs: exit $rc, $(cat "$T/err"), left: $(ls -A "$MNT")"
    fi
    umount "$MNT" && MNT=""
else
    echo "cli_outputs: no tmpfs could be mounted here; the full disk is tested through /dev/full only"
fi

echo "cli_outputs: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
