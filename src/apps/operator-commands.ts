import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { AuditLog } from '../kernel/audit/index.js';
import type { Database } from '../kernel/db/database.js';
import { migrate, pendingMigrations, type MigrationSet } from '../kernel/db/migrate.js';
import { AppError } from '../kernel/errors.js';
import { DEPLOYMENT_RESULTS, DeploymentHistory } from '../services/ops/deployments.js';
import { ssoProviderBody } from '../services/orchestrator/sso.routes.js';
import { publicProvider } from '../services/orchestrator/sso.service.js';
import { StartupError, type Platform } from './platform.js';
import { mailDetail, mailSummary } from '../services/orchestrator/mail.service.js';
import { asOperatorError, createBackup, listBackups, pruneBackups, runDrill, verifyBackup } from './backup.js';
import { runRetention } from './retention.js';
import { buildDbReport, formatDbReport } from '../services/ops/db-report.js';
import { DbReportRepository } from '../services/ops/db-report.repository.js';
import { GDPR_REQUEST_KINDS, GDPR_REQUEST_STATUSES } from '../services/orchestrator/gdpr-requests.repository.js';
import type { GdprRequestView } from '../services/orchestrator/gdpr-requests.service.js';

/**
 * The operator commands that read or change data (`v01t user create`, `gdpr export`, ...), written
 * once and run in one of two places (ADR 0021): in the CLI's own process when no server holds the
 * data folder, or inside the running server, which the CLI reaches over the admin socket. The
 * command sees only this interface, so both paths print the same output.
 */
export interface DataAccess {
  /** The database alone (and the migration sets of the services it serves), for commands that need no service. */
  database<T>(fn: (db: Database, migrationSets: MigrationSet[]) => Promise<T>): Promise<T>;
  /** The whole platform, services created (not started). */
  platform<T>(fn: (p: Platform) => Promise<T>): Promise<T>;
}

export interface CommandIo {
  /** Standard output; resolves when the text may be followed by more (backpressure). */
  out(text: string): Promise<void>;
  err(text: string): void;
  setExitCode(code: number): void;
}

