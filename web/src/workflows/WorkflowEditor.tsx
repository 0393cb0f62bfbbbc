import { lazy, Suspense, useMemo, useState } from 'react';
import {
  Button as AriaButton,
  Input,
  Label,
  Link,
  ListBox,
  ListBoxItem,
  Popover,
  Select,
  SelectValue,
  Tab,
  TabList,
  TabPanel,
  Tabs,
  TextArea,
  TextField,
  Text,
  FieldError,
} from 'react-aria-components';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useNavigate, useParams, useSearchParams } from 'react-router';
import { api, ApiError, call } from '../api/client';
import type { paths } from '../api/schema';
import { Button, Card, ErrorMessage, Field, Loading, Page } from '../ui/ui';
import { runPath, workflowKey, workflowsKey } from './api';
import { canonicalJson, diffDefinitions } from './diff';
import { addStep, connect, disconnect, isValidStepId, moveStep, parseDefinitionText, pinError, removeStep, renameStep, TRIGGER_NODE, updateStep, type Definition, type PinnedError, type Step } from './graph';
import { SchemaForm } from './SchemaForm';
import { TRIGGER_TYPES, findStepType } from './stepTypes';
import { useStepTypes } from './stepTypesQuery';
import { BLANK_DEFINITION, findTemplate } from './templates';

const Canvas = lazy(() => import('./Canvas'));

type DefinitionBody = NonNullable<paths['/v1/workspaces/{workspaceId}/workflows']['post']['requestBody']>['content']['application/json'];
type Webhook = { url: string; token: string; hmacSecret: string | null };
type Warning = { path: string; message: string };

/** Route element: a fresh editor per workflow (state never leaks from one workflow to another). */
export default function WorkflowEditorRoute() {
  const { workspaceId = '', workflowId = 'draft' } = useParams();
  const [search] = useSearchParams();
  const template = search.get('template');
  if (workflowId === 'draft') {
    const chosen = findTemplate(template);
    const start = structuredClone(chosen?.definition ?? BLANK_DEFINITION);
    return <Editor key={`draft:${template ?? ''}`} workspaceId={workspaceId} workflowId={null} initial={start} enabled={false} sampleInput={chosen?.sampleInput} />;
  }
  return <LoadedEditor key={workflowId} workspaceId={workspaceId} workflowId={workflowId} />;
}

function LoadedEditor({ workspaceId, workflowId }: { workspaceId: string; workflowId: string }) {
  const workflow = useQuery({
    queryKey: workflowKey(workspaceId, workflowId),
    queryFn: async () => (await call(api.GET('/v1/workspaces/{workspaceId}/workflows/{workflowId}', { params: { path: { workspaceId, workflowId } } }))).workflow,
  });
  if (workflow.isPending) return <Loading label="Loading the workflow…" />;
  if (workflow.isError) return <ErrorMessage error={workflow.error} />;
  const def = (workflow.data.definition ?? { ...BLANK_DEFINITION, name: workflow.data.name }) as Definition;
  return <Editor workspaceId={workspaceId} workflowId={workflowId} initial={structuredClone(def)} enabled={workflow.data.enabled} version={workflow.data.currentVersion} />;
}

