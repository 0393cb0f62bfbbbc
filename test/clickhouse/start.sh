#!/usr/bin/env bash
# Starts a throwaway ClickHouse (Debian's clickhouse-server) for the analytics adapter tests and
# prints its HTTP URL. Idempotent: an instance already answering on the port is reused.
# usage: test/clickhouse/start.sh DATA_DIR [HTTP_PORT] [TCP_PORT]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
dir="${1:?usage: start.sh DATA_DIR [HTTP_PORT] [TCP_PORT]}"
http_port="${2:-8123}"
tcp_port="${3:-9123}"
url="http://127.0.0.1:${http_port}"
# A server that answers pings but fails DDL (its data folder was deleted) is not usable.
writable() {
  curl -fsS "$url" --data-binary "CREATE DATABASE IF NOT EXISTS v01t_probe" >/dev/null 2>&1 &&
    curl -fsS "$url" --data-binary "DROP DATABASE IF EXISTS v01t_probe" >/dev/null 2>&1
}
if curl -fsS "${url}/ping" >/dev/null 2>&1; then
  # Reuse a running instance only if it can still write; otherwise stop it and start afresh.
  if writable; then echo "$url"; exit 0; fi
  pkill -f "clickhouse-server --config-file=.*/config.xml" || true
  for _ in $(seq 1 40); do curl -fsS "${url}/ping" >/dev/null 2>&1 || break; sleep 0.5; done
fi
mkdir -p "$dir"/{data,tmp,user_files,format_schemas,log}
dir="$(cd "$dir" && pwd)"
sed -e "s#@DATA_DIR@#${dir}#g" -e "s#@HTTP_PORT@#${http_port}#g" -e "s#@TCP_PORT@#${tcp_port}#g" "$here/config.xml.in" >"$dir/config.xml"
cp "$here/users.xml" "$dir/users.xml"
clickhouse-server --config-file="$dir/config.xml" --daemon --pid-file="$dir/clickhouse.pid" >/dev/null 2>&1 || \
  (cd "$dir" && nohup clickhouse-server --config-file="$dir/config.xml" >"$dir/log/stdout.log" 2>&1 &)
for _ in $(seq 1 60); do
  if curl -fsS "${url}/ping" >/dev/null 2>&1 && writable; then echo "$url"; exit 0; fi
  sleep 0.5
done
echo "clickhouse-server did not answer on ${url}; see ${dir}/log" >&2
exit 1