const isoDate = z.iso.datetime({ offset: true });
const backupId = z.string().regex(/^(latest|\d{8}T\d{6}Z-[0-9a-f]{6})$/, 'a backup id (YYYYMMDDTHHMMSSZ-xxxxxx, from backup list) or latest');
const userId = z.uuid({ error: (i) => `--user-id: not a user id (a UUID): ${String(i.input)}` });
const gdprRequestRef = z.string().regex(/^(#?\d{1,15}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$/, 'a GDPR request number (12 or #12) or id');

/** Each command's arguments as the CLI sends them: already parsed from flags, checked again here since they may arrive over the socket. */
const COMMANDS = {
  migrate: z.object({ status: z.boolean() }).strict(),
  'user.create': z.object({ email: z.string().min(1), name: z.string().min(1), admin: z.boolean(), password: z.string().min(1).optional() }).strict(),
  'user.reset-password': z.object({ email: z.string().min(3).max(254) }).strict(),
  'mail.list': z.object({ status: z.enum(['pending', 'sent', 'failed']).optional(), to: z.string().max(254).optional(), limit: z.number().int().min(1).max(1000) }).strict(),
  'mail.show': z.object({ id: z.uuid({ error: (i) => `mail show: not a mail id (a UUID): ${String(i.input)}` }) }).strict(),
  'audit.verify': z.object({}).strict(),
  'audit.export': z.object({ from: isoDate, to: isoDate, action: z.string().optional() }).strict(),
  'keys.rotate': z.object({}).strict(),
  'deploy.record': z.object({ version: z.string(), environment: z.string(), result: z.enum(DEPLOYMENT_RESULTS), notes: z.string().optional() }).strict(),
  'deploy.history': z.object({ environment: z.string().optional(), limit: z.number().int().min(1).max(500) }).strict(),
  'gdpr.export': z.object({ userId, request: gdprRequestRef.optional() }).strict(),
  'gdpr.erase': z.object({ userId, request: gdprRequestRef.optional() }).strict(),
  'gdpr.request.add': z
    .object({
      kind: z.enum(GDPR_REQUEST_KINDS),
      userId: userId.optional(),
      email: z.email({ error: (i) => `--email: not an email address: ${String(i.input)}` }).max(254).optional(),
      details: z.string().min(1).max(5000).optional(),
      receivedAt: isoDate.optional(),
    })
    .strict()
    .refine((a) => a.userId || a.email, { message: '--user-id or --email: whose request it is' }),
  'gdpr.request.list': z.object({ status: z.enum(['open', 'overdue', 'all', ...GDPR_REQUEST_STATUSES]), kind: z.enum(GDPR_REQUEST_KINDS).optional(), limit: z.number().int().min(1).max(1000) }).strict(),
  'gdpr.request.start': z.object({ id: gdprRequestRef }).strict(),
  'gdpr.request.complete': z.object({ id: gdprRequestRef, resolution: z.string().min(1).max(5000).optional() }).strict(),
  'gdpr.request.refuse': z.object({ id: gdprRequestRef, reason: z.string().min(1, { error: '--reason: say why the request is refused' }).max(5000) }).strict(),
  'retention.run': z.object({}).strict(),
  'backup.create': z.object({ masterKeyPassphrase: z.string().optional(), json: z.boolean() }).strict(),
  'backup.list': z.object({ json: z.boolean() }).strict(),
  'backup.verify': z.object({ id: backupId.optional(), json: z.boolean() }).strict(),
  'backup.prune': z.object({ dryRun: z.boolean(), json: z.boolean() }).strict(),
  'backup.drill': z.object({ id: backupId.optional(), json: z.boolean() }).strict(),
  'db.report': z.object({ limit: z.number().int().min(1).max(100), json: z.boolean() }).strict(),
  'sso.add': ssoProviderBody.strict(),
  'sso.list': z.object({}).strict(),
  'sso.remove': z.object({ provider: z.string().min(1).max(64) }).strict(),
} as const;

export type OperatorCommand = keyof typeof COMMANDS;
export type OperatorArgs<C extends OperatorCommand> = z.infer<(typeof COMMANDS)[C]>;
export interface OperatorRequest<C extends OperatorCommand = OperatorCommand> {
  command: C;
  args: OperatorArgs<C>;
}

/** Checks a request that came from outside the process (the admin socket); throws AppError on a bad one. */
export function parseOperatorRequest(input: unknown): OperatorRequest {
  const shape = z.object({ command: z.string(), args: z.unknown() }).safeParse(input);
  if (!shape.success) throw new AppError('bad_request', 'an operator request is {command, args}');
  const schema = (COMMANDS as Record<string, z.ZodType>)[shape.data.command];
  if (!schema) throw new AppError('bad_request', `unknown operator command: ${shape.data.command}`);
  const args = schema.safeParse(shape.data.args);
  if (!args.success) {
    // Messages written for a flag name it themselves; the rest get the argument's path.
    const messages = args.error.issues.map((i) => (i.message.startsWith('--') ? i.message : `${shape.data.command} ${i.path.join('.') || 'args'}: ${i.message}`));
    throw new AppError('bad_request', messages.join('; '));
  }
  return { command: shape.data.command as OperatorCommand, args: args.data } as OperatorRequest;
}

const auditLog = (db: Database) => new AuditLog(db.orm, { now: () => new Date() });

const mb = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MB`;

/** Progress on stderr, at most every 250 ms: bytes done (of the total when known). */
function progressTo(io: CommandIo, verb: string) {
  let last = 0;
  return {
    report(done: number, total: number | undefined, file: string) {
      const now = Date.now();
      if (now - last < 250) return;
      last = now;
      io.err(`\r${verb} ${mb(done)}${total ? ` of ${mb(total)} (${Math.floor((done / total) * 100)}%)` : ''} ${file.slice(0, 60).padEnd(60)}`);
    },
    end() {
      if (last) io.err('\n');
    },
  };
}

export async function runOperatorCommand(request: OperatorRequest, io: CommandIo, access: DataAccess): Promise<void> {
  try {
    await runCommand(request, io, access);
  } catch (err) {
    throw asOperatorError(err);
  }
}

async function runCommand(request: OperatorRequest, io: CommandIo, access: DataAccess): Promise<void> {
  const { command, args } = parseOperatorRequest(request);
  switch (command) {
    case 'migrate': {
      const { status } = args as OperatorArgs<'migrate'>;
      await access.database(async (db, sets) => {
        if (status) {
          const pending = await pendingMigrations(db, sets);
          await io.out(pending.length ? `pending:\n  ${pending.join('\n  ')}\n` : 'up to date\n');
          return;
        }
        const lines: string[] = [];
        const { applied } = await migrate(db, sets, (m) => lines.push(m));
        for (const line of lines) await io.out(`${line}\n`);
        await io.out(applied.length ? `${applied.length} migration(s) applied\n` : 'up to date\n');
      });
      return;
    }
    case 'user.create': {
      const a = args as OperatorArgs<'user.create'>;
      const password = a.password ?? randomBytes(18).toString('base64url');
      const created = await access.platform(async (p) => {
        if (!p.orchestrator) throw new StartupError('the orchestrator is not available in this process');
        return p.orchestrator.services.auth.createUser({ email: a.email, name: a.name, password, platformAdmin: a.admin }, null);
      });
      await io.out(`${JSON.stringify({ id: created.id, email: created.email, platformAdmin: created.platformAdmin, ...(a.password ? {} : { password }) })}\n`);
      return;
    }
    case 'user.reset-password': {
      const { email } = args as OperatorArgs<'user.reset-password'>;
      const out = await access.platform((p) => orchestrator(p).services.recovery.operatorReset(email));
      await io.out(`${JSON.stringify(out)}\n`);
      return;
    }
    case 'mail.list': {
      const a = args as OperatorArgs<'mail.list'>;
      const rows = await access.platform((p) => orchestrator(p).services.mailbox.list(a));
      for (const m of rows) await io.out(`${JSON.stringify(mailSummary(m))}\n`);
      io.err(`${rows.length} mail(s)\n`);
      return;
    }
    case 'mail.show': {
      const { id } = args as OperatorArgs<'mail.show'>;
      const m = await access.platform((p) => orchestrator(p).services.mailbox.byId(id));
      if (!m) throw new AppError('not_found', `no mail with the id ${id}`);
      await io.out(`${JSON.stringify(mailDetail(m), null, 2)}\n`);
      return;
    }
    case 'audit.verify': {
      await access.database(async (db) => {
        const result = await auditLog(db).verify((n) => io.err(`\rchecked ${n} entries`));
        io.err('\n');
        if (result.ok) {
          await io.out(`audit chain intact: ${result.checked} entries verified\n`);
        } else {
          await io.out(`audit chain BROKEN at seq ${result.brokenAt.seq} (id ${result.brokenAt.id}): ${result.brokenAt.reason}; ${result.checked} entries before it verified\n`);
          io.setExitCode(1);
        }
      });
      return;
    }
    case 'audit.export': {
      const a = args as OperatorArgs<'audit.export'>;
      const from = new Date(a.from);
      const to = new Date(a.to);
      await access.database(async (db) => {
        let count = 0;
        for await (const e of auditLog(db).export({ from, to, action: a.action })) {
          await io.out(`${JSON.stringify(e)}\n`);
          count++;
        }
        io.err(`${count} audit entries from ${from.toISOString()} to ${to.toISOString()}\n`);
      });
      return;
    }
    case 'keys.rotate': {
      const out = await access.platform(async (p) => {
        const result: Record<string, { rewrapped: number; unchanged: number }> = {};
        for (const [name, instance] of p.instances) if (instance.rewrapSecrets) result[name] = await instance.rewrapSecrets();
        return { masterKeyId: p.ctx.secrets.keys.currentKeyId(), services: result };
      });
      await io.out(`${JSON.stringify(out)}\n`);
      return;
    }
    case 'deploy.record': {
      const a = args as OperatorArgs<'deploy.record'>;
      const input = DeploymentHistory.parse({ version: a.version, environment: a.environment, result: a.result, ...(a.notes ? { notes: a.notes.slice(0, 1000) } : {}) }, '--');
      const d = await access.database((db) => new DeploymentHistory(db.orm, auditLog(db)).record(input, { via: 'cli' }));
      await io.out(`${JSON.stringify({ id: d.id, occurredAt: d.recordedAt, version: d.version, environment: d.environment, result: d.result, via: d.via, ...(d.notes ? { notes: d.notes } : {}) })}\n`);
      return;
    }
    case 'deploy.history': {
      const a = args as OperatorArgs<'deploy.history'>;
      const environment = a.environment === undefined ? undefined : DeploymentHistory.parse({ version: 'x', result: 'success', environment: a.environment }, '--').environment;
      const out = await access.database((db) => new DeploymentHistory(db.orm, auditLog(db)).history({ environment, limit: a.limit }));
      await io.out(`${JSON.stringify(out, null, 2)}\n`);
      return;
    }
    // Each export and erasure answers a request in the register (ADR 0064): the one given with
    // --request (recorded when it arrived), or a new one recorded now, completed either way.
    case 'gdpr.export': {
      const a = args as OperatorArgs<'gdpr.export'>;
      const out = await access.platform(async (p) => {
        const gdpr = orchestrator(p).services.gdpr;
        return gdpr.fulfilAccess(a.userId, { requestId: a.request ? await gdpr.resolve(a.request) : undefined, channel: 'cli', by: OPERATOR });
      });
      await io.out(`${JSON.stringify(out.data, null, 2)}\n`);
      io.err(`GDPR request #${out.request.number} (access) completed\n`);
      return;
    }
    case 'gdpr.erase': {
      const a = args as OperatorArgs<'gdpr.erase'>;
      const out = await access.platform(async (p) => {
        const gdpr = orchestrator(p).services.gdpr;
        return gdpr.fulfilErasure(a.userId, { requestId: a.request ? await gdpr.resolve(a.request) : undefined, channel: 'cli', by: OPERATOR });
      });
      await io.out(`${JSON.stringify({ erased: out.erased, request: { id: out.request.id, number: out.request.number, status: out.request.status } })}\n`);
      return;
    }
    case 'gdpr.request.add': {
      const a = args as OperatorArgs<'gdpr.request.add'>;
      const r = await access.platform((p) =>
        orchestrator(p).services.gdpr.record({ kind: a.kind, userId: a.userId, email: a.email, details: a.details, receivedAt: a.receivedAt ? new Date(a.receivedAt) : undefined, channel: 'email' }, OPERATOR),
      );
      await io.out(`${JSON.stringify(gdprRequestLine(r))}\n`);
      return;
    }
    case 'gdpr.request.list': {
      const a = args as OperatorArgs<'gdpr.request.list'>;
      const list = await access.platform((p) => orchestrator(p).services.gdpr.list({ status: a.status === 'all' ? undefined : a.status, kind: a.kind, limit: a.limit }));
      for (const r of list) await io.out(`${JSON.stringify(gdprRequestLine(r))}\n`);
      io.err(`${list.length} request(s)${list.some((r) => r.overdue) ? `, ${list.filter((r) => r.overdue).length} overdue` : ''}\n`);
      return;
    }
    case 'gdpr.request.start':
    case 'gdpr.request.complete':
    case 'gdpr.request.refuse': {
      const a = args as { id: string; resolution?: string; reason?: string };
      const r = await access.platform(async (p) => {
        const gdpr = orchestrator(p).services.gdpr;
        const id = await gdpr.resolve(a.id);
        if (command === 'gdpr.request.start') return gdpr.start(id, OPERATOR);
        if (command === 'gdpr.request.complete') return gdpr.complete(id, OPERATOR, a.resolution);
        return gdpr.refuse(id, OPERATOR, a.reason!);
      });
      await io.out(`${JSON.stringify(gdprRequestLine(r))}\n`);
      return;
    }
    case 'sso.add': {
      const a = args as OperatorArgs<'sso.add'>;
      const row = await access.platform((p) => orchestrator(p).services.sso.addProvider(a, { userId: null, ip: null }));
      await io.out(`${JSON.stringify({ provider: publicProvider(row), redirectPath: `/v1/auth/sso/${row.slug}/callback` }, null, 2)}\n`);
      return;
    }
    case 'sso.list': {
      const rows = await access.platform((p) => orchestrator(p).services.sso.listProviders());
      await io.out(`${JSON.stringify({ providers: rows.map(publicProvider) }, null, 2)}\n`);
      return;
    }
    case 'sso.remove': {
      const { provider } = args as OperatorArgs<'sso.remove'>;
      const row = await access.platform((p) => orchestrator(p).services.sso.removeProvider(provider, { userId: null, ip: null }));
      await io.out(`${JSON.stringify({ removed: { id: row.id, slug: row.slug } })}\n`);
      return;
    }
    case 'db.report': {
      const a = args as OperatorArgs<'db.report'>;
      const report = await access.database((db) => buildDbReport(new DbReportRepository(db), { limit: a.limit }));
      await io.out(a.json ? `${JSON.stringify(report, null, 2)}\n` : formatDbReport(report));
      return;
    }
    case 'retention.run': {
      const summary = await access.platform((p) => runRetention(p));
      const purged = Object.fromEntries(summary.rules.map((r) => [r.name, r.deleted]));
      await io.out(`${JSON.stringify({ purged, byClass: summary.byClass, ...(summary.notified ? { notified: summary.notified } : {}) })}\n`);
      if (summary.rules.some((r) => r.error)) io.setExitCode(1);
      return;
    }
    case 'backup.create': {
      const a = args as OperatorArgs<'backup.create'>;
      const progress = progressTo(io, 'backed up');
      const index = await access.platform((p) => createBackup(p, { masterKeyPassphrase: a.masterKeyPassphrase, progress: progress.report })).finally(() => progress.end());
      await io.out(a.json ? `${JSON.stringify({ id: index.id, createdAt: index.createdAt, bytes: index.bytes, kind: index.kind, files: index.files })}\n` : `backup ${index.id}: ${index.files} files, ${mb(index.bytes)}\n`);
      return;
    }
    case 'backup.list': {
      const a = args as OperatorArgs<'backup.list'>;
      const list = await access.platform((p) => listBackups(p.config));
      if (a.json) await io.out(`${JSON.stringify(list.map((b) => ({ id: b.id, createdAt: b.createdAt, bytes: b.bytes, kind: b.kind })))}\n`);
      else for (const b of list) await io.out(`${b.id}  ${b.createdAt}  ${b.kind.padEnd(11)}  ${mb(b.bytes).padStart(10)}${b.masterKeyIncluded ? '  (master key wrapped inside)' : ''}\n`);
      if (!a.json && !list.length) io.err('no backups\n');
      return;
    }
    case 'backup.verify': {
      const a = args as OperatorArgs<'backup.verify'>;
      const progress = progressTo(io, 'verified');
      const r = await access.platform((p) => verifyBackup(p.config, a.id, progress.report)).finally(() => progress.end());
      await io.out(a.json ? `${JSON.stringify({ id: r.id, ok: true, files: r.files, bytes: r.bytes })}\n` : `backup ${r.id} is intact: ${r.files} files, ${mb(r.bytes)} decrypted and checked\n`);
      return;
    }
    case 'backup.prune': {
      const a = args as OperatorArgs<'backup.prune'>;
      const r = await access.platform((p) => pruneBackups(p.config, { dryRun: a.dryRun }));
      if (a.json) await io.out(`${JSON.stringify(r)}\n`);
      else {
        for (const id of r.pruned) await io.out(`${a.dryRun ? 'would prune' : 'pruned'} ${id}\n`);
        await io.out(`${r.kept.length} kept, ${r.pruned.length} ${a.dryRun ? 'would be pruned' : 'pruned'}\n`);
      }
      return;
    }
    case 'backup.drill': {
      const a = args as OperatorArgs<'backup.drill'>;
      const r = await access.platform((p) => runDrill(p, a.id));
      await io.out(a.json ? `${JSON.stringify(r)}\n` : `drill of ${r.backupId}: ${r.ok ? 'PASSED' : 'FAILED'}; RTO ${r.rtoSeconds.toFixed(1)} s, RPO ${(r.rpoSeconds / 3600).toFixed(1)} h; ${r.checks.rowCounts}\n`);
      if (!r.ok) io.setExitCode(1);
      return;
    }
  }
}

/** The operator at the CLI: no account (the audit entries carry no actor). */
const OPERATOR = { actorId: null, ip: null };

const gdprRequestLine = (r: GdprRequestView) => ({
  id: r.id,
  number: r.number,
  kind: r.kind,
  userId: r.userId,
  email: r.email,
  channel: r.channel,
  status: r.status,
  receivedAt: r.receivedAt,
  dueAt: r.dueAt,
  overdue: r.overdue,
  ...(r.details ? { details: r.details } : {}),
  ...(r.refusalReason ? { refusalReason: r.refusalReason } : {}),
  ...(r.resolution ? { resolution: r.resolution } : {}),
  ...(r.closedAt ? { closedAt: r.closedAt } : {}),
});

function orchestrator(p: Platform): NonNullable<Platform['orchestrator']> {
  if (!p.orchestrator) throw new StartupError('the orchestrator is not available in this process');
  return p.orchestrator;
}
