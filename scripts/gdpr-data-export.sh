#!/usr/bin/env bash
# Data subject access request (runbook: GDPR Compliance Procedures):
#   scripts/gdpr-data-export.sh --user-id $USER_ID --output-format json [--request N] [--output FILE]
# Prints (or writes, owner-readable only) every piece of personal data every service keeps about
# the user, through `v01t gdpr export`; completes request N of the register (gdpr request list), or
# records a completed access request. See scripts/lib/v01t-cli.sh for V01T_CLI.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/v01t-cli.sh
source "$(dirname "$0")/lib/v01t-cli.sh"

user_id="" format="" output="" request=""
while [ $# -gt 0 ]; do
  case "$1" in
    --user-id) user_id="${2:-}"; shift 2 || die "--user-id needs a value" ;;
    --output-format) format="${2:-}"; shift 2 || die "--output-format needs a value" ;;
    --output) output="${2:-}"; shift 2 || die "--output needs a file" ;;
    --request) request="${2:-}"; shift 2 || die "--request needs a request number" ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    *) die "unknown argument: $1" ;;
  esac
done
[ -n "$user_id" ] || die "--user-id is required"
require_uuid "$user_id"
[ "${format:-json}" = json ] || die "--output-format: only json is supported"
args=(gdpr export --user-id "$user_id")
[ -z "$request" ] || args+=(--request "$request")

if [ -n "$output" ]; then
  write_private "$output" run_v01t "${args[@]}"
  echo "personal data of $user_id written to $output" >&2
else
  run_v01t "${args[@]}"
fi
