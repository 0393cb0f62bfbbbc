import { useMemo, useState, type FormEvent } from 'react';
import { Form, Link, Switch } from 'react-aria-components';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useParams } from 'react-router';
import { api, ApiError, call } from '../api/client';
import { Button, Card, Empty, ErrorMessage, Field, Loading, Page } from '../ui/ui';
import { allZones, browserZone, networkName, useChannels, useContentSettings, type Channel } from './api';
import { ContentNav, NativeSelect } from './ContentNav';
import { useCatalog } from '../connections/api';

const WEEKDAYS = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];
type Slot = { weekday: number; time: string };

/** Channels: bind a publishing connection, then set its zone, limits, late policy and weekly queue slots. */
export default function Channels() {
  const { workspaceId = '' } = useParams();
  const channels = useChannels(workspaceId);
  const [open, setOpen] = useState<string | null>(null);
  return (
    <Page title="Channels">
      <ContentNav workspaceId={workspaceId} />
      <ApprovalSetting workspaceId={workspaceId} />
      <NewChannel workspaceId={workspaceId} />
      {channels.isPending && <Loading label="Loading channels…" />}
      {channels.isError && <ErrorMessage error={channels.error} />}
      {channels.isSuccess && channels.data.length === 0 && (
        <Empty title="No channel yet">
          <p>Bind a connection that can publish (webhook, Mastodon, Bluesky, Discord) above.</p>
        </Empty>
      )}
      {channels.data?.map((c) => (
        <Card key={c.id} title={`${c.name} · ${networkName(c.connector)}`}>
          <p className="muted">
            {c.timezone} · up to {c.limits.maxTextLength} characters, {c.limits.maxMedia} media · {c.queueSlots.length} queue slot{c.queueSlots.length === 1 ? '' : 's'} a week
          </p>
          {open === c.id ? (
            <ChannelSettings workspaceId={workspaceId} channel={c} onDone={() => setOpen(null)} />
          ) : (
            <Button variant="secondary" onPress={() => setOpen(c.id)} aria-label={`Settings of ${c.name}`}>
              Settings
            </Button>
          )}
        </Card>
      ))}
    </Page>
  );
}

/** Whether posts need an approval (by a member allowed to approve) before they can be scheduled. */
function ApprovalSetting({ workspaceId }: { workspaceId: string }) {
  const queryClient = useQueryClient();
  const settings = useContentSettings(workspaceId);
  const update = useMutation({
    mutationFn: (requireApproval: boolean) => call(api.PUT('/v1/workspaces/{workspaceId}/content/settings', { params: { path: { workspaceId } }, body: { requireApproval } })),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ['content', workspaceId, 'settings'] }),
  });
  return (
    <Card title="Approvals">
      {settings.isPending && <Loading />}
      {settings.isError && <ErrorMessage error={settings.error} />}
      {settings.data && (
        <Switch className="switch" isSelected={settings.data.requireApproval} isDisabled={update.isPending} onChange={(on) => update.mutate(on)}>
          <span className="switch-track" aria-hidden="true" />
          Posts need an approval before they are scheduled
        </Switch>
      )}
      <ErrorMessage error={update.error} />
    </Card>
  );
}

function NewChannel({ workspaceId }: { workspaceId: string }) {
  const queryClient = useQueryClient();
  const connections = useQuery({ queryKey: ['connections', workspaceId], queryFn: async () => (await call(api.GET('/v1/workspaces/{workspaceId}/connections', { params: { path: { workspaceId } } }))).connections });
  const catalog = useCatalog();
  const publishers = new Set((catalog.data ?? []).filter((c) => c.canPublish).map((c) => c.id));
  const usable = (connections.data ?? []).filter((c) => publishers.has(c.connector));
  const zones = useMemo(allZones, []);
  const [connectionId, setConnectionId] = useState('');
  const [name, setName] = useState('');
  const [timezone, setTimezone] = useState(browserZone());
  const create = useMutation({
    mutationFn: () => call(api.POST('/v1/workspaces/{workspaceId}/channels', { params: { path: { workspaceId } }, body: { connectionId: connectionId || usable[0]!.id, name, timezone } })),
    onSuccess: () => {
      setName('');
      return queryClient.invalidateQueries({ queryKey: ['content', workspaceId, 'channels'] });
    },
  });
  const err = create.error instanceof ApiError ? create.error : null;
  function submit(e: FormEvent) {
    e.preventDefault();
    create.mutate();
  }
  return (
    <Card title="Add a channel">
      {connections.isPending && <Loading />}
      {connections.isSuccess && usable.length === 0 && (
        <p>
          No connection can publish yet. <Link href={`/w/${workspaceId}/connections`}>Create a connection</Link> to a webhook, Mastodon, Bluesky or Discord first.
        </p>
      )}
      {usable.length > 0 && (
        <Form onSubmit={submit} className="row" validationBehavior="aria">
          <NativeSelect id="ch-conn" label="Connection" value={connectionId || usable[0]!.id} onChange={setConnectionId} options={usable.map((c) => ({ value: c.id, label: `${c.name} (${networkName(c.connector)})` }))} />
          <Field label="Channel name" value={name} onChange={setName} isRequired error={err?.fieldError('name')} />
          <NativeSelect id="ch-tz" label="Time zone" value={timezone} onChange={setTimezone} options={zones.map((z) => ({ value: z, label: z }))} />
          <Button type="submit" isDisabled={create.isPending || !name.trim()}>
            Add channel
          </Button>
        </Form>
      )}
      <ErrorMessage error={create.error} />
    </Card>
  );
}

