import { sql, type SQL } from 'drizzle-orm';
import type { Db, DbExecutor } from '../../kernel/db/database.js';
import { rowsOf } from '../../kernel/db/rows.js';
import { asJsonb } from '../../kernel/db/jsonb.js';
import type { Definition } from './definition.js';

export const RUN_STATUSES = ['queued', 'running', 'waiting', 'succeeded', 'failed', 'cancelled', 'timed_out'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];
/** How a run can start (the runs list filters on it); service = started by another service through the contract. */
export const RUN_TRIGGERS = ['manual', 'schedule', 'event', 'webhook', 'service'] as const;

export interface RunListQuery {
  workspaceId: string;
  workflowId?: string;
  status?: string;
  trigger?: string;
  /** Created at or after. */
  from?: string;
  /** Created before. */
  to?: string;
  awaiting?: 'approval';
  before?: { createdAt: string; id: string };
  limit: number;
}
export const TERMINAL: ReadonlySet<RunStatus> = new Set(['succeeded', 'failed', 'cancelled', 'timed_out']);

// Both drivers (pg, PGlite) hand jsonb back parsed: a string here is a JSON string value.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const json = (v: unknown): any => v;
const iso = (v: Date | string | null) => (v === null ? null : new Date(v).toISOString());

export interface WorkflowRow {
  id: string;
  workspaceId: string;
  name: string;
  enabled: boolean;
  currentVersion: number;
  triggerType: string;
  triggerEvent: string | null;
  hasWebhookSecret: boolean;
  createdAt: string;
  updatedAt: string;
}

export interface Wait {
  /** A wait step's type (delay, approval), `retry` (backoff, or the same attempt later) or `concurrency` (held back by a limit). */
  kind: string;
  stepId: string;
  until: string;
  decision?: { approved: boolean; by: string | null; comment: string | null; at: string };
}

export interface RunRow {
  id: string;
  workspaceId: string;
  workflowId: string;
  version: number;
  status: RunStatus;
  trigger: string;
  input: unknown;
  outputs: Record<string, unknown>;
  output: unknown;
  currentStep: string | null;
  stepAttempt: number;
  wait: Wait | null;
  error: string | null;
  idempotencyKey: string | null;
  takeovers: number;
  createdBy: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  deadlineAt: string | null;
  /** What started the run beyond its trigger type (for an event trigger: the event's id, name and time). */
  triggerRef: Record<string, unknown> | null;
  /** How many event-triggered runs led to this one (0 for a run not started by a workflow's own event). */
  chainDepth: number;
}

/** A step attempt as the executor writes it. */
export interface NewAttempt {
  id: string;
  stepId: string;
  stepType: string;
  attempt: number;
  status: string;
  key: string;
  input: unknown;
  output: unknown;
  error: string | null;
  startedAt: Date;
  finishedAt: Date | null;
}

export interface AttemptRow {
  id: string;
  stepId: string;
  stepType: string;
  attempt: number;
  status: string;
  idempotencyKey: string;
  input: unknown;
  output: unknown;
  error: string | null;
  startedAt: string;
  finishedAt: string | null;
}

/* eslint-disable @typescript-eslint/no-explicit-any */
const toWorkflow = (r: any): WorkflowRow => ({
  id: r.id,
  workspaceId: r.workspace_id,
  name: r.name,
  enabled: r.enabled,
  currentVersion: Number(r.current_version),
  triggerType: r.trigger_type,
  triggerEvent: r.trigger_event,
  hasWebhookSecret: Boolean(r.webhook_secret_enc),
  createdAt: iso(r.created_at)!,
  updatedAt: iso(r.updated_at)!,
});

/**
 * A run insertFinishedRuns wrote, as `SELECT *` would read it back, from what it inserted: the
 * workflow, workspace and version are the run's (the insert's join requires them), status
 * succeeded, no current step, wait, error, takeovers, trigger ref or chain depth (the insert sets
 * none). `output` is the row's, as the database returned it; `outputs` is normalized as jsonb
 * stores it (asJsonb, like the run's input), and the timestamps are the ISO strings inserted.
 */
function finishedRun(r: { run: RunRow; outputs: Record<string, unknown>; stepAttempt: number; startedAt: Date; deadlineAt: Date | null; finishedAt: Date }, output: unknown): RunRow {
  return {
    ...r.run,
    status: 'succeeded',
    outputs: asJsonb(r.outputs),
    output: json(output),
    currentStep: null,
    stepAttempt: r.stepAttempt,
    wait: null,
    error: null,
    takeovers: 0,
    startedAt: r.startedAt.toISOString(),
    finishedAt: r.finishedAt.toISOString(),
    deadlineAt: r.deadlineAt ? r.deadlineAt.toISOString() : null,
    triggerRef: null,
    chainDepth: 0,
  };
}

export const toRun = (r: any): RunRow => ({
  id: r.id,
  workspaceId: r.workspace_id,
  workflowId: r.workflow_id,
  version: Number(r.version),
  status: r.status,
  trigger: r.trigger,
  input: json(r.input),
  outputs: json(r.outputs) ?? {},
  output: json(r.output),
  currentStep: r.current_step,
  stepAttempt: Number(r.step_attempt),
  wait: json(r.wait),
  error: r.error,
  idempotencyKey: r.idempotency_key,
  takeovers: Number(r.takeovers),
  createdBy: r.created_by,
  createdAt: iso(r.created_at)!,
  startedAt: iso(r.started_at),
  finishedAt: iso(r.finished_at),
  deadlineAt: iso(r.deadline_at),
  triggerRef: json(r.trigger_ref) ?? null,
  chainDepth: Number(r.chain_depth ?? 0),
});

