import { useQuery } from '@tanstack/react-query';
import { api, call } from '../api/client';
import type { paths } from '../api/schema';

const base = '/v1/workspaces/{workspaceId}/gamification' as const;
type Json<P extends keyof paths, M extends 'get' | 'post' | 'patch'> = paths[P][M] extends { responses: { 200: { content: { 'application/json': infer J } } } }
  ? J
  : paths[P][M] extends { responses: { 201: { content: { 'application/json': infer J } } } }
    ? J
    : never;

export type Profile = Json<`${typeof base}/me`, 'get'>['profile'];
export type Calendar = Json<`${typeof base}/me/calendar`, 'get'>;
export type BadgeProgress = Json<`${typeof base}/me/badges`, 'get'>['badges'][number];
export type Badge = BadgeProgress['badge'];
export type BadgeCriteria = Badge['criteria'];
export type Rule = Json<`${typeof base}/rules`, 'get'>['rules'][number];
export type Settings = Json<`${typeof base}/settings`, 'get'>['settings'];
export type Reward = Settings['rewards'][number];
export type Standing = Json<`${typeof base}/leaderboards`, 'get'>['standings'][number];

export const gKey = (workspaceId: string, ...rest: unknown[]) => ['gamification', workspaceId, ...rest];
const path = (workspaceId: string) => ({ params: { path: { workspaceId } } });

export function useProfile(workspaceId: string) {
  return useQuery({ queryKey: gKey(workspaceId, 'me'), queryFn: async () => (await call(api.GET(`${base}/me`, path(workspaceId)))).profile });
}
export function useCalendar(workspaceId: string, days = 35) {
  return useQuery({ queryKey: gKey(workspaceId, 'calendar', days), queryFn: () => call(api.GET(`${base}/me/calendar`, { params: { path: { workspaceId }, query: { days } } })) });
}
export function useMyBadges(workspaceId: string) {
  return useQuery({ queryKey: gKey(workspaceId, 'my-badges'), queryFn: async () => (await call(api.GET(`${base}/me/badges`, path(workspaceId)))).badges });
}
export function useRules(workspaceId: string) {
  return useQuery({ queryKey: gKey(workspaceId, 'rules'), queryFn: async () => (await call(api.GET(`${base}/rules`, path(workspaceId)))).rules });
}
export function useBadges(workspaceId: string) {
  return useQuery({ queryKey: gKey(workspaceId, 'badges'), queryFn: async () => (await call(api.GET(`${base}/badges`, path(workspaceId)))).badges });
}
export function useSettings(workspaceId: string) {
  return useQuery({ queryKey: gKey(workspaceId, 'settings'), queryFn: async () => (await call(api.GET(`${base}/settings`, path(workspaceId)))).settings });
}

/** Display names of the workspace's members (leaderboards list user ids). */
export function useMemberNames(workspaceId: string) {
  return useQuery({
    queryKey: ['members', workspaceId],
    queryFn: async () => (await call(api.GET('/v1/workspaces/{workspaceId}/members', path(workspaceId)))).members,
    select: (members) => new Map(members.map((m) => [m.userId, m.name])),
  });
}

/** The workspace as the signed-in member sees it (their role decides whether the editors show). */
export function useWorkspace(workspaceId: string) {
  return useQuery({ queryKey: ['workspace', workspaceId], queryFn: async () => (await call(api.GET('/v1/workspaces/{workspaceId}', path(workspaceId)))).workspace });
}
