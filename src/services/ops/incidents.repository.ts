import { randomUUID } from 'node:crypto';
import { sql, type SQL } from 'drizzle-orm';
import type { Db, DbExecutor } from '../../kernel/db/database.js';
import type { Severity } from './severity.js';

import { rows } from '../../kernel/db/rows.js';
const iso = (d: Date) => d.toISOString();
const date = (v: string | Date | null): Date | null => (v === null ? null : new Date(v));

export type IncidentStatus = 'open' | 'acknowledged' | 'resolved';
export type PublicStatus = 'investigating' | 'identified' | 'monitoring' | 'resolved';
export type NotificationEvent = 'trigger' | 'acknowledge' | 'resolve' | 'open' | 'ticket' | 'reminder';
/** Events that start a connection's involvement in an incident (it then hears the acknowledge and resolve). */
export const FIRST_EVENTS = ['trigger', 'open', 'ticket'] as const;
/** Communication cadence (0802) and the first minutes' timers (ADR 0060: acknowledge, assess, assemble). */
export type ReminderKind = 'internal_update' | 'public_update' | 'postmortem' | TimerKind;
export type TimerKind = 'acknowledge' | 'assess' | 'assemble';

/** A connection's opt-in by severities (ADR 0802). */
export interface EscalationRoute {
  connectionId: string;
  severities: Severity[];
  immediate: Severity[];
  reminders: boolean;
  updatedAt: Date;
}
export const ROLE_COLUMNS = { incidentCommander: 'commander_id', technicalLead: 'technical_lead_id', communicationsLead: 'communications_lead_id' } as const;
export type IncidentRole = keyof typeof ROLE_COLUMNS;

type IncidentRowRaw = {
  id: string;
  number: string | number;
  group_key: string;
  title: string;
  severity: number;
  status: IncidentStatus;
  source: string;
  components: string[];
  opened_at: string | Date;
  respond_by: string | Date;
  first_alert_at: string | Date | null;
  acknowledged_at: string | Date | null;
  acknowledged_by: string | null;
  escalated_at: string | Date | null;
  resolved_at: string | Date | null;
  resolved_by: string | null;
  resolution: string | null;
  commander_id: string | null;
  technical_lead_id: string | null;
  communications_lead_id: string | null;
  public_title: string | null;
  updated_at: string | Date;
  announced_severity: number | null;
  last_update_at: string | Date | null;
  last_public_update_at: string | Date | null;
  postmortem_due_at: string | Date | null;
  postmortem_done_at: string | Date | null;
  postmortem_done_by: string | null;
  postmortem_url: string | null;
  first_update_at: string | Date | null;
  team_assembled_at: string | Date | null;
};

export interface IncidentRow {
  id: string;
  number: number;
  groupKey: string;
  title: string;
  severity: Severity;
  status: IncidentStatus;
  source: string;
  components: string[];
  openedAt: Date;
  respondBy: Date;
  firstAlertAt: Date | null;
  acknowledgedAt: Date | null;
  acknowledgedBy: string | null;
  escalatedAt: Date | null;
  resolvedAt: Date | null;
  resolvedBy: string | null;
  resolution: string | null;
  roles: Record<IncidentRole, string | null>;
  publicTitle: string | null;
  updatedAt: Date;
  announcedSeverity: Severity | null;
  lastUpdateAt: Date | null;
  lastPublicUpdateAt: Date | null;
  postmortemDueAt: Date | null;
  postmortemDoneAt: Date | null;
  postmortemDoneBy: string | null;
  postmortemUrl: string | null;
  /** The first internal update (note or status page update): the impact assessment. */
  firstUpdateAt: Date | null;
  /** When the incident commander, technical lead and communications lead were first all assigned. */
  teamAssembledAt: Date | null;
}

