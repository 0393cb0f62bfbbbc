#!/usr/bin/env bash
# Health of a workspace's external integrations (runbook: incident response, "check external APIs"):
#   scripts/health-check-external-apis.sh https://api.v01t.io "$V01T_TOKEN" <workspace-id>
# Calls GET /v1/workspaces/{id}/connections/health, which probes every connection concurrently
# (each bounded by a timeout), and prints one line per connection.
# Exit status: 0 all up (or disabled), 1 at least one down, 2 the health API itself failed, 64 usage.
# Needs curl and jq. HEALTH_TIMEOUT: seconds for the whole call (default 60).
set -euo pipefail

usage() { echo "usage: $0 <base-url> <token> <workspace-id>" >&2; exit 64; }
[ $# -eq 3 ] || usage
base="${1%/}"
token="$2"
workspace="$3"
[[ "$base" =~ ^https?:// ]] || usage
[[ "$workspace" =~ ^[0-9a-fA-F-]{36}$ ]] || { echo "health-check: workspace must be a UUID" >&2; exit 64; }
for tool in curl jq; do
  command -v "$tool" >/dev/null || { echo "health-check: $tool is required" >&2; exit 69; }
done

body_file="$(mktemp)"
trap 'rm -f "$body_file"' EXIT
# The token goes through a header file on stdin so it never shows in the process list.
status="$(printf 'Authorization: Bearer %s\n' "$token" | curl -sS -o "$body_file" -w '%{http_code}' \
  --max-time "${HEALTH_TIMEOUT:-60}" -H @- "$base/v1/workspaces/$workspace/connections/health" || true)"
if [ "$status" != "200" ]; then
  echo "health-check: the health API answered ${status:-no response}: $(jq -r '.detail // empty' "$body_file" 2>/dev/null || true)" >&2
  exit 2
fi

{
  printf 'NAME\tCONNECTOR\tSTATUS\tDETAIL\n'
  jq -r '.connections[] | [.name, .connector, (.status | ascii_upcase), (.detail // "-")] | @tsv' "$body_file"
} | awk -F '\t' '{ printf "%-28s %-10s %-9s %s\n", substr($1, 1, 28), $2, $3, $4 }'

total="$(jq '.connections | length' "$body_file")"
down="$(jq '[.connections[] | select(.status == "down")] | length' "$body_file")"
echo
echo "$total connection(s), $down down (checked at $(jq -r '.checkedAt' "$body_file"))"
[ "$down" -eq 0 ] || exit 1
