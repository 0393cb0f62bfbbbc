import createClient, { type Middleware } from 'openapi-fetch';
import type { paths } from './schema';

/** A problem+json answer from the API (RFC 9457) with v01t's stable `code` and field errors. */
export interface Problem {
  type?: string;
  title: string;
  status: number;
  detail?: string;
  code: string;
  errors?: { path: string; message: string }[];
  requestId?: string;
}

export class ApiError extends Error {
  constructor(readonly problem: Problem) {
    super(problem.detail ?? problem.title);
    this.name = 'ApiError';
  }
  /** The message for a field, matched on the last segment of the API's path (body.email → email). */
  fieldError(field: string): string | undefined {
    return this.problem.errors?.find((e) => e.path === field || e.path.endsWith(`.${field}`))?.message;
  }
}

function cookie(name: string): string | undefined {
  return document.cookie
    .split('; ')
    .find((c) => c.startsWith(`${name}=`))
    ?.slice(name.length + 1);
}

/** Cookie sessions: every state-changing call echoes the CSRF cookie in a header (docs/adr/0024-web-app.md). */
const csrf: Middleware = {
  onRequest({ request }) {
    if (!['GET', 'HEAD', 'OPTIONS'].includes(request.method)) {
      const token = cookie('v01t_csrf');
      if (token) request.headers.set('x-csrf-token', decodeURIComponent(token));
    }
    return request;
  },
};

export const api = createClient<paths>({ baseUrl: '', credentials: 'same-origin' });
api.use(csrf);

/** Turns an openapi-fetch answer into data or a thrown ApiError, so TanStack Query sees failures. */
export async function call<T>(promise: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  const { data, error, response } = await promise;
  if (error !== undefined || !response.ok) {
    const body = (error ?? {}) as Partial<Problem>;
    throw new ApiError({
      title: body.title ?? response.statusText ?? 'Request failed',
      status: body.status ?? response.status,
      detail: body.detail,
      code: body.code ?? 'network_error',
      errors: body.errors,
      requestId: body.requestId,
    });
  }
  return data as T;
}
