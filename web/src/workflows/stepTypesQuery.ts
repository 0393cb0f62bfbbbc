import { useQuery } from '@tanstack/react-query';
import { api, call } from '../api/client';
import { fromServer, type StepType } from './stepTypes';

/**
 * The step-type catalogue the editor uses, and the one place that decides where it comes from: the
 * server's `GET /v1/workflow-step-types`, with the local form hints laid over it (stepTypes.ts).
 */
export function useStepTypes() {
  return useQuery<StepType[]>({
    queryKey: ['workflow-step-types'],
    queryFn: async () => fromServer((await call(api.GET('/v1/workflow-step-types'))).stepTypes),
    staleTime: Infinity,
  });
}
