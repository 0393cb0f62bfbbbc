#!/usr/bin/env bash
# Emergency hotfix deployment (runbook: Emergency Hotfix Procedure):
#   scripts/emergency-deploy.sh hotfix-v20251031-1415 [--dry-run]
# Fast track: skips the pre-deployment checklist and the gradual shift, never the idle colour:
#   1. reads which colour is idle (weight 0 in the v01t-entry VirtualService; without Istio, the
#      colour the public Service does not select) and refuses while a shift is half done,
#   2. backs up that colour's ConfigMap (runbook: "Backup current configuration"),
#   3. runs `helm upgrade --install <prefix>-<idle> --atomic --wait` with the new image tag (Helm
#      rolls back by itself when the pods do not become ready); the live colour is not touched,
#   4. runs scripts/smoke-tests.sh against the idle colour, and rolls its release back when they fail,
#   5. moves all traffic to it in one step with scripts/shift-traffic.sh (smoke tests and
#      check-metrics.sh after it; traffic returns to the other colour when they fail).
# --dry-run prints the commands without running any of them (it still reads the weights).
#
# Environment:
#   V01T_SMOKE_URL     the public base URL (or environment name) for the smoke tests after the
#                      switch (required)
#   V01T_SMOKE_URL_BLUE, V01T_SMOKE_URL_GREEN   the colour's own URL for the smoke tests before
#                      the switch (default its environment name: smoke-tests.sh then reads
#                      V01T_URL_PRODUCTION or V01T_URL_PRODUCTION_GREEN)
#   V01T_RELEASE_PREFIX  colour releases are <prefix>-blue and <prefix>-green (default v01t)
#   V01T_NAMESPACE     (default production)   V01T_ENTRY_SERVICE  (default v01t-service)
#   V01T_CHART         chart path (default deploy/helm/v01t of this checkout; its
#                      values-production-<colour>.yaml is applied)
#   V01T_HELM_TIMEOUT  how long Helm waits for readiness (default 10m)
#   V01T_BACKUP_DIR    where the ConfigMap backup goes (default the current directory)
#   V01T_SHIFT_WAIT    passed to shift-traffic.sh (default 300 s before its checks)
#   V01T_SMOKE_TESTS, V01T_CHECK_METRICS   the checks (default the scripts beside this one)
#   V01T_DEPLOY_TOKEN  when set, the result (success, failed, rolled_back) is recorded in v01t's
#                      deployment history: POST $V01T_DEPLOY_URL/v1/ops/deployments
#   V01T_DEPLOY_URL    v01t's base URL for that (default V01T_SMOKE_URL when it is a URL)
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
usage() { echo "usage: $0 <image-tag> [--dry-run]" >&2; exit 64; }

tag="" dry_run=false
for arg in "$@"; do
  case "$arg" in
    --dry-run) dry_run=true ;;
    -h|--help) sed -n '2,31p' "$0"; exit 0 ;;
    -*) echo "emergency-deploy: unknown option $arg" >&2; usage ;;
    *) [ -z "$tag" ] || usage; tag="$arg" ;;
  esac
done
[ -n "$tag" ] || usage
# An image tag: letters, digits, '_', '.', '-'; at most 128 characters, not starting with . or -.
[[ "$tag" =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || { echo "emergency-deploy: not a valid image tag: $tag" >&2; exit 64; }

prefix="${V01T_RELEASE_PREFIX:-v01t}"
namespace="${V01T_NAMESPACE:-production}"
entry="${V01T_ENTRY_SERVICE:-v01t-service}"
chart="${V01T_CHART:-$(cd "$here/.." && pwd)/deploy/helm/v01t}"
helm_timeout="${V01T_HELM_TIMEOUT:-10m}"
backup_dir="${V01T_BACKUP_DIR:-.}"
smoke="${V01T_SMOKE_TESTS:-$here/smoke-tests.sh}"
smoke_url="${V01T_SMOKE_URL:-}"
[ -n "$smoke_url" ] || { echo "emergency-deploy: set V01T_SMOKE_URL: the smoke tests are not skipped, even in an emergency" >&2; exit 64; }
[ -f "$chart/Chart.yaml" ] || { echo "emergency-deploy: no Helm chart at $chart" >&2; exit 64; }
deploy_url="${V01T_DEPLOY_URL:-}"
if [ -z "$deploy_url" ]; then
  case "$smoke_url" in http://* | https://*) deploy_url="$smoke_url" ;; esac
fi

# step DESCRIPTION COMMAND...: prints the command; runs it unless --dry-run.
step() {
  local what="$1"
  shift
  printf '==> %s\n    %s\n' "$what" "$*"
  "$dry_run" || "$@"
}

# record RESULT: adds the outcome to v01t's deployment history (a failure to record only warns).
record() {
  local result="$1"
  [ -n "${V01T_DEPLOY_TOKEN:-}" ] || return 0
  if [ -z "$deploy_url" ]; then
    echo "emergency-deploy: set V01T_DEPLOY_URL to record the result ($result) in v01t" >&2
    return 0
  fi
  printf '==> record the deployment: %s\n    POST %s/v1/ops/deployments\n' "$result" "${deploy_url%/}"
  "$dry_run" && return 0
  # The token goes in a header file, not on the command line (visible in the process list).
  curl -fsS -o /dev/null --max-time 10 -X POST \
    -H @<(printf 'authorization: Bearer %s\n' "$V01T_DEPLOY_TOKEN") -H 'content-type: application/json' \
    --data "{\"version\":\"$tag\",\"environment\":\"$environment\",\"result\":\"$result\",\"notes\":\"scripts/emergency-deploy.sh\"}" \
    "${deploy_url%/}/v1/ops/deployments" ||
    echo "emergency-deploy: could not record the result ($result) in v01t's deployment history" >&2
}

if ! "$dry_run"; then
  for tool in helm curl; do
    command -v "$tool" >/dev/null || { echo "emergency-deploy: $tool is required" >&2; exit 69; }
  done
fi
command -v kubectl >/dev/null || { echo "emergency-deploy: kubectl is required (even for --dry-run: it reads which colour is idle)" >&2; exit 69; }

# The idle colour: weight 0 in the VirtualService, or (no Istio) the colour the Service does not select.
idle=""
if routes="$(kubectl get virtualservice "$entry" -n "$namespace" -o jsonpath='{range .spec.http[0].route[*]}{.destination.subset}={.weight}{"\n"}{end}' 2>/dev/null)"; then
  blue_w="" green_w=""
  while IFS= read -r line; do
    case "$line" in
      blue=*) blue_w="${line#blue=}" ;;
      green=*) green_w="${line#green=}" ;;
    esac
  done <<<"$routes"
  blue_w="${blue_w:-0}" green_w="${green_w:-0}"
  if [ "$green_w" -eq 0 ] && [ "$blue_w" -gt 0 ]; then idle=green
  elif [ "$blue_w" -eq 0 ] && [ "$green_w" -gt 0 ]; then idle=blue
  else
    echo "emergency-deploy: traffic is split (blue $blue_w%, green $green_w%): finish or undo the shift with scripts/shift-traffic.sh first" >&2
    exit 1
  fi
  live_routes=istio
