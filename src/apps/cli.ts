import { randomBytes } from 'node:crypto';
import { Command, Option } from 'commander';
import { ConfigError, loadConfig, SERVICE_NAMES, type Config, type ServiceName } from '../kernel/config/index.js';
import { openDatabase } from '../kernel/db/database.js';
import { migrate, pendingMigrations, MigrationError } from '../kernel/db/migrate.js';
import { AuditLog, DEPLOYMENT_RESULTS } from '../kernel/audit/index.js';
import { DeploymentHistory } from '../ops/deployments.js';
import { AppError } from '../kernel/errors.js';
import { createPlatform, platformMigrationSets, StartupError, VERSION, availableModules, type Platform } from './platform.js';
import { runServer } from './server.js';
import { restrictUmask } from '../kernel/private-fs.js';

function config(overrides: Partial<Record<string, string>> = {}): Config {
  return loadConfig({ ...process.env, ...overrides });
}

/** Opens the platform without serving HTTP, runs fn, closes. */
async function withPlatform<T>(fn: (p: Platform) => Promise<T>): Promise<T> {
  const p = await createPlatform({ config: config({ LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' }) });
  try {
    return await fn(p);
  } finally {
    await p.close();
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

/** A date-only value means midnight UTC; as an end it means the end of that day. */
function parseAuditDate(flag: string, value: string, end: boolean): Date {
  const dateOnly = /^\d{4}-\d{2}-\d{2}$/.test(value);
  const d = new Date(dateOnly ? `${value}T00:00:00.000Z` : value);
  if (Number.isNaN(d.getTime())) throw new AppError('bad_request', `${flag}: not a date (use YYYY-MM-DD or an ISO timestamp): ${value}`);
  return dateOnly && end ? new Date(d.getTime() + 86_400_000) : d;
}

export function buildCli(): Command {
  const program = new Command('v01t')
    .description('v01t: one platform for creators, builders, analysts and automators')
    .version(VERSION)
    // Program options only before a command name, so `deploy record --version 1.4.2` reaches the command.
    .enablePositionalOptions()
    .showHelpAfterError();

  program
    .command('start')
    .description('run every service in one process (embedded PostgreSQL unless DATABASE_URL is set)')
    .action(async () => {
      await runServer(config());
    });

  program
    .command('serve')
    .description('run the named services in this process (the distributed shape: one service per pod)')
    .argument('<service...>', `one or more of: ${SERVICE_NAMES.join(', ')}`)
    .action(async (services: string[]) => {
      await runServer(config({ V01T_SERVICES: services.join(',') }));
    });

  program
    .command('migrate')
    .description('apply pending database migrations (also done at start unless MIGRATE_ON_START=false)')
    .option('--status', 'only list pending migrations')
    .action(async (opts: { status?: boolean }) => {
      const cfg = config();
      const db = await openDatabase({ url: cfg.db.url, dataDir: cfg.db.url ? undefined : `${cfg.dataDir}/pg` });
      try {
        const modules = Object.values(availableModules(() => new Map()));
        const sets = platformMigrationSets(modules.filter((m) => m !== undefined));
        if (opts.status) {
          const pending = await pendingMigrations(db, sets);
          console.log(pending.length ? `pending:\n  ${pending.join('\n  ')}` : 'up to date');
          return;
        }
        const { applied } = await migrate(db, sets, (m) => console.log(m));
        console.log(applied.length ? `${applied.length} migration(s) applied` : 'up to date');
      } finally {
        await db.close();
      }
    });

  const user = program.command('user').description('manage accounts');
  user
    .command('create')
    .description('create an account (a platform admin with --admin)')
    .requiredOption('--email <email>', 'email address')
    .option('--name <name>', 'display name', 'Administrator')
    .option('--admin', 'make the account a platform administrator (sees security events)')
    .addOption(new Option('--password-stdin', 'read the password from standard input').conflicts('password'))
    .option('--password <password>', 'the password (visible in the process list: prefer --password-stdin)')
    .action(async (opts: { email: string; name: string; admin?: boolean; passwordStdin?: boolean; password?: string }) => {
      let password = opts.password ?? (opts.passwordStdin ? await readStdin() : undefined);
      const generated = !password;
      password ??= randomBytes(18).toString('base64url');
      const created = await withPlatform(async (p) => {
        if (!p.orchestrator) throw new StartupError('the orchestrator is not available');
        return p.orchestrator.services.auth.createUser({ email: opts.email, name: opts.name, password: password!, platformAdmin: Boolean(opts.admin) }, null);
      });
      console.log(JSON.stringify({ id: created.id, email: created.email, platformAdmin: created.platformAdmin, ...(generated ? { password } : {}) }));
    });

  const audit = program.command('audit').description('the hash-chained audit log');
  audit
    .command('verify')
    .description('walk the chain and report the first broken link (exit 1 when broken)')
    .action(async () => {
      const cfg = config();
      const db = await openDatabase({ url: cfg.db.url, dataDir: cfg.db.url ? undefined : `${cfg.dataDir}/pg` });
      try {
        const result = await new AuditLog(db.orm, { now: () => new Date() }).verify((n) => process.stderr.write(`\rchecked ${n} entries`));
        process.stderr.write('\n');
        if (result.ok) {
          console.log(`audit chain intact: ${result.checked} entries verified`);
        } else {
          console.log(`audit chain BROKEN at seq ${result.brokenAt.seq} (id ${result.brokenAt.id}): ${result.brokenAt.reason}; ${result.checked} entries before it verified`);
          process.exitCode = 1;
        }
      } finally {
        await db.close();
      }
    });
  audit
    .command('export')
    .description('print audit entries in a date range as JSON lines, oldest first (runbook: data processing audit)')
    .requiredOption('--from <date>', 'start, inclusive: YYYY-MM-DD (00:00 UTC) or an ISO timestamp')
    .requiredOption('--to <date>', 'end: YYYY-MM-DD includes that whole day (UTC); an ISO timestamp is exclusive')
    .option('--action <action>', 'only this action, or a prefix ending in * (e.g. member.*)')
    .action(async (opts: { from: string; to: string; action?: string }) => {
      const from = parseAuditDate('--from', opts.from, false);
      const to = parseAuditDate('--to', opts.to, true);
      if (to <= from) throw new AppError('bad_request', '--to must be after --from');
      const cfg = config();
      const db = await openDatabase({ url: cfg.db.url, dataDir: cfg.db.url ? undefined : `${cfg.dataDir}/pg` });
      try {
        let count = 0;
        for await (const e of new AuditLog(db.orm, { now: () => new Date() }).export({ from, to, action: opts.action })) {
          if (!process.stdout.write(`${JSON.stringify(e)}\n`)) await new Promise((r) => process.stdout.once('drain', r));
          count++;
        }
        process.stderr.write(`${count} audit entries from ${from.toISOString()} to ${to.toISOString()}\n`);
      } finally {
        await db.close();
      }
    });

  program
    .command('keys')
    .description('master key management (envelope encryption of stored secrets)')
    .command('rotate')
    .description('rewrap every stored data key under V01T_MASTER_KEY; old keys from V01T_MASTER_KEY_PREVIOUS must still be set')
    .action(async () => {
      const out = await withPlatform(async (p) => {
        const result: Record<string, { rewrapped: number; unchanged: number }> = {};
        for (const [name, instance] of p.instances) if (instance.rewrapSecrets) result[name] = await instance.rewrapSecrets();
        return { masterKeyId: p.ctx.secrets.keys.currentKeyId(), services: result };
      });
      console.log(JSON.stringify(out));
    });

  const deploy = program.command('deploy').description('deployment history (GET /v1/ops/deployments, the Operations dashboard, v01t_deployments_total)');
  // One implementation with POST/GET /v1/ops/deployments (src/ops/deployments.ts); the audit log is the store.
  const withHistory = async <T>(fn: (h: DeploymentHistory) => Promise<T>): Promise<T> => {
    const cfg = config();
    const db = await openDatabase({ url: cfg.db.url, dataDir: cfg.db.url ? undefined : `${cfg.dataDir}/pg` });
    try {
      return await fn(new DeploymentHistory(db.orm, new AuditLog(db.orm, { now: () => new Date() })));
    } finally {
      await db.close();
    }
  };
  deploy
    .command('record')
    .description('record a deployment in the audit log: its version, environment and result')
    .requiredOption('--version <version>', 'the deployed version or image tag')
    .requiredOption('--environment <environment>', 'e.g. production, production-green')
    .addOption(new Option('--result <result>', 'how it ended').choices([...DEPLOYMENT_RESULTS]).makeOptionMandatory())
    .option('--notes <text>', 'free text (ticket, reason)')
    .action(async (opts: { version: string; environment: string; result: string; notes?: string }) => {
      const input = DeploymentHistory.parse({ version: opts.version, environment: opts.environment, result: opts.result, ...(opts.notes ? { notes: opts.notes.slice(0, 1000) } : {}) }, '--');
      const d = await withHistory((h) => h.record(input, { via: 'cli' }));
      console.log(JSON.stringify({ id: d.id, occurredAt: d.recordedAt, version: d.version, environment: d.environment, result: d.result, via: d.via, ...(d.notes ? { notes: d.notes } : {}) }));
    });
  deploy
    .command('history')
    .description('print the newest deployments and the success rate per environment, as JSON')
    .option('--environment <environment>', 'only this environment')
    .option('--limit <n>', 'how many deployments (1-500)', '20')
    .action(async (opts: { environment?: string; limit: string }) => {
      const limit = Number(opts.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 500) throw new AppError('bad_request', `--limit: a whole number from 1 to 500: ${opts.limit}`);
      const environment = opts.environment === undefined ? undefined : DeploymentHistory.parse({ version: 'x', result: 'success', environment: opts.environment }, '--').environment;
      const out = await withHistory((h) => h.history({ environment, limit }));
      console.log(JSON.stringify(out, null, 2));
    });

  const gdpr = program.command('gdpr').description('data subject requests (runbook: GDPR Compliance Procedures)');
  gdpr
    .command('export')
    .description('print every piece of personal data kept about a user, as JSON')
    .requiredOption('--user-id <id>', 'the user id')
    .action(async (opts: { userId: string }) => {
      const out = await withPlatform((p) => p.orchestrator!.services.account.exportUser(opts.userId));
      console.log(JSON.stringify(out, null, 2));
    });
  gdpr
    .command('erase')
    .description('erase a user in every service (right to be forgotten)')
    .requiredOption('--user-id <id>', 'the user id')
    .option('--confirm', 'required: confirms the erasure')
    .action(async (opts: { userId: string; confirm?: boolean }) => {
      if (!opts.confirm) throw new AppError('bad_request', 'refusing to erase without --confirm');
      const out = await withPlatform((p) => p.orchestrator!.services.account.eraseUser(opts.userId, { actorId: null, ip: null }));
      console.log(JSON.stringify({ erased: out }));
    });

  program
    .command('retention')
    .description('data retention (runbook: automated_cleanup)')
    .command('run')
    .description('delete data past its retention period in every service')
    .action(async () => {
      const out = await withPlatform(async (p) => {
        const result: Record<string, number> = {};
        const now = p.ctx.clock.now();
        for (const instance of p.instances.values()) for (const rule of instance.retention ?? []) result[rule.name] = await rule.purge(now);
        result[p.events.retentionRule().name] = await p.events.retentionRule().purge(now);
        return result;
      });
      console.log(JSON.stringify({ purged: out }));
    });

  return program;
}

export async function main(argv = process.argv): Promise<void> {
  // Everything a command writes under the data folder (PGlite, DuckDB and ours) is the owner's alone.
  restrictUmask();
  try {
    await buildCli().parseAsync(argv);
  } catch (err) {
    if (err instanceof ConfigError || err instanceof StartupError || err instanceof MigrationError || err instanceof AppError) {
      console.error(`v01t: ${err.message}`);
    } else {
      console.error('v01t: unexpected error:', err);
    }
    process.exitCode = 1;
  }
}

void main();
export type { ServiceName };
