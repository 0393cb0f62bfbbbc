import { createHash, createHmac, randomBytes } from 'node:crypto';
import { sameSecret } from '../../kernel/crypto/compare.js';
import type { InboundVerdict } from './connectors/types.js';

/** Constant-time comparison of two strings (the kernel's, shared with the guard's `secret:` mode). */
export const safeEqual = (a: string, b: string): boolean => sameSecret(a, b);

/** A Standard Webhooks secret: "whsec_" + base64 of 24-64 random bytes. */
export const newStandardSecret = () => `whsec_${randomBytes(32).toString('base64')}`;

function standardKey(secret: string): Buffer {
  return Buffer.from(secret.startsWith('whsec_') ? secret.slice(6) : secret, 'base64');
}

/** Standard Webhooks (standardwebhooks.com): HMAC-SHA256 over "id.timestamp.body", base64, as "v1,<sig>". */
export function standardSignature(secret: string, id: string, timestampSeconds: number, body: string | Buffer): string {
  const mac = createHmac('sha256', standardKey(secret)).update(`${id}.${timestampSeconds}.`).update(body).digest('base64');
  return `v1,${mac}`;
}

export function verifyStandard(headers: Record<string, string | undefined>, rawBody: Buffer, secret: string, now: Date, toleranceSeconds: number): InboundVerdict {
  const id = headers['webhook-id'];
  const ts = headers['webhook-timestamp'];
  const sigs = headers['webhook-signature'];
  if (!id || !ts || !sigs) return { ok: false, reason: 'missing webhook-id, webhook-timestamp or webhook-signature' };
  if (!/^\d{1,12}$/.test(ts) || Math.abs(now.getTime() / 1000 - Number(ts)) > toleranceSeconds) return { ok: false, reason: 'timestamp outside the tolerance' };
  const expected = standardSignature(secret, id, Number(ts), rawBody);
  const match = sigs.split(' ').some((s) => s.startsWith('v1,') && safeEqual(s, expected));
  if (!match) return { ok: false, reason: 'signature mismatch' };
  let type = 'webhook';
  try {
    type = String((JSON.parse(rawBody.toString('utf8')) as { type?: unknown }).type ?? 'webhook');
  } catch {
    /* a non-JSON body keeps the generic type */
  }
  return { ok: true, deliveryId: id, eventType: type };
}

/** GitHub: X-Hub-Signature-256 = "sha256=" + hex HMAC-SHA256 of the raw body; no timestamp, so dedupe by X-GitHub-Delivery. */
export function githubSignature(secret: string, body: string | Buffer): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

export function verifyGithub(headers: Record<string, string | undefined>, rawBody: Buffer, secret: string): InboundVerdict {
  const sig = headers['x-hub-signature-256'];
  const delivery = headers['x-github-delivery'];
  if (!sig || !delivery) return { ok: false, reason: 'missing X-Hub-Signature-256 or X-GitHub-Delivery' };
  if (!safeEqual(sig, githubSignature(secret, rawBody))) return { ok: false, reason: 'signature mismatch' };
  return { ok: true, deliveryId: delivery, eventType: headers['x-github-event'] ?? 'unknown' };
}

/** Slack: X-Slack-Signature = "v0=" + hex HMAC-SHA256 of "v0:<timestamp>:<body>" with the signing secret. */
export function slackSignature(secret: string, timestampSeconds: number, body: string | Buffer): string {
  return `v0=${createHmac('sha256', secret).update(`v0:${timestampSeconds}:`).update(body).digest('hex')}`;
}

export function verifySlack(headers: Record<string, string | undefined>, rawBody: Buffer, secret: string, now: Date, toleranceSeconds: number): InboundVerdict {
  const sig = headers['x-slack-signature'];
  const ts = headers['x-slack-request-timestamp'];
  if (!sig || !ts) return { ok: false, reason: 'missing X-Slack-Signature or X-Slack-Request-Timestamp' };
  if (!/^\d{1,12}$/.test(ts) || Math.abs(now.getTime() / 1000 - Number(ts)) > toleranceSeconds) return { ok: false, reason: 'timestamp outside the tolerance' };
  if (!safeEqual(sig, slackSignature(secret, Number(ts), rawBody))) return { ok: false, reason: 'signature mismatch' };
  let deliveryId = createHash('sha256').update(`${ts}:${sig}`).digest('hex');
  let type = 'unknown';
  try {
    const body = JSON.parse(rawBody.toString('utf8')) as { event_id?: string; type?: string; event?: { type?: string } };
    if (body.event_id) deliveryId = body.event_id;
    type = body.event?.type ?? body.type ?? type;
  } catch {
    /* slash commands and interactivity post forms: the signature hash is the delivery id */
  }
  return { ok: true, deliveryId, eventType: type };
}
