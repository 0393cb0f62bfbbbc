export const ROLES = ['owner', 'admin', 'developer', 'analyst', 'viewer'] as const;
export type Role = (typeof ROLES)[number];

export const PERSONAS = [
  { id: 'founder', name: 'Founder', does: 'Watch MRR against forecast, activation and the error rate.' },
  { id: 'vCreator', name: 'vCreator', does: 'Plan posts and campaigns on the calendar and publish them on time.' },
  { id: 'vBuilder', name: 'vBuilder', does: 'Build workflows and connect outside services.' },
  { id: 'vAnalyst', name: 'vAnalyst', does: 'Ingest events, read KPIs, funnels and retention.' },
  { id: 'vAutomator', name: 'vAutomator', does: 'Run automations, approve waiting runs, watch failures.' },
] as const;
export type PersonaId = (typeof PERSONAS)[number]['id'];