else
  selected="$(kubectl get service "$entry" -n "$namespace" -o jsonpath='{.spec.selector.colour}')" ||
    { echo "emergency-deploy: neither a VirtualService nor a Service $entry in $namespace: install the v01t-entry chart" >&2; exit 1; }
  case "$selected" in
    blue) idle=green ;;
    green) idle=blue ;;
    *) echo "emergency-deploy: the Service $entry selects no colour (${selected:-none})" >&2; exit 1 ;;
  esac
  live_routes=service
fi
release="$prefix-$idle"
colour_values="$chart/values-production-$idle.yaml"
[ -f "$colour_values" ] || { echo "emergency-deploy: no $colour_values" >&2; exit 64; }
environment="$(sed -n 's/^environment:[[:space:]]*\([a-z0-9-]*\).*/\1/p' "$colour_values" | head -n 1)"
[[ "$environment" =~ ^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$ ]] || { echo "emergency-deploy: no environment in $colour_values" >&2; exit 64; }
colour_var="V01T_SMOKE_URL_$(printf '%s' "$idle" | tr '[:lower:]' '[:upper:]')"
colour_url="${!colour_var:-$environment}"

started="$(date -u +%Y%m%dT%H%M%SZ)"
echo "emergency deployment of $tag to the idle colour, $idle: release $release (namespace $namespace)$("$dry_run" && echo ', dry run')"

backup="$backup_dir/backup-config-$(date -u +%Y%m%d-%H%M).yaml"
printf '==> back up the ConfigMap of %s\n    kubectl get configmap -n %s -l app.kubernetes.io/instance=%s -o yaml > %s\n' "$release" "$namespace" "$release" "$backup"
"$dry_run" || kubectl get configmap -n "$namespace" -l "app.kubernetes.io/instance=$release" -o yaml >"$backup"

if ! step "upgrade the idle colour (Helm rolls back itself if pods do not become ready)" \
  helm upgrade --install "$release" "$chart" --namespace "$namespace" --reuse-values \
  -f "$colour_values" --set "image.tag=$tag" --atomic --wait --timeout "$helm_timeout"; then
  echo "emergency-deploy: helm upgrade failed; $release was left at its previous revision and has no traffic" >&2
  record failed
  exit 1
fi

if ! step "smoke tests of $idle before it gets traffic" "$smoke" "$colour_url"; then
  echo "emergency-deploy: smoke tests failed; rolling back $release (it has no traffic)" >&2
  step "roll back to the previous revision" helm rollback "$release" 0 --namespace "$namespace" --wait --timeout "$helm_timeout" || true
  record rolled_back
  exit 1
fi

if [ "$live_routes" = istio ]; then
  [ "$idle" = green ] && to=100 || to=0
  step "all traffic to $idle in one step (it returns by itself when the checks fail)" \
    env V01T_NAMESPACE="$namespace" V01T_ENTRY_SERVICE="$entry" V01T_RELEASE_PREFIX="$prefix" V01T_SMOKE_URL="$smoke_url" \
    "$here/shift-traffic.sh" --steps 100 "$to" || shift_rc=$?
else
  step "all traffic to $idle (no mesh: the Service's selector)" \
    kubectl patch service "$entry" -n "$namespace" -p "{\"spec\":{\"selector\":{\"colour\":\"$idle\"}}}" || shift_rc=$?
fi
if [ "${shift_rc:-0}" -ne 0 ]; then
  echo "emergency-deploy: the switch to $idle failed (exit $shift_rc); traffic is back on the other colour unless said above" >&2
  record rolled_back
  exit 1
fi

record success
echo "emergency deployment of $tag done: $idle serves all traffic (started $started)$("$dry_run" && echo '; dry run: nothing was changed')"
