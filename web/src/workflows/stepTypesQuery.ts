import { useQuery } from '@tanstack/react-query';
import { LOCAL_STEP_TYPES, type StepType } from './stepTypes';

/**
 * The step-type catalogue the editor uses: the one place that decides where it comes from (the
 * server's `GET /v1/workflow-step-types` once it exists; the local mirror of the engine's checks until then).
 */
export function useStepTypes() {
  return useQuery<StepType[]>({ queryKey: ['workflow-step-types'], queryFn: async () => LOCAL_STEP_TYPES, staleTime: Infinity });
}
