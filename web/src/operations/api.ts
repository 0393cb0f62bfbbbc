import { useEffect, useState } from 'react';
import { useQuery } from '@tanstack/react-query';
import { api, call } from '../api/client';
import type { paths } from '../api/schema';

type Ok<P extends keyof paths> = paths[P]['get'] extends { responses: { 200: { content: { 'application/json': infer J } } } } ? J : never;
export type IncidentList = Ok<'/v1/ops/incidents'>;
export type Incident = IncidentList['incidents'][number];
export type IncidentDetail = Ok<'/v1/ops/incidents/{incidentId}'>['incident'];
export type RoutesDocument = Ok<'/v1/ops/escalation-routes'>;
export type Deployments = Ok<'/v1/ops/deployments'>;
export type StatusDoc = Ok<'/status.json'>;
export type Responder = Ok<'/v1/ops/responders'>['responders'][number];

/**
 * The server's clock as seen from the browser: the first answer's `now` minus the browser's time
 * when it arrived, measured once per page load. Countdowns add it to the browser's clock, so they
 * follow the server's time even when the browser's clock is off, and tick with the browser's clock
 * in between (a test that moves the browser's clock moves the countdown by exactly that much).
 */
let offset: number | null = null;
const withOffset = <T extends { now: string }>(data: T) => {
  offset ??= Date.parse(data.now) - Date.now();
  return { ...data, offset };
};

export const opsKey = (...rest: unknown[]) => ['ops', ...rest];

export function useIncidents(status: string) {
  return useQuery({
    queryKey: opsKey('incidents', status),
    queryFn: async () => withOffset(await call(api.GET('/v1/ops/incidents', { params: { query: status === 'all' ? { limit: 100 } : { status: status as 'active', limit: 100 } } }))),
    refetchInterval: 15_000,
  });
}

export function useIncident(incidentId: string) {
  return useQuery({
    queryKey: opsKey('incident', incidentId),
    queryFn: async () => withOffset(await call(api.GET('/v1/ops/incidents/{incidentId}', { params: { path: { incidentId } } }))),
    refetchInterval: 15_000,
  });
}

export function useResponders() {
  return useQuery({ queryKey: opsKey('responders'), queryFn: async () => (await call(api.GET('/v1/ops/responders'))).responders, staleTime: 60_000 });
}

/** The browser's time, re-read every second (a countdown's tick). */
export function useNow(intervalMs = 1000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const id = setInterval(() => setNow(Date.now()), intervalMs);
    return () => clearInterval(id);
  }, [intervalMs]);
  return now;
}

export const SEVERITY_NAMES: Record<number, string> = { 1: 'Sev1 · critical', 2: 'Sev2 · high', 3: 'Sev3 · medium', 4: 'Sev4 · low' };
export const dateTime = (iso: string) => new Date(iso).toLocaleString('en-GB', { day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit', second: '2-digit' });
