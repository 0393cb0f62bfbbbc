import type { Clock } from '../kernel/clock.js';
import type { Db } from '../kernel/db/database.js';
import type { AuditLog } from '../kernel/audit/index.js';
import type { Logger } from '../kernel/telemetry/logger.js';
import { AppError, notFound } from '../kernel/errors.js';
import type { IntegrationHubContract } from '../services/integration-hub/contract.js';
import { endOf, type AlertmanagerWebhook } from './alertmanager.js';
import { pagerdutySeverity, respondBy, SEVERITY_INFO, severityOfLabels, sevLabel, type Severity } from './severity.js';
import {
  IncidentsRepository,
  ROLE_COLUMNS,
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
export const ESCALATION_CONNECTORS = ['pagerduty', 'webhook', 'email'] as const;
const LEASE_MS = 2 * 60_000;
/** Delivery attempts before a notification is given up (backoff 30 s doubling: about 15 minutes). */
export const MAX_DELIVERY_ATTEMPTS = 6;

export interface Actor {
  userId: string;
  ip: string | null;
}

export interface OpsMetrics {
  escalation(severity: Severity): void;
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
  publicUrl?: string;
  /** The integration-hub's contract, when the hub runs in this process. */
  hub: () => IntegrationHubContract | null;
  /** A platform user by id (the orchestrator's contract), null when unknown. */
  user: (id: string) => Promise<{ id: string; name: string; email: string } | null>;
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
}

export interface IncidentDetail extends IncidentView {
  alerts: AlertRow[];
  timeline: TimelineEntry[];
  publicUpdates: PublicUpdate[];
  notifications: Pick<NotificationRow, 'id' | 'connectionId' | 'connector' | 'event' | 'status' | 'attempts' | 'lastError' | 'createdAt' | 'sentAt'>[];
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
    };
  }

  // ---- Alertmanager

  /** One notification of an alert group: opens, updates or resolves the group's open incident. */
  async ingest(p: AlertmanagerWebhook): Promise<IngestResult> {
    const result = await this.ingestInTransaction(p);
    if (result.action !== 'ignored') this.d.metrics.changed();
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
          respondBy: respondBy(severity, now, this.d.settings.timeZone),
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
          const target = respondBy(severity, incident.openedAt, this.d.settings.timeZone);
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
      for (const t of await this.repo.triggeredTargets(tx, id)) {
        if (t.connector === 'pagerduty' || t.connector === 'webhook') await this.repo.enqueueNotification(tx, { incidentId: id, ...t, event: 'acknowledge', now });
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
      const updated = await this.repo.update(tx, id, set, now);
      await this.d.audit.record({ action: 'incident.roles_assigned', actorId: actor.userId, actorIp: actor.ip, targetType: 'incident', targetId: id, data: { number: i.number, ...roles } }, tx);
      return this.view(updated);
    });
  }

  async addNote(id: string, actor: Actor, text: string): Promise<TimelineEntry> {
    const now = this.d.clock.now();
    return this.d.db.transaction(async (tx) => {
      await this.requireLocked(tx, id);
      await this.repo.addTimeline(tx, id, { at: now, kind: 'note', actorId: actor.userId, text });
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
    return resolved;
  }

  /** A status page update; only the incident's communications lead posts them. */
  async postPublicUpdate(id: string, actor: Actor, u: { status: PublicStatus; message: string; title?: string; components?: string[] }): Promise<PublicUpdate> {
    const now = this.d.clock.now();
    return this.d.db.transaction(async (tx) => {
      const i = await this.requireLocked(tx, id);
      if (!i.roles.communicationsLead) throw new AppError('conflict', 'Assign a communications lead first (POST .../roles); they post the public updates');
      if (i.roles.communicationsLead !== actor.userId) throw new AppError('forbidden', "Only the incident's communications lead posts public updates");
      if (!i.publicTitle && !u.title) {
        throw new AppError('validation_failed', 'The first public update needs a public title', { errors: [{ path: 'body.title', message: 'required on the first public update' }] });
      }
      const set: Record<string, string | string[]> = {};
      if (u.title) set.public_title = u.title;
      if (u.components) set.components = u.components;
      if (Object.keys(set).length) await this.repo.update(tx, id, set, now);
      const update = await this.repo.addPublicUpdate(tx, id, { at: now, status: u.status, message: u.message, authorId: actor.userId });
      await this.repo.addTimeline(tx, id, { at: now, kind: 'public_update', actorId: actor.userId, text: `Status page (${u.status}): ${u.message}` });
      await this.d.audit.record({ action: 'incident.public_update', actorId: actor.userId, actorIp: actor.ip, targetType: 'incident', targetId: id, data: { number: i.number, status: u.status } }, tx);
      return update;
    });
  }

  // ---- escalation

  /**
   * One pass of the escalation loop (the module runs it every V01T_OPS_TICK_SECONDS; tests call it
   * after moving the ManualClock): escalates incidents nobody acknowledged within their response
   * target, then delivers due notifications.
   */
  async tick(): Promise<{ escalated: number; sent: number; failed: number }> {
    const escalated = await this.escalateDue();
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
      .map((c) => ({ connectionId: c.id, connector: c.connector, name: c.name }));
    return { workspaceId, targets, problem: targets.length ? null : `the ops workspace has no active ${ESCALATION_CONNECTORS.join(', ')} connection` };
  }

  private async escalateDue(): Promise<number> {
    const now = this.d.clock.now();
    // Read before the transaction (the hub's queries must not run inside it).
    const { workspaceId, targets, problem } = await this.targets();
    const escalated = await this.d.db.transaction(async (tx) => {
      const due = await this.repo.dueForEscalation(tx, now, 50);
      for (const i of due) {
        await this.repo.update(tx, i.id, { escalated_at: now }, now);
        for (const t of targets) await this.repo.enqueueNotification(tx, { incidentId: i.id, workspaceId: workspaceId!, connectionId: t.connectionId, connector: t.connector, event: 'trigger', now });
        await this.repo.addTimeline(tx, i.id, {
          at: now,
          kind: 'escalated',
          text:
            `Not acknowledged within ${SEVERITY_INFO[i.severity].responseTime} (${sevLabel(i.severity)} target): ` +
            (targets.length ? `escalating to ${targets.map((t) => `${t.name} (${t.connector})`).join(', ')}` : `no escalation target: ${problem}`),
          data: { targets: targets.map((t) => t.connectionId) },
        });
        if (!targets.length) this.d.logger.error({ incident: i.number, problem }, 'incident escalation has no target');
      }
      return due;
    });
    for (const i of escalated) {
      this.d.metrics.escalation(i.severity);
      // Nowhere to deliver: counted as a failed delivery so the failure can be alerted on.
      if (!targets.length) this.d.metrics.notification('none', 'trigger', 'failed');
    }
    return escalated.length;
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
    const key = `incident-${i.id}-${n.event}`;
    if (n.connector === 'pagerduty') {
      const input =
        n.event === 'trigger'
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
      await hub.runAction(n.workspaceId, n.connectionId, n.event, input);
    } else if (n.connector === 'webhook') {
      await hub.runAction(n.workspaceId, n.connectionId, 'send', { type: `v01t.incident.${n.event === 'trigger' ? 'escalated' : n.event === 'acknowledge' ? 'acknowledged' : 'resolved'}.v1`, id: key, data: { ...details, summary, link: link ?? null } });
    } else if (n.connector === 'email') {
      const verb = n.event === 'trigger' ? 'ESCALATED (not acknowledged in time)' : n.event === 'acknowledge' ? 'acknowledged' : 'resolved';
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
    } else {
      throw new AppError('bad_request', `connector ${n.connector} is not an escalation target`);
    }
  }

  // ---- helpers

  private async finishResolve(tx: Parameters<Parameters<Db['transaction']>[0]>[0], i: IncidentRow, now: Date, actor: Actor | null, resolution: string | null, automatic: string | null): Promise<IncidentRow> {
    const updated = await this.repo.update(tx, i.id, { status: 'resolved', resolved_at: now, resolved_by: actor?.userId ?? null, resolution: resolution ?? automatic }, now);
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