function Editor({ workspaceId, workflowId, initial, enabled, version, sampleInput }: { workspaceId: string; workflowId: string | null; initial: Definition; enabled: boolean; version?: number; sampleInput?: unknown }) {
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const stepTypes = useStepTypes();
  const [definition, setDefinition] = useState<Definition>(initial);
  const [saved, setSaved] = useState(() => canonicalJson(initial));
  const [selected, setSelected] = useState<string | null>(null);
  const [errors, setErrors] = useState<(PinnedError & { stepId: string | null })[]>([]);
  const [saveError, setSaveError] = useState<unknown>(null);
  const [warnings, setWarnings] = useState<Warning[]>([]);
  const [notice, setNotice] = useState<string | null>(null);
  const [layoutVersion, setLayoutVersion] = useState(0);
  const [tab, setTab] = useState<string>('canvas');
  const webhook = useQuery<Webhook | null>({ queryKey: ['webhook', workflowId], queryFn: () => null, enabled: false, initialData: null, staleTime: Infinity });
  const dirty = canonicalJson(definition) !== saved;

  const titles = useMemo(() => Object.fromEntries((stepTypes.data ?? []).map((t) => [t.type, t.title])), [stepTypes.data]);
  const errorCounts = useMemo(() => {
    const out: Record<string, number> = {};
    for (const e of errors) {
      const node = e.trigger ? TRIGGER_NODE : e.stepId;
      if (node) out[node] = (out[node] ?? 0) + 1;
    }
    return out;
  }, [errors]);

  /** An edit that cannot refuse (the graph operations that can refuse go through tryChange). */
  function change(fn: (d: Definition) => Definition) {
    setDefinition((d) => fn(d));
    setNotice(null);
  }
  /** Runs an edit that may refuse (renaming to a taken id, connecting a step to itself): the reason is shown, not thrown. */
  function tryChange(fn: (d: Definition) => Definition) {
    try {
      const next = fn(definition);
      setDefinition(next);
      setNotice(null);
      return true;
    } catch (err) {
      setNotice((err as Error).message);
      return false;
    }
  }

  const save = useMutation({
    mutationFn: async (def: Definition) => {
      // The editor holds whatever the person built; the server is the validator (its errors are pinned to nodes).
      const body = def as unknown as DefinitionBody;
      return workflowId
        ? call(api.PUT('/v1/workspaces/{workspaceId}/workflows/{workflowId}', { params: { path: { workspaceId, workflowId } }, body }))
        : call(api.POST('/v1/workspaces/{workspaceId}/workflows', { params: { path: { workspaceId } }, body }));
    },
    onMutate: () => {
      setSaveError(null);
      setErrors([]);
    },
    onSuccess: (res, def) => {
      setWarnings(res.warnings);
      setSaved(canonicalJson(def));
      if (res.webhook) queryClient.setQueryData(['webhook', res.workflow.id], res.webhook);
      // A template's sample input becomes the first "Run now" input of the workflow made from it.
      if (!workflowId && sampleInput !== undefined) queryClient.setQueryData(['sample-input', res.workflow.id], sampleInput);
      queryClient.setQueryData(workflowKey(workspaceId, res.workflow.id), res.workflow);
      void queryClient.invalidateQueries({ queryKey: workflowsKey(workspaceId), exact: true });
      void queryClient.invalidateQueries({ queryKey: ['versions', workspaceId, res.workflow.id] });
      if (!workflowId) navigate(`/w/${workspaceId}/workflows/${res.workflow.id}`, { replace: true });
      else setNotice(`Saved as version ${res.workflow.version ?? res.workflow.currentVersion}.`);
    },
    onError: (err, def) => {
      setSaveError(err);
      if (err instanceof ApiError && err.problem.errors) {
        setErrors(err.problem.errors.map((e) => {
          const p = pinError(e);
          return { ...p, stepId: p.step !== null ? (def.steps[p.step]?.id ?? null) : null };
        }));
      }
    },
  });

  const toggle = useMutation({
    mutationFn: async (on: boolean) =>
      (await call(api.POST(on ? '/v1/workspaces/{workspaceId}/workflows/{workflowId}/enable' : '/v1/workspaces/{workspaceId}/workflows/{workflowId}/disable', { params: { path: { workspaceId, workflowId: workflowId! } } }))).workflow,
    onSuccess: (wf) => {
      queryClient.setQueryData(workflowKey(workspaceId, wf.id), wf);
      void queryClient.invalidateQueries({ queryKey: workflowsKey(workspaceId), exact: true });
    },
  });
  const isEnabled = toggle.data?.enabled ?? enabled;

  const selectedStep = definition.steps.find((s) => s.id === selected) ?? null;
  const nameError = errors.find((e) => e.step === null && !e.trigger && e.field === 'name')?.message;
  const unplaced = errors.filter((e) => e.step === null && !e.trigger && e.field !== 'name');

  return (
    <Page
      title={workflowId ? definition.name || 'Workflow' : 'New workflow'}
      actions={
        <>
          {workflowId && (
            <span className={`badge ${isEnabled ? 'badge-on' : 'badge-off'}`} aria-live="polite">
              {isEnabled ? 'Enabled' : 'Disabled'}
              {version !== undefined ? ` · v${save.data?.workflow.version ?? version}` : ''}
            </span>
          )}
          {workflowId && (
            <Button variant="secondary" onPress={() => toggle.mutate(!isEnabled)} isDisabled={toggle.isPending}>
              {isEnabled ? 'Disable' : 'Enable'}
            </Button>
          )}
          <Button onPress={() => save.mutate(definition)} isDisabled={save.isPending}>
            {save.isPending ? 'Saving…' : workflowId ? 'Save new version' : 'Create workflow'}
          </Button>
        </>
      }
    >
      <p className="muted" aria-live="polite">
        {dirty ? 'Unsaved changes.' : workflowId ? 'All changes saved.' : 'Not saved yet.'}
        {workflowId && (
          <>
            {' '}
            <Link href={`/w/${workspaceId}/workflows`}>All workflows</Link>
          </>
        )}
      </p>
      {toggle.isError && <ErrorMessage error={toggle.error} />}
      {saveError !== null && <ErrorMessage error={saveError} />}
      {unplaced.length > 0 && (
        <div className="alert alert-error" role="alert">
          {unplaced.map((e) => (
            <p key={e.path}>
              <code>{e.path}</code>: {e.message}
            </p>
          ))}
        </div>
      )}
      {errors.some((e) => e.stepId || e.trigger) && (
        <nav aria-label="Validation errors" className="card">
          <h2 className="card-title">Fix these before saving</h2>
          <ul className="plain-list">
            {errors
              .filter((e) => e.stepId || e.trigger)
              .map((e) => (
                <li key={e.path}>
                  <AriaButton className="link-button" onPress={() => { setSelected(e.trigger ? TRIGGER_NODE : e.stepId); setTab('canvas'); }}>
                    {e.trigger ? 'Trigger' : `Step ${e.stepId}`}
                  </AriaButton>{' '}
                  <code>{e.path}</code>: {e.message}
                </li>
              ))}
          </ul>
        </nav>
      )}
      {notice && (
        <p className="alert alert-info" role="status">
          {notice}
        </p>
      )}
      {warnings.length > 0 && (
        <div className="alert alert-warning" role="status">
          <strong>Saved, with warnings</strong>
          <ul>
            {warnings.map((w) => (
              <li key={w.path + w.message}>
                <code>{w.path}</code>: {w.message}
              </li>
            ))}
          </ul>
        </div>
      )}
      {webhook.data && <WebhookUrl webhook={webhook.data} />}
      <Card>
        <Field label="Workflow name" value={definition.name} onChange={(v) => change((d) => ({ ...d, name: v }))} error={nameError} />
      </Card>
      <Tabs selectedKey={tab} onSelectionChange={(k) => setTab(String(k))}>
        <TabList aria-label="Editor views" className="tabs">
          <Tab id="canvas" className="tab">Canvas</Tab>
          <Tab id="json" className="tab">JSON</Tab>
          <Tab id="versions" className="tab" isDisabled={!workflowId}>Versions</Tab>
          <Tab id="run" className="tab" isDisabled={!workflowId}>Run</Tab>
        </TabList>
        <TabPanel id="canvas">
          <div className="wf-editor">
            <div className="wf-editor-canvas">
              {stepTypes.isError && <ErrorMessage error={stepTypes.error} />}
              <AddStep types={stepTypes.data ?? []} onAdd={(type, example) => {
                const res = addStep(definition, type, example);
                setDefinition(res.definition);
                setSelected(res.id);
              }} />
              <Suspense fallback={<Loading label="Loading the canvas…" />}>
                <Canvas
                  definition={definition}
                  titles={titles}
                  selected={selected}
                  errorCounts={errorCounts}
                  layoutVersion={layoutVersion}
                  onSelect={setSelected}
                  onConnect={(s, h, t) => tryChange((d) => connect(d, s, h, t))}
                  onDisconnect={(e) => change((d) => disconnect(d, e))}
                  onRemove={(id) => {
                    change((d) => removeStep(d, id));
                    setSelected(null);
                  }}
                />
              </Suspense>
              <p className="muted small">
                Drag from a node’s bottom handle to another node to connect; select an edge or node and press Delete to remove it. Dashed edges follow the list order.{' '}
                <AriaButton className="link-button" onPress={() => setLayoutVersion((v) => v + 1)}>Tidy layout</AriaButton>
              </p>
            </div>
            <aside className="wf-panel" aria-label="Step settings">
              <StepList steps={definition.steps} selected={selected} onSelect={setSelected} errorCounts={errorCounts} titles={titles} />
              {selected === TRIGGER_NODE && (
                <TriggerPanel definition={definition} onChange={change} errors={errors.filter((e) => e.trigger)} />
              )}
              {selectedStep && (
                <StepPanel
                  key={selectedStep.id}
                  step={selectedStep}
                  definition={definition}
                  errors={errors.filter((e) => e.stepId === selectedStep.id)}
                  onChange={change}
                  tryChange={tryChange}
                  onSelect={setSelected}
                />
              )}
              {!selected && <p className="muted">Select the trigger or a step (on the canvas or in the list) to edit it.</p>}
            </aside>
          </div>
        </TabPanel>
        <TabPanel id="json">
          <JsonView definition={definition} onApply={(d) => { setDefinition(d); setSelected(null); }} />
        </TabPanel>
        <TabPanel id="versions">{workflowId && <Versions workspaceId={workspaceId} workflowId={workflowId} onLoad={(d) => { setDefinition(d); setTab('canvas'); setNotice('Loaded an older version into the editor: save to make it the current one.'); }} />}</TabPanel>
        <TabPanel id="run">{workflowId && <RunNow workspaceId={workspaceId} workflowId={workflowId} enabled={isEnabled} dirty={dirty} />}</TabPanel>
      </Tabs>
    </Page>
  );
}

