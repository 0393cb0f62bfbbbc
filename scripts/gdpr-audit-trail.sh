#!/usr/bin/env bash
# Data processing audit (runbook: GDPR Compliance Procedures):
#   scripts/gdpr-audit-trail.sh --start-date 2025-01-01 --end-date 2025-12-31 [--action 'gdpr.*'] [--output FILE]
# Prints the hash-chained audit log entries of the period (both dates included, UTC) as JSON
# lines, oldest first, through `v01t audit export`. Each entry keeps its hash and prev_hash, so the
# trail can be checked against `v01t audit verify`. See scripts/lib/v01t-cli.sh for V01T_CLI.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/v01t-cli.sh
source "$(dirname "$0")/lib/v01t-cli.sh"

start="" end="" action="" output=""
while [ $# -gt 0 ]; do
  case "$1" in
    --start-date) start="${2:-}"; shift 2 || die "--start-date needs a value" ;;
    --end-date) end="${2:-}"; shift 2 || die "--end-date needs a value" ;;
    --action) action="${2:-}"; shift 2 || die "--action needs a value" ;;
    --output) output="${2:-}"; shift 2 || die "--output needs a file" ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    *) die "unknown argument: $1" ;;
  esac
done
if [ -z "$start" ] || [ -z "$end" ]; then die "--start-date and --end-date are required"; fi
require_date --start-date "$start"
require_date --end-date "$end"
[[ ! "$end" < "$start" ]] || die "--end-date is before --start-date"

args=(audit export --from "$start" --to "$end")
[ -z "$action" ] || args+=(--action "$action")
if [ -n "$output" ]; then
  write_private "$output" run_v01t "${args[@]}"
else
  run_v01t "${args[@]}"
fi
