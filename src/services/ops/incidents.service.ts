import type { Clock } from '../../kernel/clock.js';
import type { Db } from '../../kernel/db/database.js';
import type { AuditLog } from '../../kernel/audit/index.js';
import type { Logger } from '../../kernel/telemetry/logger.js';
import { AppError, notFound } from '../../kernel/errors.js';
import type { IntegrationHubContract } from '../integration-hub/contract.js';
import { endOf, type AlertmanagerWebhook } from './alertmanager.js';
import type { HolidayCalendar } from './holidays.js';
import { pagerdutySeverity, respondBy, SEVERITY_INFO, severityOfLabels, sevLabel, type Severity } from './severity.js';
import {
  IncidentsRepository,
  ROLE_COLUMNS,
  type EscalationRoute,
  type ReminderKind,
  type TimerKind,
  type AlertRow,
  type IncidentRole,
  type IncidentRow,
  type NotificationEvent,
  type NotificationRow,
  type PublicStatus,
  type PublicUpdate,
  type TimelineEntry,
} from './incidents.repository.js';

/** The connectors an escalation can go through (connections of the ops workspace). */
export const ESCALATION_CONNECTORS = ['pagerduty', 'webhook', 'email', 'slack'] as const;
const LEASE_MS = 2 * 60_000;
const MINUTE = 60_000;
/** The runbook's communication plan (Incident Response, Step 4). */
export const CADENCE = {
  /** The first internal update (Slack #incidents: "initial assessment") within 15 minutes (Sev1-3)... */
  firstInternalUpdateMs: 15 * MINUTE,
  /** ...then internal updates every 30 minutes until resolved. */
  internalUpdateMs: 30 * MINUTE,
  /** The status page's initial notification within 30 minutes (Sev1)... */
  firstPublicUpdateMs: 30 * MINUTE,
  /** ...then hourly updates (Sev1). */
  publicUpdateMs: 60 * MINUTE,
  /** Post-mortem scheduled within 24 hours of resolution (Sev1-3). */
  postmortemMs: 24 * 60 * MINUTE,
} as const;
export const REMINDER_KINDS: readonly ReminderKind[] = ['internal_update', 'public_update', 'postmortem'];
/**
 * The first minutes of an incident (runbook, Incident Response step 2; ADR 0060), from its opening,
 * for Sev1-3: acknowledge the alert, assess the impact (the first internal update: a timeline note
 * or a status page update), form the response team (commander, technical lead, communications lead).
 */
export const TIMERS: Record<TimerKind, number> = { acknowledge: 5 * MINUTE, assess: 10 * MINUTE, assemble: 15 * MINUTE };
export const TIMER_KINDS = Object.keys(TIMERS) as TimerKind[];
/** Delivery attempts before a notification is given up (backoff 30 s doubling: about 15 minutes). */
export const MAX_DELIVERY_ATTEMPTS = 6;

export interface Actor {
  userId: string;
  ip: string | null;
}

export interface OpsMetrics {
  escalation(severity: Severity): void;
  /** A communication reminder was due (one per overdue window). */
  reminder(kind: ReminderKind): void;
  /** One of the first minutes' timers passed unmet (once per incident and timer). */
  timerBreached(timer: TimerKind): void;
  notification(connector: string, event: NotificationEvent, result: 'sent' | 'retry' | 'failed'): void;
  /** Incidents were opened, acknowledged or resolved (the open-incidents gauge re-reads). */
  changed(): void;
}

export interface IncidentDeps {
  db: Db;
  clock: Clock;
  audit: AuditLog;
  logger: Logger;
  metrics: OpsMetrics;
  /** Read at each use: `ops.workspaceId` (whose connections are the escalation targets), `ops.timeZone`. */
  settings: { workspaceId?: string; timeZone: string };
  /** Public holidays of "next business day" (V01T_OPS_HOLIDAYS, V01T_OPS_EXTRA_HOLIDAYS); weekends only without. */
  holidays?: HolidayCalendar;
  publicUrl?: string;
  /** The integration-hub's contract, when the hub runs in this process. */
  hub: () => IntegrationHubContract | null;
  /** A platform user by id (the orchestrator's contract), null when unknown. */
  user: (id: string) => Promise<{ id: string; name: string; email: string } | null>;
  /** After a change the public status page may show committed (its cached copy is dropped). */
  statusChanged?: () => Promise<void>;
}

export interface IncidentView {
  id: string;
  number: number;
  title: string;
  severity: string;
  severityLevel: Severity;
  status: IncidentRow['status'];
  source: string;
  components: string[];
  openedAt: Date;
  /** When the earliest alert of the group started firing (detection time = openedAt - firstAlertAt). */
  firstAlertAt: Date | null;
  respondBy: Date;
  responseTarget: string;
  /** Not acknowledged and the response target has passed. */
  overdue: boolean;
  acknowledgedAt: Date | null;
  acknowledgedBy: string | null;
  escalatedAt: Date | null;
  resolvedAt: Date | null;
  resolvedBy: string | null;
  resolution: string | null;
  roles: Record<IncidentRole, string | null>;
  publicTitle: string | null;
  /** The next internal update (a note or a status page update) is due by then (unresolved Sev1-3; null otherwise). */
  internalUpdateDueAt: Date | null;
  /** The next status page update is due by then (unresolved Sev1: 30 min after opening, then hourly; null otherwise). */
  publicUpdateDueAt: Date | null;
  /** The post-mortem is due by then (24 h after resolution, Sev1-3; null before resolution and for Sev4). */
  postmortemDueAt: Date | null;
  /** The first minutes' timers (ADR 0060); null for Sev4. */
  timers: Record<TimerKind, IncidentTimer> | null;
  postmortemDoneAt: Date | null;
  postmortemDoneBy: string | null;
  postmortemUrl: string | null;
}

/** A connection of the ops workspace with its route (null: the default, escalations of Sev1-3). */
export interface RoutedConnection {
  connectionId: string;
  connector: string;
  name: string;
  route: EscalationRoute | null;
}

/** Who receives what (ADR 0802). */
export const routing = {
  /** The escalation page when the response target passed unacknowledged (Sev1-3; not those notified at open). */
  escalation: (cs: RoutedConnection[], s: Severity) => (s > 3 ? [] : cs.filter((c) => (c.route ? c.route.severities.includes(s) && !c.route.immediate.includes(s) : true))),
  /** The immediate notice when the incident opens (or is raised to s). */
  immediate: (cs: RoutedConnection[], s: Severity) => (s > 3 ? [] : cs.filter((c) => c.route?.immediate.includes(s) ?? false)),
  /** Sev4: a bug-tracking ticket, never a page. */
  ticket: (cs: RoutedConnection[]) => cs.filter((c) => c.connector !== 'pagerduty' && (c.route?.severities.includes(4) ?? false)),
  /** Communication reminders: routes that asked for them, for their severities; never PagerDuty. */
  reminder: (cs: RoutedConnection[], s: Severity) => cs.filter((c) => c.connector !== 'pagerduty' && c.route !== null && c.route.reminders && c.route.severities.includes(s)),
};