/** A labelled select of step or trigger types, by title. */
function TypeSelect({ label, options, selected, onSelect }: { label: string; options: readonly { type: string; title: string }[]; selected: string; onSelect: (type: string) => void }) {
  return (
      <Select className="field" selectedKey={selected} onSelectionChange={(k) => onSelect(String(k))}>
        <Label>{label}</Label>
        <AriaButton className="select-button">
          <SelectValue />
          <span aria-hidden="true">▾</span>
        </AriaButton>
        <Popover className="popover">
          <ListBox className="listbox">
            {options.map((t) => (
              <ListBoxItem key={t.type} id={t.type} className="listbox-item" textValue={t.title}>
                {t.title}
              </ListBoxItem>
            ))}
          </ListBox>
        </Popover>
      </Select>
  );
}

function AddStep({ types, onAdd }: { types: { type: string; title: string; example: Record<string, unknown> }[]; onAdd: (type: string, example: Record<string, unknown>) => void }) {
  const [type, setType] = useState('transform');
  const chosen = types.find((t) => t.type === type);
  return (
    <div className="row wf-toolbar">
      <TypeSelect label="Step type" options={types} selected={type} onSelect={setType} />
      <Button variant="secondary" onPress={() => chosen && onAdd(chosen.type, chosen.example)}>
        Add step
      </Button>
    </div>
  );
}

