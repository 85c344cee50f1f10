/**
 * Terminal sessions for admins: filter by user, host and time, page through them newest first, and play a session's
 * recording in the page (asciinema-player, loaded only when a recording is played).
 */
import { useEffect, useRef, useState } from "preact/hooks";
import type { HostListResponse, HostRecord, SessionListResponse, TerminalSessionSummary, UserListResponse, UserView } from "@patchmon-ws/protocol";
import { api, ApiError, download } from "../lib/api.js";
import { bytes, dateTime, duration } from "../lib/format.js";
import { Dialog } from "../components/dialog.js";
import { Notice } from "../components/notice.js";

interface Filters {
  userId: string;
  hostId: string;
  from: string;
  to: string;
}

function query(filters: Filters, cursor?: string): string {
  const params = new URLSearchParams({ limit: "50" });
  if (filters.userId) params.set("userId", filters.userId);
  if (filters.hostId) params.set("hostId", filters.hostId);
  if (filters.from) params.set("from", String(new Date(filters.from).getTime()));
  if (filters.to) params.set("to", String(new Date(filters.to).getTime()));
  if (cursor) params.set("cursor", cursor);
  return `/api/v1/terminal/sessions?${params}`;
}

function RecordingPlayer({ session, onClose }: { session: TerminalSessionSummary; onClose(): void }) {
  const container = useRef<HTMLDivElement>(null);
  const [error, setError] = useState<string | undefined>();
  useEffect(() => {
    let player: { dispose(): void } | undefined;
    let cancelled = false;
    void (async () => {
      try {
        const [cast, { create }] = await Promise.all([
          download(`/api/v1/terminal/sessions/${encodeURIComponent(session.sessionId)}/recording`).then((res) => res.text()),
          import("asciinema-player"),
          import("asciinema-player/dist/bundle/asciinema-player.css"),
        ]);
        if (cancelled || !container.current) return;
        player = create({ data: cast }, container.current, { fit: "width", terminalFontFamily: "ui-monospace, Menlo, Consolas, monospace", autoPlay: true });
      } catch (err) {
        setError(err instanceof ApiError ? err.message : "The recording could not be played.");
      }
    })();
    return () => {
      cancelled = true;
      player?.dispose();
    };
  }, [session.sessionId]);
  return (
    <Dialog title={`Recording: ${session.username} on ${session.hostName}, ${dateTime(session.startedAt)}`} open wide onClose={onClose} actions={<button onClick={onClose}>Close</button>}>
      {error ? <Notice kind="error">{error}</Notice> : <div ref={container} class="player" data-testid="player" />}
    </Dialog>
  );
}

export function SessionsPage() {
  const [users, setUsers] = useState<UserView[]>([]);
  const [hostList, setHostList] = useState<HostRecord[]>([]);
  const [filters, setFilters] = useState<Filters>({ userId: "", hostId: "", from: "", to: "" });
  const [sessions, setSessions] = useState<TerminalSessionSummary[] | undefined>();
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState<string | undefined>();
  const [playing, setPlaying] = useState<TerminalSessionSummary | undefined>();

  useEffect(() => {
    void api<UserListResponse>("GET", "/api/v1/users").then((r) => setUsers(r.users), () => undefined);
    void api<HostListResponse>("GET", "/api/v1/hosts").then((r) => setHostList([...r.hosts].sort((a, b) => a.name.localeCompare(b.name))), () => undefined);
  }, []);

  const load = async (cursor?: string) => {
    try {
      const page = await api<SessionListResponse>("GET", query(filters, cursor));
      setSessions(cursor ? [...(sessions ?? []), ...page.sessions] : page.sessions);
      setNext(page.nextCursor);
      setError(undefined);
    } catch (err) {
      setError(err instanceof ApiError ? err.message : "The sessions could not be loaded.");
    }
  };
  useEffect(() => {
    void load();
  }, []);

  const set = (key: keyof Filters) => (e: Event) => setFilters({ ...filters, [key]: (e.currentTarget as HTMLInputElement | HTMLSelectElement).value });

  return (
    <main id="main" class="page">
      <div class="page-header">
        <h1>Terminal sessions</h1>
      </div>
      <form
        class="toolbar filters"
        onSubmit={(e) => {
          e.preventDefault();
          void load();
        }}
      >
        <div>
          <label for="filter-user">User</label>
          <select id="filter-user" value={filters.userId} onChange={set("userId")}>
            <option value="">Anyone</option>
            {users.map((u) => (
              <option value={u.id}>{u.username}</option>
            ))}
          </select>
        </div>
        <div>
          <label for="filter-host">Host</label>
          <select id="filter-host" value={filters.hostId} onChange={set("hostId")}>
            <option value="">Any host</option>
            {hostList.map((h) => (
              <option value={h.id}>{h.name}</option>
            ))}
          </select>
        </div>
        <div>
          <label for="filter-from">From</label>
          <input id="filter-from" type="datetime-local" value={filters.from} onInput={set("from")} />
        </div>
        <div>
          <label for="filter-to">To</label>
          <input id="filter-to" type="datetime-local" value={filters.to} onInput={set("to")} />
        </div>
        <button type="submit" class="primary">
          Filter
        </button>
      </form>
      {error && <Notice kind="error">{error}</Notice>}
      {sessions && sessions.length === 0 && <p class="empty">No session matches.</p>}
      {sessions && sessions.length > 0 && (
        <div class="table-wrap">
          <table>
            <caption class="visually-hidden">Terminal sessions, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Started</th>
                <th scope="col">User</th>
                <th scope="col">Host</th>
                <th scope="col">Mode</th>
                <th scope="col">Duration</th>
                <th scope="col">In / out</th>
                <th scope="col">Ended</th>
                <th scope="col">Recording</th>
              </tr>
            </thead>
            <tbody>
              {sessions.map((s) => (
                <tr key={s.sessionId} data-session-id={s.sessionId}>
                  <td>{dateTime(s.startedAt)}</td>
                  <td>{s.username}</td>
                  <td>
                    {s.hostName}
                    {s.sshUser ? <span class="muted"> as {s.sshUser}</span> : null}
                  </td>
                  <td>{s.mode}</td>
                  <td>{s.durationMs === null ? "live" : duration(s.durationMs)}</td>
                  <td>
                    {bytes(s.bytesIn)} / {bytes(s.bytesOut)}
                  </td>
                  <td>{s.reason ?? "—"}</td>
                  <td>
                    {s.recorded ? (
                      <button onClick={() => setPlaying(s)} aria-label={`Play the recording of ${s.username} on ${s.hostName} at ${dateTime(s.startedAt)}`}>
                        Play
                      </button>
                    ) : (
                      "—"
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {next && (
        <button class="more" onClick={() => void load(next)}>
          Load more
        </button>
      )}
      {playing && <RecordingPlayer session={playing} onClose={() => setPlaying(undefined)} />}
    </main>
  );
}