export interface RouteInput {
  connectionId: string;
  severities: number[];
  immediate?: number[];
  reminders?: boolean;
}

export interface IncidentDetail extends IncidentView {
  alerts: AlertRow[];
  timeline: TimelineEntry[];
  publicUpdates: PublicUpdate[];
  notifications: (Pick<NotificationRow, 'id' | 'connectionId' | 'connector' | 'event' | 'status' | 'attempts' | 'lastError' | 'createdAt' | 'sentAt'> & { reminder: string | null })[];
}

export type IngestResult = { action: 'opened' | 'updated' | 'resolved'; incidentId: string; number: number } | { action: 'ignored'; incidentId: null; number: null };

const dedupKey = (incidentId: string) => `v01t-incident-${incidentId}`;

/**
 * Incidents: opened, updated and resolved by Alertmanager's notifications (one open incident per
 * alert group), acknowledged and worked by operators, escalated through the integration-hub when
 * nobody acknowledged within the runbook's response time. See docs/adr/0801-incident-response.md.
 */
export class IncidentService {
  readonly repo: IncidentsRepository;
  constructor(private readonly d: IncidentDeps) {
    this.repo = new IncidentsRepository(d.db);
  }

  view(i: IncidentRow): IncidentView {
    const now = this.d.clock.now();
    return {
      id: i.id,
      number: i.number,
      title: i.title,
      severity: sevLabel(i.severity),
      severityLevel: i.severity,
      status: i.status,
      source: i.source,
      components: i.components,
      openedAt: i.openedAt,
      firstAlertAt: i.firstAlertAt,
      respondBy: i.respondBy,
      responseTarget: SEVERITY_INFO[i.severity].responseTime,
      overdue: i.status === 'open' && i.respondBy.getTime() <= now.getTime(),
      acknowledgedAt: i.acknowledgedAt,
      acknowledgedBy: i.acknowledgedBy,
      escalatedAt: i.escalatedAt,
      resolvedAt: i.resolvedAt,
      resolvedBy: i.resolvedBy,
      resolution: i.resolution,
      roles: i.roles,
      publicTitle: i.publicTitle,
      ...dueTimes(i),
      timers: timersOf(i, now),
      postmortemDoneAt: i.postmortemDoneAt,
      postmortemDoneBy: i.postmortemDoneBy,
      postmortemUrl: i.postmortemUrl,
    };
  }

  // ---- Alertmanager

  /** One notification of an alert group: opens, updates or resolves the group's open incident. */
  async ingest(p: AlertmanagerWebhook): Promise<IngestResult> {
    const result = await this.ingestInTransaction(p);
    if (result.action !== 'ignored') {
      this.d.metrics.changed();
      await this.d.statusChanged?.();
    }
    return result;
  }

  private async ingestInTransaction(p: AlertmanagerWebhook): Promise<IngestResult> {
    const now = this.d.clock.now();
    const firing = p.alerts.filter((a) => a.status === 'firing');
    const severityOf = (alerts: typeof p.alerts) => Math.min(...alerts.map((a) => severityOfLabels(a.labels) ?? 4)) as Severity;
    return this.d.db.transaction(async (tx) => {
      let incident = await this.repo.openByGroupKey(tx, p.groupKey);
      let action: 'opened' | 'updated' | 'resolved' = 'updated';
      if (!incident) {
        // A resolved notification for a group with no open incident: nothing to do (already resolved, or never seen firing).
        if (firing.length === 0) return { action: 'ignored', incidentId: null, number: null } as const;
        const severity = severityOf(firing);
        const starts = firing.map((a) => new Date(a.startsAt).getTime()).filter((t) => t > 0);
        const inserted = await this.repo.insert(tx, {
          groupKey: p.groupKey,
          title: titleOf(p),
          severity,
          source: 'alertmanager',
          components: componentsOf(p.alerts),
          openedAt: now,
          respondBy: respondBy(severity, now, this.d.settings.timeZone, this.d.holidays),
          firstAlertAt: starts.length ? new Date(Math.min(...starts)) : null,
        });
        if (inserted) {
          incident = inserted;
          action = 'opened';
          await this.repo.addTimeline(tx, incident.id, {
            at: now,
            kind: 'opened',
            text: `Opened from Alertmanager (receiver ${p.receiver}) as ${sevLabel(severity)}: ${firing.length} alert(s) firing (${names(firing)}); respond by ${incident.respondBy.toISOString()}`,
            data: { groupKey: p.groupKey, externalURL: p.externalURL ?? null },
          });
        } else {
          // Another replica opened it between our read and our insert (it waited for that commit): update it.
          incident = await this.repo.openByGroupKey(tx, p.groupKey);
          if (!incident) throw new AppError('conflict', 'The alert group changed concurrently; Alertmanager will retry');
        }
      }
      const known = new Map((await this.repo.alerts(tx, incident.id)).map((a) => [a.fingerprint, a]));
      for (const a of p.alerts) {
        const before = known.get(a.fingerprint);
        await this.repo.upsertAlert(tx, incident.id, { fingerprint: a.fingerprint, status: a.status, labels: a.labels, annotations: a.annotations, startsAt: new Date(a.startsAt), endsAt: endOf(a) }, now);
        if (action !== 'opened' && before?.status !== a.status && !(before === undefined && a.status === 'resolved')) {
          await this.repo.addTimeline(tx, incident.id, {
            at: now,
            kind: a.status === 'firing' ? 'alert_firing' : 'alert_resolved',
            text: `${a.labels.alertname ?? a.fingerprint} ${a.status === 'firing' ? 'firing' : 'resolved'}`,
            data: { fingerprint: a.fingerprint },
          });
        }
      }
      // A more severe alert joined the group: the incident takes the higher level and its tighter target.
      if (action !== 'opened' && firing.length > 0) {
        const severity = severityOf(firing);
        if (severity < incident.severity) {
          const set: Record<string, Date | number> = { severity };
          const target = respondBy(severity, incident.openedAt, this.d.settings.timeZone, this.d.holidays);
          if (incident.status === 'open' && target < incident.respondBy) set.respond_by = target;
          await this.repo.addTimeline(tx, incident.id, { at: now, kind: 'severity_changed', text: `Severity raised from ${sevLabel(incident.severity)} to ${sevLabel(severity)} by a new alert` });
          incident = await this.repo.update(tx, incident.id, set, now);
        }
      }
      const stillFiring = (await this.repo.alerts(tx, incident.id)).some((a) => a.status === 'firing');
      if (p.status === 'resolved' || !stillFiring) {
        await this.repo.resolveRemainingAlerts(tx, incident.id, now);
        await this.finishResolve(tx, incident, now, null, null, 'All alerts of the group resolved (Alertmanager)');
        return { action: 'resolved', incidentId: incident.id, number: incident.number } as const;
      }
      await this.repo.update(tx, incident.id, {}, now);
      return { action, incidentId: incident.id, number: incident.number };
    });
  }