function StepList({ steps, selected, onSelect, errorCounts, titles }: { steps: Step[]; selected: string | null; onSelect: (id: string) => void; errorCounts: Record<string, number>; titles: Record<string, string> }) {
  return (
    <nav aria-label="Steps" className="wf-steplist">
      <h2 className="card-title">Outline</h2>
      <ol className="plain-list">
        <li>
          <AriaButton className={`wf-steplist-item${selected === TRIGGER_NODE ? ' is-selected' : ''}`} onPress={() => onSelect(TRIGGER_NODE)} aria-current={selected === TRIGGER_NODE ? 'true' : undefined}>
            Trigger{errorCounts[TRIGGER_NODE] ? ` (${errorCounts[TRIGGER_NODE]} errors)` : ''}
          </AriaButton>
        </li>
        {steps.map((s, i) => (
          <li key={s.id}>
            <AriaButton className={`wf-steplist-item${selected === s.id ? ' is-selected' : ''}`} onPress={() => onSelect(s.id)} aria-current={selected === s.id ? 'true' : undefined}>
              {i + 1}. {s.id} <span className="muted">({titles[s.type] ?? s.type})</span>
              {errorCounts[s.id] ? <span className="field-error"> · {errorCounts[s.id]} errors</span> : null}
            </AriaButton>
          </li>
        ))}
      </ol>
      {steps.length === 0 && <p className="muted">No steps yet: choose a step type and press “Add step”.</p>}
    </nav>
  );
}