const toAttempt = (r: any): AttemptRow => ({
  id: r.id,
  stepId: r.step_id,
  stepType: r.step_type,
  attempt: Number(r.attempt),
  status: r.status,
  idempotencyKey: r.idempotency_key,
  input: json(r.input),
  output: json(r.output),
  error: r.error,
  startedAt: iso(r.started_at)!,
  finishedAt: iso(r.finished_at),
});
/* eslint-enable @typescript-eslint/no-explicit-any */

/**
 * What a start read from a cache must still find in the same statement that inserts the run: the
 * workflow still answers to this webhook token hash and is still at this version (so the cached
 * secret, respond mode and token are current; disabled or deleted is checked for every start).
 */
export interface StartGuard {
  tokenHash: string;
  version: number;
}

/** Step attempts as the one JSON parameter the attempt inserts read (json_to_recordset column names). */
function attemptRowsJson(attempts: (NewAttempt & { runId: string })[]): string {
  return JSON.stringify(
    attempts.map((a) => ({
      id: a.id,
      run_id: a.runId,
      step_id: a.stepId,
      step_type: a.stepType,
      attempt: a.attempt,
      status: a.status,
      key: a.key,
      input: a.input ?? null,
      output: a.output ?? null,
      error: a.error,
      started_at: a.startedAt.toISOString(),
      finished_at: a.finishedAt ? a.finishedAt.toISOString() : null,
    })),
  );
}

export class WorkflowRepository {
  constructor(private readonly db: Db) {}

  async insertWorkflow(
    w: { id: string; workspaceId: string; name: string; triggerType: string; triggerEvent: string | null; webhookTokenHash: string | null; webhookSecretEnc: string | null; createdBy: string | null; now: Date; definition: Definition },
    ex: DbExecutor = this.db,
  ): Promise<void> {
    const now = w.now.toISOString();
    await ex.execute(sql`INSERT INTO workflow.workflows (id, workspace_id, name, current_version, trigger_type, trigger_event, webhook_token_hash, webhook_secret_enc, created_by, created_at, updated_at)
      VALUES (${w.id}, ${w.workspaceId}, ${w.name}, 1, ${w.triggerType}, ${w.triggerEvent}, ${w.webhookTokenHash}, ${w.webhookSecretEnc}, ${w.createdBy}, ${now}, ${now})`);
    await ex.execute(sql`INSERT INTO workflow.versions (workflow_id, version, definition, created_by, created_at) VALUES (${w.id}, 1, ${JSON.stringify(w.definition)}::jsonb, ${w.createdBy}, ${now})`);
  }

  async addVersion(workflowId: string, definition: Definition, by: string | null, now: Date, trigger: { type: string; event: string | null }, ex: DbExecutor): Promise<number> {
    const [r] = rowsOf<{ v: number }>(
      await ex.execute(sql`UPDATE workflow.workflows SET current_version = current_version + 1, name = ${definition.name}, trigger_type = ${trigger.type},
        trigger_event = ${trigger.event}, updated_at = ${now.toISOString()} WHERE id = ${workflowId} RETURNING current_version AS v`),
    );
    const v = Number(r!.v);
    await ex.execute(sql`INSERT INTO workflow.versions (workflow_id, version, definition, created_by, created_at) VALUES (${workflowId}, ${v}, ${JSON.stringify(definition)}::jsonb, ${by}, ${now.toISOString()})`);
    return v;
  }

  async setWebhook(workflowId: string, tokenHash: string | null, secretEnc: string | null, ex: DbExecutor = this.db): Promise<void> {
    await ex.execute(sql`UPDATE workflow.workflows SET webhook_token_hash = ${tokenHash}, webhook_secret_enc = ${secretEnc} WHERE id = ${workflowId}`);
  }

  async getWorkflow(workspaceId: string, id: string, ex: DbExecutor = this.db): Promise<WorkflowRow | null> {
    const rows = rowsOf(await ex.execute(sql`SELECT * FROM workflow.workflows WHERE id = ${id} AND workspace_id = ${workspaceId} AND deleted_at IS NULL`));
    return rows[0] ? toWorkflow(rows[0]) : null;
  }

  async workflowByWebhook(tokenHash: string): Promise<(WorkflowRow & { webhookSecretEnc: string | null }) | null> {
    const rows = rowsOf<Record<string, unknown>>(await this.db.execute(sql`SELECT * FROM workflow.workflows WHERE webhook_token_hash = ${tokenHash} AND deleted_at IS NULL`));
    return rows[0] ? { ...toWorkflow(rows[0]), webhookSecretEnc: rows[0].webhook_secret_enc as string | null } : null;
  }

  async listWorkflows(workspaceId: string): Promise<WorkflowRow[]> {
    return rowsOf(await this.db.execute(sql`SELECT * FROM workflow.workflows WHERE workspace_id = ${workspaceId} AND deleted_at IS NULL ORDER BY created_at DESC LIMIT 500`)).map(toWorkflow);
  }