  // ---- operator actions

  async list(q: { status?: IncidentRow['status'] | 'active'; severity?: Severity; cursor?: number; limit: number }) {
    const list = await this.repo.list({ status: q.status, severity: q.severity, beforeNumber: q.cursor, limit: q.limit });
    return { incidents: list.map((i) => this.view(i)), nextCursor: list.length === q.limit ? list.at(-1)!.number : null };
  }

  async detail(id: string): Promise<IncidentDetail> {
    const i = await this.require(id);
    const db = this.d.db;
    const [alerts, timeline, updates, notifications] = [
      await this.repo.alerts(db, id),
      await this.repo.timeline(db, id),
      await this.repo.publicUpdates(db, [id]),
      await this.repo.notifications(db, id),
    ];
    return {
      ...this.view(i),
      alerts,
      timeline,
      publicUpdates: updates.get(id) ?? [],
      notifications: notifications.map((n) => ({
        id: n.id,
        connectionId: n.connectionId,
        connector: n.connector,
        event: n.event,
        status: n.status,
        attempts: n.attempts,
        lastError: n.lastError,
        createdAt: n.createdAt,
        sentAt: n.sentAt,
        reminder: n.event === 'reminder' ? n.dedup : null,
      })),
    };
  }

  async acknowledge(id: string, actor: Actor): Promise<IncidentView> {
    const now = this.d.clock.now();
    return this.d.db.transaction(async (tx) => {
      const i = await this.requireLocked(tx, id);
      if (i.status === 'resolved') throw new AppError('conflict', `Incident ${i.number} is already resolved`);
      if (i.status === 'acknowledged') return this.view(i);
      const late = now > i.respondBy;
      const updated = await this.repo.update(tx, id, { status: 'acknowledged', acknowledged_at: now, acknowledged_by: actor.userId }, now);
      await this.repo.addTimeline(tx, id, {
        at: now,
        kind: 'acknowledged',
        actorId: actor.userId,
        text: `Acknowledged after ${formatDuration(now.getTime() - i.openedAt.getTime())}${late ? ` (target ${SEVERITY_INFO[i.severity].responseTime} missed)` : ''}`,
      });
      // Whoever was paged hears that someone took it (chat and email recipients get the resolution only).
      for (const t of await this.repo.triggeredTargets(tx, id, ['trigger', 'open'])) {
        if (t.connector === 'pagerduty' || t.connector === 'webhook' || t.connector === 'slack') await this.repo.enqueueNotification(tx, { incidentId: id, ...t, event: 'acknowledge', now });
      }
      await this.d.audit.record({ action: 'incident.acknowledged', actorId: actor.userId, actorIp: actor.ip, targetType: 'incident', targetId: id, data: { number: i.number, severity: sevLabel(i.severity), late } }, tx);
      return this.view(updated);
    });
  }

  async assignRoles(id: string, actor: Actor, roles: Partial<Record<IncidentRole, string | null>>): Promise<IncidentView> {
    const entries = Object.entries(roles) as [IncidentRole, string | null][];
    if (entries.length === 0) throw new AppError('validation_failed', 'Name at least one of incidentCommander, technicalLead, communicationsLead', { errors: [{ path: 'body', message: 'no role given' }] });
    // Users are looked up before the transaction: the orchestrator's queries must not run inside it.
    for (const [role, userId] of entries) {
      if (userId && !(await this.d.user(userId))) {
        throw new AppError('validation_failed', `${role}: no platform user ${userId}`, { errors: [{ path: `body.${role}`, message: 'no such platform user' }] });
      }
    }
    const now = this.d.clock.now();
    return this.d.db.transaction(async (tx) => {
      const i = await this.requireLocked(tx, id);
      const set: Record<string, string | null> = {};
      for (const [role, userId] of entries) {
        if (i.roles[role] === userId) continue;
        set[ROLE_COLUMNS[role]] = userId;
        await this.repo.addTimeline(tx, id, {
          at: now,
          kind: 'role_assigned',
          actorId: actor.userId,
          text: userId ? `${ROLE_NAMES[role]} assigned` : `${ROLE_NAMES[role]} unassigned`,
          data: { role, userId },
        });
      }
      if (Object.keys(set).length === 0) return this.view(i);
      const after = { ...i.roles, ...Object.fromEntries(entries) };
      if (!i.teamAssembledAt && after.incidentCommander && after.technicalLead && after.communicationsLead) set.team_assembled_at = now.toISOString();
      const updated = await this.repo.update(tx, id, set, now);
      await this.d.audit.record({ action: 'incident.roles_assigned', actorId: actor.userId, actorIp: actor.ip, targetType: 'incident', targetId: id, data: { number: i.number, ...roles } }, tx);
      return this.view(updated);
    });
  }

  async addNote(id: string, actor: Actor, text: string): Promise<TimelineEntry> {
    const now = this.d.clock.now();
    return this.d.db.transaction(async (tx) => {
      const i = await this.requireLocked(tx, id);
      await this.repo.addTimeline(tx, id, { at: now, kind: 'note', actorId: actor.userId, text });
      await this.repo.update(tx, id, { last_update_at: now, ...(i.firstUpdateAt ? {} : { first_update_at: now }) }, now);
      return (await this.repo.timeline(tx, id)).filter((t) => t.kind === 'note').at(-1)!;
    });
  }

  async resolve(id: string, actor: Actor, resolution: string | undefined): Promise<IncidentView> {
    const now = this.d.clock.now();
    const resolved = await this.d.db.transaction(async (tx) => {
      const i = await this.requireLocked(tx, id);
      if (i.status === 'resolved') throw new AppError('conflict', `Incident ${i.number} is already resolved`);
      return this.view(await this.finishResolve(tx, i, now, actor, resolution ?? null, null));
    });
    this.d.metrics.changed();
    await this.d.statusChanged?.();
    return resolved;
  }