function TriggerPanel({ definition, onChange, errors }: { definition: Definition; onChange: (fn: (d: Definition) => Definition) => void; errors: PinnedError[] }) {
  const trigger = definition.trigger ?? { type: 'manual' };
  const spec = TRIGGER_TYPES.find((t) => t.type === trigger.type);
  const fieldErrors = Object.fromEntries(errors.filter((e) => e.field).map((e) => [e.field!, e.message]));
  const settings = Object.fromEntries(Object.entries(trigger).filter(([k]) => k !== 'type'));
  return (
    <section className="card" aria-labelledby="trigger-heading">
      <h2 id="trigger-heading" className="card-title">Trigger</h2>
      <TypeSelect
        label="Trigger type"
        options={TRIGGER_TYPES}
        selected={trigger.type}
        onSelect={(k) => {
          const next = TRIGGER_TYPES.find((t) => t.type === k);
          if (next) onChange((d) => ({ ...d, trigger: { type: next.type, ...next.example } }));
        }}
      />
      {spec && <p className="muted">{spec.description}</p>}
      {spec && <SchemaForm idPrefix="trigger" schema={spec.schema} value={settings} errors={fieldErrors} onChange={(v) => onChange((d) => ({ ...d, trigger: { ...v, type: trigger.type } }))} />}
      {errors.filter((e) => !e.field).map((e) => (
        <p key={e.path} className="field-error">{e.message}</p>
      ))}
    </section>
  );
}