  async listByTrigger(type: string, event?: string, ex: DbExecutor = this.db): Promise<WorkflowRow[]> {
    const cond = event ? sql`AND trigger_event = ${event}` : sql``;
    return rowsOf(await ex.execute(sql`SELECT * FROM workflow.workflows WHERE trigger_type = ${type} ${cond} AND enabled AND deleted_at IS NULL`)).map(toWorkflow);
  }

  /** Enabled workflows of the workspace whose current trigger is the event `name` (read in the delivery transaction). */
  async eventWorkflows(workspaceId: string, name: string, ex: DbExecutor): Promise<WorkflowRow[]> {
    return rowsOf(
      await ex.execute(sql`SELECT * FROM workflow.workflows WHERE workspace_id = ${workspaceId} AND trigger_type = 'event' AND trigger_event = ${name} AND enabled AND deleted_at IS NULL`),
    ).map(toWorkflow);
  }

  /** eventWorkflows for several (workspace, event name) pairs in one statement (a delivery batch's). */
  async eventWorkflowsOf(pairs: { workspaceId: string; name: string }[], ex: DbExecutor): Promise<WorkflowRow[]> {
    if (!pairs.length) return [];
    const keys = JSON.stringify(pairs.map((p) => ({ w: p.workspaceId, n: p.name })));
    return rowsOf(
      await ex.execute(
        sql`SELECT w.* FROM workflow.workflows w JOIN jsonb_to_recordset(${keys}::jsonb) AS k(w uuid, n text) ON w.workspace_id = k.w AND w.trigger_event = k.n
            WHERE w.trigger_type = 'event' AND w.enabled AND w.deleted_at IS NULL`,
      ),
    ).map(toWorkflow);
  }

  async setEnabled(workspaceId: string, id: string, enabled: boolean, now: Date): Promise<boolean> {
    const r = rowsOf(await this.db.execute(sql`UPDATE workflow.workflows SET enabled = ${enabled}, updated_at = ${now.toISOString()} WHERE id = ${id} AND workspace_id = ${workspaceId} AND deleted_at IS NULL RETURNING id`));
    return r.length > 0;
  }

  async softDelete(workspaceId: string, id: string, now: Date): Promise<boolean> {
    const r = rowsOf(
      await this.db.execute(sql`UPDATE workflow.workflows SET deleted_at = ${now.toISOString()}, enabled = false, webhook_token_hash = NULL WHERE id = ${id} AND workspace_id = ${workspaceId} AND deleted_at IS NULL RETURNING id`),
    );
    return r.length > 0;
  }

  async versions(workflowId: string): Promise<{ version: number; createdAt: string; createdBy: string | null; definition: Definition }[]> {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    return rowsOf<any>(await this.db.execute(sql`SELECT * FROM workflow.versions WHERE workflow_id = ${workflowId} ORDER BY version DESC`)).map((r) => ({
      version: Number(r.version),
      createdAt: iso(r.created_at)!,
      createdBy: r.created_by,
      definition: json(r.definition),
    }));
  }

  async definition(workflowId: string, version: number, ex: DbExecutor = this.db): Promise<Definition | null> {
    const rows = rowsOf<{ definition: unknown }>(await ex.execute(sql`SELECT definition FROM workflow.versions WHERE workflow_id = ${workflowId} AND version = ${version}`));
    return rows[0] ? (json(rows[0].definition) as Definition) : null;
  }

  /**
   * Inserts a queued run of an enabled, not deleted workflow of the workspace, pinned to its current
   * version; or returns the existing run with the same idempotency key. Null when the workflow is
   * missing, of another workspace, deleted or disabled (the caller tells which).
   */
  async insertRun(
    r: {
      id: string;
      workspaceId: string;
      workflowId: string;
      trigger: string;
      input: unknown;
      idempotencyKey: string | null;
      createdBy: string | null;
      now: Date;
      triggerRef?: Record<string, unknown> | null;
      chainDepth?: number;
      guard?: StartGuard | null;
    },
    ex: DbExecutor,
  ): Promise<{ run: RunRow; created: boolean } | null> {
    const now = r.now.toISOString();
    const ref = r.triggerRef ? JSON.stringify(r.triggerRef) : null;
    const guard = r.guard ? sql`AND w.webhook_token_hash = ${r.guard.tokenHash} AND w.current_version = ${r.guard.version}` : sql``;
    const inserted = rowsOf(
      await ex.execute(sql`INSERT INTO workflow.runs (id, workspace_id, workflow_id, version, status, trigger, input, idempotency_key, created_by, created_at, updated_at, trigger_ref, chain_depth)
        SELECT ${r.id}, w.workspace_id, w.id, w.current_version, 'queued', ${r.trigger}, ${JSON.stringify(r.input ?? {})}::jsonb, ${r.idempotencyKey}, ${r.createdBy}, ${now}, ${now}, ${ref}::jsonb, ${r.chainDepth ?? 0}
        FROM workflow.workflows w WHERE w.id = ${r.workflowId} AND w.workspace_id = ${r.workspaceId} AND w.enabled AND w.deleted_at IS NULL ${guard}
        ON CONFLICT (workflow_id, idempotency_key) DO NOTHING RETURNING *`),
    );
    if (inserted[0]) return { run: toRun(inserted[0]), created: true };
    if (r.idempotencyKey === null) return null;
    const existing = rowsOf(
      await ex.execute(sql`SELECT r.* FROM workflow.runs r JOIN workflow.workflows w ON w.id = r.workflow_id
        WHERE r.workflow_id = ${r.workflowId} AND r.workspace_id = ${r.workspaceId} AND r.idempotency_key = ${r.idempotencyKey} AND w.enabled AND w.deleted_at IS NULL ${guard}`),
    );
    return existing[0] ? { run: toRun(existing[0]), created: false } : null;
  }