const toIncident = (r: IncidentRowRaw): IncidentRow => ({
  id: r.id,
  number: Number(r.number),
  groupKey: r.group_key,
  title: r.title,
  severity: r.severity as Severity,
  status: r.status,
  source: r.source,
  components: r.components ?? [],
  openedAt: new Date(r.opened_at),
  respondBy: new Date(r.respond_by),
  firstAlertAt: date(r.first_alert_at),
  acknowledgedAt: date(r.acknowledged_at),
  acknowledgedBy: r.acknowledged_by,
  escalatedAt: date(r.escalated_at),
  resolvedAt: date(r.resolved_at),
  resolvedBy: r.resolved_by,
  resolution: r.resolution,
  roles: { incidentCommander: r.commander_id, technicalLead: r.technical_lead_id, communicationsLead: r.communications_lead_id },
  publicTitle: r.public_title,
  updatedAt: new Date(r.updated_at),
  announcedSeverity: r.announced_severity === null ? null : (Number(r.announced_severity) as Severity),
  lastUpdateAt: date(r.last_update_at),
  lastPublicUpdateAt: date(r.last_public_update_at),
  postmortemDueAt: date(r.postmortem_due_at),
  postmortemDoneAt: date(r.postmortem_done_at),
  postmortemDoneBy: r.postmortem_done_by,
  postmortemUrl: r.postmortem_url,
  firstUpdateAt: date(r.first_update_at),
  teamAssembledAt: date(r.team_assembled_at),
});

export interface AlertRow {
  fingerprint: string;
  status: 'firing' | 'resolved';
  alertname: string | null;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: Date | null;
  endsAt: Date | null;
  lastSeenAt: Date;
}

export interface TimelineEntry {
  id: number;
  at: Date;
  kind: string;
  actorId: string | null;
  text: string;
  data: Record<string, unknown>;
}

export interface PublicUpdate {
  id: string;
  at: Date;
  status: PublicStatus;
  message: string;
  authorId: string | null;
}

export interface NotificationRow {
  id: string;
  incidentId: string;
  workspaceId: string;
  connectionId: string;
  connector: string;
  event: NotificationEvent;
  status: 'pending' | 'sent' | 'failed';
  attempts: number;
  nextAttemptAt: Date;
  lastError: string | null;
  createdAt: Date;
  sentAt: Date | null;
  dedup: string;
  data: Record<string, unknown>;
}

type NotificationRaw = {
  id: string;
  incident_id: string;
  workspace_id: string;
  connection_id: string;
  connector: string;
  event: NotificationEvent;
  status: 'pending' | 'sent' | 'failed';
  attempts: number;
  next_attempt_at: string | Date;
  last_error: string | null;
  created_at: string | Date;
  sent_at: string | Date | null;
  dedup: string;
  data: Record<string, unknown>;
};
const toNotification = (r: NotificationRaw): NotificationRow => ({
  id: r.id,
  incidentId: r.incident_id,
  workspaceId: r.workspace_id,
  connectionId: r.connection_id,
  connector: r.connector,
  event: r.event,
  status: r.status,
  attempts: Number(r.attempts),
  nextAttemptAt: new Date(r.next_attempt_at),
  lastError: r.last_error,
  createdAt: new Date(r.created_at),
  sentAt: date(r.sent_at),
  dedup: r.dedup,
  data: r.data ?? {},
});

/** The incident store (schema `ops`). Every write takes the caller's transaction. */
export class IncidentsRepository {
  constructor(private readonly db: Db) {}

  async openByGroupKey(ex: DbExecutor, groupKey: string): Promise<IncidentRow | null> {
    const [r] = await rows<IncidentRowRaw>(ex, sql`SELECT * FROM ops.incidents WHERE group_key = ${groupKey} AND status <> 'resolved' FOR UPDATE`);
    return r ? toIncident(r) : null;
  }

