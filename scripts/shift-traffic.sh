#!/usr/bin/env bash
# Moves public traffic between the blue and green colours (runbook: Traffic Switch, 10% -> 50% -> 100%):
#   scripts/shift-traffic.sh <green-percent> [--steps "10 50 100"] [--dry-run]
# Patches the weights of the Istio VirtualService that the v01t-entry release owns, one step at a
# time from where they are to <green-percent> (green 10, 50, 100 on the way to green; 90, 50, 0
# on the way back to blue). After each step it waits V01T_SHIFT_WAIT seconds (the runbook's
# "monitor for 5 minutes"), then runs the smoke tests against the public URL and check-metrics.sh.
# When either fails, all traffic returns to the colour it was moving away from (green 0 on the
# way to green) and the script exits 1. It never sends traffic to a colour whose public service
# (the orchestrator) has no ready pod: it refuses to start, or to return, to such a colour.
# check-metrics.sh exit 2 (warning thresholds only) passes with a note; 1 and 3 fail.
#
# Environment:
#   V01T_SMOKE_URL        public base URL (or environment name) for smoke-tests.sh (required)
#   V01T_NAMESPACE        (default production)
#   V01T_ENTRY_SERVICE    the VirtualService (and Service) of v01t-entry (default v01t-service)
#   V01T_RELEASE_PREFIX   colour releases are <prefix>-blue and <prefix>-green (default v01t)
#   V01T_SHIFT_WAIT       seconds between a step and its checks (default 300)
#   V01T_METRICS_WINDOW   check-metrics.sh --window (default 5m); PROMETHEUS_URL is passed on
#   V01T_SMOKE_TESTS, V01T_CHECK_METRICS   the two checks (default the scripts beside this one)
# Exit status: 0 done, 1 checks failed and traffic was returned, 2 nothing could be moved or
# returned safely (read the message), 64 usage.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
usage() { echo "usage: $0 <green-percent 0..100> [--steps \"10 50 100\"] [--dry-run]" >&2; exit 64; }

target="" steps="10 50 100" dry_run=false
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) dry_run=true; shift ;;
    --steps) steps="${2:?--steps needs a list such as \"10 50 100\"}"; shift 2 ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    -*) echo "shift-traffic: unknown option $1" >&2; usage ;;
    *) [ -z "$target" ] || usage; target="$1"; shift ;;
  esac
done
[[ "$target" =~ ^(100|[1-9]?[0-9])$ ]] || usage
for s in $steps; do
  [[ "$s" =~ ^(100|[1-9]?[0-9])$ ]] || { echo "shift-traffic: --steps must be percentages: $steps" >&2; exit 64; }
done

namespace="${V01T_NAMESPACE:-production}"
vs="${V01T_ENTRY_SERVICE:-v01t-service}"
prefix="${V01T_RELEASE_PREFIX:-v01t}"
wait_s="${V01T_SHIFT_WAIT:-300}"
window="${V01T_METRICS_WINDOW:-5m}"
smoke="${V01T_SMOKE_TESTS:-$here/smoke-tests.sh}"
metrics="${V01T_CHECK_METRICS:-$here/check-metrics.sh}"
smoke_url="${V01T_SMOKE_URL:-}"
[ -n "$smoke_url" ] || { echo "shift-traffic: set V01T_SMOKE_URL (the public URL): every step is smoke-tested" >&2; exit 64; }
[[ "$wait_s" =~ ^[0-9]+$ ]] || { echo "shift-traffic: V01T_SHIFT_WAIT must be seconds" >&2; exit 64; }
command -v kubectl >/dev/null || { echo "shift-traffic: kubectl is required" >&2; exit 69; }

# weights: prints "<blue> <green>" as the VirtualService has them now.
weights() {
  local out blue="" green="" line
  out="$(kubectl get virtualservice "$vs" -n "$namespace" -o jsonpath='{range .spec.http[0].route[*]}{.destination.subset}={.weight}{"\n"}{end}')" || return 1
  while IFS= read -r line; do
    case "$line" in
      blue=*) blue="${line#blue=}" ;;
      green=*) green="${line#green=}" ;;
    esac
  done <<<"$out"
  # An omitted weight is 0 (Istio drops zero values).
  printf '%s %s\n' "${blue:-0}" "${green:-0}"
}