  /**
   * insertRun for many starts in one statement (the API's group commit): each row is inserted only
   * for an enabled, not deleted workflow of its workspace, at its current version; a row whose
   * idempotency key exists already (or repeats one earlier in the batch) is skipped. Returns the
   * rows inserted; the caller settles the others one by one with insertRun. A start with a `guard`
   * (a webhook start from a cached token lookup) is inserted only while the workflow still has that
   * token and that current version.
   */
  async insertRuns(
    rs: { id: string; workspaceId: string; workflowId: string; trigger: string; input: unknown; idempotencyKey: string | null; createdBy: string | null; now: Date; guard?: StartGuard | null }[],
    ex: DbExecutor,
  ): Promise<RunRow[]> {
    if (!rs.length) return [];
    const rows = JSON.stringify(
      rs.map((r, i) => ({
        ord: i,
        id: r.id,
        workspace_id: r.workspaceId,
        workflow_id: r.workflowId,
        trigger: r.trigger,
        input: r.input ?? {},
        idempotency_key: r.idempotencyKey,
        created_by: r.createdBy,
        at: r.now.toISOString(),
        token_hash: r.guard?.tokenHash ?? null,
        version: r.guard?.version ?? null,
      })),
    );
    return rowsOf(
      await ex.execute(sql`INSERT INTO workflow.runs (id, workspace_id, workflow_id, version, status, trigger, input, idempotency_key, created_by, created_at, updated_at, chain_depth)
        SELECT v.id, w.workspace_id, w.id, w.current_version, 'queued', v.trigger, v.input, v.idempotency_key, v.created_by, v.at, v.at, 0
        FROM jsonb_to_recordset(${rows}::jsonb) AS v(ord int, id uuid, workspace_id uuid, workflow_id uuid, trigger text, input jsonb, idempotency_key text, created_by uuid, at timestamptz, token_hash text, version int)
        JOIN workflow.workflows w ON w.id = v.workflow_id AND w.workspace_id = v.workspace_id AND w.enabled AND w.deleted_at IS NULL
          AND (v.token_hash IS NULL OR (w.webhook_token_hash = v.token_hash AND w.current_version = v.version))
        ORDER BY v.ord
        ON CONFLICT (workflow_id, idempotency_key) DO NOTHING RETURNING *`),
    ).map(toRun);
  }

  /**
   * Inserts runs already finished (ADR 0077: a webhook that waits for the result of pure steps,
   * computed before its insert), with their attempts and their events, in one statement: outside a
   * transaction it commits on its own, so the answer costs one round trip and one commit. A row is
   * inserted only for an enabled, not deleted workflow of its workspace still at the version it was
   * computed for (and, with `tokenHash`, still answering to that webhook token); a row whose
   * idempotency key exists already (or repeats one earlier in the batch) is skipped, and so are its
   * attempts and events. `events(runIds)` is the outbox INSERT (the event backbone's insertWithin)
   * limited to the run ids that SQL yields. Returns the runs as written: the statement returns only
   * each row's id and `output` (the answer's bytes, as jsonb gives them back); the rest is what was
   * inserted (finishedRun), not 25 columns parsed per run (ADR 0099).
   */
  async insertFinishedRuns(
    rs: { run: RunRow; tokenHash: string | null; outputs: Record<string, unknown>; output: unknown; stepAttempt: number; startedAt: Date; deadlineAt: Date | null; finishedAt: Date }[],
    attempts: (NewAttempt & { runId: string })[],
    events: (runIds: SQL) => SQL,
    ex: DbExecutor = this.db,
  ): Promise<RunRow[]> {
    if (!rs.length) return [];
    const runs = JSON.stringify(
      rs.map((r, i) => ({
        ord: i,
        id: r.run.id,
        workspace_id: r.run.workspaceId,
        workflow_id: r.run.workflowId,
        version: r.run.version,
        trigger: r.run.trigger,
        input: r.run.input ?? {},
        outputs: r.outputs,
        output: r.output ?? null,
        step_attempt: r.stepAttempt,
        idempotency_key: r.run.idempotencyKey,
        created_by: r.run.createdBy,
        created_at: r.run.createdAt,
        started_at: r.startedAt.toISOString(),
        deadline_at: r.deadlineAt ? r.deadlineAt.toISOString() : null,
        finished_at: r.finishedAt.toISOString(),
        token_hash: r.tokenHash,
      })),
    );
    const steps = attemptRowsJson(attempts);
    const written = rowsOf<{ id: string; output: unknown }>(
      await ex.execute(sql`WITH r AS (
          INSERT INTO workflow.runs (id, workspace_id, workflow_id, version, status, trigger, input, outputs, output, step_attempt, idempotency_key, created_by, created_at, started_at, deadline_at, finished_at, updated_at, chain_depth)
          SELECT v.id, w.workspace_id, w.id, w.current_version, 'succeeded', v.trigger, v.input, v.outputs, v.output, v.step_attempt, v.idempotency_key, v.created_by, v.created_at, v.started_at, v.deadline_at, v.finished_at, v.finished_at, 0
          FROM jsonb_to_recordset(${runs}::jsonb) AS v(ord int, id uuid, workspace_id uuid, workflow_id uuid, version int, trigger text, input jsonb, outputs jsonb, output jsonb, step_attempt int, idempotency_key text,
            created_by uuid, created_at timestamptz, started_at timestamptz, deadline_at timestamptz, finished_at timestamptz, token_hash text)
          JOIN workflow.workflows w ON w.id = v.workflow_id AND w.workspace_id = v.workspace_id AND w.enabled AND w.deleted_at IS NULL AND w.current_version = v.version
            AND (v.token_hash IS NULL OR w.webhook_token_hash = v.token_hash)
          ORDER BY v.ord
          ON CONFLICT (workflow_id, idempotency_key) DO NOTHING RETURNING id, output
        ), a AS (
          INSERT INTO workflow.step_attempts (id, run_id, step_id, step_type, attempt, status, idempotency_key, input, output, error, started_at, finished_at)
          SELECT (e.doc->>'id')::uuid, (e.doc->>'run_id')::uuid, e.doc->>'step_id', e.doc->>'step_type', (e.doc->>'attempt')::int, e.doc->>'status', e.doc->>'key',
            e.doc->'input', e.doc->'output', e.doc->>'error', (e.doc->>'started_at')::timestamptz, (e.doc->>'finished_at')::timestamptz
          FROM jsonb_array_elements(${steps}::jsonb) AS e(doc) WHERE (e.doc->>'run_id')::uuid IN (SELECT id FROM r)
        ), o AS (${events(sql`SELECT id::text FROM r`)})
        SELECT id, output FROM r`),
    );
    const byId = new Map(rs.map((r) => [r.run.id, r]));
    return written.map((w) => finishedRun(byId.get(w.id)!, w.output));
  }

