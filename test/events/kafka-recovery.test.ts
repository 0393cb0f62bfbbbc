import { randomUUID } from 'node:crypto';
import { Kafka, type Consumer, type KafkaConfig } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventNames } from '../../src/kernel/events/catalog.js';
import '../../src/apps/platform.js';
import { KafkaBus } from '../../src/kernel/events/kafka-bus.js';
import { Outbox } from '../../src/kernel/events/outbox.js';
import { createLogger } from '../../src/kernel/telemetry/logger.js';
import { createTestPlatform, type TestPlatform } from '../helpers/platform.js';
import { waitFor } from './poll.js';

/**
 * kafkajs restarts a consumer after a retriable crash itself; after one it does not retry it
 * disconnects for good. The Kafka bus must notice (the consumer's CRASH event with restart: false)
 * and re-create the group's consumer, or the group would stop consuming in this process silently.
 * Against librdkafka's mock cluster (V01T_TEST_KAFKA_BROKERS); the crash itself is simulated the way
 * kafkajs ends such a consumer: disconnect, then the CRASH event.
 */
const KAFKA_BROKERS = process.env.V01T_TEST_KAFKA_BROKERS ?? '';

type CrashListener = (e: { payload: { error: Error; groupId: string; restart: boolean } }) => void;

describe.skipIf(!KAFKA_BROKERS)('Kafka bus: a consumer kafkajs gave up on is re-created', { timeout: 120_000 }, () => {
  let t: TestPlatform;
  const made: { consumer: Consumer; crash?: CrashListener }[] = [];
  let bus: KafkaBus;
  let outbox: Outbox;

  beforeAll(async () => {
    t = await createTestPlatform();
    outbox = new Outbox(t.platform.database.orm, t.clock);
    // The real client, whose consumers are recorded with the CRASH listener the bus registers.
    const watch = (config: KafkaConfig) => {
      const kafka = new Kafka(config);
      const consumer = kafka.consumer.bind(kafka);
      kafka.consumer = (cfg) => {
        const c = consumer(cfg);
        const entry: (typeof made)[number] = { consumer: c };
        const on = c.on.bind(c);
        c.on = ((name: string, listener: CrashListener) => {
          if (name === c.events.CRASH) entry.crash = listener;
          return on(name as never, listener as never);
        }) as Consumer['on'];
        made.push(entry);
        return c;
      };
      return kafka;
    };
    bus = new KafkaBus({
      db: t.platform.database.orm,
      logger: createLogger('silent'),
      brokers: KAFKA_BROKERS.split(',').filter(Boolean),
      clientId: 'v01t-recovery-test',
      topicPrefix: `r${randomUUID().slice(0, 8)}.`,
      partitions: 2,
      maxAttempts: 3,
      retryDelayMs: () => 10,
      names: eventNames(),
      kafka: watch,
      recreateDelayMs: () => 50,
    });
  });
  afterAll(async () => {
    await bus?.stop();
    await t?.close();
  });

  it('re-creates the consumer after a crash kafkajs does not restart, leaves restartable crashes to kafkajs, and stops re-creating once stopped', async () => {
    const seen: string[] = [];
    await bus.startConsumer('recovery', ['workflow.run.started.v1'], async (e) => void seen.push(e.id));
    const publish = async () => {
      const e = await outbox.publish({ name: 'workflow.run.started.v1', workspaceId: null, payload: { runId: randomUUID(), workflowId: 'wf', workflowVersion: 1, trigger: 'manual' } });
      await waitFor(async () => (await bus.relayOnce()) >= 0 && (await t.platform.database.query('SELECT 1 FROM kernel.outbox WHERE published_at IS NULL')).length === 0, { timeoutMs: 30_000, what: 'relay' });
      return e.id;
    };
    const first = await publish();
    await waitFor(() => seen.includes(first), { timeoutMs: 60_000, what: 'first event' });
    expect(made).toHaveLength(1);
    expect(made[0]!.crash).toBeTypeOf('function');

    // A crash kafkajs restarts itself: the bus does not add a consumer of its own.
    made[0]!.crash!({ payload: { error: new Error('retriable'), groupId: 'recovery', restart: true } });
    await new Promise((r) => setTimeout(r, 200));
    expect(made).toHaveLength(1);

    // kafkajs gave up: the consumer is disconnected and announces it will not restart.
    await made[0]!.consumer.disconnect();
    made[0]!.crash!({ payload: { error: new Error('simulated non-retriable failure'), groupId: 'recovery', restart: false } });
    await waitFor(() => made.length === 2, { timeoutMs: 10_000, what: 'a new consumer' });
    const second = await publish();
    await waitFor(() => seen.includes(second), { timeoutMs: 60_000, what: 'event after the re-created consumer joined' });
    // Nothing was delivered twice across the two consumers (offsets and the dedupe row).
    expect(seen.filter((id) => id === first)).toHaveLength(1);

    await bus.stop();
    made[1]!.crash!({ payload: { error: new Error('after stop'), groupId: 'recovery', restart: false } });
    await new Promise((r) => setTimeout(r, 200));
    expect(made).toHaveLength(2);
  });
});
