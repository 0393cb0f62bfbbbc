import { Link, Tab, TabList, TabPanel, Tabs } from 'react-aria-components';
import { useQuery } from '@tanstack/react-query';
import { useParams, useSearchParams } from 'react-router';
import { api, call } from '../api/client';
import { useMe } from '../app/session';
import { Card, Empty, ErrorMessage, Loading, Page } from '../ui/ui';
import { usePersonas } from '../workspaces/WorkspaceSettings';
import { PERSONAS, type PersonaId } from '../workspaces/roles';
import { FounderHome, CreatorHome, BuilderHome, AnalystHome, AutomatorHome } from './persona-homes';
import './homes.css';

/** What each persona does first: shown under its home until there is data to show. */
export const FIRST_STEPS: Record<PersonaId, { title: string; steps: string[] }> = {
  founder: { title: 'Your business at a glance', steps: ['Invite your team from Members.', 'Ask an analyst to send events with a write key so activation and MRR appear.', 'Turn on MFA for everyone in Settings.'] },
  vCreator: { title: 'Plan what you publish', steps: ['Add a channel (a webhook or a social network) under Calendar → Channels.', 'Compose a post and schedule it.', 'Group posts into a campaign to follow its progress.'] },
  vBuilder: { title: 'Automate the busywork', steps: ['Create a connection to an outside service.', 'Build a workflow from a template.', 'Trigger it by webhook, schedule or event.'] },
  vAnalyst: { title: 'Understand your users', steps: ['Create a write key and send events.', 'Build a funnel from the events you send.', 'Watch the activation-rate KPI.'] },
  vAutomator: { title: 'Keep automations healthy', steps: ['Review the runs that failed.', 'Approve the runs waiting for you.', 'Set retries on the steps that call outside services.'] },
};

const HOMES: Record<PersonaId, (p: { workspaceId: string }) => React.ReactNode> = {
  founder: FounderHome,
  vCreator: CreatorHome,
  vBuilder: BuilderHome,
  vAnalyst: AnalystHome,
  vAutomator: AutomatorHome,
};
const LAST_KEY = 'v01t.home.persona';

/** The workspace home: one home per persona the member works as, switched with tabs (?as=persona). */
export default function Home() {
  const { workspaceId = '' } = useParams();
  const [search, setSearch] = useSearchParams();
  const me = useMe();
  const personas = usePersonas(workspaceId);
  if (personas.isPending) return <Loading />;
  if (personas.isError) return <ErrorMessage error={personas.error} />;
  const mine = PERSONAS.filter((p) => personas.data.includes(p.id));
  const wanted = search.get('as') ?? localStorage.getItem(LAST_KEY);
  const selected = mine.find((p) => p.id === wanted)?.id ?? mine[0]?.id;
  return (
    <Page title={`Welcome, ${me.data?.name ?? ''}`}>
      {mine.length === 0 ? (
        <Empty title="Tell v01t how you work">
          <p>Pick your personas and your home page shows what each one needs.</p>
          <Link href={`/w/${workspaceId}/settings`} className="btn btn-primary">
            Pick personas
          </Link>
        </Empty>
      ) : (
        <Tabs
          selectedKey={selected}
          onSelectionChange={(k) => {
            localStorage.setItem(LAST_KEY, String(k));
            const next = new URLSearchParams(search);
            next.set('as', String(k));
            setSearch(next, { replace: true });
          }}
        >
          <TabList aria-label="Your homes" className="tabs">
            {mine.map((p) => (
              <Tab key={p.id} id={p.id} className="tab">
                {p.name}
              </Tab>
            ))}
          </TabList>
          {mine.map((p) => {
            const PersonaHome = HOMES[p.id];
            return (
              <TabPanel key={p.id} id={p.id} className="home-panel">
                <p className="muted home-does">{p.does}</p>
                <PersonaHome workspaceId={workspaceId} />
                <details className="home-steps">
                  <summary>{FIRST_STEPS[p.id].title}: first steps</summary>
                  <ol>
                    {FIRST_STEPS[p.id].steps.map((s) => (
                      <li key={s}>{s}</li>
                    ))}
                  </ol>
                </details>
              </TabPanel>
            );
          })}
        </Tabs>
      )}
      <RecentActivity workspaceId={workspaceId} />
    </Page>
  );
}

function RecentActivity({ workspaceId }: { workspaceId: string }) {
  const audit = useQuery({
    queryKey: ['audit', workspaceId, 'recent'],
    queryFn: async () => (await call(api.GET('/v1/workspaces/{workspaceId}/audit', { params: { path: { workspaceId }, query: { limit: 5 } } }))).entries,
    retry: false,
  });
  return (
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
  );
}
