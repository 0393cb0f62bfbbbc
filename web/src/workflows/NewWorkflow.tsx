import { Link } from 'react-aria-components';
import { useParams } from 'react-router';
import { Card, Page } from '../ui/ui';
import { TEMPLATES } from './templates';

const PERSONA_NAMES: Record<string, string> = { founder: 'Founder', vCreator: 'vCreator', vBuilder: 'vBuilder', vAnalyst: 'vAnalyst', vAutomator: 'vAutomator' };

/** Start a workflow: from scratch or from a template per persona; both open the editor on an unsaved draft. */
export default function NewWorkflow() {
  const { workspaceId = '' } = useParams();
  const base = `/w/${workspaceId}/workflows/draft`;
  return (
    <Page title="New workflow">
      <Card title="From scratch">
        <p>An empty canvas with a manual trigger: add steps, connect them, fill in each step’s settings.</p>
        <Link className="btn btn-primary" href={base}>
          Start from scratch
        </Link>
      </Card>
      <h2>Templates</h2>
      <ul className="template-grid plain-list">
        {TEMPLATES.map((t) => (
          <li key={t.key} className="card template-card">
            <p className="muted">
              For {PERSONA_NAMES[t.persona]} · trigger: {t.definition.trigger?.type ?? 'manual'} · {t.definition.steps.length} steps
            </p>
            <h3>{t.title}</h3>
            <p>{t.description}</p>
            <Link className="btn btn-secondary" href={`${base}?template=${t.key}`}>
              Use this template<span className="sr-only">: {t.title}</span>
            </Link>
          </li>
        ))}
      </ul>
    </Page>
  );
}