  /** Inserts unless an open incident of the group exists (another replica won); returns null then. */
  async insert(
    ex: DbExecutor,
    i: { groupKey: string; title: string; severity: Severity; source: string; components: string[]; openedAt: Date; respondBy: Date; firstAlertAt: Date | null },
  ): Promise<IncidentRow | null> {
    const [r] = await rows<IncidentRowRaw>(
      ex,
      sql`INSERT INTO ops.incidents (id, group_key, title, severity, status, source, components, opened_at, respond_by, first_alert_at, updated_at)
          VALUES (${randomUUID()}, ${i.groupKey}, ${i.title}, ${i.severity}, 'open', ${i.source}, ${sqlTextArray(i.components)}, ${iso(i.openedAt)}, ${iso(i.respondBy)},
                  ${i.firstAlertAt ? iso(i.firstAlertAt) : null}, ${iso(i.openedAt)})
          ON CONFLICT (group_key) WHERE status <> 'resolved' DO NOTHING
          RETURNING *`,
    );
    return r ? toIncident(r) : null;
  }

  async get(ex: DbExecutor, id: string, lock = false): Promise<IncidentRow | null> {
    const [r] = await rows<IncidentRowRaw>(ex, lock ? sql`SELECT * FROM ops.incidents WHERE id = ${id} FOR UPDATE` : sql`SELECT * FROM ops.incidents WHERE id = ${id}`);
    return r ? toIncident(r) : null;
  }

  async list(q: { status?: IncidentStatus | 'active'; severity?: Severity; beforeNumber?: number; limit: number }): Promise<IncidentRow[]> {
    const where: SQL[] = [sql`true`];
    if (q.status === 'active') where.push(sql`status <> 'resolved'`);
    else if (q.status) where.push(sql`status = ${q.status}`);
    if (q.severity) where.push(sql`severity = ${q.severity}`);
    if (q.beforeNumber) where.push(sql`number < ${q.beforeNumber}`);
    const r = await rows<IncidentRowRaw>(this.db, sql`SELECT * FROM ops.incidents WHERE ${sql.join(where, sql` AND `)} ORDER BY number DESC LIMIT ${q.limit}`);
    return r.map(toIncident);
  }

  async update(ex: DbExecutor, id: string, set: Record<string, string | number | Date | string[] | null>, now: Date): Promise<IncidentRow> {
    const value = (v: string | number | Date | string[] | null) => (v instanceof Date ? iso(v) : Array.isArray(v) ? sqlTextArray(v) : v);
    const parts = Object.entries({ ...set, updated_at: now }).map(([col, v]) => sql`${sql.identifier(col)} = ${value(v)}`);
    const [r] = await rows<IncidentRowRaw>(ex, sql`UPDATE ops.incidents SET ${sql.join(parts, sql`, `)} WHERE id = ${id} RETURNING *`);
    return toIncident(r!);
  }

  async alerts(ex: DbExecutor, incidentId: string): Promise<AlertRow[]> {
    const r = await rows<{
      fingerprint: string;
      status: 'firing' | 'resolved';
      alertname: string | null;
      labels: Record<string, string>;
      annotations: Record<string, string>;
      starts_at: string | Date | null;
      ends_at: string | Date | null;
      last_seen_at: string | Date;
    }>(ex, sql`SELECT * FROM ops.incident_alerts WHERE incident_id = ${incidentId} ORDER BY starts_at NULLS LAST, fingerprint`);
    return r.map((a) => ({
      fingerprint: a.fingerprint,
      status: a.status,
      alertname: a.alertname,
      labels: a.labels,
      annotations: a.annotations,
      startsAt: date(a.starts_at),
      endsAt: date(a.ends_at),
      lastSeenAt: new Date(a.last_seen_at),
    }));
  }

