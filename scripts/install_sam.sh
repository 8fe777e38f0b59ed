#!/usr/bin/env bash
# Install AWS SAM CLI into its own venv (.sam-venv): it pins boto3 and click, so it stays out of .venv.
set -euo pipefail

SAM_CLI_VERSION="${SAM_CLI_VERSION:-1.170.0}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.sam-venv"
stamp="$venv/.installed-$SAM_CLI_VERSION"

python313="$("$root/scripts/find_python313.sh")"

if [[ -f "$stamp" ]]; then
    exit 0
fi
echo "installing aws-sam-cli==$SAM_CLI_VERSION into .sam-venv (python: $python313)"
rm -rf "$venv"
"$python313" -m venv "$venv"
"$venv/bin/pip" install -qq --upgrade pip
"$venv/bin/pip" install -qq "aws-sam-cli==$SAM_CLI_VERSION"
"$venv/bin/sam" --version
touch "$stamp"