  /** A status page update; only the incident's communications lead posts them. */
  async postPublicUpdate(id: string, actor: Actor, u: { status: PublicStatus; message: string; title?: string; components?: string[] }): Promise<PublicUpdate> {
    const now = this.d.clock.now();
    const posted = await this.d.db.transaction(async (tx) => {
      const i = await this.requireLocked(tx, id);
      if (!i.roles.communicationsLead) throw new AppError('conflict', 'Assign a communications lead first (POST .../roles); they post the public updates');
      if (i.roles.communicationsLead !== actor.userId) throw new AppError('forbidden', "Only the incident's communications lead posts public updates");
      if (!i.publicTitle && !u.title) {
        throw new AppError('validation_failed', 'The first public update needs a public title', { errors: [{ path: 'body.title', message: 'required on the first public update' }] });
      }
      // A status page update is also an internal update (the timeline shows it).
      const set: Record<string, string | string[] | Date> = { last_update_at: now, last_public_update_at: now, ...(i.firstUpdateAt ? {} : { first_update_at: now }) };
      if (u.title) set.public_title = u.title;
      if (u.components) set.components = u.components;
      await this.repo.update(tx, id, set, now);
      const update = await this.repo.addPublicUpdate(tx, id, { at: now, status: u.status, message: u.message, authorId: actor.userId });
      await this.repo.addTimeline(tx, id, { at: now, kind: 'public_update', actorId: actor.userId, text: `Status page (${u.status}): ${u.message}` });
      await this.d.audit.record({ action: 'incident.public_update', actorId: actor.userId, actorIp: actor.ip, targetType: 'incident', targetId: id, data: { number: i.number, status: u.status } }, tx);
      return update;
    });
    await this.d.statusChanged?.();
    return posted;
  }

  /** Marks the post-mortem done (optionally with a link to it): its reminder stops. Idempotent. */
  async markPostmortemDone(id: string, actor: Actor, url: string | undefined): Promise<IncidentView> {
    const now = this.d.clock.now();
    return this.d.db.transaction(async (tx) => {
      const i = await this.requireLocked(tx, id);
      if (i.status !== 'resolved') throw new AppError('conflict', `Incident ${i.number} is not resolved yet; the post-mortem follows the resolution`);
      if (i.postmortemDoneAt && (url === undefined || url === i.postmortemUrl)) return this.view(i);
      const first = !i.postmortemDoneAt;
      const set: Record<string, string | Date | null> = first ? { postmortem_done_at: now, postmortem_done_by: actor.userId } : {};
      if (url !== undefined) set.postmortem_url = url;
      const updated = await this.repo.update(tx, id, set, now);
      const late = first && i.postmortemDueAt !== null && now > i.postmortemDueAt;
      await this.repo.addTimeline(tx, id, {
        at: now,
        kind: 'postmortem_done',
        actorId: actor.userId,
        text: first ? `Post-mortem done${late ? ' (after its 24 h due time)' : ''}${url ? `: ${url}` : ''}` : `Post-mortem link changed: ${url}`,
      });
      await this.d.audit.record({ action: 'incident.postmortem_done', actorId: actor.userId, actorIp: actor.ip, targetType: 'incident', targetId: id, data: { number: i.number, url: url ?? null, late } }, tx);
      return this.view(updated);
    });
  }

  // ---- escalation routes

  /** The ops workspace's escalation connections with their routes (null: the default), or why there are none. */
  async routing(): Promise<{ workspaceId: string | null; connections: RoutedConnection[]; problem: string | null }> {
    const { workspaceId, targets, problem } = await this.targets();
    if (!workspaceId || targets.length === 0) return { workspaceId, connections: [], problem };
    const routes = new Map((await this.repo.routes(this.d.db, workspaceId)).map((r) => [r.connectionId, r]));
    return { workspaceId, connections: targets.map((t) => ({ ...t, route: routes.get(t.connectionId) ?? null })), problem };
  }

  /** GET /v1/ops/escalation-routes: the stored routes and what each connection of the ops workspace receives. */
  async describeRoutes() {
    const workspaceId = this.d.settings.workspaceId ?? null;
    if (!workspaceId) throw new AppError('conflict', 'V01T_OPS_WORKSPACE_ID is not set: there is no ops workspace to route');
    const hub = this.d.hub();
    if (!hub) throw new AppError('service_unavailable', 'the integration-hub does not run in this process');
    const all = await hub.listConnections(workspaceId);
    const routes = await this.repo.routes(this.d.db, workspaceId);
    const byId = new Map(routes.map((r) => [r.connectionId, r]));
    const known = new Set(all.map((c) => c.id));
    return {
      workspaceId,
      routes: routes.map((r) => ({ ...r, stale: !known.has(r.connectionId) })),
      connections: all
        .sort((x, y) => x.name.localeCompare(y.name) || x.id.localeCompare(y.id))
        .filter((c) => (ESCALATION_CONNECTORS as readonly string[]).includes(c.connector))
        .map((c) => {
          const r = byId.get(c.id) ?? null;
          return {
            connectionId: c.id,
            connector: c.connector,
            name: c.name,
            status: c.status,
            routed: r !== null,
            // What it receives: its route, or the default (escalations of Sev1-3).
            severities: r ? r.severities : ([1, 2, 3] as Severity[]),
            immediate: r ? r.immediate : [],
            reminders: r ? r.reminders : false,
          };
        }),
    };
  }

