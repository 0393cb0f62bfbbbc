#!/usr/bin/env bash
# Right to be forgotten (runbook: GDPR Compliance Procedures):
#   scripts/gdpr-data-deletion.sh --user-id $USER_ID --confirm [--request N]
# Erases the user in every service through `v01t gdpr erase`; refuses without --confirm. Prints
# what was erased, as JSON; completes request N of the register (gdpr request list), or records a
# completed erasure request. See scripts/lib/v01t-cli.sh for V01T_CLI.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/v01t-cli.sh
source "$(dirname "$0")/lib/v01t-cli.sh"

user_id="" confirm=false request=""
while [ $# -gt 0 ]; do
  case "$1" in
    --user-id) user_id="${2:-}"; shift 2 || die "--user-id needs a value" ;;
    --confirm) confirm=true; shift ;;
    --request) request="${2:-}"; shift 2 || die "--request needs a request number" ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    *) die "unknown argument: $1" ;;
  esac
done
[ -n "$user_id" ] || die "--user-id is required"
require_uuid "$user_id"
[ "$confirm" = true ] || die "refusing to erase $user_id without --confirm (this cannot be undone)"

args=(gdpr erase --user-id "$user_id" --confirm)
[ -z "$request" ] || args+=(--request "$request")
run_v01t "${args[@]}"
