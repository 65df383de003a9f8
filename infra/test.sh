#!/usr/bin/env bash
# The one test command (README): lints template.yaml, installs Chromium and chromedriver
# (apt, first use only) for the console's browser test, starts moto server and
# localstripe (installing them into .tools/venv on first use), runs every test of the
# workspace against the embedded backends and, through moto, the AWS ones, then stops
# the servers it started. Extra arguments go to `cargo test` (e.g. a test name filter).
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"

log() { printf 'test.sh: %s\n' "$*" >&2; }

infra/lint.sh

# Stop on exit whatever this script started, however it exits.
started_moto=0
started_localstripe=0
log_file="$(mktemp)"
cleanup() {
    rm -f "$log_file"
    if [[ "$started_moto" == 1 ]]; then infra/moto.sh stop >/dev/null 2>&1 || true; fi
    if [[ "$started_localstripe" == 1 ]]; then infra/localstripe.sh stop >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT

# The console's browser test (functions/local/tests/console.rs) drives Debian's Chromium
# through chromedriver; install both on first use, as moto is installed below. Without
# them the test skips, and under CI=true it fails.
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1; then
        sudo_cmd=()
        if [[ "$(id -u)" != 0 ]]; then sudo_cmd=(sudo); fi
        log "installing chromium and chromium-driver (apt-get) for the console's browser test"
        { "${sudo_cmd[@]}" apt-get update -qq \
            && "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
                --no-install-recommends chromium chromium-driver fonts-dejavu-core; } >&2 \
            || log "could not install chromium: the console's browser test will not run"
    else
        log "no apt-get: install Chromium and chromedriver for the console's browser test"
    fi
fi

if ! infra/moto.sh status >/dev/null 2>&1; then
    started_moto=1
fi
eval "$(infra/moto.sh start)"
log "AWS adapter tests run against moto at $AWS_ENDPOINT_URL"

if ! curl -fsS -o /dev/null --max-time 1 -u sk_test_ping: "http://127.0.0.1:${LOCALSTRIPE_PORT:-8420}/v1/customers" 2>/dev/null; then
    started_localstripe=1
fi
eval "$(infra/localstripe.sh start)"
log "Stripe live-mode tests run against localstripe at $LOCALSTRIPE_URL"

eval "$(infra/mcp-client.sh)"
log "the MCP interoperability test drives the server with the MCP Python SDK ($STUDIO_MCP_PYTHON)"

set +e
cargo test --workspace --locked "$@" 2>&1 | tee "$log_file"
status=${PIPESTATUS[0]}
set -e
# One closing line over every test binary (cargo prints one per binary).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log_file"
exit "$status"
