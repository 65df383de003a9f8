#!/usr/bin/env bash
# The one test command (README): lints template.yaml, starts moto server (installing
# it into .tools/venv on first use), runs every test of the workspace against the
# embedded backends and, through moto, the AWS ones, then stops the moto server it
# started. Extra arguments go to `cargo test` (e.g. a test name filter).
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"

log() { printf 'test.sh: %s\n' "$*" >&2; }

infra/lint.sh

started_moto=0
if ! infra/moto.sh status >/dev/null 2>&1; then
    started_moto=1
fi
eval "$(infra/moto.sh start)"
if [[ "$started_moto" == 1 ]]; then
    trap 'infra/moto.sh stop >/dev/null 2>&1 || true' EXIT
fi
log "AWS adapter tests run against moto at $AWS_ENDPOINT_URL"

cargo test --workspace --locked "$@"
