import { createHash } from 'node:crypto';
import type { Clock } from '../../kernel/clock.js';
import type { Transactor, Tx } from '../../kernel/db/transaction.js';
import { AppError, notFound } from '../../kernel/errors.js';
import type { ConnectionsRepository } from './connections.repository.js';
import { CONNECTORS } from './connectors/index.js';
import type { ConnectionRow } from './schema.js';
import type { Vault } from './vault.js';

export interface InboundDelivery {
  connection: ConnectionRow;
  deliveryId: string;
  eventType: string;
  payload: unknown;
}

/** Where the secret for each scheme sits in the connection's credentials. */
const SECRET_FIELD = { github: 'webhookSecret', slack: 'signingSecret', standard: 'secret' } as const;

export class InboundService {
  /** Publishes integration.webhook.received.v1 in the delivery's transaction (set by the module). */
  emit: (d: InboundDelivery, tx: Tx) => Promise<void> = async () => {
    throw new AppError('service_unavailable', 'Inbound webhooks need the event backbone');
  };

  constructor(
    private readonly db: Transactor,
    private readonly repo: ConnectionsRepository,
    private readonly vault: Vault,
    private readonly clock: Clock,
    private readonly toleranceSeconds = 300,
  ) {}

  async receive(token: string, headers: Record<string, string | undefined>, rawBody: Buffer): Promise<{ status: 'accepted' | 'duplicate'; challenge?: string }> {
    const conn = await this.repo.byInboundTokenHash(createHash('sha256').update(token).digest('hex'));
    const verifier = conn ? CONNECTORS[conn.connector]?.inbound : undefined;
    if (!conn || !verifier || conn.status === 'disabled') throw notFound('Webhook endpoint');
    const creds = await this.vault.open<Record<string, unknown>>(conn.id, conn.credentials);
    const secret = creds[SECRET_FIELD[verifier.scheme]];
    if (typeof secret !== 'string' || !secret) throw new AppError('webhook_signature_invalid', `The connection has no ${SECRET_FIELD[verifier.scheme]} to verify deliveries with`);
    const verdict = verifier.verify({ headers, rawBody, secret, now: this.clock.now(), toleranceSeconds: this.toleranceSeconds });
    if (!verdict.ok) throw new AppError('webhook_signature_invalid', verdict.reason);
    let payload: unknown;
    const text = rawBody.toString('utf8');
    try {
      payload = JSON.parse(text);
    } catch {
      payload = Object.fromEntries(new URLSearchParams(text));
    }
    // Slack's Events API checks the endpoint with a signed url_verification challenge.
    const challenge = verifier.scheme === 'slack' && (payload as { type?: string })?.type === 'url_verification' ? String((payload as { challenge?: unknown }).challenge ?? '') : undefined;
    const accepted = await this.db.transaction(async (tx) => {
      if (!(await this.repo.recordDelivery(conn.id, verdict.deliveryId, this.clock.now(), tx))) return false;
      if (!challenge) await this.emit({ connection: conn, deliveryId: verdict.deliveryId, eventType: verdict.eventType, payload }, tx);
      return true;
    });
    return { status: accepted ? 'accepted' : 'duplicate', ...(challenge !== undefined ? { challenge } : {}) };
  }
}
