import type { PermissionMap } from '../../kernel/auth/permissions.js';
import type { ServiceContext, ServiceInstance, ServiceModule } from '../../kernel/module.js';
import { openObjectStorage, type ObjectStorage } from '../../kernel/storage/index.js';
import { AppError } from '../../kernel/errors.js';
import { CONTENT_MIGRATIONS } from './migrations.js';
import { hubOf } from './hub.js';
import { ChannelsService } from './channels.js';
import { MediaService } from './media.js';
import { PostsService } from './posts.js';
import { CampaignsService } from './campaigns.js';
import { Publisher, registerPublisherMetrics } from './publisher.js';
import { ChannelsRepository } from './channels.repository.js';
import { MediaRepository } from './media.repository.js';
import { PostsRepository } from './posts.repository.js';
import { CampaignsRepository } from './campaigns.repository.js';
import { PublisherRepository } from './publisher.repository.js';
import { contentRoutes } from './routes.js';
import type { ContentSchedulerContract } from './contract.js';
import { CONTENT_ERRORS } from './errors.js';
import { CONTENT_EVENTS } from './events.js';
import { CONTENT_CONFIG, type ContentSettings } from './config.js';
import { publicOnlyRemote } from '../../kernel/http/public-remote.js';

export const CONTENT_PERMISSIONS: PermissionMap = {
  'content.read': { description: 'See posts, channels, campaigns, media and the content calendar', roles: ['owner', 'admin', 'developer', 'analyst', 'viewer'] },
  'content.write': { description: 'Create, edit, schedule and cancel posts and campaigns; upload media', roles: ['owner', 'admin', 'developer'] },
  'content.approve': { description: 'Approve or reject posts in review', roles: ['owner', 'admin'] },
  'content.manage': { description: 'Bind channels to connections, set queue slots and limits, require approval', roles: ['owner', 'admin'] },
};

const UNATTACHED_MEDIA_DAYS = 7;

export interface ContentInstance extends ServiceInstance {
  contract: ContentSchedulerContract;
  services: { channels: ChannelsService; media: MediaService; posts: PostsService; campaigns: CampaignsService; publisher: Publisher; storage: ObjectStorage };
}

export const contentSchedulerModule: ServiceModule<ContentSettings> & { create(ctx: ServiceContext<ContentSettings>): ContentInstance } = {
  name: 'content-scheduler',
  publicRoutes: ['/v1/workspaces/:workspaceId/calendar', '/v1/workspaces/:workspaceId/campaigns', '/v1/workspaces/:workspaceId/channels', '/v1/workspaces/:workspaceId/content', '/v1/workspaces/:workspaceId/media', '/v1/workspaces/:workspaceId/posts'],
  remote: publicOnlyRemote('content-scheduler', 'V01T_CONTENT_SCHEDULER_URL'),
  schema: 'content',
  migrations: CONTENT_MIGRATIONS,
  permissions: CONTENT_PERMISSIONS,
  events: CONTENT_EVENTS,
  errors: CONTENT_ERRORS,
  config: CONTENT_CONFIG,
  create(ctx) {
    const cfg = ctx.settings;
    const storage = openObjectStorage({ dataDir: ctx.config.dataDir, s3: ctx.config.storage.s3 });
    const hub = hubOf(ctx.contracts);
    const campaignsRepo = new CampaignsRepository(ctx.db);
    const publisherRepo = new PublisherRepository(ctx.db);
    const channels = new ChannelsService(ctx.db, new ChannelsRepository(ctx.db), ctx.clock, hub);
    const media = new MediaService(new MediaRepository(ctx.db), storage, ctx.clock, cfg.mediaMaxBytes);
    const posts = new PostsService(ctx.db, new PostsRepository(ctx.db), campaignsRepo, ctx.clock, channels, media, ctx.audit, ctx.events);
    const campaigns = new CampaignsService(ctx.db, campaignsRepo, ctx.clock, ctx.events);
    const metrics = registerPublisherMetrics(ctx.metrics.registry, () => publisherRepo.countDueUnpublished(ctx.clock.now()));
    const publisher = new Publisher(ctx.db, publisherRepo, campaignsRepo, ctx.clock, hub, ctx.events, (tx, t) => posts.scheduleNextOccurrence(tx, t), metrics, ctx.logger.child({ component: 'publisher' }), {
      batch: cfg.publisherBatch,
      concurrency: cfg.publisherConcurrency,
      leaseSeconds: cfg.leaseSeconds,
      maxAttempts: cfg.maxAttempts,
      intervalMs: cfg.publisherIntervalMs,
      lookaheadMs: cfg.publisherLookaheadMs,
      loadMedia: (workspaceId, ids) => media.forPublish(workspaceId, ids),
    });

    return {
      services: { channels, media, posts, campaigns, publisher, storage },
      contract: {
        async campaignProgress(workspaceId, campaignId) {
          try {
            return (await campaigns.get(workspaceId, campaignId)).progress;
          } catch (err) {
            if (err instanceof AppError && err.code === 'not_found') return null;
            throw err;
          }
        },
      },
      routes(app) {
        contentRoutes(app, { channels, media, posts, campaigns });
      },
      async start() {
        publisher.start();
      },
      async stop() {
        await publisher.stop();
        await storage.close();
      },
      readiness: { storage: () => storage.ping() },
      personalData: {
        describes: ['posts authored by the user (text, title, link, schedule, per-channel copies); kept until the user is deleted', 'media files uploaded by the user', 'reviews (approve/reject) made by the user'],
        async exportUser(userId) {
          return { posts: await posts.ofAuthor(userId), media: await media.ofUser(userId) };
        },
        async eraseUser(userId) {
          const { posts: p, reviews } = await posts.eraseAuthor(userId);
          const m = await media.removeOfUser(userId);
          return { posts: p, reviews, media: m };
        },
      },
      retention: [
        {
          name: 'content posts and media (user_content)',
          class: 'user_content',
          keep: 'until user deletion',
          // Erasure removes a user's content; the weekly cleanup has nothing to expire by age.
          purge: async () => 0,
        },
        {
          name: 'uploaded media never attached to a post',
          class: 'operational',
          keep: `${UNATTACHED_MEDIA_DAYS} days`,
          purge: (now) => media.removeUnattached(new Date(now.getTime() - UNATTACHED_MEDIA_DAYS * 86_400_000)),
        },
      ],
    };
  },
};
