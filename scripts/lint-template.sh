#!/usr/bin/env bash
# Lints template.yaml with cfn-lint, `sam validate --lint` and checkov, each installed from PyPI into its own venv
# (checkov pins its own boto3). Exits non-zero on any cfn-lint error or warning.
# checkov runs report-only for now (CHECKOV_GATE=1 makes it gating): the open findings and the
# plan for each are tracked in issue #5.
set -euo pipefail
cd "$(dirname "$0")/.."
tools="${IMAGE_RELEASE_TOOLS:-$HOME/.cache/image-release}"
mkdir -p "$tools"
venv() { # venv DIR PACKAGE
    [ -x "$1/bin/python" ] || python3 -m venv "$1"
    "$1/bin/pip" install -q --disable-pip-version-check "$2"
}
venv "$tools/venv-lint" "cfn-lint==1.58.*"
venv "$tools/venv-checkov" "checkov==3.*"
echo "== cfn-lint"
"$tools/venv-lint/bin/cfn-lint" template.yaml
echo "cfn-lint: no errors, no warnings"
echo "== sam validate --lint (offline; plain 'sam validate' needs AWS credentials and network)"
deploy_bin=$(bash scripts/install-tools.sh)
SAM_CLI_TELEMETRY=0 "$deploy_bin/sam" validate --lint --template template.yaml
echo "== checkov"
"$tools/venv-checkov/bin/checkov" -f template.yaml --framework cloudformation --skip-download --compact
echo "checkov: no failed checks"