function StepPanel({ step, definition, errors, onChange, tryChange, onSelect }: { step: Step; definition: Definition; errors: PinnedError[]; onChange: (fn: (d: Definition) => Definition) => void; tryChange: (fn: (d: Definition) => Definition) => boolean; onSelect: (id: string | null) => void }) {
  const stepTypes = useStepTypes();
  const type = findStepType(stepTypes.data ?? [], step.type);
  const [idDraft, setIdDraft] = useState(step.id);
  const index = definition.steps.findIndex((s) => s.id === step.id);
  const others = definition.steps.filter((s) => s.id !== step.id).map((s) => s.id);
  const fieldErrors = Object.fromEntries(errors.filter((e) => e.field).map((e) => [e.field!, e.message]));
  const withErrors = Object.fromEntries(errors.filter((e) => e.field && /\.with(\.|$)/.test(e.path)).map((e) => [e.field!, e.message]));
  const idLocalError = idDraft !== step.id && !isValidStepId(idDraft) ? 'Letters, digits and _, starting with a letter or _' : undefined;
  const following = definition.steps[index + 1]?.id;
  const none = '__default';

  function commitId() {
    if (idDraft === step.id || idLocalError) return;
    if (tryChange((d) => renameStep(d, step.id, idDraft))) onSelect(idDraft);
  }

  return (
    <section className="card" aria-labelledby="step-heading">
      <h2 id="step-heading" className="card-title">
        Step {index + 1}: {type?.title ?? step.type}
      </h2>
      {type && <p className="muted">{type.description}</p>}
      <div className="stack">
        <TextField className="field" value={idDraft} onChange={setIdDraft} onBlur={commitId} onKeyDown={(e) => e.key === 'Enter' && commitId()} isInvalid={Boolean(idLocalError ?? fieldErrors.id)} validationBehavior="aria">
          <Label>Step id</Label>
          <Input spellCheck={false} />
          <Text slot="description" className="field-description">Later steps read its output as steps.{step.id}.output</Text>
          <FieldError className="field-error">{idLocalError ?? fieldErrors.id}</FieldError>
        </TextField>
        {step.type !== 'condition' && (
          <Select
            className="field"
            selectedKey={step.next ?? none}
            onSelectionChange={(k) => {
              if (k === none) onChange((d) => disconnect(d, { source: step.id, handle: 'next', kind: 'next' }));
              else tryChange((d) => connect(d, step.id, 'next', String(k)));
            }}
            isInvalid={Boolean(fieldErrors.next)}
            validationBehavior="aria"
          >
            <Label>Next step</Label>
            <AriaButton className="select-button">
              <SelectValue />
              <span aria-hidden="true">▾</span>
            </AriaButton>
            <Text slot="description" className="field-description">Where the run goes after this step</Text>
            <FieldError className="field-error">{fieldErrors.next}</FieldError>
            <Popover className="popover">
              <ListBox className="listbox">
                <ListBoxItem id={none} className="listbox-item" textValue="Following step">
                  {following ? `The following step (${following})` : 'End of the run'}
                </ListBoxItem>
                {others.map((o) => (
                  <ListBoxItem key={o} id={o} className="listbox-item" textValue={o}>
                    {o}
                  </ListBoxItem>
                ))}
              </ListBox>
            </Popover>
          </Select>
        )}
        <h3 className="label">Settings</h3>
        {stepTypes.isPending ? (
          <Loading label="Loading step types…" />
        ) : type ? (
          <SchemaForm idPrefix={step.id} schema={type.withSchema} value={step.with ?? {}} errors={withErrors} stepIds={others} onChange={(w) => onChange((d) => updateStep(d, step.id, { with: w }))} />
        ) : (
          <p className="field-error">Unknown step type “{step.type}”: edit it in the JSON view.</p>
        )}
        {errors.filter((e) => !e.field || (!withErrors[e.field] && !['id', 'next'].includes(e.field))).map((e) => (
          <p key={e.path} className="field-error">
            <code>{e.path}</code>: {e.message}
          </p>
        ))}
        <div className="row">
          <Button variant="secondary" onPress={() => onChange((d) => moveStep(d, step.id, -1))} isDisabled={index === 0}>
            Move up
          </Button>
          <Button variant="secondary" onPress={() => onChange((d) => moveStep(d, step.id, 1))} isDisabled={index === definition.steps.length - 1}>
            Move down
          </Button>
          <Button
            variant="danger"
            onPress={() => {
              onChange((d) => removeStep(d, step.id));
              onSelect(null);
            }}
          >
            Delete step
          </Button>
        </div>
      </div>
    </section>
  );
}

function JsonView({ definition, onApply }: { definition: Definition; onApply: (d: Definition) => void }) {
  const current = JSON.stringify(definition, null, 2);
  const [text, setText] = useState(current);
  const [base, setBase] = useState(current);
  const [error, setError] = useState<string | null>(null);
  // The canvas changed the definition since this text was taken: show the new one (unless edited here).
  if (current !== base && text === base) {
    setBase(current);
    setText(current);
  }
  return (
    <Card title="The whole definition as JSON">
      <TextField className="field" value={text} onChange={setText} isInvalid={Boolean(error)} validationBehavior="aria">
        <Label>Definition (JSON)</Label>
        <TextArea rows={20} spellCheck={false} className="code-input json-input" />
        <Text slot="description" className="field-description">Edit, then apply: the canvas shows the result. Saving sends exactly this JSON.</Text>
        <FieldError className="field-error">{error}</FieldError>
      </TextField>
      <div className="row">
        <Button
          onPress={() => {
            const parsed = parseDefinitionText(text);
            if ('error' in parsed) return setError(parsed.error);
            setError(null);
            setBase(JSON.stringify(parsed.definition, null, 2));
            setText(JSON.stringify(parsed.definition, null, 2));
            onApply(parsed.definition);
          }}
        >
          Apply JSON
        </Button>
        <Button variant="secondary" onPress={() => { setText(current); setBase(current); setError(null); }}>
          Discard JSON edits
        </Button>
      </div>
    </Card>
  );
}

