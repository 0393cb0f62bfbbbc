import { z } from 'zod';
import type { App } from '../../kernel/http/server.js';
import type { IntegrationHubContract, PublishContent } from './contract.js';
import { INTERNAL_PREFIX } from './remote.js';

/** The content-scheduler attaches at most this many files to a post (its mediaIds limit). */
const MAX_MEDIA_FILES = 20;

const idempotencyKey = z.string().min(1).max(200);

const mediaSchema = z.object({
  contentType: z.string().min(1).max(200),
  filename: z.string().min(1).max(500),
  size: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-fA-F]{64}$/),
  altText: z.string().max(5000).optional(),
  /** The bytes in base64; size and sha256 are checked against the decoded bytes by the hub (validation_failed). */
  data: z.string(),
});

/**
 * The integration-hub's contract over HTTP, for services running in other processes (the
 * content-scheduler's publisher, the workflow `integration` step, ops escalations). Each route calls
 * the same contract function as an in-process caller; an AppError the hub throws answers as
 * problem+json with its code, status, detail and extras, which the client turns back into the same
 * AppError. Guarded by the shared V01T_INTERNAL_TOKEN before the body is read (publish bodies are
 * large); hidden from the public OpenAPI document.
 */
export function internalRoutes(app: App, deps: { hub: IntegrationHubContract; mediaMaxBytes: number }): void {
  // Every file at the content-scheduler's size limit, in base64, plus the text and the JSON around it.
  const publishBodyLimit = MAX_MEDIA_FILES * Math.ceil(deps.mediaMaxBytes / 3) * 4 + 1024 * 1024;

  app.post(`${INTERNAL_PREFIX}/connections/list`, {
    config: { auth: 'secret:internal' },
    schema: { hide: true, body: z.object({ workspaceId: z.uuid() }) },
    handler: async (req) => ({ connections: await deps.hub.listConnections(req.body.workspaceId) }),
  });

  app.post(`${INTERNAL_PREFIX}/connections/run-action`, {
    config: { auth: 'secret:internal' },
    schema: {
      hide: true,
      body: z.object({
        workspaceId: z.uuid(),
        connectionId: z.uuid(),
        action: z.string().min(1).max(100),
        input: z.unknown().optional(),
        idempotencyKey: idempotencyKey.optional(),
      }),
    },
    handler: async (req) => {
      const b = req.body;
      return deps.hub.runAction(b.workspaceId, b.connectionId, b.action, b.input ?? {}, b.idempotencyKey === undefined ? {} : { idempotencyKey: b.idempotencyKey });
    },
  });

  app.post(`${INTERNAL_PREFIX}/connections/publish`, {
    config: { auth: 'secret:internal' },
    bodyLimit: publishBodyLimit,
    schema: {
      hide: true,
      body: z.object({
        workspaceId: z.uuid(),
        connectionId: z.uuid(),
        idempotencyKey,
        content: z.object({
          text: z.string().max(100_000),
          title: z.string().max(1000).optional(),
          link: z.string().max(4000).optional(),
          media: z.array(mediaSchema).max(MAX_MEDIA_FILES).optional(),
        }),
      }),
    },
    handler: async (req) => {
      const b = req.body;
      const content: PublishContent = {
        text: b.content.text,
        ...(b.content.title !== undefined ? { title: b.content.title } : {}),
        ...(b.content.link !== undefined ? { link: b.content.link } : {}),
        ...(b.content.media
          ? {
              media: b.content.media.map((m) => {
                const bytes = Buffer.from(m.data, 'base64');
                return {
                  contentType: m.contentType,
                  filename: m.filename,
                  size: m.size,
                  sha256: m.sha256,
                  ...(m.altText !== undefined ? { altText: m.altText } : {}),
                  data: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength),
                };
              }),
            }
          : {}),
      };
      return deps.hub.publish(b.workspaceId, b.connectionId, content, b.idempotencyKey);
    },
  });
}