  /**
   * PUT /v1/ops/escalation-routes: replaces the ops workspace's routes. Shape errors are the
   * schema's; these rules answer 400 validation_failed naming the field and listing `rules`.
   */
  async replaceRoutes(actor: Actor, input: RouteInput[]) {
    const workspaceId = this.d.settings.workspaceId ?? null;
    if (!workspaceId) throw new AppError('conflict', 'V01T_OPS_WORKSPACE_ID is not set: there is no ops workspace to route');
    const hub = this.d.hub();
    if (!hub) throw new AppError('service_unavailable', 'the integration-hub does not run in this process');
    const connections = new Map((await hub.listConnections(workspaceId)).map((c) => [c.id, c]));
    const errors: { path: string; message: string }[] = [];
    const rules = new Set<string>();
    const fail = (path: string, rule: string, message: string) => {
      errors.push({ path, message });
      rules.add(rule);
    };
    const seen = new Set<string>();
    input.forEach((r, n) => {
      const at = `body.routes.${n}`;
      const c = connections.get(r.connectionId);
      if (seen.has(r.connectionId)) fail(`${at}.connectionId`, 'duplicate_connection', 'this connection already has a route in the list');
      seen.add(r.connectionId);
      if (!c) fail(`${at}.connectionId`, 'unknown_connection', 'not a connection of the ops workspace (V01T_OPS_WORKSPACE_ID)');
      else if (!(ESCALATION_CONNECTORS as readonly string[]).includes(c.connector)) fail(`${at}.connectionId`, 'not_an_escalation_connector', `a ${c.connector} connection cannot escalate (only ${ESCALATION_CONNECTORS.join(', ')})`);
      if (new Set(r.severities).size !== r.severities.length) fail(`${at}.severities`, 'duplicate_severity', 'a severity is listed twice');
      const immediate = r.immediate ?? [];
      if (new Set(immediate).size !== immediate.length) fail(`${at}.immediate`, 'duplicate_severity', 'a severity is listed twice');
      if (immediate.includes(4)) fail(`${at}.immediate`, 'sev4_never_pages', 'Sev4 follows the normal bug tracking process: it is never paged, immediately or later');
      const notRouted = immediate.filter((s) => s !== 4 && !r.severities.includes(s));
      if (notRouted.length) fail(`${at}.immediate`, 'immediate_not_routed', `immediate severities must also be in severities (missing ${notRouted.map((s) => `Sev${s}`).join(', ')})`);
      if (c?.connector === 'pagerduty' && r.severities.includes(4)) fail(`${at}.severities`, 'sev4_never_pages', 'Sev4 is never paged: route it to a webhook or email connection (it receives a bug ticket)');
      if (c?.connector === 'pagerduty' && r.reminders) fail(`${at}.reminders`, 'pagerduty_no_reminders', 'reminders go to webhook and email connections; PagerDuty only pages');
    });
    if (errors.length) throw new AppError('validation_failed', errors.map((e) => `${e.path}: ${e.message}`).join('; '), { errors, rules: [...rules] });
    const now = this.d.clock.now();
    const routes = input.map((r) => ({
      connectionId: r.connectionId,
      severities: [...r.severities].sort() as Severity[],
      immediate: [...(r.immediate ?? [])].sort() as Severity[],
      reminders: r.reminders ?? false,
    }));
    await this.d.db.transaction(async (tx) => {
      const before = await this.repo.routes(tx, workspaceId);
      await this.repo.replaceRoutes(tx, workspaceId, routes, now);
      await this.d.audit.record(
        {
          action: 'ops.escalation_routes_replaced',
          actorId: actor.userId,
          actorIp: actor.ip,
          targetType: 'ops_workspace',
          targetId: workspaceId,
          data: { before: before.map(({ updatedAt: _u, ...r }) => r), after: routes },
        },
        tx,
      );
    });
    return this.describeRoutes();
  }

  // ---- escalation

  /**
   * One pass of the escalation loop (the module runs it every V01T_OPS_TICK_SECONDS; tests call it
   * after moving the ManualClock): escalates incidents nobody acknowledged within their response
   * target, then delivers due notifications.
   */
  async tick(): Promise<{ escalated: number; sent: number; failed: number }> {
    // The hub's and the routes' reads happen once, before the transactions (they must not run inside them).
    const routed = await this.routing();
    await this.announceDue(routed);
    const escalated = await this.escalateDue(routed);
    await this.remindDue(routed);
    const { sent, failed } = await this.deliverDue();
    return { escalated, sent, failed };
  }

  /** The ops workspace's active email, webhook and PagerDuty connections, or why there are none. */
  async targets(): Promise<{ workspaceId: string | null; targets: { connectionId: string; connector: string; name: string }[]; problem: string | null }> {
    const workspaceId = this.d.settings.workspaceId ?? null;
    if (!workspaceId) return { workspaceId, targets: [], problem: 'V01T_OPS_WORKSPACE_ID is not set' };
    const hub = this.d.hub();
    if (!hub) return { workspaceId, targets: [], problem: 'the integration-hub does not run in this process' };
    const all = await hub.listConnections(workspaceId);
    const targets = all
      .filter((c) => c.status === 'active' && (ESCALATION_CONNECTORS as readonly string[]).includes(c.connector))
      .map((c) => ({ connectionId: c.id, connector: c.connector, name: c.name }))
      // A stable order (the hub lists in creation order, which may tie): timelines and answers read the same each time.
      .sort((x, y) => x.name.localeCompare(y.name) || x.connectionId.localeCompare(y.connectionId));
    return { workspaceId, targets, problem: targets.length ? null : `the ops workspace has no active ${ESCALATION_CONNECTORS.join(', ')} connection` };
  }

  /**
   * Decides, once per incident and severity (again when the severity is raised): the immediate
   * notices of Sev1-3 to the routes that asked for them (the runbook's "Immediate CEO
   * notification"), and for Sev4 a bug ticket to the routes for Sev4, never a page.
   */
  private async announceDue(routed: { workspaceId: string | null; connections: RoutedConnection[]; problem: string | null }): Promise<void> {
    const now = this.d.clock.now();
    const { workspaceId, connections, problem } = routed;
    await this.d.db.transaction(async (tx) => {
      await this.repo.lockTick(tx);
      for (const i of await this.repo.dueForAnnouncement(tx, 50)) {
        await this.repo.update(tx, i.id, { announced_severity: i.severity }, now);
        if (i.severity === 4) {
          const targets = routing.ticket(connections);
          for (const t of targets) await this.repo.enqueueNotification(tx, { incidentId: i.id, workspaceId: workspaceId!, connectionId: t.connectionId, connector: t.connector, event: 'ticket', now });
          await this.repo.addTimeline(tx, i.id, {
            at: now,
            kind: 'bug_ticket',
            text:
              `Sev4 (${SEVERITY_INFO[4].escalation}): never paged; ` +
              (targets.length ? `ticket sent to ${list(targets)}` : `recorded here for bug tracking (no webhook or email connection is routed for Sev4${problem ? `; ${problem}` : ''})`),
            data: { targets: targets.map((t) => t.connectionId) },
          });
          continue;
        }
        const already = await this.repo.notifiedConnections(tx, i.id, 'open');
        const targets = routing.immediate(connections, i.severity).filter((t) => !already.has(t.connectionId));
        if (!targets.length) continue; // nobody asked for an immediate notice: the escalation at the target is the first page
        for (const t of targets) await this.repo.enqueueNotification(tx, { incidentId: i.id, workspaceId: workspaceId!, connectionId: t.connectionId, connector: t.connector, event: 'open', now });
        await this.repo.addTimeline(tx, i.id, {
          at: now,
          kind: 'notified',
          text: `${sevLabel(i.severity)} (${SEVERITY_INFO[i.severity].escalation}): notifying ${list(targets)} now, without waiting for the ${SEVERITY_INFO[i.severity].responseTime} target`,
          data: { targets: targets.map((t) => t.connectionId) },
        });
      }
    });
  }

