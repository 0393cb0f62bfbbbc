import { useRef, useState } from 'react';
import { Link } from 'react-aria-components';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useParams } from 'react-router';
import { api, call } from '../api/client';
import { Button, Card, ErrorMessage, Field, Loading, Page } from '../ui/ui';
import { StatusBadge, useWorkflowNames, type RunWithSteps } from './api';
import { duration, isFinal, PollSchedule } from './live';

export function Json({ label, value }: { label: string; value: unknown }) {
  if (value === undefined || value === null) return null;
  return (
    <details className="json-details">
      <summary>{label}</summary>
      <pre className="json" tabIndex={0} aria-label={label}>
        {JSON.stringify(value, null, 2)}
      </pre>
    </details>
  );
}

/** Approve or reject the approval step a run waits on, with an optional comment. */
export function Decide({ workspaceId, runId, onDone, compact }: { workspaceId: string; runId: string; onDone?: () => void; compact?: boolean }) {
  const [comment, setComment] = useState('');
  const decide = useMutation({
    mutationFn: (verb: 'approve' | 'reject') =>
      call(api.POST(verb === 'approve' ? '/v1/workspaces/{workspaceId}/runs/{runId}/approve' : '/v1/workspaces/{workspaceId}/runs/{runId}/reject', { params: { path: { workspaceId, runId } }, body: comment ? { comment } : {} })),
    onSuccess: () => {
      setComment('');
      onDone?.();
    },
  });
  return (
    <div className="stack">
      <div className="row">
        {!compact && <Field label="Comment (optional)" value={comment} onChange={setComment} />}
        <Button onPress={() => decide.mutate('approve')} isDisabled={decide.isPending} aria-label={compact ? `Approve run ${runId.slice(0, 8)}` : undefined}>
          Approve
        </Button>
        <Button variant="danger" onPress={() => decide.mutate('reject')} isDisabled={decide.isPending} aria-label={compact ? `Reject run ${runId.slice(0, 8)}` : undefined}>
          Reject
        </Button>
      </div>
      <ErrorMessage error={decide.error} />
    </div>
  );
}

/**
 * One run, live: polled with backoff until it is final (live.ts), every attempt of every step with
 * its input, output, error and timing; retry, cancel, approve and reject.
 */
export default function RunPage() {
  const { workspaceId = '', runId = '' } = useParams();
  const queryClient = useQueryClient();
  const schedule = useRef(new PollSchedule());
  const workflows = useWorkflowNames(workspaceId);
  const key = ['run', workspaceId, runId];
  const run = useQuery({
    queryKey: key,
    queryFn: async () => (await call(api.GET('/v1/workspaces/{workspaceId}/runs/{runId}', { params: { path: { workspaceId, runId } } }))).run,
    refetchInterval: (q) => schedule.current.next(q.state.data, q.state.dataUpdatedAt),
    refetchIntervalInBackground: false,
  });
  const acted = () => {
    schedule.current.reset();
    void queryClient.invalidateQueries({ queryKey: key });
    void queryClient.invalidateQueries({ queryKey: ['runs', workspaceId] });
  };
  const path = { params: { path: { workspaceId, runId } } };
  const cancel = useMutation({ mutationFn: () => call(api.POST('/v1/workspaces/{workspaceId}/runs/{runId}/cancel', path)), onSuccess: acted });
  const retry = useMutation({ mutationFn: () => call(api.POST('/v1/workspaces/{workspaceId}/runs/{runId}/retry', path)), onSuccess: acted });

  if (run.isPending) return <Loading label="Loading the run…" />;
  if (run.isError)
    return (
      <Page title="Run">
        <ErrorMessage error={run.error} />
        <Link href={`/w/${workspaceId}/runs`}>Back to runs</Link>
      </Page>
    );
  const r: RunWithSteps = run.data;
  const name = workflows.data?.find((w) => w.id === r.workflowId)?.name ?? 'Workflow';
  const awaitingApproval = r.status === 'waiting' && r.wait?.kind === 'approval' && !r.wait.decision;
  return (
    <Page
      title={`Run of ${name}`}
      actions={
        <>
          {['queued', 'running', 'waiting'].includes(r.status) && (
            <Button variant="danger" onPress={() => cancel.mutate()} isDisabled={cancel.isPending}>
              Cancel run
            </Button>
          )}
          {['failed', 'timed_out'].includes(r.status) && (
            <Button onPress={() => retry.mutate()} isDisabled={retry.isPending}>
              Retry from the failed step
            </Button>
          )}
        </>
      }
    >
      <ErrorMessage error={cancel.error ?? retry.error} />
      <Card>
        <dl className="facts">
          <div>
            <dt>Status</dt>
            <dd aria-live="polite" data-testid="run-status">
              <StatusBadge status={r.status} />
              {!isFinal(r.status) && <span className="muted"> (updating live)</span>}
            </dd>
          </div>
          <div>
            <dt>Trigger</dt>
            <dd>{r.trigger}</dd>
          </div>
          <div>
            <dt>Version</dt>
            <dd>v{r.version}</dd>
          </div>
          <div>
            <dt>Created</dt>
            <dd>{new Date(r.createdAt).toLocaleString()}</dd>
          </div>
          <div>
            <dt>Took</dt>
            <dd>{duration(r.startedAt, r.finishedAt)}</dd>
          </div>
          <div>
            <dt>Run id</dt>
            <dd>
              <code>{r.id}</code>
            </dd>
          </div>
        </dl>
        {r.error && (
          <div className="alert alert-error" role="alert">
            <strong>Run error</strong>
            <p>{r.error}</p>
          </div>
        )}
        <Json label="Run input" value={r.input} />
        {r.status === 'succeeded' && <Json label="Run output" value={r.output ?? null} />}
        <p>
          <Link href={`/w/${workspaceId}/runs?workflowId=${r.workflowId}`}>All runs</Link>
        </p>
      </Card>
      {awaitingApproval && (
        <Card title={`Waiting for approval at step “${r.wait!.stepId}”`}>
          <p className="muted">Expires {new Date(r.wait!.until).toLocaleString()}.</p>
          <Decide workspaceId={workspaceId} runId={runId} onDone={acted} />
        </Card>
      )}
      {r.status === 'waiting' && r.wait && r.wait.kind !== 'approval' && (
        <Card>
          <p>
            Waiting ({r.wait.kind}) at step “{r.wait.stepId}” until {new Date(r.wait.until).toLocaleString()}.
          </p>
        </Card>
      )}
      <Card title="Steps">
        {r.steps.length === 0 && <p className="muted">No step has started yet.</p>}
        <ol className="timeline" aria-label="Step attempts in order">
          {r.steps.map((s) => (
            <li key={s.id} className={`timeline-item step-${s.status}`}>
              <div className="row timeline-head">
                <strong>{s.stepId}</strong>
                <span className="muted">{s.stepType}</span>
                <span>attempt {s.attempt}</span>
                <StatusBadge status={s.status} />
                <span className="muted">{duration(s.startedAt, s.finishedAt)}</span>
              </div>
              {s.error && <p className="field-error">{s.error}</p>}
              <Json label={`Input of ${s.stepId} (attempt ${s.attempt})`} value={s.input} />
              <Json label={`Output of ${s.stepId} (attempt ${s.attempt})`} value={s.output} />
            </li>
          ))}
        </ol>
      </Card>
    </Page>
  );
}
