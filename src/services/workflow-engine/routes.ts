import { z } from 'zod';
import type { App } from '../../kernel/http/server.js';
import { problemResponses } from '../../kernel/http/problem.js';
import { RUN_STATUSES, RUN_TRIGGERS } from './repository.js';
import { runSchema, runWithStepsSchema, savedWorkflowSchema, stepTypeSchema, versionSchema, workflowSchema, workflowWithDefinitionSchema } from './schemas.js';
import { stepTypeCatalog } from './steps/index.js';
import type { Actor, WorkflowService } from './service.js';

const uuid = z.uuid();
const ws = z.object({ workspaceId: uuid });
const wf = z.object({ workspaceId: uuid, workflowId: uuid });
const rn = z.object({ workspaceId: uuid, runId: uuid });
/**
 * The definition: documented as the shared WorkflowDefinitionInput component (each step typed by
 * its module), validated by parseDefinition, whose errors point at the step and field
 * (`steps[2].with.url`) and which also runs the expression checks.
 */
const definitionBody = z.unknown().meta({ $ref: '#/components/schemas/WorkflowDefinitionInput' });
const definitionHelp =
  'A workflow definition. Errors answer 400 validation_failed with `errors: [{path, message}]`, paths relative to this body (steps[2].with.url). ' +
  'Expressions run under limits (EXPRESSION_TIMEOUT_MS, memory, result size); a breach fails the step with expression_timeout, expression_too_large or expression_too_deep. ' +
  'The answer\'s `warnings` list reads of steps.<id> that no earlier step produces (such a read yields nothing).';

