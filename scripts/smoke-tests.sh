#!/usr/bin/env bash
# Smoke tests after a deployment (runbook: "Run smoke tests"):
#   scripts/smoke-tests.sh https://api.v01t.io
#   scripts/smoke-tests.sh production-green      # URL from V01T_URL_PRODUCTION_GREEN
# Checks /health, /ready, /metrics, sign-up, sign-in, /v1/me, then one call per service that this
# deployment serves (read from its /openapi.json), and finally erases the account it created.
# Exits non-zero on the first failure. Needs curl.
#
# Environment:
#   SMOKE_TIMEOUT   seconds per request (default 10)
#   SMOKE_EMAIL, SMOKE_PASSWORD   sign in with this account instead of signing up (when sign-up
#                   is disabled); it is not erased.
set -euo pipefail

usage() { echo "usage: $0 <base-url | environment-name>" >&2; exit 64; }
[ $# -eq 1 ] || usage
target="$1"
if [[ "$target" =~ ^https?:// ]]; then
  base="${target%/}"
else
  var="V01T_URL_$(printf '%s' "$target" | tr '[:lower:]-' '[:upper:]_')"
  base="${!var:-}"
  [ -n "$base" ] || { echo "smoke-tests: $target is not a URL and $var is not set" >&2; exit 64; }
  base="${base%/}"
fi
timeout="${SMOKE_TIMEOUT:-10}"
command -v curl >/dev/null || { echo "smoke-tests: curl is required" >&2; exit 69; }

body_file="$(mktemp)"
trap 'rm -f "$body_file"' EXIT
passed=0

fail() { echo "FAIL  $*" >&2; if [ -s "$body_file" ]; then head -c 500 "$body_file" >&2; echo >&2; fi; exit 1; }
ok() { echo "ok    $*"; passed=$((passed + 1)); }

# request METHOD PATH [JSON-BODY] [TOKEN] -> sets $status, body in $body_file
request() {
  local method="$1" path="$2" data="${3:-}" token="${4:-}"
  local args=(-sS -o "$body_file" -w '%{http_code}' -X "$method" --max-time "$timeout" -H 'accept: application/json')
  [ -n "$data" ] && args+=(-H 'content-type: application/json' --data "$data")
  [ -n "$token" ] && args+=(-H "authorization: Bearer $token")
  status="$(curl "${args[@]}" "$base$path" 2>/dev/null)" || status="000"
}

# json_string KEY: the first "KEY":"value" in the last body (tokens and ids need no JSON parser).
json_string() { grep -o "\"$1\":\"[^\"]*\"" "$body_file" | head -n 1 | cut -d'"' -f4; }

expect_status() {
  local want="$1" what="$2"
  [[ "$status" =~ ^($want)$ ]] || fail "$what: HTTP $status (expected $want)"
  ok "$what"
}

echo "smoke tests against $base"
request GET /health; expect_status 200 "GET /health"
grep -q '"status":"ok"' "$body_file" || fail "GET /health: unexpected body"
request GET /ready; expect_status 200 "GET /ready"
request GET /metrics; expect_status 200 "GET /metrics"
grep -q '^http_requests_total' "$body_file" || fail "GET /metrics: no http_requests_total"

password="${SMOKE_PASSWORD:-}"
erase=false
if [ -n "${SMOKE_EMAIL:-}" ]; then
  email="$SMOKE_EMAIL"
  [ -n "$password" ] || fail "SMOKE_EMAIL is set without SMOKE_PASSWORD"
else
  email="smoke-$(date +%s)-$RANDOM$RANDOM@example.com"
  password="smoke-$RANDOM$RANDOM-$RANDOM$RANDOM-pass"
  request POST /v1/auth/signup "{\"email\":\"$email\",\"password\":\"$password\",\"name\":\"Smoke Test\"}"
  expect_status 201 "POST /v1/auth/signup"
  erase=true
fi

request POST /v1/auth/login "{\"email\":\"$email\",\"password\":\"$password\"}"
expect_status 200 "POST /v1/auth/login"
token="$(json_string token)"
[ -n "$token" ] || fail "POST /v1/auth/login: no token in the answer"

request GET /v1/me "" "$token"; expect_status 200 "GET /v1/me"

request POST /v1/workspaces '{"name":"Smoke test"}' "$token"
expect_status 201 "POST /v1/workspaces"
workspace="$(json_string id)"
[ -n "$workspace" ] || fail "POST /v1/workspaces: no id in the answer"

request GET /openapi.json
expect_status 200 "GET /openapi.json"
openapi="$(cat "$body_file")"

# One read per service, when this deployment serves it (the OpenAPI document lists its paths).
checked=() absent=()
while read -r service path; do
  if [[ "$openapi" != *"\"$path\""* ]]; then absent+=("$service"); continue; fi
  request GET "${path//\{workspaceId\}/$workspace}" "" "$token"
  expect_status 200 "$service: GET $path"
  checked+=("$service")
done <<'SERVICES'
orchestrator /v1/workspaces/{workspaceId}/members
workflow-engine /v1/workspaces/{workspaceId}/workflows
integration-hub /v1/workspaces/{workspaceId}/connections
content-scheduler /v1/workspaces/{workspaceId}/posts
analytics-engine /v1/workspaces/{workspaceId}/analytics/dashboards
gamification /v1/workspaces/{workspaceId}/gamification/me
ops /status.json
SERVICES
[ "${#checked[@]}" -gt 0 ] || fail "no service answered: is this v01t?"

request DELETE "/v1/workspaces/$workspace" "" "$token"
expect_status '200|204' "DELETE /v1/workspaces/{id} (clean-up)"
if [ "$erase" = true ]; then
  request DELETE /v1/me "{\"password\":\"$password\"}" "$token"
  expect_status 200 "DELETE /v1/me (clean-up)"
fi

echo "services checked: ${checked[*]}"
[ "${#absent[@]}" -eq 0 ] || echo "not served by this deployment: ${absent[*]}"
echo "smoke tests passed: $passed checks"
