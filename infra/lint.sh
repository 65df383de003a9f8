#!/usr/bin/env bash
# Check the markdown's relative links (infra/doc-links.sh), then lint template.yaml
# offline with cfn-lint (pinned), installed into the tools venv shared with
# infra/moto.sh. If aws-sam-cli is present in <tools>/sam-venv, also run `sam validate`
# and `sam validate --lint` (the translator catches bad SAM event types that cfn-lint
# misses).
#
#   infra/lint.sh [TEMPLATE]        default TEMPLATE: <repo>/template.yaml
#
# Environment: STUDIO_TOOLS_DIR (default <repo>/.tools),
#              STUDIO_LINT_SAM=1 to install aws-sam-cli into <tools>/sam-venv if missing
#              (a larger install, about a minute), STUDIO_LINT_SAM=0 to skip it.
# Exit status: non-zero on a dead link in the docs, any cfn-lint error or warning, or a
# failed sam validate.
set -euo pipefail

CFN_LINT_VERSION="1.58.0"
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS_DIR="${STUDIO_TOOLS_DIR:-$REPO_ROOT/.tools}"
VENV="$TOOLS_DIR/venv"
SAM_VENV="$TOOLS_DIR/sam-venv"
TEMPLATE="${1:-$REPO_ROOT/template.yaml}"

log() { printf 'lint.sh: %s\n' "$*" >&2; }
die() { printf 'lint.sh: ERROR: %s\n' "$*" >&2; exit 1; }

[[ -f "$TEMPLATE" ]] || die "no template at $TEMPLATE"

# No tools needed: a moved or renamed page fails here before anything is installed.
"$REPO_ROOT/infra/doc-links.sh"

mkdir -p "$TOOLS_DIR"
if [[ ! -x "$VENV/bin/python" ]]; then
    log "creating venv $VENV"
    python3 -m venv "$VENV" >&2
fi
# moto[server] also depends on cfn-lint (unpinned): make sure the pinned one is what runs.
installed="$("$VENV/bin/cfn-lint" --version 2>/dev/null | awk '{print $2}' || true)"
if [[ "$installed" != "$CFN_LINT_VERSION" ]]; then
    log "installing cfn-lint==$CFN_LINT_VERSION into $VENV (found: ${installed:-none})"
    "$VENV/bin/pip" install --disable-pip-version-check -q "cfn-lint==$CFN_LINT_VERSION" >&2 \
        || die "pip install cfn-lint==$CFN_LINT_VERSION failed"
fi

log "cfn-lint $CFN_LINT_VERSION: $TEMPLATE"
# cfn-lint exits non-zero on errors (2), warnings (4) and informational findings (8).
"$VENV/bin/cfn-lint" "$TEMPLATE"
log "cfn-lint: no errors, no warnings"

if [[ "${STUDIO_LINT_SAM:-auto}" == "1" && ! -x "$SAM_VENV/bin/sam" ]]; then
    log "installing aws-sam-cli into $SAM_VENV"
    python3 -m venv "$SAM_VENV" >&2
    "$SAM_VENV/bin/pip" install --disable-pip-version-check -q aws-sam-cli >&2 \
        || die "pip install aws-sam-cli failed"
fi
if [[ "${STUDIO_LINT_SAM:-auto}" != "0" && -x "$SAM_VENV/bin/sam" ]]; then
    # Both forms: plain `sam validate` runs the SAM translator (it rejects an unknown
    # event type such as `EventBridgeRul`, which `--lint` and cfn-lint let through);
    # `--lint` runs SAM's own cfn-lint pass. Dummy credentials: all of it is local.
    for mode in "" "--lint"; do
        log "sam validate ${mode:-(translator)} (offline, us-east-1)"
        (
            cd "$(dirname "$TEMPLATE")"
            SAM_CLI_TELEMETRY=0 AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \
                AWS_EC2_METADATA_DISABLED=true \
                "$SAM_VENV/bin/sam" validate $mode --region us-east-1 \
                --template-file "$(basename "$TEMPLATE")" >&2
        )
    done
elif [[ "${STUDIO_LINT_SAM:-auto}" == "0" ]]; then
    log "sam validate skipped (STUDIO_LINT_SAM=0)"
else
    log "sam validate skipped (no $SAM_VENV/bin/sam; STUDIO_LINT_SAM=1 installs it)"
fi
