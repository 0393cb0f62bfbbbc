import { Command, Option } from 'commander';
import { ConfigError, SERVICE_NAMES, type Config, type ServiceName } from '../kernel/config/index.js';
import { loadPlatformConfig } from './config.js';
import { openDatabase } from '../kernel/db/database.js';
import { acquireDataDirLock, DataDirLockedError } from '../kernel/db/data-dir-lock.js';
import { MigrationError } from '../kernel/db/migrate.js';
import { DEPLOYMENT_RESULTS, DeploymentHistory } from '../services/ops/deployments.js';
import { AppError } from '../kernel/errors.js';
import { AdminSocketError, sendToServer } from './admin-socket.js';
import { runOperatorCommand, type CommandIo, type DataAccess, type OperatorArgs, type OperatorCommand, type OperatorRequest } from './operator-commands.js';
import { createPlatform, platformMigrationSets, StartupError, VERSION, availableModules } from './platform.js';
import { runServer } from './server.js';
import { restrictUmask } from '../kernel/private-fs.js';
import { asOperatorError, restoreBackup } from './backup.js';
import { readDataDirLock } from '../kernel/db/data-dir-lock.js';
import pino from 'pino';
import { loggerFor } from '../kernel/telemetry/logger.js';
import { GDPR_REQUEST_KINDS, GDPR_REQUEST_STATUSES } from '../services/orchestrator/gdpr-requests.repository.js';

function config(overrides: Partial<Record<string, string>> = {}): Config {
  return loadPlatformConfig({ ...process.env, ...overrides });
}

/** Output of a command run here or relayed from the server, with backpressure on stdout. */
const stdio: CommandIo = {
  out: (text) => (process.stdout.write(text) ? Promise.resolve() : new Promise((resolve) => process.stdout.once('drain', resolve))),
  err: (text) => void process.stderr.write(text),
  setExitCode: (code) => {
    process.exitCode = code;
  },
};

/**
 * The data folder opened by this process, for when no server runs on it. Embedded, the folder's
 * lock is taken first: a server starting meanwhile is refused, and one already running is named.
 */
function localAccess(cfg: Config, command: string): DataAccess {
  return {
    async database(fn) {
      const lock = !cfg.db.url && !cfg.db.ephemeral ? acquireDataDirLock(cfg.dataDir, command) : undefined;
      try {
        const db = await openDatabase({ url: cfg.db.url, dataDir: cfg.db.url ? undefined : `${cfg.dataDir}/pg`, ssl: cfg.db.ssl });
        try {
          const modules = Object.values(availableModules(() => new Map())).filter((m) => m !== undefined);
          return await fn(db, platformMigrationSets(modules));
        } finally {
          await db.close();
        }
      } finally {
        lock?.release();
      }
    },
    async platform(fn) {
      // The command's answer is standard output (JSON with --json): its platform logs (audit lines included) go to standard error.
      const p = await createPlatform({ config: cfg, command, logger: loggerFor(cfg.log, pino.destination({ dest: 2, sync: true })) });
      try {
        return await fn(p);
      } finally {
        await p.close();
      }
    },
  };
}

/**
 * Runs an operator command in the server that holds this data folder (over its admin socket), or,
 * when none runs, here on the data folder itself (ADR 0021).
 */
