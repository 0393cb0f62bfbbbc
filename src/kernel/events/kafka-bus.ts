import { sql } from 'drizzle-orm';
import type * as KafkaJs from 'kafkajs';
import type { Admin, Consumer, Kafka, KafkaConfig, Producer } from 'kafkajs';
import { lazyPackage } from '../lazy-package.js';

const kafkajs = lazyPackage<typeof KafkaJs>('kafkajs');
import type { Db } from '../db/database.js';
import type { Logger } from '../telemetry/logger.js';
import type { EventName } from './catalog.js';
import type { AnyEnvelope, EventHandler } from './envelope.js';
import { deliverOnce, recordDeadLetter } from './deliver.js';
import { envelopeOf, RELAY_LOCK_KEY, rowsOf, type OutboxRow } from './outbox.js';
import type { BusAdapter } from './postgres-bus.js';

export interface KafkaBusOptions {
  db: Db;
  logger: Logger;
  brokers: string[];
  clientId: string;
  topicPrefix: string;
  partitions: number;
  maxAttempts: number;
  retryDelayMs: (attempt: number) => number;
  /** Every event name the catalog knows: topics are created for all of them up front. */
  names: EventName[];
  /** Makes the kafkajs client (tests wrap it to watch or fail its consumers). */
  kafka?: (config: KafkaConfig) => Kafka;
  /** Wait before re-creating a consumer kafkajs gave up on, by consecutive crash (default 1 s doubling to 30 s). */
  recreateDelayMs?: (crashes: number) => number;
}

/**
 * Kafka mode: one topic per event name (`<prefix><name>`), keyed by workspace so one workspace's
 * events keep their order; a consumer group per subscription (`<prefix><group>`). Kafka delivers
 * at least once, so every delivery goes through the same dedupe row as on the postgres bus.
 */
export class KafkaBus implements BusAdapter {
  readonly kind = 'kafka' as const;
  readonly relayMax = 500;
  private readonly kafka: Kafka;
  private producer?: Producer;
  private admin?: Admin;
  private topicsReady?: Promise<void>;
  private readonly consumers = new Map<string, { consumer: Consumer; topics: string[]; crashes: number; timer?: NodeJS.Timeout }>();
  private readonly known = new Map<string, string[]>();
  private stopping = false;

  constructor(private readonly o: KafkaBusOptions) {
    const config: KafkaConfig = {
      clientId: o.clientId,
      brokers: o.brokers,
      // kafkajs's own errors (a consumer crash, a failed rejoin) go to the platform's log; its chatter does not.
      logLevel: kafkajs().logLevel.ERROR,
      logCreator: () => (entry) => {
        const { message, ...extra } = entry.log;
        this.o.logger.warn({ kafkajs: entry.namespace, ...extra }, `kafkajs: ${message}`);
      },
      retry: { retries: 8, initialRetryTime: 200 },
    };
    this.kafka = o.kafka ? o.kafka(config) : new (kafkajs().Kafka)(config);
  }

  topicOf(name: string): string {
    return `${this.o.topicPrefix}${name}`;
  }

  private async ensureConnected(): Promise<{ producer: Producer; admin: Admin }> {
    if (!this.topicsReady) {
      this.topicsReady = (async () => {
        const admin = this.kafka.admin();
        await admin.connect();
        this.admin = admin;
        const existing = new Set(await admin.listTopics());
        const missing = this.o.names.map((n) => this.topicOf(n)).filter((t) => !existing.has(t));
        if (missing.length) {
          try {
            await admin.createTopics({ topics: missing.map((topic) => ({ topic, numPartitions: this.o.partitions })), waitForLeaders: true });
          } catch (err) {
            // Clusters without a reachable controller (librdkafka's mock cluster reports controller 0,
            // which is no broker) reject CreateTopics: fall back to the broker's auto-creation, which a
            // metadata request for the topic triggers where auto.create.topics.enable is on.
            this.o.logger.warn({ err, topics: missing.length }, 'CreateTopics failed; relying on broker auto-creation');
            await admin.fetchTopicMetadata({ topics: missing });
          }
        }
        const producer = this.kafka.producer({ allowAutoTopicCreation: false });
        await producer.connect();
        this.producer = producer;
      })().catch((err) => {
        this.topicsReady = undefined;
        throw err;
      });
    }
    await this.topicsReady;
    return { producer: this.producer!, admin: this.admin! };
  }

