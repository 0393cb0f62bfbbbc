import { useState } from 'react';
import { Link, Tab, TabList, TabPanel, Tabs } from 'react-aria-components';
import { useQuery } from '@tanstack/react-query';
import { useParams } from 'react-router';
import { api, call } from '../api/client';
import { useMe } from '../app/session';
import { Card, Empty, ErrorMessage, Loading, Page } from '../ui/ui';
import { usePersonas } from '../workspaces/WorkspaceSettings';
import { PERSONAS, type PersonaId } from '../workspaces/roles';

/** What each persona does first: the empty states teach the next step. */
const FIRST_STEPS: Record<PersonaId, { title: string; steps: string[] }> = {
  founder: { title: 'Your business at a glance', steps: ['Invite your team from Members.', 'Ask an analyst to send events with a write key so activation and MRR appear.', 'Turn on MFA for everyone in Settings.'] },
  vCreator: { title: 'Plan what you publish', steps: ['Connect a channel (a webhook or a social network) through the API.', 'Compose a post and schedule it.', 'Group posts into a campaign to follow its progress.'] },
  vBuilder: { title: 'Automate the busywork', steps: ['Create a connection to an outside service.', 'Build a workflow from a template.', 'Trigger it by webhook, schedule or event.'] },
  vAnalyst: { title: 'Understand your users', steps: ['Create a write key and send events.', 'Build a funnel from the events you send.', 'Watch the activation-rate KPI.'] },
  vAutomator: { title: 'Keep automations healthy', steps: ['Review the runs that failed.', 'Approve the runs waiting for you.', 'Set retries on the steps that call outside services.'] },
};

export default function Home() {
  const { workspaceId = '' } = useParams();
  const me = useMe();
  const personas = usePersonas(workspaceId);
  const audit = useQuery({
    queryKey: ['audit', workspaceId, 'recent'],
    queryFn: async () => (await call(api.GET('/v1/workspaces/{workspaceId}/audit', { params: { path: { workspaceId }, query: { limit: 5 } } }))).entries,
    retry: false,
  });
  const [tab, setTab] = useState<string | null>(null);
  if (personas.isPending) return <Loading />;
  if (personas.isError) return <ErrorMessage error={personas.error} />;
  const mine = PERSONAS.filter((p) => personas.data.includes(p.id));
  return (
    <Page title={`Welcome, ${me.data?.name ?? ''}`}>
      {mine.length === 0 ? (
        <Empty title="Tell v01t how you work">
          <p>Pick your personas and your home page shows what each one does first.</p>
          <Link href={`/w/${workspaceId}/settings`} className="btn btn-primary">
            Pick personas
          </Link>
        </Empty>
      ) : (
        <Tabs selectedKey={tab ?? mine[0]!.id} onSelectionChange={(k) => setTab(String(k))}>
          <TabList aria-label="Your personas" className="tabs">
            {mine.map((p) => (
              <Tab key={p.id} id={p.id} className="tab">
                {p.name}
              </Tab>
            ))}
          </TabList>
          {mine.map((p) => (
            <TabPanel key={p.id} id={p.id}>
              <Card title={FIRST_STEPS[p.id].title}>
                <p>{p.does}</p>
                <ol>
                  {FIRST_STEPS[p.id].steps.map((s) => (
                    <li key={s}>{s}</li>
                  ))}
                </ol>
              </Card>
            </TabPanel>
          ))}
        </Tabs>
      )}
      <Card title="Recent activity">
        {audit.isPending && <Loading />}
        {audit.data && audit.data.length === 0 && <Empty title="Nothing yet" />}
        {audit.data && (
          <ul className="plain-list">
            {audit.data.map((e) => (
              <li key={e.seq}>
                <code>{e.action}</code> · {new Date(e.occurredAt).toLocaleString()}
              </li>
            ))}
          </ul>
        )}
        {audit.isError && <p className="muted">Your role cannot read the audit log.</p>}
      </Card>
    </Page>
  );
}