  async runsByIds(ids: string[], ex: DbExecutor = this.db): Promise<RunRow[]> {
    if (!ids.length) return [];
    return rowsOf(await ex.execute(sql`SELECT * FROM workflow.runs WHERE id = ANY(string_to_array(${ids.join(',')}, ',')::uuid[])`)).map(toRun);
  }

  /**
   * Finishes many fresh runs computed in memory from start to end (Executor.advanceMany), in one
   * statement that is also their claim: a run is written only while still queued and leased by
   * nobody, so a run another worker (or a cancellation) got to first is left alone. Returns the ids
   * written; only their attempts and events may be written after it.
   */
  async finishFresh(
    rs: { id: string; status: RunStatus; outputs: Record<string, unknown>; output: unknown; stepAttempt: number; startedAt: Date; deadlineAt: Date | null; finishedAt: Date }[],
    ex: DbExecutor,
    /** When given, receives the runs as written (RETURNING the whole row instead of the id). */
    stored?: Map<string, RunRow>,
  ): Promise<Set<string>> {
    if (!rs.length) return new Set();
    const rows = JSON.stringify(
      rs.map((r) => ({
        id: r.id,
        status: r.status,
        outputs: r.outputs,
        output: r.output ?? null,
        step_attempt: r.stepAttempt,
        started_at: r.startedAt.toISOString(),
        deadline_at: r.deadlineAt ? r.deadlineAt.toISOString() : null,
        finished_at: r.finishedAt.toISOString(),
      })),
    );
    const written = rowsOf<{ id: string }>(
      await ex.execute(sql`UPDATE workflow.runs r SET status = v.status, outputs = v.outputs, output = v.output, current_step = NULL, step_attempt = v.step_attempt,
          wait = NULL, error = NULL, started_at = v.started_at, deadline_at = v.deadline_at, finished_at = v.finished_at, updated_at = v.finished_at,
          lease_owner = NULL, lease_until = NULL
        FROM jsonb_to_recordset(${rows}::jsonb) AS v(id uuid, status text, outputs jsonb, output jsonb, step_attempt int, started_at timestamptz, deadline_at timestamptz, finished_at timestamptz)
        WHERE r.id = v.id AND r.status = 'queued' AND r.lease_owner IS NULL RETURNING ${stored ? sql`r.*` : sql`r.id`}`),
    );
    if (stored) for (const r of written) stored.set(r.id, toRun(r as never));
    return new Set(written.map((r) => r.id));
  }

  async getRun(workspaceId: string, id: string, ex: DbExecutor = this.db): Promise<RunRow | null> {
    const rows = rowsOf(await ex.execute(sql`SELECT * FROM workflow.runs WHERE id = ${id} AND workspace_id = ${workspaceId}`));
    return rows[0] ? toRun(rows[0]) : null;
  }

  async runById(id: string, ex: DbExecutor = this.db): Promise<RunRow | null> {
    const rows = rowsOf(await ex.execute(sql`SELECT * FROM workflow.runs WHERE id = ${id}`));
    return rows[0] ? toRun(rows[0]) : null;
  }

