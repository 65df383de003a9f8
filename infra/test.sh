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
log "AWS adapter tests run against moto at $AWS_ENDPOINT_URL"

log_file="$(mktemp)"
trap 'rm -f "$log_file"; [[ "$started_moto" == 1 ]] && infra/moto.sh stop >/dev/null 2>&1 || true' EXIT
set +e
cargo test --workspace --locked "$@" 2>&1 | tee "$log_file"
status=${PIPESTATUS[0]}
set -e
# One closing line over every test binary (cargo prints one per binary).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log_file"
exit "$status"
