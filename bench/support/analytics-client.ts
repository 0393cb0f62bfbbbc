/**
 * The analytics bench's HTTP client, run in a worker thread so building request bodies does not
 * share the server's event loop (a real client is another machine). Sends `total` events in
 * batches of `batchSize` with `concurrency` requests in flight over keep-alive connections.
 */
import { parentPort, workerData } from 'node:worker_threads';

interface Job {
  url: string;
  key: string;
  total: number;
  batchSize: number;
  concurrency: number;
  persons: number;
}

const { url, key, total, batchSize, concurrency, persons } = workerData as Job;
const batches = Math.ceil(total / batchSize);
const EVENTS = ['view', 'signup', 'purchase', 'share'];
let next = 0;
let accepted = 0;
let retries = 0;

async function send(b: number): Promise<void> {
  const now = Date.now();
  const batch = Array.from({ length: Math.min(batchSize, total - b * batchSize) }, (_, i) => ({
    type: 'track',
    event: EVENTS[i % 4],
    userId: `u${(b * batchSize + i) % persons}`,
    messageId: `b${b}-${i}`,
    timestamp: new Date(now - (i % 1000) * 1000).toISOString(),
    properties: { plan: i % 3 === 0 ? 'pro' : 'free', amount: i % 50 },
  }));
  const body = JSON.stringify({ batch, sentAt: new Date(now).toISOString() });
  for (;;) {
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', 'x-write-key': key }, body });
    if (res.status === 429) {
      // Back-pressure: the buffer is full; wait as told and send the same batch again.
      retries++;
      await res.arrayBuffer();
      await new Promise((r) => setTimeout(r, Number(res.headers.get('retry-after') ?? 1) * 1000));
      continue;
    }
    if (res.status !== 202) throw new Error(`ingest answered ${res.status}: ${await res.text()}`);
    accepted += ((await res.json()) as { accepted: number }).accepted;
    return;
  }
}

const start = performance.now();
await Promise.all(
  Array.from({ length: concurrency }, async () => {
    for (;;) {
      const b = next++;
      if (b >= batches) return;
      await send(b);
    }
  }),
);
parentPort!.postMessage({ accepted, retries, seconds: (performance.now() - start) / 1000 });