  async listRuns(q: RunListQuery): Promise<RunRow[]> {
    const conds: SQL[] = [sql`workspace_id = ${q.workspaceId}`];
    if (q.workflowId) conds.push(sql`workflow_id = ${q.workflowId}`);
    if (q.status) conds.push(sql`status = ${q.status}`);
    if (q.trigger) conds.push(sql`trigger = ${q.trigger}`);
    if (q.from) conds.push(sql`created_at >= ${q.from}::timestamptz`);
    if (q.to) conds.push(sql`created_at < ${q.to}::timestamptz`);
    if (q.awaiting === 'approval') conds.push(sql`status = 'waiting' AND wait->>'kind' = 'approval' AND NOT (wait ? 'decision')`);
    if (q.before) conds.push(sql`(created_at, id) < (${q.before.createdAt}::timestamptz, ${q.before.id}::uuid)`);
    return rowsOf(await this.db.execute(sql`SELECT * FROM workflow.runs WHERE ${sql.join(conds, sql` AND `)} ORDER BY created_at DESC, id DESC LIMIT ${q.limit}`)).map(toRun);
  }

  async attempts(runId: string): Promise<AttemptRow[]> {
    return rowsOf(await this.db.execute(sql`SELECT * FROM workflow.step_attempts WHERE run_id = ${runId} ORDER BY started_at, attempt`)).map(toAttempt);
  }

  /**
   * Claims the run for this worker (lease), or returns null while another live worker holds it.
   * A lease that ran out means its worker died: the claim counts a takeover.
   */
  async claim(runId: string, owner: string, now: Date, leaseMs: number): Promise<{ run: RunRow; takeover: boolean } | null> {
    const until = new Date(now.getTime() + leaseMs).toISOString();
    const rows = rowsOf<Record<string, unknown>>(
      await this.db.execute(sql`
        UPDATE workflow.runs r SET lease_owner = ${owner}, lease_until = ${until},
          takeovers = r.takeovers + CASE WHEN r.lease_owner IS NOT NULL AND r.lease_owner <> ${owner} THEN 1 ELSE 0 END
        FROM (SELECT lease_owner AS prev_owner FROM workflow.runs WHERE id = ${runId} FOR UPDATE) prev
        WHERE r.id = ${runId} AND (r.lease_owner IS NULL OR r.lease_owner = ${owner} OR r.lease_until < ${now.toISOString()})
        RETURNING r.*, prev.prev_owner`),
    );
    if (!rows[0]) return null;
    return { run: toRun(rows[0]), takeover: rows[0].prev_owner !== null && rows[0].prev_owner !== owner };
  }

  async renew(runId: string, owner: string, now: Date, leaseMs: number): Promise<boolean> {
    const r = rowsOf(
      await this.db.execute(sql`UPDATE workflow.runs SET lease_until = ${new Date(now.getTime() + leaseMs).toISOString()} WHERE id = ${runId} AND lease_owner = ${owner} RETURNING id`),
    );
    return r.length > 0;
  }

  async release(runId: string, owner: string, ex: DbExecutor = this.db): Promise<void> {
    await ex.execute(sql`UPDATE workflow.runs SET lease_owner = NULL, lease_until = NULL WHERE id = ${runId} AND lease_owner = ${owner}`);
  }

  /** Runs whose worker's lease ran out while they were running (the worker died). */
  async orphaned(now: Date, limit = 100): Promise<string[]> {
    return rowsOf<{ id: string }>(
      await this.db.execute(sql`SELECT id FROM workflow.runs WHERE lease_until < ${now.toISOString()} AND status IN ('queued', 'running', 'waiting') ORDER BY lease_until LIMIT ${limit}`),
    ).map((r) => r.id);
  }

  /**
   * Writes the run's position or outcome. Only while the run is queued, running or waiting (a run
   * cancelled meanwhile is never brought back or overwritten) unless `reopen` (the retry API);
   * returns false when the run had already finished.
   */
  async updateRun(
    id: string,
    patch: Partial<{ status: RunStatus; outputs: Record<string, unknown>; output: unknown; currentStep: string | null; stepAttempt: number; wait: Wait | null; error: string | null; startedAt: Date; finishedAt: Date; deadlineAt: Date | null }>,
    now: Date,
    ex: DbExecutor,
    opts: { reopen?: boolean } = {},
  ): Promise<boolean> {
    const sets: SQL[] = [sql`updated_at = ${now.toISOString()}`];
    if (patch.status !== undefined) sets.push(sql`status = ${patch.status}`);
    if (patch.outputs !== undefined) sets.push(sql`outputs = ${JSON.stringify(patch.outputs)}::jsonb`);
    if (patch.output !== undefined) sets.push(sql`output = ${JSON.stringify(patch.output ?? null)}::jsonb`);
    if (patch.currentStep !== undefined) sets.push(sql`current_step = ${patch.currentStep}`);
    if (patch.stepAttempt !== undefined) sets.push(sql`step_attempt = ${patch.stepAttempt}`);
    if (patch.wait !== undefined) sets.push(patch.wait === null ? sql`wait = NULL` : sql`wait = ${JSON.stringify(patch.wait)}::jsonb`);
    if (patch.error !== undefined) sets.push(sql`error = ${patch.error}`);
    if (patch.startedAt !== undefined) sets.push(sql`started_at = ${patch.startedAt.toISOString()}`);
    if (patch.finishedAt !== undefined) sets.push(sql`finished_at = ${patch.finishedAt.toISOString()}, lease_owner = NULL, lease_until = NULL`);
    if (patch.deadlineAt !== undefined) sets.push(sql`deadline_at = ${patch.deadlineAt ? patch.deadlineAt.toISOString() : null}`);
    const guard = opts.reopen ? sql`` : sql` AND status IN ('queued', 'running', 'waiting')`;
    return rowsOf(await ex.execute(sql`UPDATE workflow.runs SET ${sql.join(sets, sql`, `)} WHERE id = ${id}${guard} RETURNING 1 AS one`)).length > 0;
  }

