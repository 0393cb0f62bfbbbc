import { z } from 'zod';
import multipart from '@fastify/multipart';
import type { FastifyRequest } from 'fastify';
import type { App } from '../../kernel/http/server.js';
import { AppError } from '../../kernel/errors.js';
import { assertStorableText } from '../../kernel/http/input-guard.js';
import type { ChannelsService } from './channels.js';
import { MAX_ALT_TEXT, type MediaService } from './media.js';
import type { PostsService } from './posts.js';
import type { CampaignsService } from './campaigns.js';
import { streamToBuffer } from '../../kernel/storage/index.js';
import { problemResponses } from '../../kernel/http/problem.js';
import { mediaResponse } from '../../kernel/http/openapi.js';
import { calendarSchema, campaignSchema, channelSchema, mediaSchema, postSchema, postView, settingsSchema } from './schemas.js';

const id = z.uuid();
const ws = z.object({ workspaceId: id });
const tags = ['content'];
// A calendar date PostgreSQL can store: a real month and day (leap years included), and no year 0000.
const day = z.iso.date('a date YYYY-MM-DD').refine((v) => !v.startsWith('0000'), 'the year 0000 does not exist');

const limitsBody = z.object({
  maxTextLength: z.number().int().min(1).max(100_000).optional(),
  maxMedia: z.number().int().min(0).max(20).optional(),
  mediaTypes: z.array(z.string().min(3).max(100)).max(20).optional(),
});
const slot = z.object({ weekday: z.number().int().min(1).max(7), time: z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'HH:MM (24 h)') });
const channelBody = z.object({
  connectionId: id,
  name: z.string().trim().min(1).max(100),
  timezone: z.string().min(1).max(64),
  limits: limitsBody.optional(),
  queueSlots: z.array(slot).max(200).optional(),
  latePolicy: z.enum(['publish_late', 'skip']).optional(),
  lateGraceSeconds: z.number().int().min(0).max(7 * 86_400).optional(),
});
const channelPatch = channelBody.omit({ connectionId: true }).partial();

const postChannels = z.array(z.object({ channelId: id, body: z.string().max(100_000).nullable().optional() })).min(1).max(50);
const postBody = z.object({
  title: z.string().max(300).nullable().optional(),
  body: z.string().max(100_000),
  link: z.url().max(2000).nullable().optional(),
  mediaIds: z.array(id).max(20).optional(),
  channels: postChannels,
  campaignId: id.nullable().optional(),
  timezone: z.string().min(1).max(64).optional(),
});
const postPatch = postBody.partial();
const scheduleBody = z.discriminatedUnion('mode', [
  z.object({ mode: z.literal('at'), scheduledAt: z.string().min(10).max(40), timezone: z.string().min(1).max(64).optional(), rrule: z.string().max(500).nullable().optional() }),
  z.object({ mode: z.literal('now') }),
  z.object({ mode: z.literal('queue') }),
]);
const campaignBody = z.object({ name: z.string().trim().min(1).max(200), goal: z.string().max(2000).optional(), startsOn: day, endsOn: day });

export interface ContentRouteDeps {
  channels: ChannelsService;
  media: MediaService;
  posts: PostsService;
  campaigns: CampaignsService;
}

