# shellcheck shell=bash
# Sourced by the GDPR scripts: how to reach the v01t CLI.
#   V01T_CLI   the command that runs the CLI, as words. Default: `v01t` when on PATH, else this
#              checkout's bin/v01t.js. Against Kubernetes, for example:
#              V01T_CLI="kubectl exec -i -n production deploy/v01t-orchestrator -- node bin/v01t.js"

v01t_cli_command() {
  if [ -n "${V01T_CLI:-}" ]; then
    read -r -a V01T_CLI_WORDS <<<"$V01T_CLI"
  elif command -v v01t >/dev/null 2>&1; then
    V01T_CLI_WORDS=(v01t)
  else
    local here
    here="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
    V01T_CLI_WORDS=(node "$here/bin/v01t.js")
  fi
}

# run_v01t ARGS...: runs the CLI with the given arguments.
run_v01t() {
  v01t_cli_command
  "${V01T_CLI_WORDS[@]}" "$@"
}

die() { echo "$(basename "$0"): $*" >&2; exit 64; }

require_uuid() {
  [[ "$1" =~ ^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$ ]] || die "--user-id must be a user id (UUID), got: $1"
}

require_date() {
  [[ "$2" =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}$ ]] || die "$1 must be a date YYYY-MM-DD, got: $2"
}

# write_private FILE COMMAND...: the command's output into FILE, readable by the owner only
# (personal data); FILE is left untouched when the command fails.
write_private() {
  local file="$1" tmp
  shift
  tmp="$(mktemp "$file.XXXXXX")"
  chmod 600 "$tmp"
  if "$@" >"$tmp"; then mv "$tmp" "$file"; else rm -f "$tmp"; return 1; fi
}
