#!/usr/bin/env bash
# Compares live metrics with the runbook's KPI thresholds (runbook: "Monitor for 5 minutes, check
# metrics" during a traffic shift), by asking Prometheus:
#   scripts/check-metrics.sh [--prometheus URL] [--window 5m] [--environment production-green]
# Prints one line per KPI. Exit status: 0 all within target, 1 a critical threshold is breached,
# 2 only warning thresholds are breached, 3 Prometheus could not be queried. KPIs without data
# (e.g. business metrics before the analytics engine has any) are listed as "no data", not failed.
# Needs curl and awk.
set -euo pipefail

prometheus="${PROMETHEUS_URL:-http://127.0.0.1:9090}"
window=5m
environment=""
while [ $# -gt 0 ]; do
  case "$1" in
    --prometheus) prometheus="${2:?--prometheus needs a URL}"; shift 2 ;;
    --window) window="${2:?--window needs a duration such as 5m}"; shift 2 ;;
    --environment) environment="${2:?--environment needs a name}"; shift 2 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "check-metrics: unknown argument $1" >&2; exit 64 ;;
  esac
done
[[ "$window" =~ ^[0-9]+[smhd]$ ]] || { echo "check-metrics: --window must look like 5m" >&2; exit 64; }
[[ -z "$environment" || "$environment" =~ ^[a-z0-9-]+$ ]] || { echo "check-metrics: bad --environment" >&2; exit 64; }
prometheus="${prometheus%/}"

# Only the pods of one colour when --environment is given (the scrape config labels targets with it).
env_sel=""
[ -z "$environment" ] || env_sel=",environment=\"$environment\""
user="route!~\"/health|/ready|/metrics\"$env_sel"

# query EXPR -> prints the sample values, one per line ("NaN" included); returns 3 on failure
query() {
  local out
  out="$(curl -sS --max-time 10 --get --data-urlencode "query=$1" "$prometheus/api/v1/query" 2>&1)" || { echo "check-metrics: Prometheus at $prometheus did not answer: $out" >&2; return 3; }
  if [[ "$out" != *'"status":"success"'* ]]; then echo "check-metrics: query failed: $out" >&2; return 3; fi
  printf '%s' "$out" | grep -o '"value":\[[^]]*\]' | sed 's/.*,"\([^"]*\)"\]$/\1/' || true
}

worst=0
printf '%-34s %-12s %-10s %-10s %s\n' KPI value warning critical status
# check NAME EXPR DIRECTION(above|below) WARNING CRITICAL  (use - for no threshold)
check() {
  local name="$1" expr="$2" direction="$3" warn="$4" crit="$5" values value status
  values="$(query "$expr")" || exit 3
  # The worst series: highest for "above" thresholds, lowest for "below" ones.
  value="$(printf '%s\n' "$values" | awk -v dir="$direction" '
    $1 == "" || tolower($1) ~ /nan/ { next }
    { v = $1 + 0; if (!seen || (dir == "above" && v > best) || (dir == "below" && v < best)) best = v; seen = 1 }
    END { if (seen) printf "%.6g", best }')"
  if [ -z "$value" ]; then
    status="no data"
  else
    status="$(awk -v v="$value" -v w="$warn" -v c="$crit" -v dir="$direction" 'BEGIN {
      if (c != "-" && ((dir == "above" && v > c) || (dir == "below" && v < c))) { print "CRITICAL"; exit }
      if (w != "-" && ((dir == "above" && v > w) || (dir == "below" && v < w))) { print "WARNING"; exit }
      print "ok" }')"
  fi
  case "$status" in
    CRITICAL) worst=1 ;;
    WARNING) [ "$worst" -eq 1 ] || worst=2 ;;
  esac
  printf '%-34s %-12s %-10s %-10s %s\n' "$name" "${value:--}" "$warn" "$crit" "$status"
}

check "API p95 response time (s)" \
  "histogram_quantile(0.95, sum by (le) (rate(request_duration_seconds_bucket{$user}[$window])))" above 0.5 2
check "Error rate (share of requests)" \
  "(sum(rate(http_requests_total{status=~\"5..\",$user}[$window])) or vector(0)) / sum(rate(http_requests_total{$user}[$window]))" above 0.001 0.01
check "Database query p95, worst table (s)" \
  "histogram_quantile(0.95, sum by (table, le) (rate(database_query_duration_seconds_bucket{job=\"v01t\"$env_sel}[$window])))" above 0.1 1
check "Database pool use" \
  "database_connections_active{job=\"v01t\"$env_sel} / database_connections_max{job=\"v01t\"$env_sel}" above 0.9 -
check "Availability (scrapes answered)" \
  "avg by (service) (avg_over_time(up{job=\"v01t\"$env_sel}[$window]))" below - 0.99
check "Pod memory of limit" \
  "max by (namespace, pod) (container_memory_working_set_bytes{container!=\"\"}) / on (namespace, pod) max by (namespace, pod) (kube_pod_container_resource_limits{resource=\"memory\"})" above 0.8 0.95
check "Kafka consumer lag (messages)" "kafka_consumer_lag_sum" above - 10000
check "Weekly activation rate" "v01t_user_activation_rate" below 0.6 -
check "MRR deviation from forecast" "abs(v01t_mrr_forecast_deviation_ratio)" above - 0.05
check "Critical alerts firing" "count(ALERTS{alertstate=\"firing\",severity=\"critical\"}) or vector(0)" above - 0

case "$worst" in
  0) echo "all KPIs within the runbook's thresholds" ;;
  1) echo "CRITICAL: at least one KPI breaches its critical threshold" >&2 ;;
  2) echo "WARNING: at least one KPI breaches its warning threshold" >&2 ;;
esac
exit "$worst"