  private async escalateDue(routed: { workspaceId: string | null; connections: RoutedConnection[]; problem: string | null }): Promise<number> {
    const now = this.d.clock.now();
    const { workspaceId, connections, problem } = routed;
    const none: Severity[] = [];
    const escalated = await this.d.db.transaction(async (tx) => {
      await this.repo.lockTick(tx);
      const due = await this.repo.dueForEscalation(tx, now, 50);
      for (const i of due) {
        await this.repo.update(tx, i.id, { escalated_at: now }, now);
        const noticed = await this.repo.notifiedConnections(tx, i.id, 'open');
        const targets = routing.escalation(connections, i.severity).filter((t) => !noticed.has(t.connectionId));
        const atOpen = connections.filter((c) => noticed.has(c.connectionId));
        for (const t of targets) await this.repo.enqueueNotification(tx, { incidentId: i.id, workspaceId: workspaceId!, connectionId: t.connectionId, connector: t.connector, event: 'trigger', now });
        const why = problem ?? `no connection of the ops workspace is routed for ${sevLabel(i.severity)} (PUT /v1/ops/escalation-routes)`;
        await this.repo.addTimeline(tx, i.id, {
          at: now,
          kind: 'escalated',
          text:
            `Not acknowledged within ${SEVERITY_INFO[i.severity].responseTime} (${sevLabel(i.severity)} target): ` +
            (targets.length ? `escalating to ${list(targets)}` : atOpen.length ? `no further target (${list(atOpen)} notified at open)` : `no escalation target: ${why}`) +
            (targets.length && atOpen.length ? ` (${list(atOpen)} notified at open)` : ''),
          data: { targets: targets.map((t) => t.connectionId) },
        });
        if (!targets.length && !atOpen.length) {
          this.d.logger.error({ incident: i.number, problem: why }, 'incident escalation has no target');
          none.push(i.severity);
        }
      }
      return due;
    });
    for (const i of escalated) this.d.metrics.escalation(i.severity);
    // Nowhere to deliver: counted as a failed delivery so the failure can be alerted on.
    for (const _ of none) this.d.metrics.notification('none', 'trigger', 'failed');
    return escalated.length;
  }

  /**
   * The runbook's communication plan: one reminder per overdue window (internal update every 30
   * minutes for Sev1-3; Sev1 status page update 30 minutes after opening, then hourly; post-mortem
   * 24 hours after resolution). Each window is recorded once (whichever replica sees it first);
   * the timeline and the reminder routes hear of it when a route asked for reminders.
   */
  private async remindDue(routed: { workspaceId: string | null; connections: RoutedConnection[] }): Promise<void> {
    const now = this.d.clock.now();
    const { workspaceId, connections } = routed;
    const reminded: ReminderKind[] = [];
    await this.d.db.transaction(async (tx) => {
      await this.repo.lockTick(tx);
      const cadence = await this.repo.cadenceCandidates(tx, now, CADENCE.firstInternalUpdateMs, CADENCE.internalUpdateMs, CADENCE.firstPublicUpdateMs, CADENCE.publicUpdateMs);
      const timed = (await this.repo.timerCandidates(tx, now, TIMERS)).filter((t) => !cadence.some((c) => c.id === t.id));
      for (const i of [...cadence, ...timed]) {
        for (const [kind, dueAt] of dueWindows(i, now)) {
          const targets = routing.reminder(connections, i.severity);
          if (!(await this.repo.recordReminder(tx, i.id, kind, dueAt, now, targets.length))) continue;
          reminded.push(kind);
          if (!targets.length) continue;
          const dedup = `${kind}:${dueAt.toISOString()}`;
          for (const t of targets) {
            await this.repo.enqueueNotification(tx, { incidentId: i.id, workspaceId: workspaceId!, connectionId: t.connectionId, connector: t.connector, event: 'reminder', now, dedup, data: { kind, dueAt: dueAt.toISOString() } });
          }
          await this.repo.addTimeline(tx, i.id, { at: now, kind: 'reminder', text: `${REMINDER_TEXT[kind]} was due ${dueAt.toISOString()}: reminding ${list(targets)}`, data: { reminder: kind, dueAt: dueAt.toISOString(), targets: targets.map((t) => t.connectionId) } });
        }
      }
    });
    for (const kind of reminded) {
      if ((TIMER_KINDS as string[]).includes(kind)) this.d.metrics.timerBreached(kind as TimerKind);
      else this.d.metrics.reminder(kind);
    }
  }

  private async deliverDue(): Promise<{ sent: number; failed: number }> {
    let sent = 0;
    let failed = 0;
    // Several rounds: an acknowledge or resolve held back behind its trigger is claimable once the trigger went out.
    for (let round = 0; round < 50; round++) {
      const batch = await this.repo.claimDue(this.d.clock.now(), LEASE_MS, 20);
      if (batch.length === 0) break;
      for (const n of batch) {
        if (await this.deliver(n)) sent++;
        else failed++;
      }
    }
    return { sent, failed };
  }

  private async deliver(n: NotificationRow): Promise<boolean> {
    const i = (await this.repo.get(this.d.db, n.incidentId))!;
    try {
      const hub = this.d.hub();
      if (!hub) throw new AppError('service_unavailable', 'the integration-hub does not run in this process');
      await this.send(hub, n, i);
      const now = this.d.clock.now();
      await this.d.db.transaction(async (tx) => {
        await this.repo.markSent(tx, n.id, now);
        await this.repo.addTimeline(tx, i.id, { at: now, kind: 'notification_sent', text: `${n.event} sent through ${n.connector} connection ${n.connectionId}`, data: { notification: n.id } });
      });
      this.d.metrics.notification(n.connector, n.event, 'sent');
      return true;
    } catch (err) {
      const e = err as { code?: string; message?: string };
      const reason = `${e.code ?? 'error'}: ${e.message ?? String(err)}`.slice(0, 500);
      const now = this.d.clock.now();
      const giveUp = n.attempts >= MAX_DELIVERY_ATTEMPTS;
      const retryAt = giveUp ? null : new Date(now.getTime() + 30_000 * 2 ** (n.attempts - 1));
      await this.d.db.transaction(async (tx) => {
        await this.repo.markFailed(tx, n.id, reason, retryAt);
        if (giveUp) await this.repo.addTimeline(tx, i.id, { at: now, kind: 'notification_failed', text: `${n.event} through ${n.connector} connection ${n.connectionId} failed after ${n.attempts} attempts: ${reason}`, data: { notification: n.id } });
      });
      this.d.logger.warn({ incident: i.number, connector: n.connector, event: n.event, attempt: n.attempts, reason }, giveUp ? 'incident notification failed' : 'incident notification will be retried');
      this.d.metrics.notification(n.connector, n.event, giveUp ? 'failed' : 'retry');
      return false;
    }
  }

