import { useEffect, useMemo, useRef, useState, type FormEvent } from 'react';
import { Checkbox, CheckboxGroup, Form, Label, Link, Radio, RadioGroup } from 'react-aria-components';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useNavigate, useParams, useSearchParams } from 'react-router';
import { api, ApiError, call } from '../api/client';
import { Button, Card, Empty, ErrorMessage, Field, Loading, Page } from '../ui/ui';
import { allZones, browserZone, charCount, networkName, NETWORK, uploadMedia, useCampaigns, useChannels, useContentSettings, usePost, wallTime, type Channel, type Media, type Post } from './api';
import { ContentNav, NativeSelect } from './ContentNav';
import { RruleBuilder } from './RruleBuilder';

type When = 'draft' | 'review' | 'at' | 'now' | 'queue';

interface Upload {
  key: string;
  name: string;
  progress: number;
  media?: Media;
  error?: unknown;
}

/** Compose (or edit) a post: per-channel text, live counts against each channel's limit, previews, media, and when it goes out. */
export default function Compose() {
  const { workspaceId = '', postId } = useParams();
  const existing = usePost(workspaceId, postId);
  const channels = useChannels(workspaceId);
  if (postId && existing.isPending) return <Loading />;
  if (existing.isError) return <ErrorMessage error={existing.error} />;
  if (channels.isPending) return <Loading label="Loading channels…" />;
  if (channels.isError) return <ErrorMessage error={channels.error} />;
  return <ComposeForm key={postId ?? 'new'} workspaceId={workspaceId} post={existing.data} channels={channels.data} />;
}

