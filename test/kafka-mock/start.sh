#!/usr/bin/env bash
# Starts the mock Kafka cluster in the background (idempotent: reuses a running one) and prints
# its bootstrap servers. The pid and address are kept under ${V01T_KAFKA_MOCK_DIR:-/tmp/v01t-kafka-mock}.
set -euo pipefail
cd "$(dirname "$0")/../.."
dir="${V01T_KAFKA_MOCK_DIR:-/tmp/v01t-kafka-mock}"
mkdir -p "$dir"
if [ -f "$dir/pid" ] && kill -0 "$(cat "$dir/pid")" 2>/dev/null && [ -s "$dir/brokers" ]; then
  cat "$dir/brokers"; exit 0
fi
[ -x dist/kafka-mock/mock-cluster ] || bash test/kafka-mock/build.sh
rm -f "$dir/brokers"
nohup dist/kafka-mock/mock-cluster 3 > "$dir/brokers" 2> "$dir/stderr" &
echo $! > "$dir/pid"
for _ in $(seq 1 50); do [ -s "$dir/brokers" ] && break; sleep 0.1; done
[ -s "$dir/brokers" ] || { echo "mock kafka cluster did not start: $(cat "$dir/stderr")" >&2; exit 1; }
cat "$dir/brokers"
