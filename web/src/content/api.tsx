import { useQuery } from '@tanstack/react-query';
import { api, ApiError, call } from '../api/client';
import type { paths } from '../api/schema';

type Json<P extends keyof paths, M extends 'get' | 'post'> = paths[P][M] extends { responses: { 200: { content: { 'application/json': infer T } } } }
  ? T
  : paths[P][M] extends { responses: { 201: { content: { 'application/json': infer T } } } }
    ? T
    : never;

export type Channel = Json<'/v1/workspaces/{workspaceId}/channels', 'get'>['channels'][number];
export type Post = Json<'/v1/workspaces/{workspaceId}/posts/{postId}', 'get'>['post'];
export type Campaign = Json<'/v1/workspaces/{workspaceId}/campaigns', 'get'>['campaigns'][number];
export type Calendar = Json<'/v1/workspaces/{workspaceId}/calendar', 'get'>;
export type CalendarPost = Calendar['days'][number]['posts'][number];
export type Media = Json<'/v1/workspaces/{workspaceId}/media/{mediaId}', 'get'>['media'];
export type PostStatus = Post['status'];
export type TargetStatus = Post['targets'][number]['status'];

/** Status → colour class: the same on the calendar, the lists and the legend. */
export const STATUS_LABEL: Record<string, string> = {
  draft: 'Draft',
  in_review: 'In review',
  approved: 'Approved',
  scheduled: 'Scheduled',
  publishing: 'Publishing',
  published: 'Published',
  partially_published: 'Partly published',
  failed: 'Failed',
  cancelled: 'Cancelled',
  skipped: 'Skipped',
};

export function ContentStatus({ status }: { status: string }) {
  return <span className={`cs-badge cs-${status}`}>{STATUS_LABEL[status] ?? status}</span>;
}

/** What a network is called on screen, and how its post preview looks. */
export const NETWORK: Record<string, { name: string; handle: string }> = {
  mastodon: { name: 'Mastodon', handle: '@you@instance' },
  bluesky: { name: 'Bluesky', handle: '@you.bsky.social' },
  discord: { name: 'Discord', handle: 'v01t bot' },
  webhook: { name: 'Webhook', handle: 'POST to your endpoint' },
};

export const networkName = (connector: string) => NETWORK[connector]?.name ?? connector;

/** Characters as the API counts them (code points), so the counter agrees with the server's limit. */
export const charCount = (text: string) => [...text].length;

const path = (workspaceId: string) => ({ params: { path: { workspaceId } } });

export function useChannels(workspaceId: string) {
  return useQuery({ queryKey: ['content', workspaceId, 'channels'], queryFn: async () => (await call(api.GET('/v1/workspaces/{workspaceId}/channels', path(workspaceId)))).channels });
}

export function useCampaigns(workspaceId: string) {
  return useQuery({ queryKey: ['content', workspaceId, 'campaigns'], queryFn: async () => (await call(api.GET('/v1/workspaces/{workspaceId}/campaigns', path(workspaceId)))).campaigns });
}

export function usePosts(workspaceId: string, query: { status?: 'draft' | 'in_review' | 'approved' | 'scheduled' | 'cancelled'; limit?: number; campaignId?: string } = {}) {
  return useQuery({
    queryKey: ['content', workspaceId, 'posts', query],
    queryFn: async () => (await call(api.GET('/v1/workspaces/{workspaceId}/posts', { params: { path: { workspaceId }, query: { limit: 50, ...query } } }))).posts,
  });
}

export function usePost(workspaceId: string, postId: string | undefined) {
  return useQuery({
    queryKey: ['content', workspaceId, 'post', postId],
    enabled: Boolean(postId),
    // While it waits for or goes through publishing, follow the server's publisher.
    refetchInterval: (q) => (['scheduled', 'publishing'].includes(q.state.data?.status ?? '') ? 3000 : false),
    queryFn: async () => (await call(api.GET('/v1/workspaces/{workspaceId}/posts/{postId}', { params: { path: { workspaceId, postId: postId! } } }))).post,
  });
}

export function useContentSettings(workspaceId: string) {
  return useQuery({ queryKey: ['content', workspaceId, 'settings'], queryFn: async () => (await call(api.GET('/v1/workspaces/{workspaceId}/content/settings', path(workspaceId)))).settings });
}

export function useCalendar(workspaceId: string, from: string, to: string, tz: string) {
  return useQuery({
    queryKey: ['content', workspaceId, 'calendar', from, to, tz],
    queryFn: () => call(api.GET('/v1/workspaces/{workspaceId}/calendar', { params: { path: { workspaceId }, query: { from, to, tz } } })),
    // Publishing happens on the server's clock: keep the colours current while the screen is open.
    refetchInterval: 5000,
  });
}

/** The browser's IANA zone, the default "workspace" zone of the calendar until one is chosen. */
export const browserZone = () => Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';

export function allZones(): string[] {
  const supported = (Intl as unknown as { supportedValuesOf?: (k: string) => string[] }).supportedValuesOf?.('timeZone') ?? [];
  return ['UTC', ...supported.filter((z) => z !== 'UTC')];
}

/** Local wall time (YYYY-MM-DDTHH:MM) of an instant in an IANA zone. */
export function wallTime(instant: Date, tz: string): string {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-CA', { timeZone: tz, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' })
      .formatToParts(instant)
      .map((p) => [p.type, p.value]),
  );
  return `${parts.year}-${parts.month}-${parts.day}T${parts.hour}:${parts.minute}`;
}

/**
 * Uploads a media file with progress (fetch has no upload progress; XMLHttpRequest does), sending
 * the SHA-256 the browser computed so a corrupted transfer is refused by the server.
 */
export async function uploadMedia(workspaceId: string, file: File, altText: string, onProgress: (fraction: number) => void, checksum?: string): Promise<Media> {
  const sha = checksum ?? (await sha256Hex(file));
  const form = new FormData();
  if (altText) form.append('altText', altText);
  form.append('file', file, file.name);
  const token = document.cookie
    .split('; ')
    .find((c) => c.startsWith('v01t_csrf='))
    ?.slice('v01t_csrf='.length);
  return new Promise<Media>((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', `/v1/workspaces/${encodeURIComponent(workspaceId)}/media`);
    xhr.withCredentials = true;
    if (token) xhr.setRequestHeader('x-csrf-token', decodeURIComponent(token));
    xhr.setRequestHeader('x-checksum-sha256', sha);
    xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total);
    xhr.onerror = () => reject(new ApiError({ title: 'Upload failed', status: 0, code: 'network_error', detail: 'The connection broke during the upload.' }));
    xhr.onload = () => {
      let body: Record<string, unknown> = {};
      try {
        body = JSON.parse(xhr.responseText) as Record<string, unknown>;
      } catch {
        /* not JSON */
      }
      if (xhr.status === 201) {
        onProgress(1);
        resolve((body as { media: Media }).media);
      } else {
        reject(
          new ApiError({
            title: (body.title as string) ?? 'Upload failed',
            status: xhr.status,
            detail: body.detail as string | undefined,
            code: (body.code as string) ?? 'upload_failed',
            errors: body.errors as { path: string; message: string }[] | undefined,
          }),
        );
      }
    };
    xhr.send(form);
  });
}

export async function sha256Hex(file: Blob): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', await file.arrayBuffer());
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}
