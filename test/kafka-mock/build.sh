#!/usr/bin/env bash
# Builds the mock Kafka cluster (needs gcc and Debian's librdkafka-dev) into dist/kafka-mock/.
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p dist/kafka-mock
gcc -O2 -o dist/kafka-mock/mock-cluster test/kafka-mock/mock-cluster.c -lrdkafka
