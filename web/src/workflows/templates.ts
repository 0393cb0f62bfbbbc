import type { Definition } from './graph.js';

/**
 * Starting points, at least one per persona. Each is a complete definition the server accepts
 * (test/web/workflow-templates.test.ts saves every one through the API), built from steps that
 * need no connection, so a new user can run it at once and then swap in their own services.
 *
 * Pure module (no DOM, no React): the Vitest suites import it.
 */
export interface WorkflowTemplate {
  key: string;
  persona: 'vCreator' | 'vBuilder' | 'vAnalyst' | 'vAutomator' | 'founder';
  title: string;
  description: string;
  definition: Definition;
  /** An input to try it with ("Run now"). */
  sampleInput: Record<string, unknown>;
}

export const TEMPLATES: WorkflowTemplate[] = [
  {
    key: 'creator-post-published',
    sampleInput: { payload: { postId: 'p1', channel: 'mastodon', url: 'https://example.social/@me/1' } },
    persona: 'vCreator',
    title: 'Celebrate a published post',
    description: 'When a post is published, build a shout-out and signal it so other workflows can share it.',
    definition: {
      name: 'Celebrate a published post',
      trigger: { type: 'event', event: 'content.post.published.v1' },
      steps: [
        { id: 'shoutout', type: 'transform', with: { expression: '{"text": "New on " & input.payload.channel & ": " & ($exists(input.payload.url) ? input.payload.url : input.payload.postId)}' } },
        { id: 'announce', type: 'emit', with: { signal: 'creator.post.shoutout', data: '=steps.shoutout.output' } },
      ],
    },
  },
  {
    key: 'builder-webhook-router',
    sampleInput: { priority: 'high', message: 'disk full' },
    persona: 'vBuilder',
    title: 'Route incoming webhooks',
    description: 'A webhook URL your app calls; urgent payloads go one way, the rest another.',
    definition: {
      name: 'Route incoming webhooks',
      trigger: { type: 'webhook', hmac: false },
      steps: [
        { id: 'is_urgent', type: 'condition', with: { expression: 'input.priority = "high"', then: 'urgent', else: 'normal' } },
        { id: 'urgent', type: 'emit', with: { signal: 'builder.webhook.urgent', data: '=input' }, next: 'done' },
        { id: 'normal', type: 'transform', with: { expression: '{"queued": input}' } },
        { id: 'done', type: 'transform', with: { expression: '{"handled": true, "priority": input.priority}' } },
      ],
    },
  },
  {
    key: 'analyst-daily-digest',
    sampleInput: { visitors: 1234 },
    persona: 'vAnalyst',
    title: 'Weekday morning digest',
    description: 'Every weekday at 08:00, assemble a digest of the numbers handed in and signal it.',
    definition: {
      name: 'Weekday morning digest',
      trigger: { type: 'schedule', cron: '0 8 * * 1-5', timezone: 'UTC', missedFires: 'skip' },
      steps: [
        { id: 'digest', type: 'transform', with: { expression: '{"date": $now(), "visitors": $number($exists(input.visitors) ? input.visitors : 0)}' } },
        { id: 'publish', type: 'emit', with: { signal: 'analyst.digest.ready', data: '=steps.digest.output' } },
      ],
    },
  },
  {
    key: 'automator-approve-then-act',
    sampleInput: { change: 'raise prices 5%', requester: 'ada' },
    persona: 'vAutomator',
    title: 'Ask before acting',
    description: 'Prepare a change, wait for a teammate’s approval, then carry it out.',
    definition: {
      name: 'Ask before acting',
      trigger: { type: 'manual' },
      steps: [
        { id: 'prepare', type: 'transform', with: { expression: '{"change": input.change, "requestedBy": input.requester}' } },
        { id: 'approve', type: 'approval', with: { message: 'Apply this change?', expiresInMs: 86_400_000 } },
        { id: 'apply', type: 'emit', with: { signal: 'automator.change.approved', data: '=steps.prepare.output' } },
      ],
    },
  },
  {
    key: 'founder-new-signup',
    sampleInput: { email: 'cto@bigco.example', seats: 25 },
    persona: 'founder',
    title: 'Welcome big customers',
    description: 'For each new sign-up handed in, flag the large accounts for a personal welcome.',
    definition: {
      name: 'Welcome big customers',
      trigger: { type: 'manual' },
      steps: [
        { id: 'is_big', type: 'condition', with: { expression: 'input.seats >= 10' } },
        { id: 'welcome', type: 'transform', with: { expression: '{"to": input.email, "note": "Personal welcome for " & $string(input.seats) & " seats"}' } },
        { id: 'flag', type: 'emit', with: { signal: 'founder.big_customer', data: '=steps.welcome.output' } },
      ],
    },
  },
];

export const BLANK_DEFINITION: Definition = {
  name: 'New workflow',
  trigger: { type: 'manual' },
  steps: [],
};

export function findTemplate(key: string | null | undefined): WorkflowTemplate | undefined {
  return TEMPLATES.find((t) => t.key === key);
}
