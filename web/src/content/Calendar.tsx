import { useMemo, useRef, useState } from 'react';
import { Link } from 'react-aria-components';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useNavigate, useParams, useSearchParams } from 'react-router';
import FullCalendar from '@fullcalendar/react';
import dayGridPlugin from '@fullcalendar/daygrid';
import timeGridPlugin from '@fullcalendar/timegrid';
import listPlugin from '@fullcalendar/list';
import interactionPlugin from '@fullcalendar/interaction';
import type { DatesSetArg, EventDropArg, EventInput } from '@fullcalendar/core';
import './fullcalendar.css';
import { api, call } from '../api/client';
import { Button, Card, Empty, ErrorMessage, Loading, Page } from '../ui/ui';
import { allZones, browserZone, ContentStatus, networkName, STATUS_LABEL, useCalendar, useChannels, usePosts, wallTime } from './api';
import { ContentNav, NativeSelect } from './ContentNav';

const VIEWS = [
  { id: 'dayGridMonth', label: 'Month' },
  { id: 'timeGridWeek', label: 'Week' },
  { id: 'listMonth', label: 'List' },
] as const;
type ViewId = (typeof VIEWS)[number]['id'];

const ZONE_KEY = 'v01t.calendar.tz';
const day = (d: Date) => d.toISOString().slice(0, 10);

/**
 * The content calendar. FullCalendar runs in its UTC mode and is fed wall times of the chosen
 * IANA zone (the API groups the calendar by that zone's days), so the grid shows that zone's
 * days and hours whatever the browser's zone; a drop is read back as a wall time of the zone.
 */
