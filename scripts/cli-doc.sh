#!/usr/bin/env bash
# Regenerates docs/cli.md (or the file named second) from the commands' own --help, so the
# reference cannot drift (tests/check_docs.py compares them).
set -euo pipefail
S=${1:-build/segloss}
OUT=${2:-docs/cli.md}
{
    echo '# The `segloss` command-line program'
    echo
    echo 'Built by `make` as `build/segloss`. Options take `--opt value` or `--opt=value`; every'
    echo 'subcommand has `--help`. Exit status: 0 success, 1 a runtime failure (a file, the data),'
    echo '2 a usage error (an option, a value, a loss spec). Every error is one line on stderr that'
    echo 'names the problem; outputs are written to a temporary file and renamed, so a failed run'
    echo 'leaves no half-written file.'
    echo
    echo 'The sections below are the commands'"'"' own `--help` (regenerate with'
    echo '`scripts/cli-doc.sh`), then the loss registry as `segloss list` prints it.'
    echo
    echo '## segloss'
    echo
    echo '```'
    "$S" --help
    echo '```'
    for c in loss list demo play metrics draw masks predict drop bench images train infer compare; do
        echo
        echo "## segloss $c"
        echo
        echo '```'
        "$S" "$c" --help
        echo '```'
    done
    echo
    echo '## The losses (`segloss list`)'
    echo
    echo '```'
    "$S" list
    echo '```'
} >"$OUT"
