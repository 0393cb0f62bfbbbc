import { Tab, TabList, TabPanel, Tabs, type Key } from 'react-aria-components';
import { useParams, useSearchParams } from 'react-router';
import { Page } from '../ui/ui';
import { useWorkspace } from './api';
import { BadgesEditor, LevelsEditor, RulesEditor } from './Editors';
import { Leaderboards } from './Leaderboards';
import { MyProgress } from './Profile';

const TABS = ['progress', 'leaderboards', 'rules', 'badges', 'levels'] as const;

/** Points, levels, badges, streaks and leaderboards for every member; the scoring editors for owners and admins. */
export default function Gamification() {
  const { workspaceId = '' } = useParams();
  const [params, setParams] = useSearchParams();
  const workspace = useWorkspace(workspaceId);
  const canManage = workspace.data?.role === 'owner' || workspace.data?.role === 'admin';
  const requested = params.get('tab') as (typeof TABS)[number] | null;
  const tab = requested && TABS.includes(requested) && (canManage || ['progress', 'leaderboards'].includes(requested)) ? requested : 'progress';
  const select = (k: Key) => setParams(k === 'progress' ? {} : { tab: String(k) }, { replace: true });
  return (
    <Page title="Progress">
      <Tabs selectedKey={tab} onSelectionChange={select}>
        <TabList aria-label="Progress views" className="tabs">
          <Tab id="progress" className="tab">
            My progress
          </Tab>
          <Tab id="leaderboards" className="tab">
            Leaderboards
          </Tab>
          {canManage && (
            <>
              <Tab id="rules" className="tab">
                Rules
              </Tab>
              <Tab id="badges" className="tab">
                Badges
              </Tab>
              <Tab id="levels" className="tab">
                Levels & rewards
              </Tab>
            </>
          )}
        </TabList>
        <TabPanel id="progress">
          <MyProgress workspaceId={workspaceId} />
        </TabPanel>
        <TabPanel id="leaderboards">
          <Leaderboards workspaceId={workspaceId} />
        </TabPanel>
        {canManage && (
          <>
            <TabPanel id="rules">
              <RulesEditor workspaceId={workspaceId} />
            </TabPanel>
            <TabPanel id="badges">
              <BadgesEditor workspaceId={workspaceId} />
            </TabPanel>
            <TabPanel id="levels">
              <LevelsEditor workspaceId={workspaceId} />
            </TabPanel>
          </>
        )}
      </Tabs>
    </Page>
  );
}
