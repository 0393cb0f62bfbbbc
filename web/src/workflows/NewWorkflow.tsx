import { Link } from 'react-aria-components';
import { useParams } from 'react-router';
import { Card, Page } from '../ui/ui';
import { usePersonas } from '../workspaces/WorkspaceSettings';
import { PERSONAS } from '../workspaces/roles';
import { TEMPLATES } from './templates';

const PERSONA_NAMES: Record<string, string> = Object.fromEntries(PERSONAS.map((p) => [p.id, p.name]));

/** Start a workflow: from scratch or from a template per persona (yours first); both open the editor on an unsaved draft. */
export default function NewWorkflow() {
  const { workspaceId = '' } = useParams();
  const personas = usePersonas(workspaceId);
  const mine = new Set<string>(personas.data ?? []);
  // Stable order otherwise; templates for the personas picked in this workspace come first.
  const templates = [...TEMPLATES].sort((a, b) => Number(mine.has(b.persona)) - Number(mine.has(a.persona)));
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
        {templates.map((t) => (
          <li key={t.key} className="card template-card">
            <p className="muted">
              {mine.has(t.persona) && <strong className="badge badge-on">Suggested for you</strong>} For {PERSONA_NAMES[t.persona]} · trigger: {t.definition.trigger?.type ?? 'manual'} · {t.definition.steps.length} steps
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