export function workflowRoutes(app: App, svc: WorkflowService): void {
  const tags = ['workflows'];
  const actor = (req: { principal?: { userId: string } | null; ip: string }): Actor => ({ userId: req.principal?.userId ?? null, ip: req.ip });

  // Any signed-in user: the catalog is the same for every workspace (an editor renders its forms from it).
  const stepTypes = stepTypeCatalog();
  app.get('/v1/workflow-step-types', {
    schema: {
      tags,
      summary: 'The workflow step types: kind, title, description, the JSON Schema of `with` and a valid example step each (for editors)',
      response: { 200: z.object({ stepTypes: z.array(stepTypeSchema) }) },
    },
    handler: async () => ({ stepTypes }),
  });

  app.get('/v1/workspaces/:workspaceId/workflows', {
    config: { permission: 'workflows.read' },
    schema: { tags, summary: 'Workflows of the workspace', params: ws, response: { 200: z.object({ workflows: z.array(workflowSchema) }) } },
    handler: async (req) => ({ workflows: await svc.list(req.params.workspaceId) }),
  });

  app.post('/v1/workspaces/:workspaceId/workflows', {
    config: { permission: 'workflows.write' },
    schema: { tags, summary: 'Create a workflow (version 1); a webhook workflow answers with its secret URL once; `warnings` lists probable mistakes', description: definitionHelp, params: ws, body: definitionBody, response: { 201: savedWorkflowSchema } },
    handler: async (req, reply) => reply.status(201).send(await svc.create(req.params.workspaceId, req.body, actor(req))),
  });

  app.get('/v1/workspaces/:workspaceId/workflows/:workflowId', {
    config: { permission: 'workflows.read' },
    schema: { tags, summary: 'A workflow with its current definition', params: wf, response: { 200: z.object({ workflow: workflowWithDefinitionSchema }) } },
    handler: async (req) => ({ workflow: await svc.get(req.params.workspaceId, req.params.workflowId) }),
  });

  app.put('/v1/workspaces/:workspaceId/workflows/:workflowId', {
    config: { permission: 'workflows.write' },
    schema: { tags, summary: 'Save a new version of the definition (running runs keep theirs); `warnings` lists probable mistakes', description: definitionHelp, params: wf, body: definitionBody, response: { 200: savedWorkflowSchema } },
    handler: async (req) => svc.update(req.params.workspaceId, req.params.workflowId, req.body, actor(req)),
  });

  app.delete('/v1/workspaces/:workspaceId/workflows/:workflowId', {
    config: { permission: 'workflows.write' },
    schema: { tags, summary: 'Delete a workflow (its runs stay readable until retention)', params: wf, response: { 204: z.null().describe('Deleted') } },
    handler: async (req, reply) => {
      await svc.remove(req.params.workspaceId, req.params.workflowId, actor(req));
      return reply.status(204).send(null);
    },
  });

  app.get('/v1/workspaces/:workspaceId/workflows/:workflowId/versions', {
    config: { permission: 'workflows.read' },
    schema: { tags, summary: 'Every saved version, newest first', params: wf, response: { 200: z.object({ versions: z.array(versionSchema) }) } },
    handler: async (req) => ({ versions: await svc.versions(req.params.workspaceId, req.params.workflowId) }),
  });

  for (const [verb, enabled] of [['enable', true], ['disable', false]] as const) {
    app.post(`/v1/workspaces/:workspaceId/workflows/:workflowId/${verb}`, {
      config: { permission: 'workflows.write' },
      schema: { tags, summary: `${verb === 'enable' ? 'Enable' : 'Disable'} the workflow's triggers`, params: wf, response: { 200: z.object({ workflow: workflowWithDefinitionSchema }) } },
      handler: async (req) => ({ workflow: await svc.setEnabled(req.params.workspaceId, req.params.workflowId, enabled, actor(req)) }),
    });
  }

  app.post('/v1/workspaces/:workspaceId/workflows/:workflowId/runs', {
    config: { permission: 'workflows.run' },
    schema: {
      tags,
      summary: 'Start a run (manual trigger); honours Idempotency-Key',
      params: wf,
      headers: z.object({ 'idempotency-key': z.string().min(1).max(200).optional() }).loose(),
      body: z.object({ input: z.unknown().optional() }).nullish(),
      response: {
        202: z.object({ run: runSchema }).describe('The run was queued'),
        200: z.object({ run: runSchema }).describe('The Idempotency-Key was used before: the run it started'),
        ...problemResponses(409),
      },
    },
    handler: async (req, reply) => {
      const key = req.headers['idempotency-key'] as string | undefined;
      const { run, created } = await svc.startRun(req.params.workspaceId, req.params.workflowId, req.body?.input ?? {}, { trigger: 'manual', idempotencyKey: key ? `api:${key}` : null, actor: actor(req) });
      return reply.status(created ? 202 : 200).send({ run });
    },
  });

  app.get('/v1/workspaces/:workspaceId/runs', {
    config: { permission: 'workflows.read' },
    schema: {
      tags,
      summary: 'Runs, newest first',
      params: ws,
      description:
        'Filters combine (AND): workflowId, status, trigger, a creation time range [from, to), and awaiting=approval for the ' +
        'approvals inbox (waiting runs whose approval step has no decision yet). Paged by cursor, newest first.',
      querystring: z.object({
        workflowId: uuid.optional(),
        status: z.enum(RUN_STATUSES).optional(),
        trigger: z.enum(RUN_TRIGGERS).optional().describe('How the run started'),
        from: z.iso.datetime({ offset: true }).optional().describe('Runs created at or after this time'),
        to: z.iso.datetime({ offset: true }).optional().describe('Runs created before this time'),
        awaiting: z.enum(['approval']).optional().describe('approval: only runs waiting on an undecided approval step'),
        cursor: z.string().max(500).optional(),
        limit: z.coerce.number().int().min(1).max(200).default(50),
      }),
      response: { 200: z.object({ runs: z.array(runSchema), nextCursor: z.string().nullable().describe('Pass as cursor for the next page; null on the last') }) },
    },
    handler: async (req) => svc.listRuns(req.params.workspaceId, req.query),
  });

  app.get('/v1/workspaces/:workspaceId/runs/:runId', {
    config: { permission: 'workflows.read' },
    schema: { tags, summary: 'A run with its step timeline (every attempt)', params: rn, response: { 200: z.object({ run: runWithStepsSchema }) } },
    handler: async (req) => ({ run: await svc.getRun(req.params.workspaceId, req.params.runId) }),
  });

  app.post('/v1/workspaces/:workspaceId/runs/:runId/cancel', {
    config: { permission: 'workflows.run' },
    schema: { tags, summary: 'Cancel a queued, running or waiting run', params: rn, response: { 200: z.object({ run: runSchema }), ...problemResponses(409) } },
    handler: async (req) => ({ run: await svc.cancel(req.params.workspaceId, req.params.runId, actor(req)) }),
  });

  app.post('/v1/workspaces/:workspaceId/runs/:runId/retry', {
    config: { permission: 'workflows.run' },
    schema: { tags, summary: 'Resume a failed or timed-out run from the failed step', params: rn, response: { 200: z.object({ run: runSchema }), ...problemResponses(409) } },
    handler: async (req) => ({ run: await svc.retry(req.params.workspaceId, req.params.runId, actor(req)) }),
  });

  for (const [verb, approved] of [['approve', true], ['reject', false]] as const) {
    app.post(`/v1/workspaces/:workspaceId/runs/:runId/${verb}`, {
      config: { permission: 'workflows.run' },
      schema: { tags, summary: `${verb === 'approve' ? 'Approve' : 'Reject'} the approval step the run waits on`, params: rn, body: z.object({ comment: z.string().max(2000).optional() }).nullish(), response: { 200: z.object({ run: runSchema }), ...problemResponses(409) } },
      handler: async (req) => ({ run: await svc.decide(req.params.workspaceId, req.params.runId, approved, req.body?.comment ?? null, actor(req)) }),
    });
  }

  // Outside /v1: no session; the secret token in the path is the credential, HMAC optional.
  void app.register(async (hooks) => {
    hooks.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => done(null, body));
    hooks.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => done(null, body));
    hooks.post('/hooks/workflows/:token', {
      schema: {
        tags,
        summary: 'Webhook trigger: the JSON body becomes the run input',
        description:
          'With the trigger\'s `respond: "immediately"` (the default) the answer is 202 once the run is stored: queued, or (embedded) already finished when every step is pure (`status` says which). With `respond: "onCompletion"` the call waits for the run: 200 with its status and output (or error) when it finishes within the trigger\'s `responseTimeoutMs`, else 202 with the run id (the run goes on; read it with GET /v1/workspaces/{workspaceId}/runs/{runId}). Backpressure: 503 `workflow_queue_full` with Retry-After while the workspace\'s oldest queued run has waited longer than WORKFLOW_WEBHOOK_MAX_QUEUED_AGE_MS (the run is not started).',
        security: [],
        params: z.object({ token: z.string().min(20).max(200) }),
        response: {
          200: z
            .object({ runId: z.uuid(), status: z.enum(RUN_STATUSES), output: z.unknown().optional(), error: z.string().nullable() })
            .describe('respond: onCompletion, and the run finished in time: its final status, with the last step\'s output when it succeeded or the error when it did not'),
          202: z.object({ runId: z.uuid(), status: z.enum(RUN_STATUSES) }).describe('The run was queued (or, for a repeated Idempotency-Key, the first run); with respond: onCompletion, it did not finish within the timeout'),
          ...problemResponses(401, 409, 503),
        },
      },
      handler: async (req, reply) => {
        const raw = typeof req.body === 'string' ? req.body : '';
        const { token } = req.params as { token: string };
        const { run, respond, responseTimeoutMs } = await svc.webhook(token, raw, req.headers['x-v01t-signature'] as string | undefined, req.headers['idempotency-key'] as string | undefined);
        if (respond === 'onCompletion') {
          // Finished in the transaction that started it (pure steps): answered from the row it wrote.
          const done = svc.isTerminal(run.status) ? run : await svc.awaitRun(run.id, responseTimeoutMs);
          if (done) return reply.status(200).send({ runId: done.id, status: done.status, output: done.status === 'succeeded' ? done.output : undefined, error: done.error });
        }
        return reply.status(202).send({ runId: run.id, status: run.status });
      },
    });
  });
}