# ready COLOUR: true when that colour's orchestrator has at least one ready pod.
ready() {
  local n
  n="$(kubectl get deployment "$prefix-$1-orchestrator" -n "$namespace" -o jsonpath='{.status.readyReplicas}' 2>/dev/null)" || return 1
  [[ "$n" =~ ^[0-9]+$ ]] && [ "$n" -gt 0 ]
}

# set_green PERCENT: one patch of both weights. The test operations make the patch fail, rather
# than move the wrong route, if the routes are not in the order v01t-entry renders them.
set_green() {
  local green="$1" blue=$((100 - $1))
  printf '==> green %s%%, blue %s%%\n    kubectl patch virtualservice %s -n %s --type=json\n' "$green" "$blue" "$vs" "$namespace"
  "$dry_run" && return 0
  kubectl patch virtualservice "$vs" -n "$namespace" --type=json -p "[
    {\"op\":\"test\",\"path\":\"/spec/http/0/route/0/destination/subset\",\"value\":\"blue\"},
    {\"op\":\"test\",\"path\":\"/spec/http/0/route/1/destination/subset\",\"value\":\"green\"},
    {\"op\":\"replace\",\"path\":\"/spec/http/0/route/0/weight\",\"value\":$blue},
    {\"op\":\"replace\",\"path\":\"/spec/http/0/route/1/weight\",\"value\":$green}]" >/dev/null
}

# checks: the smoke tests, then the KPIs; false when either fails.
checks() {
  local rc=0
  if [ "$wait_s" -gt 0 ]; then
    echo "    monitoring for ${wait_s}s"
    "$dry_run" || sleep "$wait_s"
  fi
  printf '    %s %s\n' "$smoke" "$smoke_url"
  if ! "$dry_run"; then
    "$smoke" "$smoke_url" || { echo "shift-traffic: smoke tests failed" >&2; return 1; }
  fi
  printf '    %s --window %s\n' "$metrics" "$window"
  "$dry_run" && return 0
  "$metrics" --window "$window" || rc=$?
  case "$rc" in
    0) ;;
    2) echo "shift-traffic: check-metrics reports warnings only; going on" >&2 ;;
    *) echo "shift-traffic: check-metrics failed (exit $rc)" >&2; return 1 ;;
  esac
}

current="$(weights)" || { echo "shift-traffic: no VirtualService $vs in namespace $namespace (install the v01t-entry chart with istio.enabled)" >&2; exit 2; }
read -r blue_now green_now <<<"$current"
[ $((blue_now + green_now)) -eq 100 ] || { echo "shift-traffic: weights blue $blue_now + green $green_now do not add up to 100; fix the VirtualService first" >&2; exit 2; }
echo "traffic now: blue $blue_now%, green $green_now%; target green $target%$("$dry_run" && echo ' (dry run)')"
if [ "$target" -eq "$green_now" ]; then
  echo "nothing to move"
  exit 0
fi

# Direction: towards green (the steps as given) or back to blue (blue takes the steps).
if [ "$target" -gt "$green_now" ]; then
  towards=green from=blue origin=0
else
  towards=blue from=green origin=100
fi
plan=()
for s in $steps; do
  [ "$towards" = green ] && g="$s" || g=$((100 - s))
  if { [ "$towards" = green ] && [ "$g" -gt "$green_now" ] && [ "$g" -lt "$target" ]; } ||
    { [ "$towards" = blue ] && [ "$g" -lt "$green_now" ] && [ "$g" -gt "$target" ]; }; then
    plan+=("$g")
  fi
done
plan+=("$target")
echo "steps (green %): ${plan[*]}"

if ! "$dry_run" && ! ready "$towards"; then
  echo "shift-traffic: $prefix-$towards-orchestrator has no ready pod; traffic stays where it is" >&2
  exit 2
fi

for g in "${plan[@]}"; do
  set_green "$g" || { echo "shift-traffic: the patch was refused; traffic stays at green $green_now%" >&2; exit 2; }
  green_now="$g"
  if ! checks; then
    if ! ready "$from"; then
      echo "shift-traffic: $prefix-$from-orchestrator has no ready pod, so traffic is NOT returned to $from; it stays at green $green_now%: act now" >&2
      exit 2
    fi
    echo "shift-traffic: returning all traffic to $from" >&2
    set_green "$origin" || { echo "shift-traffic: could not return traffic to $from; it is at green $green_now%: act now" >&2; exit 2; }
    exit 1
  fi
done
echo "traffic now: blue $((100 - target))%, green $target%"
