import { randomUUID } from 'node:crypto';
import type { Clock } from '../../kernel/clock.js';
import type { Transactor, Tx } from '../../kernel/db/transaction.js';
import { AppError, notFound } from '../../kernel/errors.js';
import type { IntegrationHubContract } from '../integration-hub/contract.js';
import type { ChannelRow, ChannelsRepository, LatePolicy } from './channels.repository.js';
import { iso } from './format.js';
import { isValidTimeZone, slotInstants, type QueueSlot } from './time.js';

export type { LatePolicy } from './channels.repository.js';

export interface Channel {
  id: string;
  workspaceId: string;
  connectionId: string;
  connector: string;
  name: string;
  timezone: string;
  limits: { maxTextLength: number; maxMedia: number; mediaTypes: string[] };
  queueSlots: QueueSlot[];
  latePolicy: LatePolicy;
  lateGraceSeconds: number;
  createdAt: string;
  updatedAt: string;
}

/** What each publishing connector's provider accepts; a channel may be stricter, never looser. */
export const CONNECTOR_LIMITS: Record<string, Channel['limits']> = {
  mastodon: { maxTextLength: 500, maxMedia: 4, mediaTypes: ['image/jpeg', 'image/png', 'image/gif', 'image/webp', 'video/mp4'] },
  bluesky: { maxTextLength: 300, maxMedia: 4, mediaTypes: ['image/jpeg', 'image/png', 'image/webp'] },
  discord: { maxTextLength: 2000, maxMedia: 10, mediaTypes: ['image/jpeg', 'image/png', 'image/gif', 'image/webp', 'video/mp4'] },
  slack: { maxTextLength: 40_000, maxMedia: 10, mediaTypes: ['image/jpeg', 'image/png', 'image/gif', 'application/pdf'] },
  github: { maxTextLength: 65_536, maxMedia: 0, mediaTypes: [] },
  email: { maxTextLength: 100_000, maxMedia: 10, mediaTypes: ['image/jpeg', 'image/png', 'image/gif', 'application/pdf'] },
  webhook: { maxTextLength: 100_000, maxMedia: 10, mediaTypes: ['image/jpeg', 'image/png', 'image/gif', 'image/webp', 'video/mp4', 'application/pdf'] },
};
const FALLBACK_LIMITS: Channel['limits'] = { maxTextLength: 10_000, maxMedia: 0, mediaTypes: [] };

const pgTextArray = (v: string[] | string): string[] => (Array.isArray(v) ? v : v.replace(/^\{|\}$/g, '').split(',').filter(Boolean));

function toChannel(r: ChannelRow): Channel {
  return {
    id: r.id,
    workspaceId: r.workspace_id,
    connectionId: r.connection_id,
    connector: r.connector,
    name: r.name,
    timezone: r.timezone,
    limits: { maxTextLength: r.max_text_length, maxMedia: r.max_media, mediaTypes: pgTextArray(r.media_types) },
    queueSlots: typeof r.queue_slots === 'string' ? (JSON.parse(r.queue_slots) as QueueSlot[]) : r.queue_slots,
    latePolicy: r.late_policy,
    lateGraceSeconds: r.late_grace_seconds,
    createdAt: iso(r.created_at)!,
    updatedAt: iso(r.updated_at)!,
  };
}

export interface ChannelInput {
  connectionId: string;
  name: string;
  timezone: string;
  limits?: Partial<Channel['limits']>;
  queueSlots?: QueueSlot[];
  latePolicy?: LatePolicy;
  lateGraceSeconds?: number;
}

export class ChannelsService {
  constructor(
    private readonly db: Transactor,
    private readonly repo: ChannelsRepository,
    private readonly clock: Clock,
    private readonly hub: () => IntegrationHubContract,
  ) {}

  async list(workspaceId: string): Promise<Channel[]> {
    return (await this.repo.list(workspaceId)).map(toChannel);
  }

  async get(workspaceId: string, channelId: string, tx?: Tx): Promise<Channel> {
    const r = await this.repo.get(workspaceId, channelId, tx);
    if (!r) throw notFound('Channel');
    return toChannel(r);
  }

  async many(workspaceId: string, ids: string[], tx?: Tx): Promise<Map<string, Channel>> {
    if (!ids.length) return new Map();
    const r = await this.repo.many(workspaceId, ids, tx);
    return new Map(r.map((x) => [x.id, toChannel(x)]));
  }

