import { useQuery } from '@tanstack/react-query';
import { api, call } from '../api/client';
import type { paths } from '../api/schema';
import type { JsonSchema } from '../ui/schema-form';

/** One entry of GET /v1/connectors (the route declares it as a free-form object). */
export interface ConnectorInfo {
  id: string;
  name: string;
  description: string;
  auth: string[];
  canPublish: boolean;
  oauth: boolean;
  inboundWebhooks: string | null;
  credentialsSchema: JsonSchema;
  configSchema: JsonSchema;
  actions: { name: string; description: string; inputSchema: JsonSchema }[];
}

export type Connection = paths['/v1/workspaces/{workspaceId}/connections/{connectionId}']['get']['responses']['200']['content']['application/json']['connection'];

export function useCatalog() {
  return useQuery({
    queryKey: ['connectors'],
    queryFn: async () => (await call(api.GET('/v1/connectors'))).connectors as unknown as ConnectorInfo[],
    staleTime: 5 * 60_000,
  });
}

/** Rate limit form fields ↔ the API's {requests, windowSeconds, burst} (all empty = the process default). */
export interface RateDraft {
  requests: string;
  windowSeconds: string;
  burst: string;
}

export const rateDraftOf = (r: { requests: number; windowSeconds: number; burst: number } | null | undefined): RateDraft =>
  r ? { requests: String(r.requests), windowSeconds: String(r.windowSeconds), burst: String(r.burst) } : { requests: '', windowSeconds: '', burst: '' };

export function rateLimitOf(d: RateDraft): { value: { requests: number; windowSeconds: number; burst?: number } | null; errors: Record<string, string> } {
  const errors: Record<string, string> = {};
  if (!d.requests.trim() && !d.windowSeconds.trim() && !d.burst.trim()) return { value: null, errors };
  const num = (k: keyof RateDraft, max: number, optional = false) => {
    const t = d[k].trim();
    if (!t) {
      if (!optional) errors[k] = 'Required with a rate limit';
      return undefined;
    }
    const n = Number(t);
    if (!Number.isInteger(n) || n < 1 || n > max) errors[k] = `A whole number from 1 to ${max}`;
    return n;
  };
  const requests = num('requests', 100_000);
  const windowSeconds = num('windowSeconds', 86_400);
  const burst = num('burst', 100_000, true);
  if (Object.keys(errors).length) return { value: null, errors };
  return { value: { requests: requests!, windowSeconds: windowSeconds!, ...(burst !== undefined ? { burst } : {}) }, errors };
}