export function contentRoutes(app: App, deps: ContentRouteDeps): void {
  const { channels, media, posts, campaigns } = deps;
  const actor = (req: FastifyRequest) => ({ userId: req.principal!.userId, ip: req.ip });

  // --- settings ---
  app.get('/v1/workspaces/:workspaceId/content/settings', {
    config: { permission: 'content.read' },
    schema: { tags, summary: 'Content settings (whether posts need approval before scheduling)', params: ws, response: { 200: z.object({ settings: settingsSchema }) } },
    handler: async (req) => ({ settings: await posts.settings(req.params.workspaceId) }),
  });
  app.put('/v1/workspaces/:workspaceId/content/settings', {
    config: { permission: 'content.manage' },
    schema: { tags, summary: 'Require approval before scheduling (audited)', params: ws, body: z.object({ requireApproval: z.boolean() }), response: { 200: z.object({ settings: settingsSchema }) } },
    handler: async (req) => ({ settings: await posts.updateSettings(req.params.workspaceId, actor(req), req.body) }),
  });

  // --- channels ---
  const channelParams = ws.extend({ channelId: id });
  app.get('/v1/workspaces/:workspaceId/channels', {
    config: { permission: 'content.read' },
    schema: { tags, summary: 'Publishing channels', params: ws, response: { 200: z.object({ channels: z.array(channelSchema) }) } },
    handler: async (req) => ({ channels: await channels.list(req.params.workspaceId) }),
  });
  app.post('/v1/workspaces/:workspaceId/channels', {
    config: { permission: 'content.manage' },
    schema: { tags, summary: 'Bind a channel to an integration-hub connection whose connector can publish', params: ws, body: channelBody, response: { 201: z.object({ channel: channelSchema }), ...problemResponses(409, 503) } },
    handler: async (req, reply) => reply.status(201).send({ channel: await channels.create(req.params.workspaceId, req.body) }),
  });
  app.get('/v1/workspaces/:workspaceId/channels/:channelId', {
    config: { permission: 'content.read' },
    schema: { tags, summary: 'A channel', params: channelParams, response: { 200: z.object({ channel: channelSchema }) } },
    handler: async (req) => ({ channel: await channels.get(req.params.workspaceId, req.params.channelId) }),
  });
  app.patch('/v1/workspaces/:workspaceId/channels/:channelId', {
    config: { permission: 'content.manage' },
    schema: { tags, summary: 'Change name, time zone, limits, queue slots or late policy', params: channelParams, body: channelPatch, response: { 200: z.object({ channel: channelSchema }) } },
    handler: async (req) => ({ channel: await channels.update(req.params.workspaceId, req.params.channelId, req.body) }),
  });
  app.delete('/v1/workspaces/:workspaceId/channels/:channelId', {
    config: { permission: 'content.manage' },
    schema: { tags, summary: 'Archive a channel; its scheduled targets are cancelled', params: channelParams, response: { 204: z.null().describe('Archived') } },
    handler: async (req, reply) => {
      await channels.archive(req.params.workspaceId, req.params.channelId);
      return reply.status(204).send(null);
    },
  });
  app.get('/v1/workspaces/:workspaceId/channels/:channelId/queue', {
    config: { permission: 'content.read' },
    schema: { tags, summary: 'The next free queue slots of the channel', params: channelParams, querystring: z.object({ count: z.coerce.number().int().min(1).max(50).default(10) }), response: { 200: z.object({ slots: z.array(z.iso.datetime()).describe('Instants of the next free slots') }) } },
    handler: async (req) => ({ slots: (await channels.freeSlots(req.params.workspaceId, req.params.channelId, req.query.count)).map((ms) => new Date(ms).toISOString()) }),
  });

  // --- media (multipart only inside this scope) ---
  app.register(async (scope) => {
    await scope.register(multipart, { limits: { files: 1, fileSize: media.maxBytes, fields: 5, parts: 6 } });
    scope.post('/v1/workspaces/:workspaceId/media', {
      config: { permission: 'content.write' },
      schema: {
        tags,
        summary: 'Upload a media file (multipart/form-data, field "file", optional "altText" field before it); checked type, size limit, SHA-256 (verified against X-Checksum-SHA256 when sent)',
        consumes: ['multipart/form-data'],
        params: ws,
        response: { 201: z.object({ media: mediaSchema }) },
      },
      handler: async (req, reply) => {
        if (!req.isMultipart()) throw new AppError('unsupported_media_type', 'Send multipart/form-data with a "file" field');
        const file = await req.file();
        if (!file) throw new AppError('validation_failed', 'A "file" field is required', { errors: [{ path: 'file', message: 'required' }] });
        const data = await streamToBuffer(file.file);
        if (file.file.truncated) throw new AppError('payload_too_large', `Media files are limited to ${media.maxBytes} bytes`);
        const expected = req.headers['x-checksum-sha256'];
        const { workspaceId } = req.params as z.infer<typeof ws>;
        // An "altText" field sent before the file part (multipart parts are read in order).
        const alt = file.fields.altText;
        const altText = alt && !Array.isArray(alt) && alt.type === 'field' ? String(alt.value) : undefined;
        // Multipart parts bypass the kernel's body check: the two texts stored are checked here.
        assertStorableText(file.filename, 'file.filename');
        assertStorableText(altText, 'altText');
        const m = await media.upload(workspaceId, req.principal!.userId, {
          fileName: file.filename || 'upload',
          contentType: file.mimetype,
          data,
          expectedSha256: typeof expected === 'string' ? expected : undefined,
          altText,
        });
        return reply.status(201).send({ media: m });
      },
    });
  });
  const mediaParams = ws.extend({ mediaId: id });
  app.get('/v1/workspaces/:workspaceId/media/:mediaId', {
    config: { permission: 'content.read' },
    schema: { tags, summary: 'Media metadata', params: mediaParams, response: { 200: z.object({ media: mediaSchema }) } },
    handler: async (req) => ({ media: await media.get(req.params.workspaceId, req.params.mediaId) }),
  });
  app.patch('/v1/workspaces/:workspaceId/media/:mediaId', {
    config: { permission: 'content.write' },
    schema: { tags, summary: 'Sets the alternative text published with the file (null removes it)', params: mediaParams, body: z.object({ altText: z.string().max(MAX_ALT_TEXT).nullable() }), response: { 200: z.object({ media: mediaSchema }) } },
    handler: async (req) => ({ media: await media.setAltText(req.params.workspaceId, req.params.mediaId, req.body.altText) }),
  });
  app.get('/v1/workspaces/:workspaceId/media/:mediaId/content', {
    config: { permission: 'content.read' },
    schema: { tags, summary: 'Media bytes', params: mediaParams, response: { 200: mediaResponse('*/*', z.string().describe('The file, with its own content type'), 'The file (Content-Type as uploaded, X-Checksum-SHA256)'), ...problemResponses(409) } },
    handler: async (req, reply) => {
      const { media: m, body } = await media.content(req.params.workspaceId, req.params.mediaId);
      return reply
        .type(m.contentType)
        .header('content-length', m.sizeBytes)
        .header('x-checksum-sha256', m.sha256)
        .header('x-content-type-options', 'nosniff')
        .header('content-disposition', `attachment; filename="${m.fileName.replace(/[^\w.-]/g, '_')}"`)
        .send(body);
    },
  });

  // --- posts ---
  const postParams = ws.extend({ postId: id });
  app.get('/v1/workspaces/:workspaceId/posts', {
    config: { permission: 'content.read' },
    schema: {
      tags,
      summary: 'Posts, newest first',
      params: ws,
      querystring: z.object({
        campaignId: id.optional(),
        status: z
          .enum(['draft', 'in_review', 'approved', 'scheduled', 'cancelled'])
          .optional()
          .describe('Filters on the editorial phase; scheduled also matches posts that are publishing or have published'),
        limit: z.coerce.number().int().min(1).max(200).default(50),
        before: z.iso.datetime().optional(),
      }),
      response: { 200: z.object({ posts: z.array(postSchema) }) },
    },
    handler: async (req) => ({ posts: (await posts.list(req.params.workspaceId, req.query)).map(postView) }),
  });
  app.post('/v1/workspaces/:workspaceId/posts', {
    config: { permission: 'content.write' },
    schema: { tags, summary: 'Create a draft post; validated against each channel\'s limits', params: ws, body: postBody, response: { 201: z.object({ post: postSchema }) } },
    handler: async (req, reply) => reply.status(201).send({ post: postView(await posts.create(req.params.workspaceId, actor(req), req.body)) }),
  });
  app.get('/v1/workspaces/:workspaceId/posts/:postId', {
    config: { permission: 'content.read' },
    schema: { tags, summary: 'A post with its per-channel targets (status, attempts, external id and URL, provider error)', params: postParams, response: { 200: z.object({ post: postSchema }) } },
    handler: async (req) => ({ post: postView(await posts.get(req.params.workspaceId, req.params.postId)) }),
  });
  app.patch('/v1/workspaces/:workspaceId/posts/:postId', {
    config: { permission: 'content.write' },
    schema: { tags, summary: 'Edit a post until publishing starts (content changes need approval again where required)', params: postParams, body: postPatch, response: { 200: z.object({ post: postSchema }), ...problemResponses(409) } },
    handler: async (req) => ({ post: postView(await posts.update(req.params.workspaceId, req.params.postId, actor(req), req.body)) }),
  });
  app.delete('/v1/workspaces/:workspaceId/posts/:postId', {
    config: { permission: 'content.write' },
    schema: { tags, summary: 'Delete a post that has not started publishing', params: postParams, response: { 204: z.null().describe('Deleted'), ...problemResponses(409) } },
    handler: async (req, reply) => {
      await posts.remove(req.params.workspaceId, req.params.postId);
      return reply.status(204).send(null);
    },
  });
  app.post('/v1/workspaces/:workspaceId/posts/:postId/submit', {
    config: { permission: 'content.write' },
    schema: { tags, summary: 'Submit a draft for approval', params: postParams, response: { 200: z.object({ post: postSchema }), ...problemResponses(409) } },
    handler: async (req) => ({ post: postView(await posts.submit(req.params.workspaceId, req.params.postId, actor(req))) }),
  });
  app.post('/v1/workspaces/:workspaceId/posts/:postId/approve', {
    config: { permission: 'content.approve' },
    schema: { tags, summary: 'Approve a post in review (audited)', params: postParams, body: z.object({ comment: z.string().max(2000).nullable().optional() }), response: { 200: z.object({ post: postSchema }), ...problemResponses(409) } },
    handler: async (req) => ({ post: postView(await posts.review(req.params.workspaceId, req.params.postId, actor(req), 'approve', req.body.comment ?? null)) }),
  });
  app.post('/v1/workspaces/:workspaceId/posts/:postId/reject', {
    config: { permission: 'content.approve' },
    schema: { tags, summary: 'Reject a post in review with a comment; it returns to draft (audited)', params: postParams, body: z.object({ comment: z.string().trim().min(1).max(2000) }), response: { 200: z.object({ post: postSchema }), ...problemResponses(409) } },
    handler: async (req) => ({ post: postView(await posts.review(req.params.workspaceId, req.params.postId, actor(req), 'reject', req.body.comment)) }),
  });
  app.post('/v1/workspaces/:workspaceId/posts/:postId/schedule', {
    config: { permission: 'content.write' },
    schema: {
      tags,
      summary: 'Schedule (or reschedule): at a local time in an IANA zone with an optional RRULE, now, or in each channel\'s next free queue slot',
      params: postParams,
      body: scheduleBody,
      response: { 200: z.object({ post: postSchema }), ...problemResponses(409) },
    },
    handler: async (req) => ({ post: postView(await posts.schedule(req.params.workspaceId, req.params.postId, actor(req), req.body)) }),
  });
  app.post('/v1/workspaces/:workspaceId/posts/:postId/targets/:targetId/retry', {
    config: { permission: 'content.write' },
    schema: { tags, summary: 'Publish a failed (or skipped) channel of the post again, now (audited)', params: postParams.extend({ targetId: id }), response: { 200: z.object({ post: postSchema }), ...problemResponses(409) } },
    handler: async (req) => ({ post: postView(await posts.retry(req.params.workspaceId, req.params.postId, req.params.targetId, actor(req))) }),
  });
  app.post('/v1/workspaces/:workspaceId/posts/:postId/cancel', {
    config: { permission: 'content.write' },
    schema: { tags, summary: 'Cancel a post before publishing starts', params: postParams, response: { 200: z.object({ post: postSchema }), ...problemResponses(409) } },
    handler: async (req) => ({ post: postView(await posts.cancel(req.params.workspaceId, req.params.postId, actor(req))) }),
  });

  // --- campaigns ---
  const campaignParams = ws.extend({ campaignId: id });
  app.get('/v1/workspaces/:workspaceId/campaigns', {
    config: { permission: 'content.read' },
    schema: { tags, summary: 'Campaigns with progress counts', params: ws, response: { 200: z.object({ campaigns: z.array(campaignSchema) }) } },
    handler: async (req) => ({ campaigns: await campaigns.list(req.params.workspaceId) }),
  });
  app.post('/v1/workspaces/:workspaceId/campaigns', {
    config: { permission: 'content.write' },
    schema: { tags, summary: 'Create a campaign (date range and goal)', params: ws, body: campaignBody, response: { 201: z.object({ campaign: campaignSchema }) } },
    handler: async (req, reply) => reply.status(201).send({ campaign: await campaigns.create(req.params.workspaceId, req.principal!.userId, req.body) }),
  });
  app.get('/v1/workspaces/:workspaceId/campaigns/:campaignId', {
    config: { permission: 'content.read' },
    schema: { tags, summary: 'A campaign with its progress', params: campaignParams, response: { 200: z.object({ campaign: campaignSchema }) } },
    handler: async (req) => ({ campaign: await campaigns.get(req.params.workspaceId, req.params.campaignId) }),
  });
  app.patch('/v1/workspaces/:workspaceId/campaigns/:campaignId', {
    config: { permission: 'content.write' },
    schema: { tags, summary: 'Change a campaign', params: campaignParams, body: campaignBody.partial(), response: { 200: z.object({ campaign: campaignSchema }) } },
    handler: async (req) => ({ campaign: await campaigns.update(req.params.workspaceId, req.params.campaignId, req.body) }),
  });

  // --- calendar ---
  app.get('/v1/workspaces/:workspaceId/calendar', {
    config: { permission: 'content.read' },
    schema: {
      tags,
      summary: 'Scheduled and published posts grouped by local day of `tz`, with times and per-channel status',
      params: ws,
      description: 'Without from/to: the week starting today in `tz`.',
      querystring: z.object({ from: day.optional(), to: day.optional(), tz: z.string().min(1).max(64).default('UTC') }),
      response: { 200: calendarSchema },
    },
    handler: async (req) => {
      const { from, to } = posts.defaultRange(req.query.from, req.query.to, req.query.tz);
      // The service types a day's channels loosely; the schema (and its serializer) checks them.
      return (await posts.calendar(req.params.workspaceId, from, to, req.query.tz)) as z.output<typeof calendarSchema>;
    },
  });
}
