import { sql } from 'drizzle-orm';
import type { Db, DbExecutor } from '../../kernel/db/database.js';
import { rows } from '../../kernel/db/rows.js';
import type { QueueSlot } from './time.js';

export type LatePolicy = 'publish_late' | 'skip';

export interface ChannelRow {
  id: string;
  workspace_id: string;
  connection_id: string;
  connector: string;
  name: string;
  timezone: string;
  max_text_length: number;
  max_media: number;
  media_types: string[] | string;
  queue_slots: QueueSlot[] | string;
  late_policy: LatePolicy;
  late_grace_seconds: number;
  created_at: Date;
  updated_at: Date;
}

/** What a channel insert or update writes (queue slots already sorted). */
export interface ChannelValues {
  name: string;
  timezone: string;
  maxTextLength: number;
  maxMedia: number;
  mediaTypes: string[];
  queueSlots: QueueSlot[];
  latePolicy: LatePolicy;
  lateGraceSeconds: number;
}

/** content.channels, plus the queue-slot read of content.targets that channel scheduling needs. */
export class ChannelsRepository {
  constructor(private readonly db: Db) {}

  async list(workspaceId: string): Promise<ChannelRow[]> {
    return rows<ChannelRow>(this.db, sql`SELECT * FROM content.channels WHERE workspace_id = ${workspaceId} AND archived_at IS NULL ORDER BY created_at`);
  }

  async get(workspaceId: string, channelId: string, ex: DbExecutor = this.db): Promise<ChannelRow | null> {
    const [r] = await rows<ChannelRow>(ex, sql`SELECT * FROM content.channels WHERE workspace_id = ${workspaceId} AND id = ${channelId} AND archived_at IS NULL`);
    return r ?? null;
  }

  async many(workspaceId: string, ids: string[], ex: DbExecutor = this.db): Promise<ChannelRow[]> {
    return rows<ChannelRow>(ex, sql`SELECT * FROM content.channels WHERE workspace_id = ${workspaceId} AND archived_at IS NULL AND id = ANY(string_to_array(${ids.join(',')}, ',')::uuid[])`);
  }

  async insert(id: string, workspaceId: string, connection: { id: string; connector: string }, v: ChannelValues, now: string): Promise<void> {
    await this.db.execute(sql`
      INSERT INTO content.channels (id, workspace_id, connection_id, connector, name, timezone, max_text_length, max_media, media_types, queue_slots, late_policy, late_grace_seconds, created_at, updated_at)
      VALUES (${id}, ${workspaceId}, ${connection.id}, ${connection.connector}, ${v.name}, ${v.timezone}, ${v.maxTextLength}, ${v.maxMedia},
              string_to_array(${v.mediaTypes.join(',')}, ','), ${JSON.stringify(v.queueSlots)}::jsonb,
              ${v.latePolicy}, ${v.lateGraceSeconds}, ${now}, ${now})`);
  }

  async update(workspaceId: string, channelId: string, v: ChannelValues, now: string): Promise<void> {
    await this.db.execute(sql`
      UPDATE content.channels SET name = ${v.name}, timezone = ${v.timezone}, max_text_length = ${v.maxTextLength}, max_media = ${v.maxMedia},
        media_types = string_to_array(${v.mediaTypes.join(',')}, ','), queue_slots = ${JSON.stringify(v.queueSlots)}::jsonb,
        late_policy = ${v.latePolicy}, late_grace_seconds = ${v.lateGraceSeconds}, updated_at = ${now}
      WHERE workspace_id = ${workspaceId} AND id = ${channelId}`);
  }

  /** Archives the channel and cancels its scheduled targets (published history stays). */
  async archive(workspaceId: string, channelId: string, now: string, tx: DbExecutor): Promise<void> {
    await tx.execute(sql`UPDATE content.channels SET archived_at = ${now}, updated_at = ${now} WHERE workspace_id = ${workspaceId} AND id = ${channelId}`);
    await tx.execute(sql`UPDATE content.targets SET status = 'cancelled', updated_at = ${now} WHERE channel_id = ${channelId} AND status = 'scheduled'`);
  }

  /** Instants in (after, until] already taken on the channel by a live target. */
  async takenSlots(channelId: string, after: string, until: string, ex: DbExecutor = this.db): Promise<Date[]> {
    const taken = await rows<{ due_at: Date }>(
      ex,
      sql`SELECT due_at FROM content.targets WHERE channel_id = ${channelId} AND status NOT IN ('cancelled', 'skipped') AND due_at > ${after} AND due_at <= ${until}`,
    );
    return taken.map((t) => t.due_at);
  }

  /** Row locks on the channels, in id order, so two schedulers of one channel run one after the other. */
  async lock(ids: string[], tx: DbExecutor): Promise<void> {
    await tx.execute(sql`SELECT id FROM content.channels WHERE id = ANY(string_to_array(${ids.join(',')}, ',')::uuid[]) ORDER BY id FOR UPDATE`);
  }
}
