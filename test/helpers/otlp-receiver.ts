import http from 'node:http';
import type { AddressInfo } from 'node:net';
import zlib from 'node:zlib';

/**
 * An OTLP/HTTP traces receiver for tests: accepts POST /v1/traces in protobuf (what
 * @opentelemetry/exporter-trace-otlp-proto sends) and decodes ExportTraceServiceRequest with a
 * small wire-format reader of the fields the suites look at (opentelemetry-proto, trace/v1).
 */

export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  /** 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  kind: number;
  attributes: Record<string, unknown>;
  /** 0 unset, 1 ok, 2 error. */
  statusCode: number;
  resource: Record<string, unknown>;
}

type Field = { wire: number; value: bigint | Buffer };

function readVarint(buf: Buffer, pos: number): [bigint, number] {
  let result = 0n;
  let shift = 0n;
  for (;;) {
    const b = buf[pos++]!;
    result |= BigInt(b & 0x7f) << shift;
    if ((b & 0x80) === 0) return [result, pos];
    shift += 7n;
  }
}

/** The fields of one protobuf message, by field number. */
function fields(buf: Buffer): Map<number, Field[]> {
  const out = new Map<number, Field[]>();
  let pos = 0;
  while (pos < buf.length) {
    const [tag, p] = readVarint(buf, pos);
    pos = p;
    const no = Number(tag >> 3n);
    const wire = Number(tag & 7n);
    let value: bigint | Buffer;
    if (wire === 0) [value, pos] = readVarint(buf, pos);
    else if (wire === 1) {
      value = buf.subarray(pos, pos + 8);
      pos += 8;
    } else if (wire === 2) {
      const [len, q] = readVarint(buf, pos);
      value = buf.subarray(q, q + Number(len));
      pos = q + Number(len);
    } else if (wire === 5) {
      value = buf.subarray(pos, pos + 4);
      pos += 4;
    } else throw new Error(`unsupported wire type ${wire}`);
    const list = out.get(no) ?? [];
    list.push({ wire, value });
    out.set(no, list);
  }
  return out;
}

const bytes = (f: Map<number, Field[]>, no: number): Buffer => (f.get(no)?.[0]?.value as Buffer | undefined) ?? Buffer.alloc(0);
const str = (f: Map<number, Field[]>, no: number): string => bytes(f, no).toString('utf8');
const num = (f: Map<number, Field[]>, no: number): number => Number((f.get(no)?.[0]?.value as bigint | undefined) ?? 0n);
const all = (f: Map<number, Field[]>, no: number): Buffer[] => (f.get(no) ?? []).map((x) => x.value as Buffer);

function anyValue(buf: Buffer): unknown {
  const f = fields(buf);
  if (f.has(1)) return str(f, 1);
  if (f.has(2)) return num(f, 2) === 1;
  if (f.has(3)) return Number(BigInt.asIntN(64, f.get(3)![0]!.value as bigint));
  if (f.has(4)) return (f.get(4)![0]!.value as Buffer).readDoubleLE(0);
  if (f.has(5)) return all(fields(bytes(f, 5)), 1).map(anyValue);
  return undefined;
}

function attributes(list: Buffer[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const kv of list) {
    const f = fields(kv);
    out[str(f, 1)] = anyValue(bytes(f, 2));
  }
  return out;
}

/** Decodes an ExportTraceServiceRequest into its spans. */
export function decodeTraceRequest(body: Buffer): ReceivedSpan[] {
  const spans: ReceivedSpan[] = [];
  for (const rs of all(fields(body), 1)) {
    const rsf = fields(rs);
    const resource = attributes(all(fields(bytes(rsf, 1)), 1));
    for (const ss of all(rsf, 2)) {
      for (const sp of all(fields(ss), 2)) {
        const f = fields(sp);
        spans.push({
          traceId: bytes(f, 1).toString('hex'),
          spanId: bytes(f, 2).toString('hex'),
          parentSpanId: bytes(f, 4).toString('hex'),
          name: str(f, 5),
          kind: num(f, 6),
          attributes: attributes(all(f, 9)),
          statusCode: num(fields(bytes(f, 15)), 3),
          resource,
        });
      }
    }
  }
  return spans;
}

export interface OtlpReceiver {
  /** Base URL, for OTEL_EXPORTER_OTLP_ENDPOINT. */
  url: string;
  spans: ReceivedSpan[];
  /** Requests received (an empty export is not sent at all). */
  requests: number;
  close(): Promise<void>;
}

export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const received: OtlpReceiver = { url: '', spans: [], requests: 0, close: async () => {} };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/traces' || req.headers['content-type'] !== 'application/x-protobuf') {
        res.statusCode = 415;
        return res.end();
      }
      let body = Buffer.concat(chunks);
      if (req.headers['content-encoding'] === 'gzip') body = zlib.gunzipSync(body);
      received.requests++;
      received.spans.push(...decodeTraceRequest(body));
      // An empty ExportTraceServiceResponse.
      res.setHeader('content-type', 'application/x-protobuf');
      res.end(Buffer.alloc(0));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  received.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  received.close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return received;
}