  /**
   * Runs due for a look now: queued or running without a pending wait, or whose wait (delay,
   * approval expiry or decision, retry backoff, concurrency re-check) or run deadline has come,
   * and that no live worker holds. `staleMs` > 0 keeps only those due for that long already (the
   * production safety net for lost wake-ups must not race the queue's own jobs).
   */
  async due(now: Date, staleMs = 0, limit = 500): Promise<string[]> {
    const at = now.toISOString();
    const stale = new Date(now.getTime() - staleMs).toISOString();
    return rowsOf<{ id: string }>(
      await this.db.execute(sql`SELECT id FROM workflow.runs
        WHERE status IN ('queued', 'running', 'waiting') AND (lease_until IS NULL OR lease_until < ${at})
          AND (((wait IS NULL OR wait ? 'decision') AND updated_at <= ${stale}) OR (wait->>'until')::timestamptz <= ${stale} OR deadline_at <= ${stale})
        ORDER BY created_at LIMIT ${limit}`),
    ).map((r) => r.id);
  }

  /**
   * Queued runs held back by a concurrency limit of this workflow or workspace: their wait is
   * cleared so they are looked at now (a slot was freed). Returns their ids for a wake-up.
   */
  async releaseConcurrencyWaits(workspaceId: string, now: Date, ex: DbExecutor, limit = 20): Promise<string[]> {
    return rowsOf<{ id: string }>(
      await ex.execute(sql`UPDATE workflow.runs SET wait = NULL, updated_at = ${now.toISOString()} WHERE id IN (
        SELECT id FROM workflow.runs WHERE workspace_id = ${workspaceId} AND status = 'queued' AND wait IS NOT NULL AND wait->>'kind' = 'concurrency'
        ORDER BY created_at LIMIT ${limit}) RETURNING id`),
    ).map((r) => r.id);
  }

  /** Sets status only when the run is still in one of `from` (cancel, approve races). */
  async transition(workspaceId: string, id: string, from: RunStatus[], patch: { status: RunStatus; error?: string | null; wait?: Wait | null; finishedAt?: Date }, now: Date, ex: DbExecutor): Promise<RunRow | null> {
    const sets: SQL[] = [sql`updated_at = ${now.toISOString()}`, sql`status = ${patch.status}`];
    if (patch.error !== undefined) sets.push(sql`error = ${patch.error}`);
    if (patch.wait !== undefined) sets.push(patch.wait === null ? sql`wait = NULL` : sql`wait = ${JSON.stringify(patch.wait)}::jsonb`);
    if (patch.finishedAt) sets.push(sql`finished_at = ${patch.finishedAt.toISOString()}`);
    const rows = rowsOf(
      await ex.execute(sql`UPDATE workflow.runs SET ${sql.join(sets, sql`, `)} WHERE id = ${id} AND workspace_id = ${workspaceId}
        AND status IN (${sql.join(from.map((s) => sql`${s}`), sql`, `)}) RETURNING *`),
    );
    return rows[0] ? toRun(rows[0]) : null;
  }

  async attemptFor(runId: string, stepId: string, attempt: number, ex: DbExecutor = this.db): Promise<AttemptRow | null> {
    const rows = rowsOf(await ex.execute(sql`SELECT * FROM workflow.step_attempts WHERE run_id = ${runId} AND step_id = ${stepId} AND attempt = ${attempt}`));
    return rows[0] ? toAttempt(rows[0]) : null;
  }

  async insertAttempts(runId: string, attempts: NewAttempt[], ex: DbExecutor = this.db): Promise<void> {
    await this.insertAttemptsOfRuns(attempts.map((a) => ({ ...a, runId })), ex);
  }

  /** Attempts of any number of runs in one INSERT. */
  async insertAttemptsOfRuns(attempts: (NewAttempt & { runId: string })[], ex: DbExecutor): Promise<void> {
    if (!attempts.length) return;
    // One JSON parameter for the whole batch: the statement's text is the same for any batch size (no per-row parameters to build, send and parse).
    const rows = attemptRowsJson(attempts);
    await ex.execute(sql`INSERT INTO workflow.step_attempts (id, run_id, step_id, step_type, attempt, status, idempotency_key, input, output, error, started_at, finished_at)
      SELECT (e.doc->>'id')::uuid, (e.doc->>'run_id')::uuid, e.doc->>'step_id', e.doc->>'step_type', (e.doc->>'attempt')::int, e.doc->>'status', e.doc->>'key',
        e.doc->'input', e.doc->'output', e.doc->>'error', (e.doc->>'started_at')::timestamptz, (e.doc->>'finished_at')::timestamptz
      FROM jsonb_array_elements(${rows}::jsonb) AS e(doc)
      ON CONFLICT (run_id, step_id, attempt) DO UPDATE SET status = EXCLUDED.status, output = EXCLUDED.output, error = EXCLUDED.error, finished_at = EXCLUDED.finished_at`);
  }

