import { useQuery } from '@tanstack/react-query';
import { api, ApiError, call } from '../api/client';

export const meKey = ['me'] as const;

/** The signed-in user, or null when the browser has no (valid) session cookie. */
export function useMe() {
  return useQuery({
    queryKey: meKey,
    queryFn: async () => {
      try {
        return (await call(api.GET('/v1/me'))).user;
      } catch (err) {
        if (err instanceof ApiError && err.problem.status === 401) return null;
        throw err;
      }
    },
    staleTime: 60_000,
  });
}

export const workspacesKey = ['workspaces'] as const;

export function useWorkspaces(enabled = true) {
  return useQuery({ queryKey: workspacesKey, queryFn: async () => (await call(api.GET('/v1/workspaces'))).workspaces, enabled });
}
