/**
 * Live agent status for the host list, from agent-ws's status stream (Server-Sent Events), never by polling. The
 * stream is opened with a one-time `agent-status` ticket (EventSource cannot send an Authorization header), so this
 * client reconnects by itself after a network blip, with a fresh ticket and the last event id: the server then sends
 * only what changed meanwhile (`resumed`), or a new snapshot when it cannot tell.
 */
import "./zod-setup.js";
import { StatusStreamEvents, type TicketResponse } from "@patchmon-ws/protocol";
import { api } from "./api.js";
import { sessionEnded } from "./session.js";
import { statuses, statusVersion, streamControl, streamState } from "./status-store.js";

const MAX_BACKOFF_MS = 15_000;

let source: EventSource | undefined;
let lastEventId: string | undefined;
let retryTimer: ReturnType<typeof setTimeout> | undefined;
let attempts = 0;
let running = false;
let bumpQueued = false;

/** Re-renders at most once a frame however many events arrive. */
function changed(): void {
  if (bumpQueued) return;
  bumpQueued = true;
  requestAnimationFrame(() => {
    bumpQueued = false;
    statusVersion.value++;
  });
}

/** A stream event's data, validated with its schema; undefined when it does not fit (skipped). */
function parse<S extends { safeParse(value: unknown): { success: true; data: unknown } | { success: false } }>(schema: S, data: string): Extract<ReturnType<S["safeParse"]>, { success: true }>["data"] | undefined {
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    return undefined;
  }
  const result = schema.safeParse(value);
  return result.success ? (result.data as Extract<ReturnType<S["safeParse"]>, { success: true }>["data"]) : undefined;
}

export function startStatusStream(): void {
  if (running) return;
  running = true;
  streamControl.stop = stopStatusStream;
  void open();
}

export function stopStatusStream(): void {
  running = false;
  clearTimeout(retryTimer);
  source?.close();
  source = undefined;
  streamState.value = "stopped";
}

async function open(): Promise<void> {
  if (!running) return;
  streamState.value = attempts === 0 ? "connecting" : "reconnecting";
  let ticket: string;
  try {
    ticket = (await api<TicketResponse>("POST", "/api/v1/auth/ticket", { body: { purpose: "agent-status", target: "*" } })).ticket;
  } catch {
    return retry();
  }
  if (!running) return;
  const params = new URLSearchParams({ hostIds: "all", ticket });
  if (lastEventId) params.set("lastEventId", lastEventId);
  const stream = new EventSource(`/api/v1/agents/status/stream?${params}`);
  source = stream;
  const remember = (event: MessageEvent) => {
    if (event.lastEventId) lastEventId = event.lastEventId;
  };
  stream.addEventListener("snapshot", (event: MessageEvent<string>) => {
    const snapshot = parse(StatusStreamEvents.snapshot, event.data);
    if (!snapshot) return;
    statuses.clear();
    for (const [hostId, status] of Object.entries(snapshot.hosts)) statuses.set(hostId, status);
    remember(event);
    live();
  });
  stream.addEventListener("resumed", (event: MessageEvent<string>) => {
    remember(event);
    live();
  });
  stream.addEventListener("status", (event: MessageEvent<string>) => {
    const status = parse(StatusStreamEvents.status, event.data);
    if (!status) return;
    statuses.set(status.hostId, status);
    remember(event);
    changed();
  });
  stream.addEventListener("removed", (event: MessageEvent<string>) => {
    const removed = parse(StatusStreamEvents.removed, event.data);
    if (!removed) return;
    statuses.delete(removed.hostId);
    remember(event);
    changed();
  });
  stream.addEventListener("revoked", () => {
    stopStatusStream();
    sessionEnded("Your session was ended. Please sign in again.");
  });
  for (const name of ["expired", "closing"]) stream.addEventListener(name, () => reopen(stream));
  // EventSource would retry with the same (spent) ticket: take over instead.
  stream.onerror = () => reopen(stream);
}

function live(): void {
  attempts = 0;
  streamState.value = "live";
  changed();
}

function reopen(stream: EventSource): void {
  stream.close();
  if (source !== stream) return;
  source = undefined;
  retry();
}

function retry(): void {
  if (!running) return;
  streamState.value = "reconnecting";
  // Full jitter, so a replica restart does not bring every browser back at the same moment.
  const delay = Math.random() * Math.min(MAX_BACKOFF_MS, 500 * 2 ** attempts++);
  clearTimeout(retryTimer);
  retryTimer = setTimeout(() => void open(), delay);
}
