#!/usr/bin/env bash
# The official MCP Python SDK (PyPI `mcp`) for the interoperability test of the MCP
# server (functions/local/tests/mcp_python.rs), whose client script drives
# `POST /projects/{p}/mcp` with the SDK's own Streamable HTTP client.
#
#   infra/mcp-client.sh   install it into the tools venv if missing, print
#                         `export STUDIO_MCP_PYTHON=<venv>/bin/python`
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS_DIR="${STUDIO_TOOLS_DIR:-$REPO_ROOT/.tools}"
VENV="$TOOLS_DIR/venv"
VERSION="2.3.0"

log() { printf 'mcp-client.sh: %s\n' "$*" >&2; }

installed() {
    [[ "$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("mcp"))' 2>/dev/null)" == "$VERSION" ]]
}

mkdir -p "$TOOLS_DIR"
[[ -x "$VENV/bin/python" ]] || python3 -m venv "$VENV" >&2
if ! installed; then
    log "installing mcp==$VERSION into $VENV"
    "$VENV/bin/pip" install --disable-pip-version-check -q "mcp==$VERSION" >&2
fi
echo "export STUDIO_MCP_PYTHON=$VENV/bin/python"