  async finishAttempt(id: string, status: string, output: unknown, error: string | null, now: Date, ex: DbExecutor = this.db): Promise<void> {
    await ex.execute(sql`UPDATE workflow.step_attempts SET status = ${status}, output = ${JSON.stringify(output ?? null)}::jsonb, error = ${error}, finished_at = ${now.toISOString()} WHERE id = ${id}`);
  }

  /** Serialises concurrency decisions on one key (workflow or workspace) for the rest of the transaction. */
  async lockKey(key: string, ex: DbExecutor): Promise<void> {
    await ex.execute(sql`SELECT pg_advisory_xact_lock(hashtextextended(${key}, 0))`);
  }

  async countActive(workflowId: string, excludeRunId: string, ex: DbExecutor = this.db): Promise<number> {
    const [r] = rowsOf<{ n: string }>(
      await ex.execute(sql`SELECT count(*) AS n FROM workflow.runs WHERE workflow_id = ${workflowId} AND status = 'running' AND id <> ${excludeRunId}`),
    );
    return Number(r?.n ?? 0);
  }

  async countActiveInWorkspace(workspaceId: string, excludeRunId: string, ex: DbExecutor = this.db): Promise<number> {
    const [r] = rowsOf<{ n: string }>(
      await ex.execute(sql`SELECT count(*) AS n FROM workflow.runs WHERE workspace_id = ${workspaceId} AND status = 'running' AND id <> ${excludeRunId}`),
    );
    return Number(r?.n ?? 0);
  }

  /** The creation time of each workspace's oldest run queued and due (not held by a concurrency limit), for webhook backpressure. */
  async oldestQueuedByWorkspace(): Promise<Map<string, number>> {
    const rows = rowsOf<{ workspace_id: string; oldest: string | Date }>(
      await this.db.execute(sql`SELECT workspace_id, min(created_at) AS oldest FROM workflow.runs WHERE status = 'queued' AND wait IS NULL GROUP BY workspace_id`),
    );
    return new Map(rows.map((r) => [r.workspace_id, new Date(r.oldest).getTime()]));
  }

  async queueStats(now: Date): Promise<{ depth: number; oldestAgeSeconds: number }> {
    const [r] = rowsOf<{ n: string; oldest: string | Date | null }>(
      await this.db.execute(sql`SELECT count(*) AS n, min(created_at) AS oldest FROM workflow.runs WHERE status = 'queued'`),
    );
    const oldest = r?.oldest ? new Date(r.oldest).getTime() : null;
    return { depth: Number(r?.n ?? 0), oldestAgeSeconds: oldest === null ? 0 : Math.max(0, (now.getTime() - oldest) / 1000) };
  }

  async recordFire(workflowId: string, fireAt: Date, ex: DbExecutor): Promise<boolean> {
    const r = rowsOf(await ex.execute(sql`INSERT INTO workflow.schedule_fires (workflow_id, fire_at) VALUES (${workflowId}, ${fireAt.toISOString()}) ON CONFLICT DO NOTHING RETURNING 1 AS one`));
    return r.length > 0;
  }

  async lastFire(workflowId: string): Promise<Date | null> {
    const [r] = rowsOf<{ at: string | Date | null }>(await this.db.execute(sql`SELECT max(fire_at) AS at FROM workflow.schedule_fires WHERE workflow_id = ${workflowId}`));
    return r?.at ? new Date(r.at) : null;
  }

  /** What the workflow-engine holds about a user (GDPR export): workflows they created and runs they started. */
  async exportUser(userId: string): Promise<{ workflowsCreated: unknown[]; runsStarted: unknown[] }> {
    const workflowsCreated = rowsOf(await this.db.execute(sql`SELECT id, workspace_id, name, created_at FROM workflow.workflows WHERE created_by = ${userId}`));
    const runsStarted = rowsOf(await this.db.execute(sql`SELECT id, workspace_id, workflow_id, status, created_at FROM workflow.runs WHERE created_by = ${userId} ORDER BY created_at DESC LIMIT 10000`));
    return { workflowsCreated, runsStarted };
  }

  /** GDPR erasure: the user's authorship is removed (workflows and runs stay, they belong to the workspace). */
  async eraseUser(userId: string): Promise<{ workflows: number; versions: number; runs: number }> {
    return this.db.transaction(async (tx) => {
      const a = rowsOf(await tx.execute(sql`UPDATE workflow.workflows SET created_by = NULL WHERE created_by = ${userId} RETURNING 1`));
      const b = rowsOf(await tx.execute(sql`UPDATE workflow.versions SET created_by = NULL WHERE created_by = ${userId} RETURNING 1`));
      const c = rowsOf(await tx.execute(sql`UPDATE workflow.runs SET created_by = NULL WHERE created_by = ${userId} RETURNING 1`));
      return { workflows: a.length, versions: b.length, runs: c.length };
    });
  }

  /** The readiness probe: the run table answers. */
  async ping(): Promise<void> {
    await this.db.execute(sql`SELECT 1 FROM workflow.runs LIMIT 1`);
  }

  async purgeFinishedBefore(cutoff: Date): Promise<number> {
    const [r] = rowsOf<{ n: string }>(
      await this.db.execute(sql`WITH d AS (DELETE FROM workflow.runs WHERE finished_at < ${cutoff.toISOString()} RETURNING 1) SELECT count(*) AS n FROM d`),
    );
    return Number(r?.n ?? 0);
  }
}