async function operate<C extends OperatorCommand>(command: C, args: OperatorArgs<C>, commandLine: string): Promise<void> {
  const cfg = config({ LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' });
  const request = { command, args } as OperatorRequest;
  if (await sendToServer(cfg.dataDir, request, stdio)) return;
  await runOperatorCommand(request, stdio, localAccess(cfg, commandLine));
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
      await runServer(config(), 'v01t start');
    });

  program
    .command('serve')
    .description('run the named services in this process (the distributed shape: one service per pod)')
    .argument('<service...>', `one or more of: ${SERVICE_NAMES.join(', ')}`)
    .action(async (services: string[]) => {
      await runServer(config({ V01T_SERVICES: services.join(',') }), `v01t serve ${services.join(' ')}`);
    });

  program
    .command('migrate')
    .description('apply pending database migrations (also done at start unless MIGRATE_ON_START=false)')
    .option('--status', 'only list pending migrations')
    .action(async (opts: { status?: boolean }) => {
      await operate('migrate', { status: Boolean(opts.status) }, 'v01t migrate');
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
      const password = opts.password ?? (opts.passwordStdin ? await readStdin() : undefined);
      // Without a password the command generates one and prints it.
      await operate('user.create', { email: opts.email, name: opts.name, admin: Boolean(opts.admin), ...(password ? { password } : {}) }, 'v01t user create');
    });

  user
    .command('reset-password')
    .description('mail the account a password-reset link (valid 1 h, single use) and print it')
    .requiredOption('--email <email>', 'the account email address')
    .action(async (opts: { email: string }) => {
      await operate('user.reset-password', { email: opts.email }, 'v01t user reset-password');
    });

  const mail = program.command('mail').description("the platform's own mail (password reset, verification, invitations; ADR 0040)");
  mail
    .command('list')
    .description('mails in the outbox, newest first, one JSON object a line (without SMTP_URL they stay here)')
    .addOption(new Option('--status <status>', 'only mails in this state').choices(['pending', 'sent', 'failed']))
    .option('--to <email>', 'only mails to this address')
    .option('--limit <n>', 'how many', '50')
    .action(async (opts: { status?: 'pending' | 'sent' | 'failed'; to?: string; limit: string }) => {
      await operate('mail.list', { ...(opts.status ? { status: opts.status } : {}), ...(opts.to ? { to: opts.to } : {}), limit: Number(opts.limit) }, 'v01t mail list');
    });
  mail
    .command('show')
    .description('one mail with its headers, text and HTML bodies, as JSON')
    .argument('<id>', 'the mail id (from mail list)')
    .action(async (id: string) => {
      await operate('mail.show', { id }, 'v01t mail show');
    });

  const audit = program.command('audit').description('the hash-chained audit log');
  audit
    .command('verify')
    .description('walk the chain and report the first broken link (exit 1 when broken)')
    .action(async () => {
      await operate('audit.verify', {}, 'v01t audit verify');
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
      await operate('audit.export', { from: from.toISOString(), to: to.toISOString(), ...(opts.action ? { action: opts.action } : {}) }, 'v01t audit export');
    });

  program
    .command('keys')
    .description('master key management (envelope encryption of stored secrets)')
    .command('rotate')
    .description('rewrap every stored data key under V01T_MASTER_KEY; old keys from V01T_MASTER_KEY_PREVIOUS must still be set (in the running server\'s environment when one runs)')
    .action(async () => {
      await operate('keys.rotate', {}, 'v01t keys rotate');
    });

  const deploy = program.command('deploy').description('deployment history (GET /v1/ops/deployments, the Operations dashboard, v01t_deployments_total)');
  // One implementation with POST/GET /v1/ops/deployments (src/services/ops/deployments.ts); the audit log is the store.
  deploy
    .command('record')
    .description('record a deployment in the audit log: its version, environment and result')
    .requiredOption('--version <version>', 'the deployed version or image tag')
    .requiredOption('--environment <environment>', 'e.g. production, production-green')
    .addOption(new Option('--result <result>', 'how it ended').choices([...DEPLOYMENT_RESULTS]).makeOptionMandatory())
    .option('--notes <text>', 'free text (ticket, reason)')
    .action(async (opts: { version: string; environment: string; result: (typeof DEPLOYMENT_RESULTS)[number]; notes?: string }) => {
      // Checked here too, so a bad flag fails before any data folder or server is touched.
      DeploymentHistory.parse({ version: opts.version, environment: opts.environment, result: opts.result }, '--');
      await operate('deploy.record', { version: opts.version, environment: opts.environment, result: opts.result, ...(opts.notes ? { notes: opts.notes } : {}) }, 'v01t deploy record');
    });
  deploy
    .command('history')
    .description('print the newest deployments and the success rate per environment, as JSON')
    .option('--environment <environment>', 'only this environment')
    .option('--limit <n>', 'how many deployments (1-500)', '20')
    .action(async (opts: { environment?: string; limit: string }) => {
      const limit = Number(opts.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 500) throw new AppError('bad_request', `--limit: a whole number from 1 to 500: ${opts.limit}`);
      if (opts.environment !== undefined) DeploymentHistory.parse({ version: 'x', result: 'success', environment: opts.environment }, '--');
      await operate('deploy.history', { limit, ...(opts.environment !== undefined ? { environment: opts.environment } : {}) }, 'v01t deploy history');
    });

  const gdpr = program.command('gdpr').description('data subject requests (runbook: GDPR Compliance Procedures)');
  gdpr
    .command('export')
    .description('print every piece of personal data kept about a user, as JSON; completes the access request given with --request, or records a completed one')
    .requiredOption('--user-id <id>', 'the user id')
    .option('--request <number>', 'the GDPR request this export answers (its number or id, from gdpr request list)')
    .action(async (opts: { userId: string; request?: string }) => {
      await operate('gdpr.export', { userId: opts.userId, ...(opts.request ? { request: opts.request } : {}) }, 'v01t gdpr export');
    });
  gdpr
    .command('erase')
    .description('erase a user in every service (right to be forgotten); completes the erasure request given with --request, or records a completed one')
    .requiredOption('--user-id <id>', 'the user id')
    .option('--request <number>', 'the GDPR request this erasure answers (its number or id, from gdpr request list)')
    .option('--confirm', 'required: confirms the erasure')
    .action(async (opts: { userId: string; request?: string; confirm?: boolean }) => {
      if (!opts.confirm) throw new AppError('bad_request', 'refusing to erase without --confirm');
      await operate('gdpr.erase', { userId: opts.userId, ...(opts.request ? { request: opts.request } : {}) }, 'v01t gdpr erase');
    });
  // The register of data subject requests (ADR 0064): due 30 days after receipt (GDPR art. 12(3)).
  const gdprRequest = gdpr.command('request').description('the register of data subject requests: record one received by email, list, complete, refuse (GET/POST /v1/admin/gdpr-requests)');
  gdprRequest
    .command('add')
    .description('record a request received outside the web app (an email); prints it as JSON with its due date')
    .addOption(new Option('--kind <kind>', 'what is asked (GDPR art. 15/20, 17, 16, 18, 21)').choices([...GDPR_REQUEST_KINDS]).makeOptionMandatory())
    .option('--user-id <id>', 'the account concerned')
    .option('--email <address>', 'the requester\'s address (matched to an account when one holds it)')
    .option('--details <text>', 'what was asked, in short')
    .option('--received <date>', 'when it arrived (YYYY-MM-DD or an ISO time; default now): the 30 days count from it')
    .action(async (opts: { kind: (typeof GDPR_REQUEST_KINDS)[number]; userId?: string; email?: string; details?: string; received?: string }) => {
      if (!opts.userId && !opts.email) throw new AppError('bad_request', '--user-id or --email: whose request it is');
      const receivedAt = opts.received ? parseAuditDate('--received', opts.received, false).toISOString() : undefined;
      await operate(
        'gdpr.request.add',
        { kind: opts.kind, ...(opts.userId ? { userId: opts.userId } : {}), ...(opts.email ? { email: opts.email } : {}), ...(opts.details ? { details: opts.details } : {}), ...(receivedAt ? { receivedAt } : {}) },
        'v01t gdpr request add',
      );
    });
  gdprRequest
    .command('list')
    .description('print requests as JSON lines: open ones by due date (default), overdue, or by status')
    .addOption(new Option('--status <status>', 'which requests').choices(['open', 'overdue', 'all', ...GDPR_REQUEST_STATUSES]).default('open'))
    .addOption(new Option('--kind <kind>', 'only this kind').choices([...GDPR_REQUEST_KINDS]))
    .option('--limit <n>', 'how many (1-1000)', '100')
    .action(async (opts: { status: 'open'; kind?: (typeof GDPR_REQUEST_KINDS)[number]; limit: string }) => {
      const limit = Number(opts.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new AppError('bad_request', `--limit: a whole number from 1 to 1000: ${opts.limit}`);
      await operate('gdpr.request.list', { status: opts.status, limit, ...(opts.kind ? { kind: opts.kind } : {}) }, 'v01t gdpr request list');
    });
  gdprRequest
    .command('start')
    .description('mark a received request in progress')
    .argument('<request>', 'its number (12 or #12) or id')
    .action(async (id: string) => {
      await operate('gdpr.request.start', { id }, 'v01t gdpr request start');
    });
  gdprRequest
    .command('complete')
    .description('mark a request completed (an export or erasure: run gdpr export|erase --request instead, which completes it)')
    .argument('<request>', 'its number (12 or #12) or id')
    .option('--resolution <text>', 'what was done')
    .action(async (id: string, opts: { resolution?: string }) => {
      await operate('gdpr.request.complete', { id, ...(opts.resolution ? { resolution: opts.resolution } : {}) }, 'v01t gdpr request complete');
    });
  gdprRequest
    .command('refuse')
    .description('refuse a request, with the reason given to the requester (GDPR art. 12(4))')
    .argument('<request>', 'its number (12 or #12) or id')
    .requiredOption('--reason <text>', 'why (e.g. identity not confirmed)')
    .action(async (id: string, opts: { reason: string }) => {
      await operate('gdpr.request.refuse', { id, reason: opts.reason }, 'v01t gdpr request refuse');
    });

  const sso = program.command('sso').description('OpenID Connect single sign-on providers (Keycloak, Authentik, ...; ADR 0042)');
  sso
    .command('add')
    .description('add a provider; register <V01T_PUBLIC_URL>/v1/auth/sso/<slug>/callback as its redirect URI')
    .requiredOption('--slug <slug>', 'short name in URLs (lowercase letters, digits, dashes)')
    .requiredOption('--name <name>', 'shown on the sign-in button: "Sign in with <name>"')
    .requiredOption('--issuer <url>', 'issuer URL (Keycloak: https://kc.example/realms/<realm>)')
    .requiredOption('--client-id <id>', 'the client id registered at the provider')
    .addOption(new Option('--client-secret-stdin', 'read the client secret from standard input').conflicts('clientSecret'))
    .option('--client-secret <secret>', 'the client secret (visible in the process list: prefer --client-secret-stdin)')
    .option('--scopes <scopes>', 'space- or comma-separated scopes', 'openid email profile')
    .option('--email-claim <claim>', 'claim holding the email address', 'email')
    .option('--name-claim <claim>', 'claim holding the display name', 'name')
    .option('--groups-claim <claim>', 'claim holding the groups (for --group-role)')
    .option('--group-role <group=workspaceId:role...>', 'members of group get role in the workspace, at every sign-in (repeatable)')
    .option('--jit', 'create accounts for verified addresses the instance does not know (just-in-time provisioning)')
    .option('--default-workspace <id>', 'a provisioned account joins this workspace')
    .option('--default-role <role>', 'its role there', 'viewer')
    .option('--disabled', 'add it switched off')
    .action(async (opts: { slug: string; name: string; issuer: string; clientId: string; clientSecretStdin?: boolean; clientSecret?: string; scopes: string; emailClaim: string; nameClaim: string; groupsClaim?: string; groupRole?: string[]; jit?: boolean; defaultWorkspace?: string; defaultRole: string; disabled?: boolean }) => {
      const clientSecret = opts.clientSecret ?? (opts.clientSecretStdin ? await readStdin() : undefined);
      if (!clientSecret) throw new AppError('bad_request', '--client-secret-stdin (or --client-secret) is required');
      const groupRoles = (opts.groupRole ?? []).map((spec) => {
        const m = /^(.+)=([0-9a-fA-F-]{36}):([a-z]+)$/.exec(spec);
        if (!m) throw new AppError('bad_request', `--group-role: expected group=workspaceId:role, got ${spec}`);
        return { group: m[1]!, workspaceId: m[2]!, role: m[3]! };
      });
      await operate(
        'sso.add',
        {
          slug: opts.slug,
          name: opts.name,
          issuerUrl: opts.issuer,
          clientId: opts.clientId,
          clientSecret,
          scopes: opts.scopes.split(/[\s,]+/).filter(Boolean),
          emailClaim: opts.emailClaim,
          nameClaim: opts.nameClaim,
          groupsClaim: opts.groupsClaim ?? null,
          groupRoles: groupRoles as never,
          jitEnabled: Boolean(opts.jit),
          defaultWorkspaceId: opts.defaultWorkspace ?? null,
          defaultRole: opts.defaultRole as never,
          enabled: !opts.disabled,
        },
        'v01t sso add',
      );
    });
  sso
    .command('list')
    .description('print the providers as JSON (never their client secrets)')
    .action(async () => {
      await operate('sso.list', {}, 'v01t sso list');
    });
  sso
    .command('remove')
    .description('remove a provider and the account links made through it')
    .argument('<provider>', 'its slug or id')
    .action(async (provider: string) => {
      await operate('sso.remove', { provider }, 'v01t sso remove');
    });

  const backup = program.command('backup').description('backups, restores and restore drills (docs/backup-and-recovery.md, ADR 0050)');
  backup
    .command('create')
    .description('back up everything the deployment stores to BACKUP_TARGET, encrypted (also while the server runs)')
    .option('--include-master-key', 'wrap the master key into the backup under a passphrase read from standard input (at least 12 characters)')
    .option('--json', 'print the new backup as JSON: {id, createdAt, bytes, kind, files}')
    .action(async (opts: { includeMasterKey?: boolean; json?: boolean }) => {
      const passphrase = opts.includeMasterKey ? await readStdin() : undefined;
      if (opts.includeMasterKey && !passphrase) throw new AppError('bad_request', '--include-master-key reads a passphrase from standard input: none was given');
      await operate('backup.create', { json: Boolean(opts.json), ...(passphrase !== undefined ? { masterKeyPassphrase: passphrase } : {}) }, 'v01t backup create');
    });
  backup
    .command('list')
    .description('the backups in BACKUP_TARGET, oldest first')
    .option('--json', 'print an array of {id, createdAt, bytes, kind}')
    .action(async (opts: { json?: boolean }) => {
      await operate('backup.list', { json: Boolean(opts.json) }, 'v01t backup list');
    });
  backup
    .command('verify')
    .description('decrypt every file of a backup and check its size and SHA-256 (exit 1 when anything is wrong)')
    .argument('[id]', 'the backup id, or latest', 'latest')
    .option('--json', 'print {id, ok, files, bytes}')
    .action(async (id: string, opts: { json?: boolean }) => {
      await operate('backup.verify', { id, json: Boolean(opts.json) }, 'v01t backup verify');
    });
  backup
    .command('restore')
    .description('restore a backup into V01T_DATA_DIR (embedded) or the configured empty database and stores (distributed); the server must be stopped')
    .argument('[id]', 'the backup id, or latest', 'latest')
    .option('--force', 'restore over existing data (embedded: it is moved to V01T_DATA_DIR/pre-restore-<time>; distributed: dropped)')
    .option('--passphrase-stdin', 'unwrap the master key kept in the backup (made with --include-master-key) with the passphrase from standard input')
    .option('--json', 'print the result as JSON')
    .action(async (id: string, opts: { force?: boolean; passphraseStdin?: boolean; json?: boolean }) => {
      const cfg = config({ LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' });
      const passphrase = opts.passphraseStdin ? await readStdin() : undefined;
      const embedded = !cfg.db.url;
      if (embedded && cfg.db.ephemeral) throw new AppError('bad_request', 'V01T_EPHEMERAL=true: there is no data folder to restore into');
      const holder = embedded ? readDataDirLock(cfg.dataDir) : undefined;
      if (holder) throw new AppError('conflict', `stop the v01t process ${holder.pid} (${holder.command}) using ${cfg.dataDir} before restoring into it`);
      const lock = embedded ? acquireDataDirLock(cfg.dataDir, 'v01t backup restore') : undefined;
      try {
        let last = 0;
        const r = await restoreBackup(cfg, id, {
          force: Boolean(opts.force),
          passphrase,
          log: (line) => void (opts.json ? undefined : process.stderr.write(line)),
          progress: (done, total) => {
            if (opts.json || Date.now() - last < 250) return;
            last = Date.now();
            process.stderr.write(`\rverified ${(done / 1048576).toFixed(1)} of ${((total ?? 0) / 1048576).toFixed(1)} MB`);
          },
        })
          .catch((err: unknown) => {
            throw asOperatorError(err);
          })
          .finally(() => {
            if (last) process.stderr.write('\n');
          });
        await stdio.out(
          opts.json
            ? `${JSON.stringify(r)}\n`
            : `restored backup ${r.id} (${r.createdAt}, ${r.files} files)${r.masterKeyRestored ? '; master key written to the data folder' : ''}${r.movedAside ? `; the previous data is in ${r.movedAside}` : ''}\nstart v01t to serve it\n`,
        );
      } finally {
        lock?.release();
      }
    });
  backup
    .command('prune')
    .description('delete backups outside the grandfather-father-son set (BACKUP_KEEP_DAILY/WEEKLY/MONTHLY: 7/4/12)')
    .option('--dry-run', 'only list what would be deleted')
    .option('--json', 'print {kept, pruned, dryRun}')
    .action(async (opts: { dryRun?: boolean; json?: boolean }) => {
      await operate('backup.prune', { dryRun: Boolean(opts.dryRun), json: Boolean(opts.json) }, 'v01t backup prune');
    });
  backup
    .command('drill')
    .description('restore drill: restore a backup (the newest by default) into a scratch folder or database, boot on it, compare, record RTO and RPO')
    .argument('[id]', 'the backup id, or latest', 'latest')
    .option('--json', 'print the drill result as JSON')
    .action(async (id: string, opts: { json?: boolean }) => {
      await operate('backup.drill', { id, json: Boolean(opts.json) }, 'v01t backup drill');
    });

  program
    .command('retention')
    .description('data retention (runbook: automated_cleanup)')
    .command('run')
    .description('delete data past its retention period in every service')
    .action(async () => {
      await operate('retention.run', {}, 'v01t retention run');
    });

  program
    .command('db')
    .description('the database as an operator reads it when it slows (runbook: Database Performance Optimization)')
    .command('report')
    .description('top statements (pg_stat_statements) by total and mean time, tables by dead tuples with seq vs index scans, unused indexes, connections vs max_connections')
    .option('--limit <n>', 'rows per section (1-100)', '10')
    .option('--json', 'print the report as JSON (the same document as GET /v1/ops/db/report)')
    .action(async (opts: { limit: string; json?: boolean }) => {
      const limit = Number(opts.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 100) throw new AppError('bad_request', `--limit: a whole number from 1 to 100: ${opts.limit}`);
      await operate('db.report', { limit, json: Boolean(opts.json) }, 'v01t db report');
    });

  return program;
}

/** A connection-level failure to PostgreSQL (network, authentication, TLS), as node-postgres reports it. */
function databaseUnreachable(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  if (typeof code !== 'string') return /self-signed|certificate|SSL|TLS/i.test((err as Error)?.message ?? '');
  return /^(ECONNREFUSED|ECONNRESET|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|EHOSTUNREACH|28000|28P01|08\w{3}|57P03|3D000)$/.test(code) || /^ERR_TLS|^ERR_SSL|CERT|DEPTH_ZERO/.test(code);
}

export async function main(argv = process.argv): Promise<void> {
  // Everything a command writes under the data folder (PGlite, DuckDB and ours) is the owner's alone.
  restrictUmask();
  try {
    await buildCli().parseAsync(argv);
  } catch (err) {
    if (err instanceof ConfigError || err instanceof StartupError || err instanceof MigrationError || err instanceof AppError || err instanceof DataDirLockedError || err instanceof AdminSocketError) {
      console.error(`v01t: ${err.message}`);
    } else if (databaseUnreachable(err)) {
      // The server down, refused or refusing us (pg_hba.conf, TLS): say so, without a stack trace.
      console.error(`v01t: the database cannot be reached or refused the connection: ${(err as Error).message} (check DATABASE_URL and DATABASE_SSL_*)`);
    } else {
      console.error('v01t: unexpected error:', err);
    }
    process.exitCode = 1;
  }
}

void main();
export type { ServiceName };
