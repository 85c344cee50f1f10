import { useEffect, useMemo, useState } from "preact/hooks";
import { signal } from "@preact/signals";
import type { HostListResponse, HostRecord } from "@patchmon-ws/protocol";
import { api, ApiError } from "../lib/api.js";
import { may } from "../lib/session.js";
import { statuses, statusVersion, streamState } from "../lib/status-store.js";
import { describeStatus, StatusBadge } from "../components/status-badge.js";
import { Notice } from "../components/notice.js";
import { VirtualList } from "../components/virtual-list.js";
import { AddHostDialog, CommandDialog, HostSettingsDialog } from "./host-dialogs.js";

/** The host registry as last read; re-read after changes and when the tab comes back into view. */
export const hosts = signal<HostRecord[] | undefined>(undefined);
const loadError = signal<string | undefined>(undefined);

export async function loadHosts(): Promise<void> {
  try {
    const { hosts: list } = await api<HostListResponse>("GET", "/api/v1/hosts");
    hosts.value = [...list].sort((a, b) => a.name.localeCompare(b.name));
    loadError.value = undefined;
  } catch (err) {
    loadError.value = err instanceof ApiError ? err.message : "The hosts could not be loaded.";
  }
}

/** "Now" for relative times, advanced every 10 s. */
const now = signal(Date.now());
setInterval(() => (now.value = Date.now()), 10_000);

type Filter = "all" | "online" | "offline";
/** Rows are one line on wide screens and wrap to three on narrow ones (the virtual list needs a fixed height). */
const ROW_HEIGHT = 56;
const NARROW_ROW_HEIGHT = 128;
const NARROW = "(max-width: 40rem)";

function useNarrow(): boolean {
  const [narrow, setNarrow] = useState(() => window.matchMedia(NARROW).matches);
  useEffect(() => {
    const query = window.matchMedia(NARROW);
    const update = () => setNarrow(query.matches);
    query.addEventListener("change", update);
    return () => query.removeEventListener("change", update);
  }, []);
  return narrow;
}

export function HostsPage() {
  const [query, setQuery] = useState("");
  const [filter, setFilter] = useState<Filter>("all");
  const [adding, setAdding] = useState(false);
  const [settingsFor, setSettingsFor] = useState<HostRecord | undefined>();
  const [commandFor, setCommandFor] = useState<HostRecord | undefined>();
  const canManage = may("can_manage_hosts");
  const canTerminal = may("can_use_ssh_terminal");
  const narrow = useNarrow();

  useEffect(() => {
    // The stream's code (and the schemas it validates with) loads after the first paint.
    void import("../lib/status-stream.js").then((stream) => stream.startStatusStream());
    void loadHosts();
    const onVisible = () => {
      if (document.visibilityState === "visible") void loadHosts();
    };
    document.addEventListener("visibilitychange", onVisible);
    return () => document.removeEventListener("visibilitychange", onVisible);
  }, []);

  const version = statusVersion.value;
  const list = hosts.value;
  const visible = useMemo(() => {
    if (!list) return [];
    const needle = query.trim().toLowerCase();
    return list.filter((host) => {
      if (needle && !host.name.toLowerCase().includes(needle) && !(host.ssh?.address ?? "").toLowerCase().includes(needle) && !host.apiId.toLowerCase().includes(needle)) return false;
      if (filter === "all") return true;
      const online = statuses.get(host.id)?.connected === true;
      return filter === "online" ? online : !online;
    });
  }, [list, query, filter, filter === "all" ? 0 : version]);
  const online = useMemo(() => (list ?? []).filter((h) => statuses.get(h.id)?.connected).length, [list, version]);

  return (
    <main id="main" class="page hosts-page">
      <div class="page-header">
        <h1>Hosts</h1>
        <p class="summary" aria-live="polite">
          {list ? `${list.length} hosts, ${online} online` : "Loading hosts…"}
          <span class={`stream ${streamState.value}`}>{streamState.value === "live" ? "Live" : streamState.value === "stopped" ? "" : "Reconnecting…"}</span>
        </p>
        {canManage && (
          <button class="primary" onClick={() => setAdding(true)}>
            Add host
          </button>
        )}
      </div>
      <div class="toolbar" role="search">
        <label for="host-search" class="visually-hidden">
          Search hosts
        </label>
        <input id="host-search" type="search" placeholder="Search by name, address or API id" value={query} onInput={(e) => setQuery(e.currentTarget.value)} />
        <label for="host-filter" class="visually-hidden">
          Show
        </label>
        <select id="host-filter" value={filter} onChange={(e) => setFilter(e.currentTarget.value as Filter)}>
          <option value="all">All hosts</option>
          <option value="online">Online</option>
          <option value="offline">Offline</option>
        </select>
      </div>
      {loadError.value && <Notice kind="error">{loadError.value}</Notice>}
      {list && visible.length === 0 && <p class="empty">{list.length === 0 ? "No hosts yet." : "No host matches."}</p>}
      {visible.length > 0 && (
        <VirtualList
          items={visible}
          rowHeight={narrow ? NARROW_ROW_HEIGHT : ROW_HEIGHT}
          height="calc(100vh - 15rem)"
          label="Hosts"
          keyOf={(host) => host.id}
          row={(host) => {
            const status = statuses.get(host.id);
            const described = describeStatus(status, now.value);
            return (
              <div class="host-row" data-host-id={host.id} data-status={described.label}>
                <div class="host-name">
                  <strong>{host.name}</strong>
                  <span class="muted">{host.ssh ? `${host.ssh.username}@${host.ssh.address}:${host.ssh.port}` : "no SSH address"}</span>
                </div>
                <StatusBadge status={status} now={now.value} />
                <div class="row-actions">
                  {canTerminal && (
                    <a class="button" href={`/hosts/${encodeURIComponent(host.id)}/terminal`} target="_blank" rel="noopener" aria-label={`Open a terminal to ${host.name} (new tab)`}>
                      Terminal
                    </a>
                  )}
                  {canManage && (
                    <button onClick={() => setCommandFor(host)} aria-label={`Send a command to ${host.name}`}>
                      Command
                    </button>
                  )}
                  {canManage && (
                    <button onClick={() => setSettingsFor(host)} aria-label={`Manage ${host.name}`}>
                      Manage
                    </button>
                  )}
                </div>
              </div>
            );
          }}
        />
      )}
      {adding && <AddHostDialog onClose={() => setAdding(false)} onCreated={() => void loadHosts()} />}
      {settingsFor && <HostSettingsDialog host={settingsFor} onClose={() => setSettingsFor(undefined)} onChanged={() => void loadHosts()} />}
      {commandFor && <CommandDialog host={commandFor} onClose={() => setCommandFor(undefined)} />}
    </main>
  );
}
