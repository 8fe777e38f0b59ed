#!/usr/bin/env bash
# Run the project's SAM CLI: installs it on first use, puts python3.13 on PATH for `sam build`,
# and defaults the region so `validate` and `build` work offline without an AWS account.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/install_sam.sh"
python313="$("$root/scripts/find_python313.sh")"

export PATH="$(dirname "$python313"):$PATH"
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"
export SAM_CLI_TELEMETRY=0
cd "$root"
exec "$root/.sam-venv/bin/sam" "$@"
