/*
 * A Kafka cluster for tests: librdkafka's built-in mock cluster (no broker package exists on
 * Debian). Prints its bootstrap servers on one line, then serves until killed.
 * Usage: mock-cluster [brokers=1]
 *
 * SIGUSR1 takes every broker down (connections closed, new ones refused) and SIGUSR2 brings them
 * back, keeping topics and committed offsets: the chaos suite's "Kafka away and back" without the
 * data loss a restarted in-memory cluster would add.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

static volatile sig_atomic_t wanted = 0; /* 1: down, 2: up */

static void on_signal(int sig) { wanted = sig == SIGUSR1 ? 1 : 2; }

int main(int argc, char **argv) {
  char errstr[512];
  int brokers = argc > 1 ? atoi(argv[1]) : 1;
  if (brokers < 1) brokers = 1;
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
  if (!rk) { fprintf(stderr, "rd_kafka_new: %s\n", errstr); return 1; }
  rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, brokers);
  if (!mc) { fprintf(stderr, "rd_kafka_mock_cluster_new failed\n"); return 1; }
  signal(SIGUSR1, on_signal);
  signal(SIGUSR2, on_signal);
  printf("%s\n", rd_kafka_mock_cluster_bootstraps(mc));
  fflush(stdout);
  for (;;) {
    pause();
    if (!wanted) continue;
    int down = wanted == 1;
    wanted = 0;
    for (int id = 1; id <= brokers; id++) {
      rd_kafka_resp_err_t err = down ? rd_kafka_mock_broker_set_down(mc, id) : rd_kafka_mock_broker_set_up(mc, id);
      if (err) fprintf(stderr, "broker %d: %s\n", id, rd_kafka_err2str(err));
    }
    fprintf(stderr, "brokers %s\n", down ? "down" : "up");
  }
  return 0;
}