  private async send(hub: IntegrationHubContract, n: NotificationRow, i: IncidentRow): Promise<void> {
    const summary = `[${sevLabel(i.severity)}] Incident ${i.number}: ${i.title}`.slice(0, 1024);
    const link = this.d.publicUrl ? `${this.d.publicUrl.replace(/\/+$/, '')}/v1/ops/incidents/${i.id}` : undefined;
    const details = {
      incident: i.number,
      id: i.id,
      severity: sevLabel(i.severity),
      status: i.status,
      openedAt: i.openedAt.toISOString(),
      respondBy: i.respondBy.toISOString(),
      components: i.components,
    };
    const key = n.dedup ? `incident-${i.id}-${n.event}-${n.dedup}` : `incident-${i.id}-${n.event}`;
    const reminder = n.event === 'reminder' ? { kind: String(n.data.kind) as ReminderKind, dueAt: String(n.data.dueAt) } : null;
    if (n.connector === 'pagerduty') {
      // PagerDuty pages (trigger, or the immediate notice at open) and follows; tickets and reminders never go there.
      if (n.event === 'ticket' || n.event === 'reminder') throw new AppError('bad_request', `PagerDuty does not take ${n.event} notifications`);
      const input =
        n.event === 'trigger' || n.event === 'open'
          ? {
              summary,
              severity: pagerdutySeverity(i.severity),
              source: 'v01t',
              ...(i.components[0] ? { component: i.components[0] } : {}),
              class: sevLabel(i.severity),
              dedupKey: dedupKey(i.id),
              customDetails: details,
              ...(link ? { links: [{ href: link, text: `v01t incident ${i.number}` }] } : {}),
            }
          : { dedupKey: dedupKey(i.id) };
      await hub.runAction(n.workspaceId, n.connectionId, n.event === 'open' ? 'trigger' : n.event, input);
    } else if (n.connector === 'webhook') {
      await hub.runAction(n.workspaceId, n.connectionId, 'send', { type: `v01t.incident.${WEBHOOK_TYPE[n.event]}.v1`, id: key, data: { ...details, summary, link: link ?? null, ...(reminder ? { reminder } : {}) } });
    } else if (n.connector === 'email') {
      const verb = reminder ? `REMINDER: ${REMINDER_TEXT[reminder.kind].toLowerCase()} was due ${reminder.dueAt}` : EMAIL_VERB[n.event];
      const text = [
        `${summary}`,
        ``,
        `Status: ${verb}`,
        `Severity: ${sevLabel(i.severity)} (${SEVERITY_INFO[i.severity].name}); response target ${SEVERITY_INFO[i.severity].responseTime}`,
        `Opened: ${i.openedAt.toISOString()}`,
        `Respond by: ${i.respondBy.toISOString()}`,
        i.components.length ? `Components: ${i.components.join(', ')}` : '',
        link ? `\n${link}` : '',
      ]
        .filter((l) => l !== '')
        .join('\n');
      // The email connection's config.defaultTo are the recipients; the key makes a retry send once.
      await hub.publish(n.workspaceId, n.connectionId, { title: `${summary} - ${verb}`.slice(0, 200), text }, key);
    } else if (n.connector === 'slack') {
      // The runbook's #incidents channel: the connection's incoming webhook (its URL is a credential,
      // encrypted in the hub's vault; the post goes through the egress guard). A retry may post twice.
      await hub.runAction(n.workspaceId, n.connectionId, 'incomingWebhook', { text: slackText(n.event, i, summary, reminder, link) });
    } else {
      throw new AppError('bad_request', `connector ${n.connector} is not an escalation target`);
    }
  }

  // ---- helpers

  private async finishResolve(tx: Parameters<Parameters<Db['transaction']>[0]>[0], i: IncidentRow, now: Date, actor: Actor | null, resolution: string | null, automatic: string | null): Promise<IncidentRow> {
    // Sev1-3 need a post-mortem within 24 hours (Sev4 follows the bug tracking process).
    const postmortemDue = i.severity <= 3 ? new Date(now.getTime() + CADENCE.postmortemMs) : null;
    const updated = await this.repo.update(tx, i.id, { status: 'resolved', resolved_at: now, resolved_by: actor?.userId ?? null, resolution: resolution ?? automatic, postmortem_due_at: postmortemDue }, now);
    await this.repo.addTimeline(tx, i.id, {
      at: now,
      kind: 'resolved',
      actorId: actor?.userId ?? null,
      text: `Resolved after ${formatDuration(now.getTime() - i.openedAt.getTime())}${resolution ? `: ${resolution}` : automatic ? `: ${automatic}` : ''}`,
    });
    for (const t of await this.repo.triggeredTargets(tx, i.id)) await this.repo.enqueueNotification(tx, { incidentId: i.id, ...t, event: 'resolve', now });
    await this.d.audit.record(
      { action: 'incident.resolved', actorId: actor?.userId ?? null, actorIp: actor?.ip ?? null, targetType: 'incident', targetId: i.id, data: { number: i.number, severity: sevLabel(i.severity), automatic: !actor } },
      tx,
    );
    return updated;
  }

  private async require(id: string): Promise<IncidentRow> {
    const i = await this.repo.get(this.d.db, id);
    if (!i) throw notFound('Incident');
    return i;
  }

  private async requireLocked(tx: Parameters<Parameters<Db['transaction']>[0]>[0], id: string): Promise<IncidentRow> {
    const i = await this.repo.get(tx, id, true);
    if (!i) throw notFound('Incident');
    return i;
  }
}

const SLACK_LEAD: Record<NotificationEvent, string> = {
  trigger: ':rotating_light: *Escalated*: not acknowledged in time',
  open: ':rotating_light: *Opened*',
  ticket: ':memo: *Bug ticket* (Sev4, not paged)',
  reminder: ':alarm_clock: *Reminder*',
  acknowledge: ':eyes: *Acknowledged*',
  resolve: ':white_check_mark: *Resolved*',
};

/** A message for Slack #incidents (mrkdwn; <, > and & escaped as Slack asks). */
export function slackText(event: NotificationEvent, i: IncidentRow, summary: string, reminder: { kind: ReminderKind; dueAt: string } | null, link: string | undefined): string {
  const esc = (t: string) => t.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  const lead = reminder ? `${SLACK_LEAD.reminder}: ${esc(REMINDER_TEXT[reminder.kind])} was due ${reminder.dueAt}` : SLACK_LEAD[event];
  return [
    `${lead} | ${link ? `<${link}|${esc(summary)}>` : `*${esc(summary)}*`}`,
    `Severity ${sevLabel(i.severity)} (${SEVERITY_INFO[i.severity].name}), response target ${SEVERITY_INFO[i.severity].responseTime} | opened ${i.openedAt.toISOString()}${i.components.length ? ` | ${esc(i.components.join(', '))}` : ''}`,
  ].join('\n');
}