  async upsertAlert(
    ex: DbExecutor,
    incidentId: string,
    a: { fingerprint: string; status: 'firing' | 'resolved'; labels: Record<string, string>; annotations: Record<string, string>; startsAt: Date | null; endsAt: Date | null },
    now: Date,
  ): Promise<void> {
    await ex.execute(sql`
      INSERT INTO ops.incident_alerts (incident_id, fingerprint, status, alertname, labels, annotations, starts_at, ends_at, last_seen_at)
      VALUES (${incidentId}, ${a.fingerprint}, ${a.status}, ${a.labels.alertname ?? null}, ${JSON.stringify(a.labels)}::jsonb, ${JSON.stringify(a.annotations)}::jsonb,
              ${a.startsAt ? iso(a.startsAt) : null}, ${a.endsAt ? iso(a.endsAt) : null}, ${iso(now)})
      ON CONFLICT (incident_id, fingerprint) DO UPDATE SET status = EXCLUDED.status, alertname = EXCLUDED.alertname, labels = EXCLUDED.labels,
        annotations = EXCLUDED.annotations, starts_at = EXCLUDED.starts_at, ends_at = EXCLUDED.ends_at, last_seen_at = EXCLUDED.last_seen_at`);
  }

  async resolveRemainingAlerts(ex: DbExecutor, incidentId: string, now: Date): Promise<void> {
    await ex.execute(sql`UPDATE ops.incident_alerts SET status = 'resolved', ends_at = COALESCE(ends_at, ${iso(now)}) WHERE incident_id = ${incidentId} AND status = 'firing'`);
  }

  async addTimeline(ex: DbExecutor, incidentId: string, e: { at: Date; kind: string; actorId?: string | null; text: string; data?: Record<string, unknown> }): Promise<void> {
    await ex.execute(
      sql`INSERT INTO ops.incident_timeline (incident_id, at, kind, actor_id, text, data) VALUES (${incidentId}, ${iso(e.at)}, ${e.kind}, ${e.actorId ?? null}, ${e.text}, ${JSON.stringify(e.data ?? {})}::jsonb)`,
    );
  }

  async timeline(ex: DbExecutor, incidentId: string): Promise<TimelineEntry[]> {
    const r = await rows<{ id: string | number; at: string | Date; kind: string; actor_id: string | null; text: string; data: Record<string, unknown> }>(
      ex,
      sql`SELECT * FROM ops.incident_timeline WHERE incident_id = ${incidentId} ORDER BY at, id`,
    );
    return r.map((t) => ({ id: Number(t.id), at: new Date(t.at), kind: t.kind, actorId: t.actor_id, text: t.text, data: t.data }));
  }

  async addPublicUpdate(ex: DbExecutor, incidentId: string, u: { at: Date; status: PublicStatus; message: string; authorId: string }): Promise<PublicUpdate> {
    const id = randomUUID();
    await ex.execute(sql`INSERT INTO ops.public_updates (id, incident_id, at, status, message, author_id) VALUES (${id}, ${incidentId}, ${iso(u.at)}, ${u.status}, ${u.message}, ${u.authorId})`);
    return { id, ...u };
  }

  async publicUpdates(ex: DbExecutor, incidentIds: string[]): Promise<Map<string, PublicUpdate[]>> {
    const out = new Map<string, PublicUpdate[]>();
    if (incidentIds.length === 0) return out;
    const r = await rows<{ id: string; incident_id: string; at: string | Date; status: PublicStatus; message: string; author_id: string | null }>(
      ex,
      sql`SELECT * FROM ops.public_updates WHERE incident_id IN (${sql.join(incidentIds.map((i) => sql`${i}`), sql`, `)}) ORDER BY at, id`,
    );
    for (const u of r) {
      const list = out.get(u.incident_id) ?? [];
      list.push({ id: u.id, at: new Date(u.at), status: u.status, message: u.message, authorId: u.author_id });
      out.set(u.incident_id, list);
    }
    return out;
  }

  publicUpdatesOf(incidentIds: string[]): Promise<Map<string, PublicUpdate[]>> {
    return this.publicUpdates(this.db, incidentIds);
  }

  /** Incidents with at least one public update, unresolved or resolved since `since` (the status page). */
  async published(since: Date): Promise<IncidentRow[]> {
    const r = await rows<IncidentRowRaw>(
      this.db,
      sql`SELECT i.* FROM ops.incidents i WHERE EXISTS (SELECT 1 FROM ops.public_updates u WHERE u.incident_id = i.id)
            AND (i.status <> 'resolved' OR i.resolved_at >= ${iso(since)}
                 OR (SELECT max(at) FROM ops.public_updates u WHERE u.incident_id = i.id) >= ${iso(since)})
          ORDER BY i.opened_at DESC LIMIT 50`,
    );
    return r.map(toIncident);
  }