export default function ContentCalendar() {
  const { workspaceId = '' } = useParams();
  const [search, setSearch] = useSearchParams();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const ref = useRef<FullCalendar>(null);
  const tz = search.get('tz') ?? localStorage.getItem(ZONE_KEY) ?? browserZone();
  const view = (VIEWS.find((v) => v.id === search.get('view'))?.id ?? 'dayGridMonth') as ViewId;
  const initialDate = search.get('date') ?? wallTime(new Date(), tz).slice(0, 10);
  const [range, setRange] = useState<{ from: string; to: string; title: string } | null>(null);
  const calendar = useCalendar(workspaceId, range?.from ?? initialDate, range?.to ?? initialDate, tz);
  const channels = useChannels(workspaceId);
  const unscheduled = usePosts(workspaceId, { limit: 20 });
  const zones = useMemo(allZones, []);
  const [moved, setMoved] = useState<string | null>(null);

  const reschedule = useMutation({
    mutationFn: async ({ postId, scheduledAt }: { postId: string; scheduledAt: string; revert: () => void }) => {
      // Keep a recurring post's rule: the drop moves its first occurrence.
      const { post } = await call(api.GET('/v1/workspaces/{workspaceId}/posts/{postId}', { params: { path: { workspaceId, postId } } }));
      return call(api.POST('/v1/workspaces/{workspaceId}/posts/{postId}/schedule', { params: { path: { workspaceId, postId } }, body: { mode: 'at', scheduledAt, timezone: tz, rrule: post.rrule } }));
    },
    onMutate: () => setMoved(null),
    onError: (_e, v) => v.revert(),
    onSuccess: (_d, v) => setMoved(`Moved to ${v.scheduledAt.replace('T', ' ')} (${tz}).`),
    onSettled: () => queryClient.invalidateQueries({ queryKey: ['content', workspaceId] }),
  });

  const events: EventInput[] = useMemo(
    () =>
      (calendar.data?.days ?? []).flatMap((d) =>
        d.posts.flatMap((p) =>
          p.channels.map((c) => ({
            id: c.targetId,
            start: `${d.date}T${p.localTime}:00`,
            title: `${p.title || p.excerpt} · ${c.channelName}`,
            classNames: [`cs-event`, `cs-${c.status}`],
            extendedProps: { postId: p.postId, status: c.status, channel: c.channelName, connector: c.connector, error: c.error },
          })),
        ),
      ),
    [calendar.data],
  );

  function setParam(key: string, value: string) {
    const next = new URLSearchParams(search);
    next.set(key, value);
    setSearch(next, { replace: true });
  }

  function onDatesSet(arg: DatesSetArg) {
    const end = new Date(arg.end.getTime() - 86_400_000);
    const next = { from: day(arg.start), to: day(end), title: arg.view.title };
    if (next.from !== range?.from || next.to !== range?.to || next.title !== range?.title) setRange(next);
  }

  function onDrop(info: EventDropArg) {
    const start = info.event.start!;
    const scheduledAt = start.toISOString().slice(0, 16);
    reschedule.mutate({ postId: String(info.event.extendedProps.postId), scheduledAt, revert: info.revert });
  }

  const api_ = () => ref.current?.getApi();
  const waiting = (unscheduled.data ?? []).filter((p) => ['draft', 'in_review', 'approved'].includes(p.status));
  const failed = (unscheduled.data ?? []).filter((p) => p.status === 'failed' || p.status === 'partially_published');

  return (
    <Page
      title="Content calendar"
      actions={
        <Link className="btn btn-primary" href={`/w/${workspaceId}/content/compose`}>
          Compose a post
        </Link>
      }
    >
      <ContentNav workspaceId={workspaceId} />
      {channels.isSuccess && channels.data.length === 0 && (
        <Empty title="No channel yet">
          <p>A channel is where posts go: bind one to a connection that can publish (a webhook, Mastodon, Bluesky, Discord).</p>
          <Link className="btn btn-primary" href={`/w/${workspaceId}/content/channels`}>
            Add a channel
          </Link>
        </Empty>
      )}
      <div className="cs-toolbar">
        <div className="cs-toolbar-nav" role="group" aria-label="Move the calendar">
          <Button variant="secondary" onPress={() => api_()?.prev()} aria-label="Previous period">
            ‹
          </Button>
          <Button variant="secondary" onPress={() => api_()?.today()}>
            Today
          </Button>
          <Button variant="secondary" onPress={() => api_()?.next()} aria-label="Next period">
            ›
          </Button>
          <h2 className="cs-range" aria-live="polite">
            {range?.title ?? ''}
          </h2>
        </div>
        <div className="cs-toolbar-views" role="group" aria-label="View">
          {VIEWS.map((v) => (
            <Button
              key={v.id}
              variant={v.id === view ? 'primary' : 'secondary'}
              aria-pressed={v.id === view}
              onPress={() => {
                api_()?.changeView(v.id);
                setParam('view', v.id);
              }}
            >
              {v.label}
            </Button>
          ))}
        </div>
        <NativeSelect
          id="cs-tz"
          label="Time zone"
          value={tz}
          onChange={(z) => {
            localStorage.setItem(ZONE_KEY, z);
            setParam('tz', z);
          }}
          options={zones.map((z) => ({ value: z, label: z }))}
        />
      </div>
      <ul className="cs-legend" aria-label="Status colours">
        {['scheduled', 'publishing', 'published', 'failed', 'skipped', 'cancelled'].map((s) => (
          <li key={s}>
            <span className={`cs-dot cs-${s}`} aria-hidden="true" /> {STATUS_LABEL[s]}
          </li>
        ))}
      </ul>
      <div role="status" aria-live="polite" className="cs-live">
        {reschedule.isPending && 'Rescheduling…'}
        {moved}
      </div>
      {reschedule.isError && <ErrorMessage error={reschedule.error} />}
      {calendar.isError && <ErrorMessage error={calendar.error} />}
      {calendar.isPending && <Loading label="Loading the calendar…" />}
      <div className="cs-calendar" aria-label={`Calendar in ${tz}, drag a post to reschedule it or open it to change its time`}>
        <FullCalendar
          ref={ref}
          plugins={[dayGridPlugin, timeGridPlugin, listPlugin, interactionPlugin]}
          initialView={view}
          initialDate={initialDate}
          timeZone="UTC"
          now={() => `${wallTime(new Date(), tz)}:00`}
          headerToolbar={false}
          firstDay={1}
          height="auto"
          editable
          eventStartEditable
          eventDurationEditable={false}
          eventInteractive
          dayMaxEvents={4}
          eventDisplay="block"
          displayEventEnd={false}
          eventTimeFormat={{ hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }}
          slotLabelFormat={{ hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }}
          events={events}
          datesSet={onDatesSet}
          eventDrop={onDrop}
          eventClick={(info) => {
            info.jsEvent.preventDefault();
            navigate(`/w/${workspaceId}/content/posts/${String(info.event.extendedProps.postId)}`);
          }}
          eventDidMount={(info) => {
            const p = info.event.extendedProps;
            info.el.setAttribute('aria-label', `${info.event.title}, ${STATUS_LABEL[String(p.status)] ?? p.status}, ${networkName(String(p.connector))}${p.error ? `, error: ${String(p.error)}` : ''}`);
            info.el.setAttribute('data-post-id', String(p.postId));
            info.el.setAttribute('data-status', String(p.status));
          }}
          noEventsContent="Nothing scheduled in this period."
          // A day cell named by its date alone while it shows posts fails WCAG 2.5.3 (label in name):
          // the cell is left unnamed and its date stays readable in the cell's own text.
          dayCellDidMount={(info) => info.el.removeAttribute('aria-labelledby')}
        />
      </div>
      <div className="cs-columns">
        <Card title="Not scheduled yet">
          {unscheduled.isPending && <Loading />}
          {unscheduled.isError && <ErrorMessage error={unscheduled.error} />}
          {unscheduled.isSuccess && waiting.length === 0 && <p className="muted">Every post is scheduled. Compose a new one to fill the calendar.</p>}
          <ul className="plain-list">
            {waiting.map((p) => (
              <li key={p.id}>
                <Link href={`/w/${workspaceId}/content/posts/${p.id}`}>{p.title || p.body.slice(0, 60) || '(empty)'}</Link> <ContentStatus status={p.status} />
              </li>
            ))}
          </ul>
        </Card>
        <Card title="Needs attention">
          {unscheduled.isSuccess && failed.length === 0 && <p className="muted">No failed post.</p>}
          <ul className="plain-list">
            {failed.map((p) => (
              <li key={p.id}>
                <Link href={`/w/${workspaceId}/content/posts/${p.id}`}>{p.title || p.body.slice(0, 60)}</Link> <ContentStatus status={p.status} />
                {p.targets
                  .filter((t) => t.error)
                  .slice(0, 1)
                  .map((t) => (
                    <p key={t.id} className="cs-error-text">
                      {t.error}
                    </p>
                  ))}
              </li>
            ))}
          </ul>
        </Card>
      </div>
    </Page>
  );
}
