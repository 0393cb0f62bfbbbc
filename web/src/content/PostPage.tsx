import { useMemo, useState } from 'react';
import { Link, TextArea, TextField, Label } from 'react-aria-components';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useNavigate, useParams } from 'react-router';
import { api, call } from '../api/client';
import { Button, Card, ErrorMessage, Loading, Page } from '../ui/ui';
import { allZones, browserZone, ContentStatus, networkName, useCampaigns, useChannels, useContentSettings, usePost, wallTime, type Post } from './api';
import { ContentNav, NativeSelect } from './ContentNav';

/** One post: its channels with status, provider errors and retry; review; reschedule; publish now. */
export default function PostPage() {
  const { workspaceId = '', postId = '' } = useParams();
  const post = usePost(workspaceId, postId);
  return (
    <Page title="Post">
      <ContentNav workspaceId={workspaceId} />
      {post.isPending && <Loading />}
      {post.isError && <ErrorMessage error={post.error} />}
      {post.data && <PostDetail workspaceId={workspaceId} post={post.data} />}
    </Page>
  );
}

function PostDetail({ workspaceId, post }: { workspaceId: string; post: Post }) {
  const queryClient = useQueryClient();
  const navigate = useNavigate();
  const channels = useChannels(workspaceId);
  const campaigns = useCampaigns(workspaceId);
  const settings = useContentSettings(workspaceId);
  const zones = useMemo(allZones, []);
  const channelById = new Map((channels.data ?? []).map((c) => [c.id, c]));
  const [comment, setComment] = useState('');
  const [tz, setTz] = useState(post.timezone !== 'UTC' || post.scheduledAt ? post.timezone : browserZone());
  const [at, setAt] = useState(post.scheduledAt ?? wallTime(new Date(Date.now() + 3600_000), tz).slice(0, 14) + '00');
  const p = { params: { path: { workspaceId, postId: post.id } } };
  const done = () => queryClient.invalidateQueries({ queryKey: ['content', workspaceId] });
  const action = useMutation({
    mutationFn: async (a: { kind: 'submit' | 'approve' | 'reject' | 'now' | 'queue' | 'at' | 'cancel' | 'delete' } | { kind: 'retry'; targetId: string }) => {
      switch (a.kind) {
        case 'submit':
          return call(api.POST('/v1/workspaces/{workspaceId}/posts/{postId}/submit', p));
        case 'approve':
          return call(api.POST('/v1/workspaces/{workspaceId}/posts/{postId}/approve', { ...p, body: { comment: comment || null } }));
        case 'reject':
          return call(api.POST('/v1/workspaces/{workspaceId}/posts/{postId}/reject', { ...p, body: { comment } }));
        case 'now':
          return call(api.POST('/v1/workspaces/{workspaceId}/posts/{postId}/schedule', { ...p, body: { mode: 'now' } }));
        case 'queue':
          return call(api.POST('/v1/workspaces/{workspaceId}/posts/{postId}/schedule', { ...p, body: { mode: 'queue' } }));
        case 'at':
          return call(api.POST('/v1/workspaces/{workspaceId}/posts/{postId}/schedule', { ...p, body: { mode: 'at', scheduledAt: at, timezone: tz, rrule: post.rrule } }));
        case 'cancel':
          return call(api.POST('/v1/workspaces/{workspaceId}/posts/{postId}/cancel', p));
        case 'delete':
          await call(api.DELETE('/v1/workspaces/{workspaceId}/posts/{postId}', p));
          navigate(`/w/${workspaceId}/content`);
          return null;
        case 'retry':
          return call(api.POST('/v1/workspaces/{workspaceId}/posts/{postId}/targets/{targetId}/retry', { params: { path: { workspaceId, postId: post.id, targetId: a.targetId } } }));
      }
    },
    onSuccess: () => {
      setComment('');
      return done();
    },
  });
  const busy = action.isPending;
  const requireApproval = settings.data?.requireApproval ?? false;
  const canSchedule = !requireApproval || post.status === 'approved' || post.status === 'scheduled';
  const editable = ['draft', 'in_review', 'approved', 'scheduled'].includes(post.status);
  const campaign = campaigns.data?.find((c) => c.id === post.campaignId);

  return (
    <div className="stack">
      <Card>
        <div className="cs-post-head">
          <h2 className="card-title">{post.title || 'Untitled post'}</h2>
          <ContentStatus status={post.status} />
        </div>
        <p className="cs-preview-text">{post.body}</p>
        {post.link && <p>{post.link}</p>}
        <dl className="cs-facts">
          <dt>When</dt>
          <dd>{post.scheduledAt ? `${post.scheduledAt.replace('T', ' ')} (${post.timezone})` : post.targets[0] ? new Date(post.targets[0].dueAt).toLocaleString() : 'Not scheduled'}</dd>
          {post.rrule && (
            <>
              <dt>Repeats</dt>
              <dd>
                <code>{post.rrule}</code>
              </dd>
            </>
          )}
          {campaign && (
            <>
              <dt>Campaign</dt>
              <dd>
                <Link href={`/w/${workspaceId}/content/campaigns`}>{campaign.name}</Link>
              </dd>
            </>
          )}
          <dt>Media</dt>
          <dd>{post.mediaIds.length || 'none'}</dd>
        </dl>
        {editable && (
          <Link className="btn btn-secondary" href={`/w/${workspaceId}/content/posts/${post.id}/edit`}>
            Edit
          </Link>
        )}
      </Card>

      <ErrorMessage error={action.error} />
      {action.isSuccess && (
        <p role="status" className="alert alert-success">
          Done.
        </p>
      )}

      <Card title="Channels">
        {post.targets.length === 0 && (
          <ul className="plain-list">
            {post.channels.map((c) => (
              <li key={c.channelId}>
                {channelById.get(c.channelId)?.name ?? c.channelId} <span className="muted">· not scheduled</span>
              </li>
            ))}
          </ul>
        )}
        {post.targets.length > 0 && (
          <table className="table" tabIndex={0}>
            <caption className="sr-only">Publication per channel</caption>
            <thead>
              <tr>
                <th scope="col">Channel</th>
                <th scope="col">Due</th>
                <th scope="col">Status</th>
                <th scope="col">Result</th>
              </tr>
            </thead>
            <tbody>
              {post.targets.map((t) => {
                const ch = channelById.get(t.channelId);
                return (
                  <tr key={t.id} data-target={t.id}>
                    <td>
                      {ch?.name ?? t.channelId} <span className="muted">{ch ? networkName(ch.connector) : ''}</span>
                    </td>
                    <td>{new Date(t.dueAt).toLocaleString()}</td>
                    <td>
                      <ContentStatus status={t.status} />
                      {t.attempts > 0 && <span className="muted"> · {t.attempts} attempt{t.attempts === 1 ? '' : 's'}</span>}
                    </td>
                    <td>
                      {t.url && (
                        <a href={t.url} rel="noreferrer noopener" target="_blank">
                          View
                        </a>
                      )}
                      {t.error && (
                        <p className="cs-error-text">
                          <strong>Provider said:</strong> {t.error} {t.errorCode && <code>({t.errorCode})</code>}
                        </p>
                      )}
                      {(t.status === 'failed' || t.status === 'skipped') && (
                        <Button variant="secondary" onPress={() => action.mutate({ kind: 'retry', targetId: t.id })} isDisabled={busy} aria-label={`Retry on ${ch?.name ?? 'this channel'}`}>
                          Retry
                        </Button>
                      )}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        )}
      </Card>

      {(requireApproval || post.status === 'in_review' || post.review.at) && (
        <Card title="Review">
          {post.review.at && (
            <p>
              Last decision {new Date(post.review.at).toLocaleString()}
              {post.review.comment && (
                <>
                  : <q>{post.review.comment}</q>
                </>
              )}
            </p>
          )}
          {post.status === 'draft' && (
            <Button onPress={() => action.mutate({ kind: 'submit' })} isDisabled={busy}>
              Submit for review
            </Button>
          )}
          {post.status === 'in_review' && (
            <div className="stack">
              <TextField value={comment} onChange={setComment} className="field">
                <Label>Comment (required to reject)</Label>
                <TextArea className="cs-textarea" rows={2} />
              </TextField>
              <div className="row">
                <Button onPress={() => action.mutate({ kind: 'approve' })} isDisabled={busy}>
                  Approve
                </Button>
                <Button variant="danger" onPress={() => action.mutate({ kind: 'reject' })} isDisabled={busy || !comment.trim()}>
                  Reject
                </Button>
              </div>
            </div>
          )}
        </Card>
      )}

      {editable && (
        <Card title="Schedule">
          {!canSchedule && <p className="muted">This workspace requires an approval before scheduling.</p>}
          <div className="row">
            <div className="field">
              <label htmlFor="pp-at">Date and time</label>
              <input id="pp-at" type="datetime-local" value={at} onChange={(e) => setAt(e.target.value)} />
            </div>
            <NativeSelect id="pp-tz" label="Time zone" value={tz} onChange={setTz} options={zones.map((z) => ({ value: z, label: z }))} />
            <Button onPress={() => action.mutate({ kind: 'at' })} isDisabled={busy || !canSchedule}>
              {post.status === 'scheduled' ? 'Reschedule' : 'Schedule'}
            </Button>
          </div>
          <div className="row cs-gap">
            <Button variant="secondary" onPress={() => action.mutate({ kind: 'now' })} isDisabled={busy || !canSchedule}>
              Publish now
            </Button>
            <Button variant="secondary" onPress={() => action.mutate({ kind: 'queue' })} isDisabled={busy || !canSchedule}>
              Add to queue
            </Button>
            <Button variant="danger" onPress={() => action.mutate({ kind: 'cancel' })} isDisabled={busy}>
              Cancel post
            </Button>
            {post.status !== 'scheduled' && (
              <Button variant="danger" onPress={() => action.mutate({ kind: 'delete' })} isDisabled={busy}>
                Delete
              </Button>
            )}
          </div>
        </Card>
      )}
    </div>
  );
}
