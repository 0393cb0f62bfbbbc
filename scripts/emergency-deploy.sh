#!/usr/bin/env bash
# Emergency hotfix deployment (runbook: Emergency Hotfix Procedure):
#   scripts/emergency-deploy.sh hotfix-v20251031-1415 [--dry-run]
# Fast track: skips the pre-deployment checklist and the blue-green shift, but still
#   1. backs up the ConfigMap (runbook: "Backup current configuration"),
#   2. runs `helm upgrade --atomic --wait` with the new image tag (Helm rolls back by itself when
#      the pods do not become ready),
#   3. runs scripts/smoke-tests.sh against the deployment, and rolls back when they fail.
# --dry-run prints the commands without running any of them.
#
# Environment:
#   V01T_SMOKE_URL     base URL (or environment name) for smoke-tests.sh (required)
#   V01T_RELEASE       Helm release (default v01t)       V01T_NAMESPACE  (default production)
#   V01T_ENVIRONMENT   environment label (default production; the ConfigMap is <it>-config)
#   V01T_CHART         chart path (default deploy/helm/v01t of this checkout)
#   V01T_HELM_TIMEOUT  how long Helm waits for readiness (default 10m)
#   V01T_BACKUP_DIR    where the ConfigMap backup goes (default the current directory)
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
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    -*) echo "emergency-deploy: unknown option $arg" >&2; usage ;;
    *) [ -z "$tag" ] || usage; tag="$arg" ;;
  esac
done
[ -n "$tag" ] || usage
# An image tag: letters, digits, '_', '.', '-'; at most 128 characters, not starting with . or -.
[[ "$tag" =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || { echo "emergency-deploy: not a valid image tag: $tag" >&2; exit 64; }

release="${V01T_RELEASE:-v01t}"
namespace="${V01T_NAMESPACE:-production}"
environment="${V01T_ENVIRONMENT:-production}"
chart="${V01T_CHART:-$(cd "$here/.." && pwd)/deploy/helm/v01t}"
helm_timeout="${V01T_HELM_TIMEOUT:-10m}"
backup_dir="${V01T_BACKUP_DIR:-.}"
smoke_url="${V01T_SMOKE_URL:-}"
[ -n "$smoke_url" ] || { echo "emergency-deploy: set V01T_SMOKE_URL: the smoke tests are not skipped, even in an emergency" >&2; exit 64; }
[ -f "$chart/Chart.yaml" ] || { echo "emergency-deploy: no Helm chart at $chart" >&2; exit 64; }
[[ "$environment" =~ ^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$ ]] || { echo "emergency-deploy: not an environment name: $environment" >&2; exit 64; }
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
  for tool in helm kubectl curl; do
    command -v "$tool" >/dev/null || { echo "emergency-deploy: $tool is required" >&2; exit 69; }
  done
fi

started="$(date -u +%Y%m%dT%H%M%SZ)"
echo "emergency deployment of $tag to release $release (namespace $namespace)$("$dry_run" && echo ', dry run')"

backup="$backup_dir/backup-config-$(date -u +%Y%m%d-%H%M).yaml"
printf '==> back up the ConfigMap %s-config\n    kubectl get configmap %s-config -n %s -o yaml > %s\n' "$environment" "$environment" "$namespace" "$backup"
"$dry_run" || kubectl get configmap "$environment-config" -n "$namespace" -o yaml >"$backup"

if ! step "upgrade (Helm rolls back itself if pods do not become ready)" \
  helm upgrade "$release" "$chart" --namespace "$namespace" --reuse-values \
  --set "image.tag=$tag" --atomic --wait --timeout "$helm_timeout"; then
  echo "emergency-deploy: helm upgrade failed; the release was left at its previous revision" >&2
  record failed
  exit 1
fi

if ! step "smoke tests" "$here/smoke-tests.sh" "$smoke_url"; then
  echo "emergency-deploy: smoke tests failed; rolling back" >&2
  step "roll back to the previous revision" helm rollback "$release" 0 --namespace "$namespace" --wait --timeout "$helm_timeout" || true
  record rolled_back
  exit 1
fi

record success
echo "emergency deployment of $tag done (started $started)$("$dry_run" && echo '; dry run: nothing was changed')"
