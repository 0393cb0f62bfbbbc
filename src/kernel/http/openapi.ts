import { z } from 'zod';
import { $ZodType } from 'zod/v4/core';
import { jsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod';
import { problemSchema, problemStatusDescription } from './problem.js';

type TransformInput = Parameters<typeof jsonSchemaTransform>[0];
type Transformed = ReturnType<typeof jsonSchemaTransform>;

/** The media type of every error body. */
export const PROBLEM_MEDIA_TYPE = 'application/problem+json';

/**
 * A success response that is not JSON (Prometheus text, HTML, a file):
 * `response: { 200: mediaResponse('text/plain', z.string(), 'Prometheus text') }`.
 */
export function mediaResponse(contentType: string | string[], schema: z.ZodType, description: string) {
  return { description, content: Object.fromEntries([contentType].flat().map((ct) => [ct, { schema }])) };
}

/** The components every operation refers to (the problem body, declared once). */
export function openApiComponents() {
  const { $schema: _drop, ...problem } = z.toJSONSchema(problemSchema, { io: 'output', target: 'draft-2020-12' }) as Record<string, unknown>;
  return { schemas: { Problem: problem } };
}

const toJson = (input: TransformInput, schema: unknown): unknown => {
  const out = (jsonSchemaTransform({ ...input, schema: { response: { 200: schema } } } as TransformInput).schema as { response: Record<string, Record<string, unknown>> }).response['200']!;
  // The zod converter's internal placeholder can leak out as the title of a bare string schema.
  if (out.title === '__SCHEMA__PLACEHOLDER__') delete out.title;
  return out;
};

/** What a success response is called when its schema has no description of its own. */
const SUCCESS_DESCRIPTIONS: Record<string, string> = { 200: 'OK', 201: 'Created', 202: 'Accepted', 204: 'No content' };

/**
 * fastify-type-provider-zod's transform, plus: every status >= 400 becomes an
 * application/problem+json response referring to the shared `Problem` component, and
 * `mediaResponse` entries keep their media types.
 */
export function openApiTransform(input: TransformInput): Transformed {
  const schema = input.schema as { response?: Record<string, unknown> } | undefined;
  if (!schema?.response) return jsonSchemaTransform(input);
  const zodResponses: Record<string, unknown> = {};
  const extra: Record<string, unknown> = {};
  for (const [status, value] of Object.entries(schema.response)) {
    if (Number(status) >= 400) {
      extra[status] = { description: problemStatusDescription(Number(status)), content: { [PROBLEM_MEDIA_TYPE]: { schema: { $ref: '#/components/schemas/Problem' } } } };
    } else if (value instanceof $ZodType) {
      zodResponses[status] = value;
    } else {
      const media = value as { description: string; content: Record<string, { schema: unknown }> };
      extra[status] = { description: media.description, content: Object.fromEntries(Object.entries(media.content).map(([ct, c]) => [ct, { schema: toJson(input, c.schema) }])) };
    }
  }
  const out = jsonSchemaTransform({ ...input, schema: { ...schema, response: zodResponses } } as TransformInput);
  const transformed = out.schema as { response?: Record<string, unknown> };
  for (const [status, r] of Object.entries(transformed.response ?? {}) as [string, Record<string, unknown>][]) {
    // @fastify/swagger reads this key for the response's description (and drops it from the schema).
    if (!r.description && SUCCESS_DESCRIPTIONS[status]) r['x-response-description'] = SUCCESS_DESCRIPTIONS[status];
  }
  const merged = { ...(transformed.response ?? {}), ...extra };
  transformed.response = Object.fromEntries(Object.entries(merged).sort(([a], [b]) => a.localeCompare(b)));
  return out;
}

/**
 * Zod schemas registered with an id (`.meta({ id: 'WorkflowDefinition' })`) become shared
 * components: `<id>` as responses show it, `<id>Input` as requests send it. Operations refer to
 * them with $ref; the components carry no `$schema`/`$id` of their own (an `$id` would rebase the
 * references inside them).
 */
export function openApiTransformObject(input: Parameters<typeof jsonSchemaTransformObject>[0]): ReturnType<typeof jsonSchemaTransformObject> {
  const out = jsonSchemaTransformObject(input) as { components?: { schemas?: Record<string, Record<string, unknown>> } };
  for (const schema of Object.values(out.components?.schemas ?? {})) {
    delete schema.$schema;
    delete schema.$id;
  }
  return out as ReturnType<typeof jsonSchemaTransformObject>;
}