  /**
   * Serialises the escalation loop's deciding transactions (announce, escalate, remind) across
   * replicas and concurrent ticks. Their row claims skip locked rows, so without it one tick's
   * announce could hide an incident from another tick's escalation while a third held it for its
   * reminders, and no tick would escalate it that round. Held until the transaction ends.
   */
  async lockTick(ex: DbExecutor): Promise<void> {
    await ex.execute(sql`SELECT pg_advisory_xact_lock(hashtextextended('v01t.ops.incidents.tick', 0))`);
  }

  /** Open, unacknowledged, not yet escalated incidents whose response target passed; locked for this transaction. */
  async dueForEscalation(ex: DbExecutor, now: Date, limit: number): Promise<IncidentRow[]> {
    const r = await rows<IncidentRowRaw>(
      ex,
      sql`SELECT * FROM ops.incidents WHERE status = 'open' AND escalated_at IS NULL AND respond_by <= ${iso(now)} AND severity < 4
          ORDER BY respond_by LIMIT ${limit} FOR UPDATE SKIP LOCKED`,
    );
    return r.map(toIncident);
  }

  /** Enqueues once per (incident, connection, event, dedup); false when it already was. */
  async enqueueNotification(
    ex: DbExecutor,
    n: { incidentId: string; workspaceId: string; connectionId: string; connector: string; event: NotificationEvent; now: Date; dedup?: string; data?: Record<string, unknown> },
  ): Promise<boolean> {
    const r = await rows<{ id: string }>(
      ex,
      sql`INSERT INTO ops.notifications (id, incident_id, workspace_id, connection_id, connector, event, status, next_attempt_at, created_at, dedup, data)
          VALUES (${randomUUID()}, ${n.incidentId}, ${n.workspaceId}, ${n.connectionId}, ${n.connector}, ${n.event}, 'pending', ${iso(n.now)}, ${iso(n.now)},
                  ${n.dedup ?? ''}, ${JSON.stringify(n.data ?? {})}::jsonb)
          ON CONFLICT (incident_id, connection_id, event, dedup) DO NOTHING RETURNING id`,
    );
    return r.length > 0;
  }

  /**
   * The connections an incident reached: paged (a trigger, or an immediate notice at open) or sent
   * a Sev4 ticket. The paged ones hear the acknowledge; all of them hear the resolve.
   */
  async triggeredTargets(ex: DbExecutor, incidentId: string, events: readonly NotificationEvent[] = FIRST_EVENTS): Promise<{ workspaceId: string; connectionId: string; connector: string }[]> {
    const r = await rows<{ workspace_id: string; connection_id: string; connector: string }>(
      ex,
      sql`SELECT workspace_id, connection_id, connector FROM ops.notifications
          WHERE incident_id = ${incidentId} AND event IN (${sql.join(events.map((e) => sql`${e}`), sql`, `)})
          GROUP BY workspace_id, connection_id, connector ORDER BY min(created_at)`,
    );
    return r.map((x) => ({ workspaceId: x.workspace_id, connectionId: x.connection_id, connector: x.connector }));
  }

  /** Connections that already received `event` for the incident. */
  async notifiedConnections(ex: DbExecutor, incidentId: string, event: NotificationEvent): Promise<Set<string>> {
    const r = await rows<{ connection_id: string }>(ex, sql`SELECT DISTINCT connection_id FROM ops.notifications WHERE incident_id = ${incidentId} AND event = ${event}`);
    return new Set(r.map((x) => x.connection_id));
  }

  // ---- escalation routes (ADR 0802)

