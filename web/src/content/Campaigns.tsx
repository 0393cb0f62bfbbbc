import { useState, type FormEvent } from 'react';
import { Form, Link, TextArea, TextField, Label } from 'react-aria-components';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useParams } from 'react-router';
import { api, ApiError, call } from '../api/client';
import { Button, Card, Empty, ErrorMessage, Field, Loading, Page } from '../ui/ui';
import { useCampaigns, type Campaign } from './api';
import { Bar, ContentNav } from './ContentNav';

/** Campaigns: a date range and a goal, with how far their posts got (scheduled, published, failed). */
export default function Campaigns() {
  const { workspaceId = '' } = useParams();
  const campaigns = useCampaigns(workspaceId);
  return (
    <Page title="Campaigns">
      <ContentNav workspaceId={workspaceId} />
      <NewCampaign workspaceId={workspaceId} />
      {campaigns.isPending && <Loading label="Loading campaigns…" />}
      {campaigns.isError && <ErrorMessage error={campaigns.error} />}
      {campaigns.isSuccess && campaigns.data.length === 0 && (
        <Empty title="No campaign yet">
          <p>Group the posts of a launch or a season into a campaign and follow its progress here.</p>
        </Empty>
      )}
      <ul className="cs-campaigns">
        {campaigns.data?.map((c) => (
          <li key={c.id}>
            <CampaignCard workspaceId={workspaceId} campaign={c} />
          </li>
        ))}
      </ul>
    </Page>
  );
}

export function CampaignProgress({ campaign }: { campaign: Campaign }) {
  const { scheduled, published, failed } = campaign.progress;
  const total = scheduled + published + failed;
  return (
    <div className="cs-progress" data-campaign={campaign.id}>
      <Bar label="Published" value={published} max={total} tone="published" />
      <Bar label="Scheduled" value={scheduled} max={total} tone="scheduled" />
      <Bar label="Failed" value={failed} max={total} tone="failed" />
    </div>
  );
}

function CampaignCard({ workspaceId, campaign }: { workspaceId: string; campaign: Campaign }) {
  const today = new Date().toISOString().slice(0, 10);
  const phase = today < campaign.startsOn ? 'upcoming' : today > campaign.endsOn ? 'ended' : 'running';
  return (
    <section className="card" aria-labelledby={`c-${campaign.id}`}>
      <div className="cs-post-head">
        <h2 className="card-title" id={`c-${campaign.id}`}>
          {campaign.name}
        </h2>
        <span className={`cs-badge cs-phase-${phase}`}>{phase}</span>
      </div>
      <p className="muted">
        {campaign.startsOn} → {campaign.endsOn} · {campaign.progress.posts} post{campaign.progress.posts === 1 ? '' : 's'}
      </p>
      {campaign.goal && (
        <p>
          <strong>Goal:</strong> {campaign.goal}
        </p>
      )}
      <CampaignProgress campaign={campaign} />
      <Link className="btn btn-secondary" href={`/w/${workspaceId}/content/compose?campaign=${campaign.id}`}>
        Add a post
      </Link>
    </section>
  );
}

function NewCampaign({ workspaceId }: { workspaceId: string }) {
  const queryClient = useQueryClient();
  const today = new Date().toISOString().slice(0, 10);
  const [name, setName] = useState('');
  const [goal, setGoal] = useState('');
  const [startsOn, setStartsOn] = useState(today);
  const [endsOn, setEndsOn] = useState(new Date(Date.now() + 30 * 86_400_000).toISOString().slice(0, 10));
  const create = useMutation({
    mutationFn: () => call(api.POST('/v1/workspaces/{workspaceId}/campaigns', { params: { path: { workspaceId } }, body: { name, goal, startsOn, endsOn } })),
    onSuccess: () => {
      setName('');
      setGoal('');
      return queryClient.invalidateQueries({ queryKey: ['content', workspaceId, 'campaigns'] });
    },
  });
  const err = create.error instanceof ApiError ? create.error : null;
  function submit(e: FormEvent) {
    e.preventDefault();
    create.mutate();
  }
  return (
    <Card title="New campaign">
      <Form onSubmit={submit} className="stack" validationBehavior="aria">
        <div className="row">
          <Field label="Name" value={name} onChange={setName} isRequired error={err?.fieldError('name')} />
          <div className="field">
            <label htmlFor="camp-start">Starts on</label>
            <input id="camp-start" type="date" value={startsOn} onChange={(e) => setStartsOn(e.target.value)} required />
          </div>
          <div className="field">
            <label htmlFor="camp-end">Ends on</label>
            <input id="camp-end" type="date" value={endsOn} onChange={(e) => setEndsOn(e.target.value)} required aria-describedby="camp-end-err" />
            <span id="camp-end-err" className="field-error">
              {err?.fieldError('endsOn')}
            </span>
          </div>
        </div>
        <TextField value={goal} onChange={setGoal} className="field">
          <Label>Goal</Label>
          <TextArea className="cs-textarea" rows={2} />
        </TextField>
        <ErrorMessage error={create.error} />
        <div>
          <Button type="submit" isDisabled={create.isPending || !name.trim()}>
            {create.isPending ? 'Creating…' : 'Create campaign'}
          </Button>
        </div>
      </Form>
    </Card>
  );
}
