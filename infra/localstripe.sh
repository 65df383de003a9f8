#!/usr/bin/env bash
# localstripe (PyPI, a fake Stripe server) for the Stripe live-mode tests.
#
#   infra/localstripe.sh [start]   install it into the tools venv if missing, start it on
#                                  127.0.0.1:${LOCALSTRIPE_PORT:-8420}, wait until it
#                                  answers, print `export LOCALSTRIPE_URL=...`
#   infra/localstripe.sh stop      stop the server this script started
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS_DIR="${STUDIO_TOOLS_DIR:-$REPO_ROOT/.tools}"
VENV="$TOOLS_DIR/venv"
PORT="${LOCALSTRIPE_PORT:-8420}"
URL="http://127.0.0.1:$PORT"
PID_FILE="$TOOLS_DIR/localstripe.pid"
LOG_FILE="$TOOLS_DIR/localstripe.log"
VERSION="1.15.10"

log() { printf 'localstripe.sh: %s\n' "$*" >&2; }
answers() { curl -fsS -o /dev/null --max-time 1 -u sk_test_ping: "$URL/v1/customers" 2>/dev/null; }

case "${1:-start}" in
start)
    if answers; then
        log "reusing the server on $URL"
        echo "export LOCALSTRIPE_URL=$URL"
        exit 0
    fi
    mkdir -p "$TOOLS_DIR"
    [[ -x "$VENV/bin/python" ]] || python3 -m venv "$VENV" >&2
    if ! "$VENV/bin/python" -c "import localstripe" 2>/dev/null; then
        log "installing localstripe==$VERSION into $VENV"
        "$VENV/bin/pip" install --disable-pip-version-check -q "localstripe==$VERSION" >&2
    fi
    setsid nohup "$VENV/bin/python" "$REPO_ROOT/infra/run_localstripe.py" "$PORT" >"$LOG_FILE" 2>&1 < /dev/null &
    echo $! >"$PID_FILE"
    for _ in $(seq 1 100); do
        if answers; then
            log "ready on $URL"
            echo "export LOCALSTRIPE_URL=$URL"
            exit 0
        fi
        sleep 0.2
    done
    log "localstripe did not answer on $URL; log:"
    tail -20 "$LOG_FILE" >&2 || true
    exit 1
    ;;
stop)
    if [[ -f "$PID_FILE" ]]; then
        kill "$(cat "$PID_FILE")" 2>/dev/null || true
        rm -f "$PID_FILE"
    fi
    ;;
*)
    echo "usage: infra/localstripe.sh [start|stop]" >&2
    exit 2
    ;;
esac
