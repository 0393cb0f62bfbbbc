import { randomFillSync } from 'node:crypto';

/**
 * A random (version 4) UUID, as `crypto.randomUUID()` makes one, built as one string (ADR 0096).
 * Node's `randomUUID` concatenates the 36 characters pair by pair: about 590 bytes of heap per call,
 * against one 36-character string here. The answer path of a webhook makes about seven (request id,
 * run id, an attempt id per step, an event id per event). Same source of randomness as Node's: a
 * batch of 128 UUIDs' bytes from `randomFillSync`, refilled when used up.
 */
const BATCH = 128;
const pool = Buffer.alloc(16 * BATCH);
let used = BATCH;
const text = Buffer.alloc(36);
const HEX = Buffer.from('0123456789abcdef', 'latin1');

export function uuidV4(): string {
  if (used === BATCH) {
    randomFillSync(pool);
    used = 0;
  }
  const at = 16 * used++;
  let j = 0;
  for (let i = 0; i < 16; i++) {
    if (i === 4 || i === 6 || i === 8 || i === 10) text[j++] = 0x2d;
    let b = pool[at + i]!;
    // Version 4 in the high nibble of byte 6, variant 10xx in the high bits of byte 8 (RFC 9562).
    if (i === 6) b = (b & 0x0f) | 0x40;
    else if (i === 8) b = (b & 0x3f) | 0x80;
    text[j++] = HEX[b >> 4]!;
    text[j++] = HEX[b & 0x0f]!;
  }
  return text.toString('latin1', 0, 36);
}
