#!/usr/bin/env bash
# Installs Python's scim2-server in a virtual environment under target/ (once), for
# tests/interop.rs; prints the path of its executable.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=target/interop-venv
mkdir -p target
# Tests start at once: one of them installs, the others wait for it.
exec 9> target/interop-venv.lock
flock 9
if [ ! -x "$venv/bin/scim2-server" ]; then
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install -q -r tests/interop/requirements.txt >&2
fi
echo "$PWD/$venv/bin/scim2-server"