  async routes(ex: DbExecutor, workspaceId: string): Promise<EscalationRoute[]> {
    const r = await rows<{ connection_id: string; severities: number[]; immediate: number[]; reminders: boolean; updated_at: string | Date }>(
      ex,
      sql`SELECT connection_id, severities, immediate, reminders, updated_at FROM ops.escalation_routes WHERE workspace_id = ${workspaceId} ORDER BY connection_id`,
    );
    return r.map((x) => ({
      connectionId: x.connection_id,
      severities: intArray(x.severities) as Severity[],
      immediate: intArray(x.immediate) as Severity[],
      reminders: x.reminders,
      updatedAt: new Date(x.updated_at),
    }));
  }

  /** Replaces the workspace's routes with `routes` (the PUT is declarative). */
  async replaceRoutes(ex: DbExecutor, workspaceId: string, routes: Omit<EscalationRoute, 'updatedAt'>[], now: Date): Promise<void> {
    await ex.execute(sql`DELETE FROM ops.escalation_routes WHERE workspace_id = ${workspaceId}`);
    for (const r of routes) {
      await ex.execute(
        sql`INSERT INTO ops.escalation_routes (workspace_id, connection_id, severities, immediate, reminders, updated_at)
            VALUES (${workspaceId}, ${r.connectionId}, ${sqlIntArray(r.severities)}, ${sqlIntArray(r.immediate)}, ${r.reminders}, ${iso(now)})`,
      );
    }
  }

  /** Unresolved incidents whose immediate notices / Sev4 ticket were not decided at their current severity; locked. */
  async dueForAnnouncement(ex: DbExecutor, limit: number): Promise<IncidentRow[]> {
    const r = await rows<IncidentRowRaw>(
      ex,
      sql`SELECT * FROM ops.incidents WHERE status <> 'resolved' AND (announced_severity IS NULL OR announced_severity > severity)
          ORDER BY opened_at LIMIT ${limit} FOR UPDATE SKIP LOCKED`,
    );
    return r.map(toIncident);
  }

  /**
   * Incidents a communication reminder may be due for: unresolved Sev1-3 whose internal update
   * (or, for Sev1, status page update) is due, and resolved ones whose post-mortem is due and not done.
   */
  async cadenceCandidates(ex: DbExecutor, now: Date, firstInternalMs: number, internalMs: number, firstPublicMs: number, publicMs: number): Promise<IncidentRow[]> {
    const n = iso(now);
    const r = await rows<IncidentRowRaw>(
      ex,
      sql`SELECT * FROM ops.incidents WHERE
            (status <> 'resolved' AND severity <= 3 AND (
               (last_update_at IS NULL AND opened_at <= ${n}::timestamptz - ${firstInternalMs} * interval '1 millisecond')
            OR last_update_at <= ${n}::timestamptz - ${internalMs} * interval '1 millisecond'))
         OR (status <> 'resolved' AND severity = 1 AND (
               (last_public_update_at IS NULL AND opened_at <= ${n}::timestamptz - ${firstPublicMs} * interval '1 millisecond')
            OR last_public_update_at <= ${n}::timestamptz - ${publicMs} * interval '1 millisecond'))
         OR (status = 'resolved' AND postmortem_done_at IS NULL AND postmortem_due_at <= ${n}
             AND NOT EXISTS (SELECT 1 FROM ops.incident_reminders r WHERE r.incident_id = ops.incidents.id AND r.kind = 'postmortem'))
          ORDER BY opened_at LIMIT 200`,
    );
    return r.map(toIncident);
  }

  /** Unresolved Sev1-3 incidents past one of the first minutes' timers without having met it (ADR 0060). */
  async timerCandidates(ex: DbExecutor, now: Date, timers: Record<TimerKind, number>): Promise<IncidentRow[]> {
    const past = (ms: number) => sql`opened_at <= ${iso(now)}::timestamptz - ${ms} * interval '1 millisecond'`;
    const r = await rows<IncidentRowRaw>(
      ex,
      sql`SELECT * FROM ops.incidents WHERE status <> 'resolved' AND severity <= 3 AND (
            (acknowledged_at IS NULL AND ${past(timers.acknowledge)})
         OR (first_update_at IS NULL AND ${past(timers.assess)})
         OR (team_assembled_at IS NULL AND ${past(timers.assemble)}))
          ORDER BY opened_at LIMIT 200`,
    );
    return r.map(toIncident);
  }

