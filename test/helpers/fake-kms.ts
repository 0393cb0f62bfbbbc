import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeKms {
  endpoint: string;
  /** Every call: the X-Amz-Target operation, its headers and JSON body as they were on the wire. */
  calls: { target: string; headers: http.IncomingHttpHeaders; body: Record<string, unknown> }[];
  /** Keys the peer knows (key id → material); aliases resolve through `aliases`. */
  keys: Map<string, Buffer>;
  aliases: Map<string, string>;
  /** When set, every call answers this error type (AccessDeniedException, ...). */
  failWith?: string;
  close(): Promise<void>;
}

const ARN = (id: string) => `arn:aws:kms:eu-west-1:111122223333:key/${id}`;

/**
 * Enough of AWS KMS's JSON 1.1 protocol (POST /, `X-Amz-Target: TrentService.<Operation>`) for
 * GenerateDataKey and Decrypt, so the official client runs unmodified against it. Ciphertext blobs
 * are `keyIdLength | keyId | iv | tag | AES-256-GCM(plaintext)` with the encryption context as AAD,
 * so a blob decrypts only under its key and its context, as in KMS. No signature is verified.
 */
export async function startFakeKms(): Promise<FakeKms> {
  const state: FakeKms = { endpoint: '', calls: [], keys: new Map(), aliases: new Map(), close: async () => {} };
  const resolve = (keyId: unknown): string | undefined => {
    if (typeof keyId !== 'string') return undefined;
    const bare = keyId.replace(/^arn:aws:kms:[^:]+:\d+:/, '');
    const id = bare.startsWith('alias/') ? state.aliases.get(bare) : bare.replace(/^key\//, '');
    return id && state.keys.has(id) ? id : undefined;
  };
  const aad = (ctx: unknown) => Buffer.from(JSON.stringify(Object.entries((ctx as Record<string, string>) ?? {}).sort()));
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const target = String(req.headers['x-amz-target'] ?? '');
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, unknown>;
      state.calls.push({ target, headers: req.headers, body });
      const reply = (status: number, json: unknown) => {
        res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': randomBytes(8).toString('hex') });
        res.end(JSON.stringify(json));
      };
      const error = (type: string, message: string) => reply(400, { __type: type, message });
      if (state.failWith) return error(state.failWith, `${state.failWith} (fake KMS)`);
      if (req.method !== 'POST' || req.headers['content-type'] !== 'application/x-amz-json-1.1') return error('ValidationException', 'not JSON 1.1');
      if (target === 'TrentService.GenerateDataKey') {
        const id = resolve(body.KeyId);
        if (!id) return error('NotFoundException', `key ${String(body.KeyId)} does not exist`);
        if (body.KeySpec !== 'AES_256' && body.NumberOfBytes !== 32) return error('ValidationException', 'KeySpec AES_256 expected');
        const plaintext = randomBytes(32);
        const iv = randomBytes(12);
        const c = createCipheriv('aes-256-gcm', state.keys.get(id)!, iv);
        c.setAAD(aad(body.EncryptionContext));
        const ct = Buffer.concat([c.update(plaintext), c.final()]);
        const blob = Buffer.concat([Buffer.from([id.length]), Buffer.from(id), iv, c.getAuthTag(), ct]);
        return reply(200, { KeyId: ARN(id), CiphertextBlob: blob.toString('base64'), Plaintext: plaintext.toString('base64') });
      }
      if (target === 'TrentService.Decrypt') {
        const blob = Buffer.from(String(body.CiphertextBlob ?? ''), 'base64');
        const id = blob.subarray(1, 1 + blob[0]!).toString();
        const key = state.keys.get(id);
        if (!key) return error('InvalidCiphertextException', 'unknown key in blob');
        if (body.KeyId !== undefined && resolve(body.KeyId) !== id) return error('IncorrectKeyException', 'the blob was not encrypted under KeyId');
        try {
          const rest = blob.subarray(1 + blob[0]!);
          const d = createDecipheriv('aes-256-gcm', key, rest.subarray(0, 12));
          d.setAAD(aad(body.EncryptionContext));
          d.setAuthTag(rest.subarray(12, 28));
          const plaintext = Buffer.concat([d.update(rest.subarray(28)), d.final()]);
          return reply(200, { KeyId: ARN(id), Plaintext: plaintext.toString('base64'), EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' });
        } catch {
          return error('InvalidCiphertextException', 'decryption failed (wrong encryption context?)');
        }
      }
      return error('UnknownOperationException', target);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  state.endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.close = () => new Promise((r) => server.close(() => r()));
  return state;
}
