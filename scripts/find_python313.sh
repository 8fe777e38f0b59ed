#!/usr/bin/env bash
# Print the path of a working python3.13 (needed by `sam build` for python3.13 functions), or fail.
# A pyenv shim named python3.13 may exist without that version being selected, so each candidate is run.
set -euo pipefail

candidates=()
if command -v python3.13 >/dev/null 2>&1; then
    candidates+=("$(command -v python3.13)")
fi
for dir in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.13.*/bin; do
    [[ -x "$dir/python3.13" ]] && candidates+=("$dir/python3.13")
done

for python in "${candidates[@]}"; do
    if "$python" -c 'import sys; assert sys.version_info[:2] == (3, 13)' >/dev/null 2>&1; then
        # Resolve the real interpreter: a shim on PATH is not enough for sam's own lookup.
        "$python" -c 'import sys; print(sys.executable)'
        exit 0
    fi
done

echo "python3.13 not found (looked on PATH and in ~/.pyenv/versions/3.13.*/bin);" \
     "sam build needs it for the python3.13 runtime" >&2
exit 1