  /** Unresolved Sev1-3 incidents breaching each timer now (the v01t_incidents_breaching gauge). */
  async breachingCounts(now: Date, timers: Record<TimerKind, number>): Promise<Record<TimerKind, number>> {
    const past = (ms: number) => sql`opened_at <= ${iso(now)}::timestamptz - ${ms} * interval '1 millisecond'`;
    const [r] = await rows<Record<TimerKind, string | number>>(
      this.db,
      sql`SELECT count(*) FILTER (WHERE acknowledged_at IS NULL AND ${past(timers.acknowledge)}) AS acknowledge,
                 count(*) FILTER (WHERE first_update_at IS NULL AND ${past(timers.assess)}) AS assess,
                 count(*) FILTER (WHERE team_assembled_at IS NULL AND ${past(timers.assemble)}) AS assemble
          FROM ops.incidents WHERE status <> 'resolved' AND severity <= 3`,
    );
    return { acknowledge: Number(r?.acknowledge ?? 0), assess: Number(r?.assess ?? 0), assemble: Number(r?.assemble ?? 0) };
  }

  /** Records a reminder window; false when it was already reminded (by this or another replica). */
  async recordReminder(ex: DbExecutor, incidentId: string, kind: ReminderKind, dueAt: Date, now: Date, targets: number): Promise<boolean> {
    const r = await rows<{ kind: string }>(
      ex,
      sql`INSERT INTO ops.incident_reminders (incident_id, kind, due_at, at, targets) VALUES (${incidentId}, ${kind}, ${iso(dueAt)}, ${iso(now)}, ${targets})
          ON CONFLICT DO NOTHING RETURNING kind`,
    );
    return r.length > 0;
  }