const WEBHOOK_TYPE: Record<NotificationEvent, string> = { trigger: 'escalated', open: 'opened', ticket: 'ticket', reminder: 'reminder', acknowledge: 'acknowledged', resolve: 'resolved' };
const EMAIL_VERB: Record<NotificationEvent, string> = {
  trigger: 'ESCALATED (not acknowledged in time)',
  open: 'OPENED (immediate notification)',
  ticket: 'bug ticket (Sev4: normal bug tracking process, not paged)',
  reminder: 'REMINDER',
  acknowledge: 'acknowledged',
  resolve: 'resolved',
};
export const REMINDER_TEXT: Record<ReminderKind, string> = {
  internal_update: 'Internal update (every 30 minutes until resolved)',
  public_update: 'Status page update (Sev1: within 30 minutes, then hourly)',
  postmortem: 'Post-mortem (within 24 hours of resolution)',
  acknowledge: 'Acknowledgement (within 5 minutes of opening)',
  assess: 'Impact assessment, the first internal update (within 10 minutes of opening)',
  assemble: 'Response team: incident commander, technical lead and communications lead (within 15 minutes of opening)',
};

const list = (cs: { name: string; connector: string }[]) => cs.map((t) => `${t.name} (${t.connector})`).join(', ');

/** When the incident's next communications are due (null where the runbook asks for none). */
export function dueTimes(i: IncidentRow): { internalUpdateDueAt: Date | null; publicUpdateDueAt: Date | null; postmortemDueAt: Date | null } {
  const open = i.status !== 'resolved';
  const at = (d: Date, ms: number) => new Date(d.getTime() + ms);
  return {
    internalUpdateDueAt: open && i.severity <= 3 ? (i.lastUpdateAt ? at(i.lastUpdateAt, CADENCE.internalUpdateMs) : at(i.openedAt, CADENCE.firstInternalUpdateMs)) : null,
    publicUpdateDueAt:
      open && i.severity === 1 ? (i.lastPublicUpdateAt ? at(i.lastPublicUpdateAt, CADENCE.publicUpdateMs) : at(i.openedAt, CADENCE.firstPublicUpdateMs)) : null,
    postmortemDueAt: i.status === 'resolved' ? i.postmortemDueAt : null,
  };
}

/**
 * The reminder windows due at `now`: for a cadence, the latest window start (due, due + period,
 * ...) not after now, so a window is reminded once however often the tick runs, and a tick that
 * comes late reminds of the current window only.
 */
export function dueWindows(i: IncidentRow, now: Date): [ReminderKind, Date][] {
  const out: [ReminderKind, Date][] = [];
  const d = dueTimes(i);
  const window = (due: Date, period: number) => new Date(due.getTime() + Math.floor((now.getTime() - due.getTime()) / period) * period);
  if (d.internalUpdateDueAt && d.internalUpdateDueAt <= now) out.push(['internal_update', window(d.internalUpdateDueAt, CADENCE.internalUpdateMs)]);
  for (const [kind, t] of Object.entries(timersOf(i, now) ?? {}) as [TimerKind, IncidentTimer][]) if (t.doneAt === null && t.breached && i.status !== 'resolved') out.push([kind, t.dueAt]);
  if (d.publicUpdateDueAt && d.publicUpdateDueAt <= now) out.push(['public_update', window(d.publicUpdateDueAt, CADENCE.publicUpdateMs)]);
  if (d.postmortemDueAt && !i.postmortemDoneAt && d.postmortemDueAt <= now) out.push(['postmortem', d.postmortemDueAt]);
  return out;
}

export interface IncidentTimer {
  dueAt: Date;
  /** When it was met (null: not yet). */
  doneAt: Date | null;
  /** Met late, or unmet past its due time while the incident is unresolved. */
  breached: boolean;
}

/** The first minutes' timers of a Sev1-3 incident (null for Sev4, which follows bug tracking). */
export function timersOf(i: IncidentRow, now: Date): Record<TimerKind, IncidentTimer> | null {
  if (i.severity > 3) return null;
  const done: Record<TimerKind, Date | null> = { acknowledge: i.acknowledgedAt, assess: i.firstUpdateAt, assemble: i.teamAssembledAt };
  // A resolved incident stops its clocks at the resolution.
  const end = i.status === 'resolved' && i.resolvedAt ? i.resolvedAt : now;
  return Object.fromEntries(
    TIMER_KINDS.map((k) => {
      const dueAt = new Date(i.openedAt.getTime() + TIMERS[k]);
      const doneAt = done[k];
      return [k, { dueAt, doneAt, breached: doneAt ? doneAt.getTime() > dueAt.getTime() : end.getTime() >= dueAt.getTime() }];
    }),
  ) as Record<TimerKind, IncidentTimer>;
}

export const ROLE_NAMES: Record<IncidentRole, string> = { incidentCommander: 'Incident Commander', technicalLead: 'Technical Lead', communicationsLead: 'Communications Lead' };

function names(alerts: { labels: Record<string, string> }[]): string {
  const n = [...new Set(alerts.map((a) => a.labels.alertname ?? 'alert'))];
  return n.length > 5 ? `${n.slice(0, 5).join(', ')}, …` : n.join(', ');
}

function titleOf(p: AlertmanagerWebhook): string {
  const first = p.alerts.find((a) => a.status === 'firing') ?? p.alerts[0]!;
  const summary = p.commonAnnotations.summary ?? first.annotations.summary;
  const name = p.commonLabels.alertname ?? p.groupLabels.alertname ?? first.labels.alertname ?? 'Alert';
  const scope = ['service', 'team'].map((k) => p.commonLabels[k] ?? p.groupLabels[k]).filter(Boolean);
  return `${name}${summary ? `: ${summary}` : ''}${scope.length ? ` (${scope.join(', ')})` : ''}`.slice(0, 500);
}

/** Components from the alerts' `component` or `service` labels. */
function componentsOf(alerts: { labels: Record<string, string> }[]): string[] {
  return [...new Set(alerts.map((a) => a.labels.component ?? a.labels.service).filter((x): x is string => Boolean(x)))].slice(0, 20);
}

export function formatDuration(ms: number): string {
  const totalMinutes = Math.max(0, Math.round(ms / 60_000));
  const d = Math.floor(totalMinutes / 1440);
  const h = Math.floor((totalMinutes % 1440) / 60);
  const m = totalMinutes % 60;
  if (d) return `${d} d ${h} h ${m} min`;
  if (h) return `${h} h ${m} min`;
  return `${m} min`;
}