function WebhookUrl({ webhook }: { webhook: Webhook }) {
  const url = new URL(webhook.url, window.location.origin).toString();
  const [copied, setCopied] = useState(false);
  return (
    <div className="alert alert-success" role="status">
      <strong>Webhook URL</strong>
      <p>POST JSON to this URL to start a run. Copy it now: it is shown only once.</p>
      <code className="secret" data-testid="webhook-url">{url}</code>{' '}
      <Button variant="secondary" onPress={() => void navigator.clipboard?.writeText(url).then(() => setCopied(true))}>
        {copied ? 'Copied' : 'Copy URL'}
      </Button>
      {webhook.hmacSecret && (
        <p>
          HMAC secret: <code className="secret">{webhook.hmacSecret}</code>
        </p>
      )}
    </div>
  );
}

function Versions({ workspaceId, workflowId, onLoad }: { workspaceId: string; workflowId: string; onLoad: (d: Definition) => void }) {
  const versions = useQuery({
    queryKey: ['versions', workspaceId, workflowId],
    queryFn: async () => (await call(api.GET('/v1/workspaces/{workspaceId}/workflows/{workflowId}/versions', { params: { path: { workspaceId, workflowId } } }))).versions,
  });
  const [from, setFrom] = useState<number | null>(null);
  const [to, setTo] = useState<number | null>(null);
  if (versions.isPending) return <Loading />;
  if (versions.isError) return <ErrorMessage error={versions.error} />;
  const list = versions.data;
  const newer = list.find((v) => v.version === to) ?? list[0];
  const older = list.find((v) => v.version === from) ?? list[1] ?? list[0];
  const diff = newer && older ? diffDefinitions(older.definition, newer.definition) : null;
  const picker = (label: string, value: number | undefined, set: (v: number) => void) => (
    <Select className="field" selectedKey={value ?? null} onSelectionChange={(k) => set(Number(k))}>
      <Label>{label}</Label>
      <AriaButton className="select-button">
        <SelectValue />
        <span aria-hidden="true">▾</span>
      </AriaButton>
      <Popover className="popover">
        <ListBox className="listbox">
          {list.map((v) => (
            <ListBoxItem key={v.version} id={v.version} className="listbox-item" textValue={`Version ${v.version}`}>
              Version {v.version}
            </ListBoxItem>
          ))}
        </ListBox>
      </Popover>
    </Select>
  );
  return (
    <div className="stack">
      <Card title="Versions">
        <table className="table">
          <caption className="sr-only">Saved versions, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Version</th>
              <th scope="col">Saved</th>
              <th scope="col">Steps</th>
              <th scope="col">
                <span className="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {list.map((v) => (
              <tr key={v.version}>
                <td>v{v.version}</td>
                <td>{new Date(v.createdAt).toLocaleString()}</td>
                <td>{Array.isArray((v.definition as Definition).steps) ? (v.definition as Definition).steps.length : '—'}</td>
                <td>
                  <Button variant="secondary" onPress={() => onLoad(structuredClone(v.definition) as Definition)}>
                    Open in editor<span className="sr-only"> (version {v.version})</span>
                  </Button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </Card>
      {list.length > 1 && diff && older && newer && (
        <Card title="Compare versions">
          <div className="row">
            {picker('Older', older.version, setFrom)}
            {picker('Newer', newer.version, setTo)}
          </div>
          <p aria-live="polite">
            v{older.version} → v{newer.version}: {diff.added} lines added, {diff.removed} removed
          </p>
          <pre className="diff" aria-label={`Differences between version ${older.version} and ${newer.version}`} tabIndex={0}>
            {diff.lines.map((l, i) => (
              <span key={i} className={`diff-${l.op}`}>
                {l.op === 'add' ? '+ ' : l.op === 'remove' ? '- ' : '  '}
                {l.text}
                {'\n'}
              </span>
            ))}
          </pre>
        </Card>
      )}
      {list.length === 1 && <p className="muted">Only one version so far: save a change to compare versions.</p>}
    </div>
  );
}