  /**
   * Claims due deliveries: attempts + 1 and a lease (next_attempt_at moved forward), so another
   * replica does not take them while this one calls out; a crash leaves them due again after the
   * lease. An acknowledge or resolve waits while the trigger (or immediate notice, or ticket) to
   * the same connection is pending.
   */
  async claimDue(now: Date, leaseMs: number, limit: number): Promise<NotificationRow[]> {
    const r = await rows<NotificationRaw>(
      this.db,
      sql`UPDATE ops.notifications SET attempts = attempts + 1, next_attempt_at = ${iso(new Date(now.getTime() + leaseMs))}
          WHERE id IN (
            SELECT n.id FROM ops.notifications n
            WHERE n.status = 'pending' AND n.next_attempt_at <= ${iso(now)}
              AND (n.event NOT IN ('acknowledge', 'resolve') OR NOT EXISTS (
                SELECT 1 FROM ops.notifications t WHERE t.incident_id = n.incident_id AND t.connection_id = n.connection_id
                  AND t.event IN ('trigger', 'open', 'ticket') AND t.status = 'pending'))
            ORDER BY n.created_at, n.id LIMIT ${limit} FOR UPDATE SKIP LOCKED)
          RETURNING *`,
    );
    return r.map(toNotification).sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime());
  }

  async markSent(ex: DbExecutor, id: string, now: Date): Promise<void> {
    await ex.execute(sql`UPDATE ops.notifications SET status = 'sent', sent_at = ${iso(now)}, last_error = NULL WHERE id = ${id}`);
  }

  async markFailed(ex: DbExecutor, id: string, error: string, retryAt: Date | null): Promise<void> {
    await ex.execute(
      retryAt
        ? sql`UPDATE ops.notifications SET last_error = ${error}, next_attempt_at = ${iso(retryAt)} WHERE id = ${id}`
        : sql`UPDATE ops.notifications SET status = 'failed', last_error = ${error} WHERE id = ${id}`,
    );
  }

  async notifications(ex: DbExecutor, incidentId: string): Promise<NotificationRow[]> {
    const r = await rows<NotificationRaw>(ex, sql`SELECT * FROM ops.notifications WHERE incident_id = ${incidentId} ORDER BY created_at, id`);
    return r.map(toNotification);
  }

  async openCounts(): Promise<Map<Severity, number>> {
    const r = await rows<{ severity: number; n: string | number }>(this.db, sql`SELECT severity, count(*) AS n FROM ops.incidents WHERE status <> 'resolved' GROUP BY severity`);
    return new Map(r.map((x) => [x.severity as Severity, Number(x.n)]));
  }

  // ---- personal data: user ids in roles, acknowledgements, resolutions, timeline and public updates

  async personalData(userId: string) {
    const roles = await rows<{
      id: string;
      number: string | number;
      commander_id: string | null;
      technical_lead_id: string | null;
      communications_lead_id: string | null;
      acknowledged_by: string | null;
      resolved_by: string | null;
      postmortem_done_by: string | null;
    }>(
      this.db,
      sql`SELECT id, number, commander_id, technical_lead_id, communications_lead_id, acknowledged_by, resolved_by, postmortem_done_by FROM ops.incidents
          WHERE ${userId} IN (commander_id, technical_lead_id, communications_lead_id, acknowledged_by, resolved_by, postmortem_done_by) ORDER BY number`,
    );
    const timeline = await rows<{ incident_id: string; at: string | Date; kind: string; text: string }>(
      this.db,
      sql`SELECT incident_id, at, kind, text FROM ops.incident_timeline WHERE actor_id = ${userId} ORDER BY at, id`,
    );
    const updates = await rows<{ incident_id: string; at: string | Date; status: string; message: string }>(
      this.db,
      sql`SELECT incident_id, at, status, message FROM ops.public_updates WHERE author_id = ${userId} ORDER BY at`,
    );
    return { roles, timeline, updates };
  }

  /** Removes the user's id everywhere; the incident record (what happened, when) stays. */
  async eraseUser(userId: string): Promise<Record<string, number>> {
    return this.db.transaction(async (tx) => {
      const counts: Record<string, number> = {};
      for (const col of ['commander_id', 'technical_lead_id', 'communications_lead_id', 'acknowledged_by', 'resolved_by', 'postmortem_done_by']) {
        const r = await rows<{ id: string }>(tx, sql`UPDATE ops.incidents SET ${sql.identifier(col)} = NULL WHERE ${sql.identifier(col)} = ${userId} RETURNING id`);
        counts[col] = r.length;
      }
      counts.timeline_entries = (await rows<{ id: string }>(tx, sql`UPDATE ops.incident_timeline SET actor_id = NULL WHERE actor_id = ${userId} RETURNING id`)).length;
      counts.public_updates = (await rows<{ id: string }>(tx, sql`UPDATE ops.public_updates SET author_id = NULL WHERE author_id = ${userId} RETURNING id`)).length;
      return counts;
    });
  }
}

/** A text[] literal bound as one parameter (works the same on PGlite and node-postgres). */
function sqlTextArray(values: string[]): SQL {
  return sql`ARRAY(SELECT jsonb_array_elements_text(${JSON.stringify(values)}::jsonb))::text[]`;
}

/** An int[] (smallint[]) bound as one parameter. */
function sqlIntArray(values: number[]): SQL {
  return sql`ARRAY(SELECT jsonb_array_elements_text(${JSON.stringify(values)}::jsonb)::smallint)::smallint[]`;
}

/** node-postgres and PGlite return smallint[] as an array (PGlite) or a '{1,2}' literal (older parsers). */
function intArray(v: number[] | string | null): number[] {
  if (v === null) return [];
  if (Array.isArray(v)) return v.map(Number);
  return v.replace(/[{}]/g, '').split(',').filter(Boolean).map(Number);
}
