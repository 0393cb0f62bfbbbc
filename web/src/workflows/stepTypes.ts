/**
 * The step types the editor offers, each with a JSON Schema for its `with` (the side panel's form is
 * generated from it) and an example `with`. The server's `GET /v1/workflow-step-types` is the source
 * (`fromServer`); the local entries below only add what makes a friendlier form (titles, which fields
 * are JSONata or name a step): a property they do not know still gets a plain field.
 * `useStepTypes()` (stepTypesQuery.ts) is the one place that decides where the catalogue comes from.
 *
 * Pure module (no DOM, no React): the Vitest suites import it.
 */
export interface JsonSchema {
  type?: string | string[];
  title?: string;
  description?: string;
  enum?: unknown[];
  default?: unknown;
  format?: string;
  minimum?: number;
  maximum?: number;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  additionalProperties?: boolean | JsonSchema;
  oneOf?: JsonSchema[];
  anyOf?: JsonSchema[];
  [key: string]: unknown;
}

export interface StepType {
  type: string;
  /** effect (reaches outside), pure (computes), flow (branches, waits) */
  kind: string;
  title: string;
  description: string;
  withSchema: JsonSchema;
  example: Record<string, unknown>;
}

export const LOCAL_STEP_TYPES: StepType[] = [
  {
    type: 'transform',
    kind: 'pure',
    title: 'Transform',
    description: 'Computes a value with a JSONata expression; its result is this step’s output.',
    withSchema: {
      type: 'object',
      required: ['expression'],
      properties: { expression: { type: 'string', title: 'Expression', description: 'JSONata, e.g. {"title": $uppercase(input.title)}', format: 'jsonata' } },
    },
    example: { expression: '{"greeting": "Hello " & input.name}' },
  },
  {
    type: 'condition',
    kind: 'flow',
    title: 'Condition',
    description: 'Branches on a JSONata expression: true goes to “then” (or the next step), false to “else” (or ends the run).',
    withSchema: {
      type: 'object',
      required: ['expression'],
      properties: {
        expression: { type: 'string', title: 'Expression', description: 'JSONata that yields true or false', format: 'jsonata' },
        then: { type: 'string', title: 'Then (step id)', description: 'Step to run when true; default: the next step', format: 'step-id' },
        else: { type: 'string', title: 'Else (step id)', description: 'Step to run when false; default: the run ends', format: 'step-id' },
      },
    },
    example: { expression: 'input.amount > 100' },
  },
  {
    type: 'http',
    kind: 'effect',
    title: 'HTTP request',
    description: 'Calls a URL through the guarded egress; the response (status, headers, body) is the output.',
    withSchema: {
      type: 'object',
      required: ['url'],
      properties: {
        url: { type: 'string', title: 'URL', description: 'An http(s) URL, or an =expression', format: 'uri' },
        method: { type: 'string', title: 'Method', enum: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD'], default: 'POST' },
        headers: { type: 'object', title: 'Headers', description: 'Header names and values (JSON object)' },
        body: { title: 'Body', description: 'JSON sent as the body; strings starting with = are expressions' },
      },
    },
    example: { url: 'https://example.com/hook', method: 'POST', body: { text: '=input.text' } },
  },
  {
    type: 'integration',
    kind: 'effect',
    title: 'Integration action',
    description: 'Runs an action of one of the workspace’s connections (integration hub).',
    withSchema: {
      type: 'object',
      required: ['connectionId', 'action'],
      properties: {
        connectionId: { type: 'string', title: 'Connection id', description: 'The workspace connection to use' },
        action: { type: 'string', title: 'Action', description: 'The connector action, e.g. send' },
        input: { type: 'object', title: 'Input', description: 'The action’s input (JSON object)' },
      },
    },
    example: { connectionId: '', action: 'send', input: { text: '=input.text' } },
  },
  {
    type: 'emit',
    kind: 'effect',
    title: 'Emit signal',
    description: 'Publishes a workflow.signal.v1 event other workflows and services can react to.',
    withSchema: {
      type: 'object',
      required: ['signal'],
      properties: {
        signal: { type: 'string', title: 'Signal', description: 'lower-case letters, digits, . _ -', pattern: '^[a-z][a-z0-9_.-]{0,99}$' },
        data: { title: 'Data', description: 'JSON sent with the signal; strings starting with = are expressions' },
      },
    },
    example: { signal: 'order.checked', data: '=input' },
  },
  {
    type: 'delay',
    kind: 'flow',
    title: 'Delay',
    description: 'Waits a duration (ms) or until a time (until), durably.',
    withSchema: {
      type: 'object',
      properties: {
        ms: { type: ['integer', 'string'], title: 'Wait (milliseconds)', description: 'A duration, or an =expression; give this or “until”', minimum: 0 },
        until: { type: 'string', title: 'Until', description: 'An ISO-8601 time or an =expression; give this or “wait”' },
      },
    },
    example: { ms: 60000 },
  },
  {
    type: 'approval',
    kind: 'flow',
    title: 'Approval',
    description: 'Waits for a member to approve or reject the run (approvals inbox).',
    withSchema: {
      type: 'object',
      properties: {
        message: { type: 'string', title: 'Message', description: 'What the approver is asked' },
        expiresInMs: { type: 'integer', title: 'Expires after (ms)', description: 'Between 1000 ms and 90 days; default 7 days', minimum: 1000 },
      },
    },
    example: { message: 'Publish this?', expiresInMs: 86400000 },
  },
  {
    type: 'foreach',
    kind: 'flow',
    title: 'For each',
    description: 'Maps an http, integration, transform or emit step over an array (item and index in expressions).',
    withSchema: {
      type: 'object',
      required: ['items', 'step'],
      properties: {
        items: { type: 'string', title: 'Items', description: 'An =expression yielding the array', format: 'jsonata' },
        concurrency: { type: 'integer', title: 'Concurrency', description: '1 to 50, default 5', minimum: 1, maximum: 50 },
        step: { type: 'object', title: 'Step', description: '{"type": "transform", "with": {...}} run for each item' },
      },
    },
    example: { items: '=input.items', concurrency: 5, step: { type: 'transform', with: { expression: 'item * 2' } } },
  },
];

export function findStepType(types: readonly StepType[], type: string): StepType | undefined {
  return types.find((t) => t.type === type);
}

/** The triggers a workflow can have, with the schema of their settings (definition.ts, triggerSchema). */
export const TRIGGER_TYPES: { type: string; title: string; description: string; schema: JsonSchema; example: Record<string, unknown> }[] = [
  { type: 'manual', title: 'Manual', description: 'Runs when someone presses “Run now” or calls the API.', schema: { type: 'object', properties: {} }, example: {} },
  {
    type: 'webhook',
    title: 'Webhook',
    description: 'A secret URL; the JSON body POSTed to it becomes the run’s input. The URL is shown once, when the trigger is saved.',
    schema: {
      type: 'object',
      properties: {
        hmac: { type: 'boolean', title: 'Require an HMAC signature (X-V01T-Signature)' },
        respond: {
          type: 'string',
          title: 'Answer the caller',
          description: 'immediately: 202 with the run id once queued. onCompletion: 200 with the run’s output when it finishes in time, else 202 with the run id',
          enum: ['immediately', 'onCompletion'],
          default: 'immediately',
        },
        responseTimeoutMs: { type: 'integer', title: 'Wait for the result at most (ms)', description: '100 to 60000; default 10000 (onCompletion only)', minimum: 100, maximum: 60000 },
      },
    },
    example: { hmac: false },
  },
  {
    type: 'schedule',
    title: 'Schedule',
    description: 'Runs on a cron schedule in a time zone.',
    schema: {
      type: 'object',
      required: ['cron'],
      properties: {
        cron: { type: 'string', title: 'Cron', description: 'e.g. 0 8 * * 1-5 (08:00 on weekdays)' },
        timezone: { type: 'string', title: 'Time zone', description: 'IANA name, e.g. Europe/Berlin; default UTC' },
        missedFires: { type: 'string', title: 'Missed fires', enum: ['skip', 'fire_once'], default: 'skip' },
      },
    },
    example: { cron: '0 8 * * *', timezone: 'UTC' },
  },
  {
    type: 'event',
    title: 'Platform event',
    description: 'Runs when an event of the workspace happens (e.g. content.post.published.v1); the event is the input.',
    schema: {
      type: 'object',
      required: ['event'],
      properties: {
        event: { type: 'string', title: 'Event', description: 'A catalogue name, e.g. content.post.published.v1' },
        filter: { type: 'string', title: 'Filter', description: 'Optional JSONata predicate over the event', format: 'jsonata' },
      },
    },
    example: { event: 'content.post.published.v1' },
  },
];

/** One entry of GET /v1/workflow-step-types (its example is a whole step: {id, type, with}). */
export interface ServerStepType {
  type: string;
  kind: string;
  title: string;
  description: string;
  withSchema: Record<string, unknown>;
  example: Record<string, unknown>;
}

/**
 * The server's catalogue, with the local form hints (title, format) laid over properties that lack
 * them. The example becomes the `with` a new step starts from, minus references to other steps
 * (a new step cannot point at the example's step ids).
 */
export function fromServer(server: readonly ServerStepType[], local: readonly StepType[] = LOCAL_STEP_TYPES): StepType[] {
  return server.map((t) => {
    const hints = local.find((l) => l.type === t.type)?.withSchema.properties ?? {};
    const schema = structuredClone(t.withSchema) as JsonSchema;
    const properties: Record<string, JsonSchema> = {};
    for (const [key, prop] of Object.entries(schema.properties ?? {})) {
      const hint = hints[key];
      properties[key] = { ...prop, ...(hint?.title && !prop.title ? { title: hint.title } : {}), ...(hint?.format && !prop.format ? { format: hint.format } : {}) };
    }
    const exampleWith = (t.example.with && typeof t.example.with === 'object' ? structuredClone(t.example.with) : {}) as Record<string, unknown>;
    for (const [key, prop] of Object.entries({ ...hints, ...properties })) if (prop.format === 'step-id') delete exampleWith[key];
    return { type: t.type, kind: t.kind, title: t.title, description: t.description, withSchema: { ...schema, properties }, example: exampleWith };
  });
}