  async create(workspaceId: string, input: ChannelInput): Promise<Channel> {
    const connections = await this.hub().listConnections(workspaceId);
    const conn = connections.find((c) => c.id === input.connectionId);
    if (!conn) throw new AppError('validation_failed', 'No such connection in this workspace', { errors: [{ path: 'connectionId', message: 'connection not found' }] });
    if (!conn.canPublish) throw new AppError('validation_failed', `Connector "${conn.connector}" cannot publish`, { errors: [{ path: 'connectionId', message: `connector ${conn.connector} cannot publish` }] });
    const limits = this.limits(conn.connector, input.limits);
    this.checkCommon(input.timezone, input.queueSlots);
    const now = this.clock.now().toISOString();
    const id = randomUUID();
    await this.repo.insert(
      id,
      workspaceId,
      conn,
      {
        name: input.name,
        timezone: input.timezone,
        ...limits,
        queueSlots: sortSlots(input.queueSlots ?? []),
        latePolicy: input.latePolicy ?? 'publish_late',
        lateGraceSeconds: input.lateGraceSeconds ?? 3600,
      },
      now,
    );
    return this.get(workspaceId, id);
  }

  async update(workspaceId: string, channelId: string, patch: Partial<Omit<ChannelInput, 'connectionId'>>): Promise<Channel> {
    const current = await this.get(workspaceId, channelId);
    const limits = this.limits(current.connector, { ...current.limits, ...patch.limits });
    const timezone = patch.timezone ?? current.timezone;
    const slots = patch.queueSlots ?? current.queueSlots;
    this.checkCommon(timezone, slots);
    await this.repo.update(
      workspaceId,
      channelId,
      {
        name: patch.name ?? current.name,
        timezone,
        ...limits,
        queueSlots: sortSlots(slots),
        latePolicy: patch.latePolicy ?? current.latePolicy,
        lateGraceSeconds: patch.lateGraceSeconds ?? current.lateGraceSeconds,
      },
      this.clock.now().toISOString(),
    );
    return this.get(workspaceId, channelId);
  }

  /** Archives the channel; its scheduled targets are cancelled (published history stays). */
  async archive(workspaceId: string, channelId: string): Promise<void> {
    await this.get(workspaceId, channelId);
    const now = this.clock.now().toISOString();
    await this.db.transaction((tx) => this.repo.archive(workspaceId, channelId, now, tx));
  }

  /** The next `count` free queue slots of the channel after now (a slot is taken by any live target at that instant). */
  async freeSlots(workspaceId: string, channelId: string, count: number, tx?: Tx): Promise<number[]> {
    const channel = await this.get(workspaceId, channelId, tx);
    const now = this.clock.now().getTime();
    const candidates = slotInstants(channel.queueSlots, channel.timezone, now, 8);
    if (!candidates.length) return [];
    const until = new Date(candidates[candidates.length - 1]!).toISOString();
    const taken = await this.repo.takenSlots(channelId, new Date(now).toISOString(), until, tx);
    const takenSet = new Set(taken.map((t) => new Date(t).getTime()));
    return candidates.filter((c) => !takenSet.has(c)).slice(0, count);
  }

  /** Locks the channels for the rest of `tx` (serialises schedulers taking queue slots). */
  async lock(ids: string[], tx: Tx): Promise<void> {
    await this.repo.lock(ids, tx);
  }

  private limits(connector: string, wanted: Partial<Channel['limits']> | undefined): Channel['limits'] {
    const max = CONNECTOR_LIMITS[connector] ?? FALLBACK_LIMITS;
    const l = { ...max, ...Object.fromEntries(Object.entries(wanted ?? {}).filter(([, v]) => v !== undefined)) } as Channel['limits'];
    const errors = [];
    if (l.maxTextLength > max.maxTextLength) errors.push({ path: 'limits.maxTextLength', message: `${connector} accepts at most ${max.maxTextLength} characters` });
    if (l.maxMedia > max.maxMedia) errors.push({ path: 'limits.maxMedia', message: `${connector} accepts at most ${max.maxMedia} media` });
    const bad = l.mediaTypes.filter((t) => !max.mediaTypes.includes(t));
    if (bad.length) errors.push({ path: 'limits.mediaTypes', message: `${connector} does not accept ${bad.join(', ')}` });
    if (errors.length) throw new AppError('validation_failed', 'Channel limits exceed what the provider accepts', { errors });
    return l;
  }

  private checkCommon(timezone: string, slots: QueueSlot[] | undefined): void {
    if (!isValidTimeZone(timezone)) throw new AppError('validation_failed', `Unknown time zone "${timezone}"`, { errors: [{ path: 'timezone', message: 'not an IANA time zone' }] });
    const seen = new Set<string>();
    for (const s of slots ?? []) {
      const k = `${s.weekday} ${s.time}`;
      if (seen.has(k)) throw new AppError('validation_failed', `Queue slot ${k} is listed twice`, { errors: [{ path: 'queueSlots', message: 'duplicate slot' }] });
      seen.add(k);
    }
  }
}

const sortSlots = (slots: QueueSlot[]) => [...slots].sort((a, b) => a.weekday - b.weekday || a.time.localeCompare(b.time));