const TERMINAL = new Set(['succeeded', 'failed', 'cancelled', 'timed_out']);

function RunNow({ workspaceId, workflowId, enabled, dirty }: { workspaceId: string; workflowId: string; enabled: boolean; dirty: boolean }) {
  const sample = useQuery<unknown>({ queryKey: ['sample-input', workflowId], queryFn: () => null, enabled: false, initialData: null, staleTime: Infinity });
  const [input, setInput] = useState(() => (sample.data ? JSON.stringify(sample.data, null, 2) : '{}'));
  const [inputError, setInputError] = useState<string | null>(null);
  const start = useMutation({
    mutationFn: async (value: unknown) => (await call(api.POST('/v1/workspaces/{workspaceId}/workflows/{workflowId}/runs', { params: { path: { workspaceId, workflowId } }, body: { input: value } }))).run,
  });
  const runId = start.data?.id;
  const run = useQuery({
    queryKey: ['run', workspaceId, runId],
    enabled: Boolean(runId),
    queryFn: async () => (await call(api.GET('/v1/workspaces/{workspaceId}/runs/{runId}', { params: { path: { workspaceId, runId: runId! } } }))).run,
    // Poll with backoff until the run ends: 0.5 s, then slower, at most every 5 s.
    refetchInterval: (q) => (q.state.data && TERMINAL.has(q.state.data.status) ? false : Math.min(5000, 500 * 1.5 ** q.state.dataUpdateCount)),
  });
  return (
    <Card title="Run now">
      {!enabled && <p className="alert alert-info">Enable the workflow first: only enabled workflows run.</p>}
      {dirty && <p className="muted">Unsaved changes are not part of the run: it uses the last saved version.</p>}
      <TextField className="field" value={input} onChange={setInput} isInvalid={Boolean(inputError)} validationBehavior="aria">
        <Label>Run input (JSON)</Label>
        <TextArea rows={6} spellCheck={false} className="code-input" />
        <Text slot="description" className="field-description">Expressions read it as input, e.g. input.name</Text>
        <FieldError className="field-error">{inputError}</FieldError>
      </TextField>
      <Button
        isDisabled={!enabled || start.isPending}
        onPress={() => {
          let value: unknown;
          try {
            value = input.trim() ? JSON.parse(input) : {};
          } catch (err) {
            return setInputError(`Not valid JSON: ${(err as Error).message}`);
          }
          setInputError(null);
          start.mutate(value);
        }}
      >
        {start.isPending ? 'Starting…' : 'Run now'}
      </Button>
      {start.isError && <ErrorMessage error={start.error} />}
      {runId && (
        <div className="run-summary" role="status" aria-live="polite">
          <p>
            Run <Link href={runPath(workspaceId, runId)}>{runId}</Link>: <strong data-testid="run-status">{run.data?.status ?? start.data?.status}</strong>
          </p>
          {run.data?.error && <p className="field-error">{run.data.error}</p>}
          {run.data && TERMINAL.has(run.data.status) && run.data.status === 'succeeded' && (
            <pre className="diff" tabIndex={0} aria-label="Run output">{JSON.stringify(run.data.output, null, 2)}</pre>
          )}
        </div>
      )}
    </Card>
  );
}