function ComposeForm({ workspaceId, post, channels }: { workspaceId: string; post?: Post; channels: Channel[] }) {
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const [search] = useSearchParams();
  const campaigns = useCampaigns(workspaceId);
  const settings = useContentSettings(workspaceId);
  const zones = useMemo(allZones, []);
  const [title, setTitle] = useState(post?.title ?? '');
  const [body, setBody] = useState(post?.body ?? '');
  const [link, setLink] = useState(post?.link ?? '');
  const [selected, setSelected] = useState<string[]>(post?.channels.map((c) => c.channelId) ?? (channels.length === 1 ? [channels[0]!.id] : []));
  const [overrides, setOverrides] = useState<Record<string, string | null>>(Object.fromEntries((post?.channels ?? []).map((c) => [c.channelId, c.body])));
  const [campaignId, setCampaignId] = useState(post?.campaignId ?? search.get('campaign') ?? '');
  const [uploads, setUploads] = useState<Upload[]>(() => (post?.mediaIds ?? []).map((id) => ({ key: id, name: id, progress: 1, media: { id } as Media })));
  const [altText, setAltText] = useState('');
  const fileRef = useRef<HTMLInputElement>(null);
  const tz0 = post?.timezone && post.timezone !== 'UTC' ? post.timezone : (localStorage.getItem('v01t.calendar.tz') ?? browserZone());
  const [tz, setTz] = useState(tz0);
  const defaultAt = search.get('date') ? `${search.get('date')}T09:00` : wallTime(new Date(Date.now() + 3600_000), tz0).slice(0, 14) + '00';
  const [at, setAt] = useState(post?.scheduledAt ?? defaultAt);
  const [rrule, setRrule] = useState<string | null>(post?.rrule ?? null);
  const [when, setWhen] = useState<When>(post?.scheduledAt ? 'at' : 'draft');
  const requireApproval = settings.data?.requireApproval ?? false;
  const canSchedule = !requireApproval || post?.status === 'approved' || post?.status === 'scheduled';
  useEffect(() => {
    if (!canSchedule && ['at', 'now', 'queue'].includes(when)) setWhen('review');
  }, [canSchedule, when]);

  const chosen = channels.filter((c) => selected.includes(c.id));
  const mediaIds = uploads.filter((u) => u.media).map((u) => u.media!.id);

  async function addFile(file: File) {
    const key = `${file.name}-${Date.now()}`;
    setUploads((u) => [...u, { key, name: file.name, progress: 0 }]);
    try {
      const media = await uploadMedia(workspaceId, file, altText, (p) => setUploads((u) => u.map((x) => (x.key === key ? { ...x, progress: p } : x))));
      setUploads((u) => u.map((x) => (x.key === key ? { ...x, progress: 1, media } : x)));
      setAltText('');
    } catch (error) {
      setUploads((u) => u.map((x) => (x.key === key ? { ...x, error } : x)));
    }
  }

  const save = useMutation({
    mutationFn: async () => {
      const content = {
        title: title || null,
        body,
        link: link || null,
        mediaIds,
        campaignId: campaignId || null,
        timezone: tz,
        channels: selected.map((channelId) => ({ channelId, body: overrides[channelId] ?? null })),
      };
      const saved = post
        ? (await call(api.PATCH('/v1/workspaces/{workspaceId}/posts/{postId}', { params: { path: { workspaceId, postId: post.id } }, body: content }))).post
        : (await call(api.POST('/v1/workspaces/{workspaceId}/posts', { params: { path: { workspaceId } }, body: content }))).post;
      const p = { params: { path: { workspaceId, postId: saved.id } } };
      if (when === 'review' && saved.status === 'draft') return (await call(api.POST('/v1/workspaces/{workspaceId}/posts/{postId}/submit', p))).post;
      if (when === 'at') return (await call(api.POST('/v1/workspaces/{workspaceId}/posts/{postId}/schedule', { ...p, body: { mode: 'at', scheduledAt: at, timezone: tz, rrule } }))).post;
      if (when === 'now') return (await call(api.POST('/v1/workspaces/{workspaceId}/posts/{postId}/schedule', { ...p, body: { mode: 'now' } }))).post;
      if (when === 'queue') return (await call(api.POST('/v1/workspaces/{workspaceId}/posts/{postId}/schedule', { ...p, body: { mode: 'queue' } }))).post;
      return saved;
    },
    onSuccess: async (saved) => {
      await queryClient.invalidateQueries({ queryKey: ['content', workspaceId] });
      if (when === 'at') navigate(`/w/${workspaceId}/content?date=${at.slice(0, 10)}&tz=${encodeURIComponent(tz)}`);
      else navigate(`/w/${workspaceId}/content/posts/${saved.id}`);
    },
  });
  const err = save.error instanceof ApiError ? save.error : null;

  function submit(e: FormEvent) {
    e.preventDefault();
    save.mutate();
  }

  if (channels.length === 0) {
    return (
      <Page title="Compose a post">
        <ContentNav workspaceId={workspaceId} />
        <Empty title="Add a channel first">
          <p>Posts go to channels. Bind a channel to a connection that can publish.</p>
          <Link className="btn btn-primary" href={`/w/${workspaceId}/content/channels`}>
            Add a channel
          </Link>
        </Empty>
      </Page>
    );
  }

  return (
    <Page title={post ? 'Edit post' : 'Compose a post'}>
      <ContentNav workspaceId={workspaceId} />
      <Form onSubmit={submit} className="cs-compose" validationBehavior="aria">
        <div className="cs-compose-main">
          <Card title="Content">
            <CheckboxGroup value={selected} onChange={setSelected} className="checkbox-group" isRequired isInvalid={Boolean(err?.fieldError('channels'))}>
              <Label>Channels</Label>
              <div className="row">
                {channels.map((c) => (
                  <Checkbox key={c.id} value={c.id} className="checkbox">
                    <span className="checkbox-box" aria-hidden="true" />
                    {c.name} <span className="muted">({networkName(c.connector)})</span>
                  </Checkbox>
                ))}
              </div>
            </CheckboxGroup>
            <Field label="Title (optional)" value={title} onChange={setTitle} maxLength={300} />
            <div className="field">
              <label htmlFor="cs-body">Text</label>
              <textarea id="cs-body" className="cs-textarea" rows={5} value={body} onChange={(e) => setBody(e.target.value)} aria-describedby="cs-body-count" aria-invalid={Boolean(err?.fieldError('body'))} />
              <span id="cs-body-count" className="field-description" aria-live="polite">
                {charCount(body)} characters
                {chosen.length > 0 && ` · shortest limit ${Math.min(...chosen.map((c) => c.limits.maxTextLength))}`}
              </span>
            </div>
            <Field label="Link (optional)" value={link} onChange={setLink} type="url" error={err?.fieldError('link')} />
            {campaigns.data && campaigns.data.length > 0 && (
              <NativeSelect id="cs-campaign" label="Campaign" value={campaignId} onChange={setCampaignId} options={[{ value: '', label: 'No campaign' }, ...campaigns.data.map((c) => ({ value: c.id, label: c.name }))]} />
            )}
          </Card>
          <Card title="Media">
            <div className="row">
              <Field label="Alt text for the next file" value={altText} onChange={setAltText} description="Describe the image for people who cannot see it." maxLength={1500} />
              <div className="field">
                <label htmlFor="cs-file">File</label>
                <input
                  id="cs-file"
                  ref={fileRef}
                  type="file"
                  accept="image/png,image/jpeg,image/gif,image/webp,video/mp4"
                  onChange={(e) => {
                    const f = e.target.files?.[0];
                    if (f) void addFile(f);
                    e.target.value = '';
                  }}
                />
              </div>
            </div>
            <ul className="plain-list cs-uploads">
              {uploads.map((u) => (
                <li key={u.key}>
                  <div className="cs-upload-row">
                    <span>{u.media?.fileName ?? u.name}</span>
                    {!u.error && u.progress < 1 && (
                      <progress max={1} value={u.progress} aria-label={`Uploading ${u.name}`}>
                        {Math.round(u.progress * 100)} %
                      </progress>
                    )}
                    {u.media && <span className="cs-badge cs-published">Uploaded</span>}
                    {u.media?.altText && <span className="muted">Alt: {u.media.altText}</span>}
                    {u.media?.fileName && <AltTextEditor workspaceId={workspaceId} media={u.media} onSaved={(m) => setUploads((x) => x.map((y) => (y.key === u.key ? { ...y, media: m } : y)))} />}
                    {u.media?.sha256 && <code className="muted" title="SHA-256 checked by the server">{u.media.sha256.slice(0, 12)}…</code>}
                    <Button variant="secondary" onPress={() => setUploads((x) => x.filter((y) => y.key !== u.key))} aria-label={`Remove ${u.name}`}>
                      Remove
                    </Button>
                  </div>
                  {u.error !== undefined && <ErrorMessage error={u.error} />}
                </li>
              ))}
            </ul>
          </Card>
          <Card title="When">
            <RadioGroup value={when} onChange={(v) => setWhen(v as When)} className="radio-group" aria-label="When">
              <Radio value="draft" className="radio">
                Save as draft
              </Radio>
              {requireApproval && (
                <Radio value="review" className="radio">
                  Submit for review
                </Radio>
              )}
              <Radio value="at" className="radio" isDisabled={!canSchedule}>
                Schedule at a time
              </Radio>
              <Radio value="queue" className="radio" isDisabled={!canSchedule}>
                Add to queue (each channel's next free slot)
              </Radio>
              <Radio value="now" className="radio" isDisabled={!canSchedule}>
                Publish now
              </Radio>
            </RadioGroup>
            {!canSchedule && <p className="muted">This workspace requires an approval before a post is scheduled: submit it for review.</p>}
            {when === 'at' && (
              <div className="stack">
                <div className="row">
                  <div className="field">
                    <label htmlFor="cs-at">Date and time</label>
                    <input id="cs-at" type="datetime-local" value={at} onChange={(e) => setAt(e.target.value)} aria-invalid={Boolean(err?.fieldError('scheduledAt'))} aria-describedby="cs-at-err" />
                    <span id="cs-at-err" className="field-error">
                      {err?.fieldError('scheduledAt')}
                    </span>
                  </div>
                  <NativeSelect id="cs-tz" label="Time zone" value={tz} onChange={setTz} options={zones.map((z) => ({ value: z, label: z }))} />
                </div>
                <RruleBuilder value={rrule} onChange={setRrule} />
              </div>
            )}
          </Card>
          <ErrorMessage error={save.error} />
          <div className="row">
            <Button type="submit" isDisabled={save.isPending || selected.length === 0 || uploads.some((u) => !u.media && !u.error)}>
              {save.isPending ? 'Saving…' : { draft: 'Save draft', review: 'Submit for review', at: 'Schedule', now: 'Publish now', queue: 'Add to queue' }[when]}
            </Button>
          </div>
        </div>
        <aside className="cs-compose-side" aria-label="Per-channel text and previews">
          {chosen.length === 0 && <p className="muted">Pick a channel to see its preview.</p>}
          {chosen.map((c) => (
            <ChannelPreview
              key={c.id}
              channel={c}
              body={body}
              title={title}
              link={link}
              media={uploads.filter((u) => u.media).map((u) => u.media!)}
              workspaceId={workspaceId}
              override={overrides[c.id] ?? null}
              onOverride={(v) => setOverrides((o) => ({ ...o, [c.id]: v }))}
              error={err?.problem.errors?.find((e) => e.path === `channels.${selected.indexOf(c.id)}`)?.message}
            />
          ))}
        </aside>
      </Form>
    </Page>
  );
}

function ChannelPreview({ channel, body, title, link, media, workspaceId, override, onOverride, error }: { channel: Channel; body: string; title: string; link: string; media: Media[]; workspaceId: string; override: string | null; onOverride: (v: string | null) => void; error?: string }) {
  const text = override ?? body;
  const count = charCount(text);
  const limit = channel.limits.maxTextLength;
  const over = count > limit;
  const id = `ov-${channel.id}`;
  const net = NETWORK[channel.connector];
  return (
    <section className="card cs-preview-card" aria-labelledby={`${id}-h`}>
      <h2 id={`${id}-h`} className="card-title">
        {channel.name} <span className="muted">· {networkName(channel.connector)}</span>
      </h2>
      <p className={over ? 'cs-count cs-count-over' : 'cs-count'} aria-live="polite" data-testid={`count-${channel.id}`}>
        {count} / {limit} characters{over && ` — ${count - limit} over the limit`}
        {media.length > channel.limits.maxMedia && ` · ${media.length} media, at most ${channel.limits.maxMedia}`}
      </p>
      {error && <p className="field-error">{error}</p>}
      {override === null ? (
        <Button variant="secondary" onPress={() => onOverride(body)}>
          Write different text for {channel.name}
        </Button>
      ) : (
        <div className="field">
          <label htmlFor={id}>Text for {channel.name}</label>
          <textarea id={id} className="cs-textarea" rows={3} value={override} onChange={(e) => onOverride(e.target.value)} aria-invalid={over} />
          <Button variant="secondary" onPress={() => onOverride(null)}>
            Use the main text
          </Button>
        </div>
      )}
      <div className={`cs-preview cs-preview-${channel.connector}`} aria-label={`Preview on ${networkName(channel.connector)}`} role="group">
        <div className="cs-preview-head">
          <span className="cs-avatar" aria-hidden="true" />
          <span>
            <strong>{channel.name}</strong> <span className="muted">{net?.handle ?? ''}</span>
          </span>
        </div>
        {title && channel.connector !== 'bluesky' && <p className="cs-preview-title">{title}</p>}
        <p className="cs-preview-text">{text || <span className="muted">Nothing to publish yet.</span>}</p>
        {link && <p className="cs-preview-link">{link}</p>}
        {media.length > 0 && (
          <div className="cs-preview-media">
            {media.map((m) => (
              <img key={m.id} src={`/v1/workspaces/${workspaceId}/media/${m.id}/content`} alt={m.altText ?? ''} />
            ))}
          </div>
        )}
      </div>
    </section>
  );
}

/** Changes the alternative text of an uploaded file (PATCH …/media/{id}); published with the file. */
function AltTextEditor({ workspaceId, media, onSaved }: { workspaceId: string; media: Media; onSaved: (m: Media) => void }) {
  const [open, setOpen] = useState(false);
  const [text, setText] = useState(media.altText ?? '');
  const save = useMutation({
    mutationFn: async () => (await call(api.PATCH('/v1/workspaces/{workspaceId}/media/{mediaId}', { params: { path: { workspaceId, mediaId: media.id } }, body: { altText: text || null } }))).media,
    onSuccess: (m) => {
      onSaved(m);
      setOpen(false);
    },
  });
  if (!open)
    return (
      <Button variant="secondary" onPress={() => setOpen(true)} aria-label={`Edit alt text of ${media.fileName}`}>
        Edit alt text
      </Button>
    );
  return (
    <span className="row">
      <Field label={`Alt text of ${media.fileName}`} value={text} onChange={setText} maxLength={1500} />
      <Button variant="secondary" onPress={() => save.mutate()} isDisabled={save.isPending}>
        Save alt text
      </Button>
      <ErrorMessage error={save.error} />
    </span>
  );
}