function ChannelSettings({ workspaceId, channel, onDone }: { workspaceId: string; channel: Channel; onDone: () => void }) {
  const queryClient = useQueryClient();
  const zones = useMemo(allZones, []);
  const [name, setName] = useState(channel.name);
  const [timezone, setTimezone] = useState(channel.timezone);
  const [maxTextLength, setMax] = useState(String(channel.limits.maxTextLength));
  const [maxMedia, setMaxMedia] = useState(String(channel.limits.maxMedia));
  const [latePolicy, setLatePolicy] = useState(channel.latePolicy);
  const [grace, setGrace] = useState(String(Math.round(channel.lateGraceSeconds / 60)));
  const [slots, setSlots] = useState<Slot[]>(channel.queueSlots);
  const [newDay, setNewDay] = useState('1');
  const [newTime, setNewTime] = useState('09:00');
  const save = useMutation({
    mutationFn: () =>
      call(
        api.PATCH('/v1/workspaces/{workspaceId}/channels/{channelId}', {
          params: { path: { workspaceId, channelId: channel.id } },
          body: { name, timezone, limits: { maxTextLength: Number(maxTextLength), maxMedia: Number(maxMedia) }, latePolicy, lateGraceSeconds: Number(grace) * 60, queueSlots: slots },
        }),
      ),
    onSuccess: async () => {
      await queryClient.invalidateQueries({ queryKey: ['content', workspaceId] });
      onDone();
    },
  });
  const archive = useMutation({
    mutationFn: () => call(api.DELETE('/v1/workspaces/{workspaceId}/channels/{channelId}', { params: { path: { workspaceId, channelId: channel.id } } })),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ['content', workspaceId] }),
  });
  const err = save.error instanceof ApiError ? save.error : null;
  const sorted = [...slots].sort((a, b) => a.weekday - b.weekday || a.time.localeCompare(b.time));
  function submit(e: FormEvent) {
    e.preventDefault();
    save.mutate();
  }
  return (
    <Form onSubmit={submit} className="stack" validationBehavior="aria">
      <div className="row">
        <Field label="Name" value={name} onChange={setName} error={err?.fieldError('name')} />
        <NativeSelect id={`tz-${channel.id}`} label="Time zone" value={timezone} onChange={setTimezone} options={zones.map((z) => ({ value: z, label: z }))} />
        <Field label="Text limit (characters)" value={maxTextLength} onChange={setMax} inputMode="numeric" error={err?.fieldError('maxTextLength')} />
        <Field label="Media per post" value={maxMedia} onChange={setMaxMedia} inputMode="numeric" error={err?.fieldError('maxMedia')} />
      </div>
      <div className="row">
        <NativeSelect
          id={`late-${channel.id}`}
          label="A post missed while v01t was down"
          value={latePolicy}
          onChange={(v) => setLatePolicy(v as Channel['latePolicy'])}
          options={[
            { value: 'publish_late', label: 'Publish it late' },
            { value: 'skip', label: 'Skip it after the grace period' },
          ]}
        />
        <Field label="Grace period (minutes)" value={grace} onChange={setGrace} inputMode="numeric" error={err?.fieldError('lateGraceSeconds')} />
      </div>
      <fieldset className="cs-fieldset">
        <legend>Weekly queue slots ({timezone})</legend>
        <p className="muted">“Add to queue” puts a post in the next free slot.</p>
        <div className="cs-slots" role="list" aria-label="Queue slots by weekday">
          {WEEKDAYS.map((d, i) => (
            <div key={d} className="cs-slot-day" role="listitem">
              <strong>{d}</strong>
              {sorted
                .filter((s) => s.weekday === i + 1)
                .map((s) => (
                  <Button key={s.time} variant="secondary" onPress={() => setSlots(slots.filter((x) => !(x.weekday === s.weekday && x.time === s.time)))} aria-label={`Remove ${d} ${s.time}`}>
                    {s.time} ✕
                  </Button>
                ))}
            </div>
          ))}
        </div>
        <div className="row">
          <NativeSelect id={`sd-${channel.id}`} label="Slot day" value={newDay} onChange={setNewDay} options={WEEKDAYS.map((d, i) => ({ value: String(i + 1), label: d }))} />
          <div className="field">
            <label htmlFor={`st-${channel.id}`}>Slot time</label>
            <input id={`st-${channel.id}`} type="time" value={newTime} onChange={(e) => setNewTime(e.target.value)} />
          </div>
          <Button
            variant="secondary"
            onPress={() => {
              const s = { weekday: Number(newDay), time: newTime };
              if (!slots.some((x) => x.weekday === s.weekday && x.time === s.time)) setSlots([...slots, s]);
            }}
          >
            Add slot
          </Button>
        </div>
        {err?.problem.errors?.some((e) => e.path.includes('queueSlots')) && <p className="field-error">{err.problem.errors.find((e) => e.path.includes('queueSlots'))!.message}</p>}
      </fieldset>
      <ErrorMessage error={save.error ?? archive.error} />
      <div className="row">
        <Button type="submit" isDisabled={save.isPending}>
          Save settings
        </Button>
        <Button variant="secondary" onPress={onDone}>
          Close
        </Button>
        <Button variant="danger" onPress={() => archive.mutate()} isDisabled={archive.isPending}>
          Archive channel
        </Button>
      </div>
    </Form>
  );
}