  async relayOnce(): Promise<number> {
    const { producer } = await this.ensureConnected();
    return this.o.db.transaction(async (tx) => {
      const [lock] = rowsOf<{ ok: boolean }>(await tx.execute(sql`SELECT pg_try_advisory_xact_lock(${RELAY_LOCK_KEY}) AS ok`));
      if (!lock?.ok) return 0;
      const rows = rowsOf<OutboxRow>(
        await tx.execute(sql`SELECT * FROM kernel.outbox WHERE published_at IS NULL ORDER BY seq LIMIT ${this.relayMax} FOR UPDATE`),
      );
      if (!rows.length) return 0;
      const byTopic = new Map<string, { key: string; value: string; headers: Record<string, string> }[]>();
      for (const r of rows) {
        const e = envelopeOf(r);
        const topic = this.topicOf(e.name);
        const list = byTopic.get(topic) ?? [];
        list.push({ key: e.workspaceId ?? e.id, value: JSON.stringify(e), headers: { 'event-id': e.id, 'event-name': e.name } });
        byTopic.set(topic, list);
      }
      // Sent before the rows are marked: a crash in between re-sends them, and consumers dedupe by id.
      await producer.sendBatch({ acks: -1, topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })) });
      await tx.execute(sql`UPDATE kernel.outbox SET published_at = now() WHERE seq IN (${sql.join(rows.map((r) => sql`${r.seq}`), sql`, `)})`);
      return rows.length;
    });
  }

  async startConsumer(group: string, names: EventName[], handler: EventHandler): Promise<void> {
    if (this.consumers.has(group)) throw new Error(`consumer group ${group} is already running in this process`);
    this.stopping = false;
    await this.ensureConnected();
    const topics = names.map((n) => this.topicOf(n));
    this.known.set(group, topics);
    await this.runConsumer(group, topics, handler, 0);
  }

  /**
   * One kafkajs consumer for the group. kafkajs restarts a consumer after a retriable crash by
   * itself; after one it deems not retriable it disconnects for good, and the group would stop
   * consuming in this process without a word. Such a consumer is logged and re-created (same
   * group, offsets from the broker) after a backoff, until the bus stops.
   */
  private async runConsumer(group: string, topics: string[], handler: EventHandler, crashes: number): Promise<void> {
    const consumer = this.kafka.consumer({
      groupId: `${this.o.topicPrefix}${group}`,
      // Short timeouts: a replica that dies is noticed, and its partitions move, within seconds.
      sessionTimeout: 6_000,
      rebalanceTimeout: 3_000,
      heartbeatInterval: 500,
      maxWaitTimeInMs: 250,
      allowAutoTopicCreation: false,
    });
    const entry: { consumer: Consumer; topics: string[]; crashes: number; timer?: NodeJS.Timeout } = { consumer, topics, crashes };
    this.consumers.set(group, entry);
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      if (payload.restart) {
        this.o.logger.warn({ err: payload.error, group }, 'Kafka consumer crashed; kafkajs restarts it');
        return;
      }
      if (this.stopping || this.consumers.get(group) !== entry) return;
      const delay = (this.o.recreateDelayMs ?? ((n) => Math.min(30_000, 1000 * 2 ** Math.max(0, n - 1))))(crashes + 1);
      this.o.logger.error({ err: payload.error, group, crashes: crashes + 1, retryInMs: delay }, 'Kafka consumer stopped after an error kafkajs does not retry; re-creating it');
      entry.timer = setTimeout(() => {
        if (this.stopping || this.consumers.get(group) !== entry) return;
        void consumer
          .disconnect()
          .catch(() => {})
          .then(() => this.runConsumer(group, topics, handler, crashes + 1))
          .catch((err) => this.o.logger.error({ err, group }, 'could not re-create the Kafka consumer'));
      }, delay);
      entry.timer.unref?.();
    });
    // A consumer that has been consuming for a while starts the backoff afresh at its next crash.
    consumer.on(consumer.events.FETCH, () => {
      entry.crashes = 0;
    });
    await consumer.connect();
    await consumer.subscribe({ topics, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message, heartbeat }) => {
        if (!message.value) return;
        const event = JSON.parse(message.value.toString('utf8')) as AnyEnvelope;
        for (let attempt = 1; ; attempt++) {
          try {
            await deliverOnce(this.o.db, group, event, handler, attempt);
            return;
          } catch (err) {
            if (attempt >= this.o.maxAttempts) {
              this.o.logger.error({ err, group, eventId: event.id, name: event.name, attempts: attempt }, 'event handler gave up; dead-lettered');
              await recordDeadLetter(this.o.db, group, event, err, attempt);
              return;
            }
            this.o.logger.warn({ err, group, eventId: event.id, name: event.name, attempt }, 'event handler failed; will retry');
            await new Promise((r) => setTimeout(r, this.o.retryDelayMs(attempt)));
            await heartbeat();
          }
        }
      },
    });
  }

  private pinging?: Promise<void>;

  /**
   * /ready: a metadata round trip to the cluster. One at a time: while Kafka is away kafkajs keeps
   * retrying for longer than the probe waits, and each probe must not add another pending call.
   */
  ping(): Promise<void> {
    this.pinging ??= (async () => {
      const { admin } = await this.ensureConnected();
      const { brokers } = await admin.describeCluster();
      if (!brokers.length) throw new Error('the Kafka cluster reports no brokers');
    })().finally(() => {
      this.pinging = undefined;
    });
    return this.pinging;
  }

  track(group: string, names: EventName[] = []): void {
    this.known.set(group, names.map((n) => this.topicOf(n)));
  }

  async lag(): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    if (!this.known.size) return out;
    const { admin } = await this.ensureConnected();
    const ends = new Map<string, Map<number, { high: number; low: number }>>();
    for (const [group, topics] of this.known) {
      let sum = 0;
      const committed = await admin.fetchOffsets({ groupId: `${this.o.topicPrefix}${group}`, topics });
      for (const t of committed) {
        let range = ends.get(t.topic);
        if (!range) {
          range = new Map((await admin.fetchTopicOffsets(t.topic)).map((p) => [p.partition, { high: Number(p.high), low: Number(p.low) }]));
          ends.set(t.topic, range);
        }
        for (const p of t.partitions) {
          const r = range.get(p.partition) ?? { high: 0, low: 0 };
          // -1: the group has committed nothing on this partition yet; all retained messages are pending.
          const at = Number(p.offset) >= 0 ? Number(p.offset) : r.low;
          sum += Math.max(0, r.high - at);
        }
      }
      out.set(group, sum);
    }
    return out;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    for (const { consumer, timer } of this.consumers.values()) {
      if (timer) clearTimeout(timer);
      await consumer.disconnect().catch(() => {});
    }
    this.consumers.clear();
    this.known.clear();
    await this.producer?.disconnect().catch(() => {});
    await this.admin?.disconnect().catch(() => {});
    this.producer = undefined;
    this.admin = undefined;
    this.topicsReady = undefined;
  }
}
