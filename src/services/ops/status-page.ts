import type { Clock } from '../../kernel/clock.js';
import type { Severity } from './severity.js';
import type { IncidentsRepository, PublicStatus } from './incidents.repository.js';

/** Public components, and the alert `service`/`component` label values that name them. */
export const COMPONENTS = [
  { id: 'api', name: 'API and sign-in', services: ['orchestrator', 'api'] },
  { id: 'workflows', name: 'Workflows', services: ['workflow-engine', 'workflows'] },
  { id: 'integrations', name: 'Integrations', services: ['integration-hub', 'integrations'] },
  { id: 'content', name: 'Content scheduling', services: ['content-scheduler', 'content'] },
  { id: 'analytics', name: 'Analytics', services: ['analytics-engine', 'analytics'] },
  { id: 'gamification', name: 'Gamification', services: ['gamification'] },
] as const;
export const COMPONENT_IDS = COMPONENTS.map((c) => c.id) as [string, ...string[]];

export type ComponentStatus = 'operational' | 'degraded_performance' | 'partial_outage' | 'major_outage';
const RANK: Record<ComponentStatus, number> = { operational: 0, degraded_performance: 1, partial_outage: 2, major_outage: 3 };
const LABEL: Record<ComponentStatus, string> = {
  operational: 'Operational',
  degraded_performance: 'Degraded performance',
  partial_outage: 'Partial outage',
  major_outage: 'Major outage',
};
const impactOf = (s: Severity): ComponentStatus => (s === 1 ? 'major_outage' : s === 2 ? 'partial_outage' : 'degraded_performance');

/** Incident components (service names from alerts, or component ids) as public component ids; "all" means every one. */
export function publicComponents(components: string[]): string[] {
  if (components.includes('all')) return COMPONENTS.map((c) => c.id);
  return COMPONENTS.filter((c) => components.some((x) => c.id === x || (c.services as readonly string[]).includes(x))).map((c) => c.id);
}

export interface StatusDocument {
  title: string;
  status: ComponentStatus;
  description: string;
  updatedAt: string;
  components: { id: string; name: string; status: ComponentStatus }[];
  incidents: {
    id: string;
    title: string;
    impact: ComponentStatus;
    status: PublicStatus;
    components: string[];
    startedAt: string;
    resolvedAt: string | null;
    updates: { at: string; status: PublicStatus; message: string }[];
  }[];
}

/**
 * What the public may see: components and the incidents a communications lead published, with
 * the public title and updates only (never alert names, labels, internal notes, people).
 */
export async function statusDocument(repo: IncidentsRepository, clock: Clock, title: string): Promise<StatusDocument> {
  const now = clock.now();
  const incidents = await repo.published(new Date(now.getTime() - 7 * 86_400_000));
  const byIncident = await repo.publicUpdatesOf(incidents.map((i) => i.id));
  const componentStatus = new Map<string, ComponentStatus>(COMPONENTS.map((c) => [c.id, 'operational']));
  const list: StatusDocument['incidents'] = [];
  for (const i of incidents) {
    const ups = byIncident.get(i.id) ?? [];
    const last = ups.at(-1);
    if (!last) continue;
    const active = i.status !== 'resolved' && last.status !== 'resolved';
    const impact = impactOf(i.severity);
    const comps = publicComponents(i.components);
    if (active) {
      for (const c of comps) if (RANK[impact] > RANK[componentStatus.get(c)!]) componentStatus.set(c, impact);
    }
    list.push({
      id: i.id,
      title: i.publicTitle ?? 'Service incident',
      impact,
      status: active ? last.status : 'resolved',
      components: comps,
      startedAt: (ups[0]?.at ?? i.openedAt).toISOString(),
      resolvedAt: active ? null : (i.resolvedAt ?? last.at).toISOString(),
      updates: ups.map((u) => ({ at: u.at.toISOString(), status: u.status, message: u.message })).reverse(),
    });
  }
  const components = COMPONENTS.map((c) => ({ id: c.id, name: c.name, status: componentStatus.get(c.id)! }));
  const worst = components.reduce<ComponentStatus>((w, c) => (RANK[c.status] > RANK[w] ? c.status : w), 'operational');
  return {
    title,
    status: worst,
    description: worst === 'operational' ? 'All systems operational' : LABEL[worst],
    updatedAt: now.toISOString(),
    components,
    incidents: list,
  };
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch]!);

/** The status page as one self-contained HTML document (no script, inline CSS). */
export function statusHtml(doc: StatusDocument): string {
  const active = doc.incidents.filter((i) => i.resolvedAt === null);
  const past = doc.incidents.filter((i) => i.resolvedAt !== null);
  const incident = (i: StatusDocument['incidents'][number]) => `
    <article class="incident ${i.impact}">
      <h3>${escapeHtml(i.title)}</h3>
      <p class="meta">${escapeHtml(LABEL[i.impact])} · ${i.components.map((c) => escapeHtml(COMPONENTS.find((x) => x.id === c)?.name ?? c)).join(', ') || 'no component named'}</p>
      <ol>${i.updates.map((u) => `<li><strong>${escapeHtml(u.status)}</strong> <time datetime="${u.at}">${escapeHtml(u.at.slice(0, 16).replace('T', ' '))} UTC</time><br>${escapeHtml(u.message)}</li>`).join('')}</ol>
    </article>`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(doc.title)}</title>
<style>
body{font-family:system-ui,sans-serif;max-width:48rem;margin:2rem auto;padding:0 1rem;color:#1d1d1f}
.banner{padding:1rem;border-radius:.5rem;font-weight:600}
.operational{background:#e6f4ea}.degraded_performance{background:#fef7e0}.partial_outage{background:#fde7d9}.major_outage{background:#fce8e6}
ul.components{list-style:none;padding:0}ul.components li{display:flex;justify-content:space-between;padding:.5rem;border-bottom:1px solid #ddd}
.incident{padding:.75rem 1rem;border-radius:.5rem;margin:.75rem 0}.meta{color:#555;margin:.25rem 0}
</style>
</head>
<body>
<h1>${escapeHtml(doc.title)}</h1>
<p class="banner ${doc.status}" id="overall">${escapeHtml(doc.description)}</p>
${active.length ? `<h2>Current incidents</h2>${active.map(incident).join('')}` : ''}
<h2>Components</h2>
<ul class="components">${doc.components.map((c) => `<li id="component-${c.id}"><span>${escapeHtml(c.name)}</span><span class="${c.status}">${escapeHtml(LABEL[c.status])}</span></li>`).join('')}</ul>
${past.length ? `<h2>Resolved in the last 7 days</h2>${past.map(incident).join('')}` : ''}
<p class="meta">Updated <time datetime="${doc.updatedAt}">${escapeHtml(doc.updatedAt.slice(0, 16).replace('T', ' '))} UTC</time> · <a href="/status.json">JSON</a></p>
</body>
</html>
`;
}
