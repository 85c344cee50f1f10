/**
 * A host's agent connection as PatchMon shows it: WSS (connected over TLS), WS (connected without TLS) or Offline, with
 * how long ago it connected or dropped and the agent's version, in words for screen readers too.
 */
import type { HostStatus } from "@patchmon-ws/protocol";
import { duration } from "../lib/format.js";

export function describeStatus(status: HostStatus | undefined, now: number): { label: "WSS" | "WS" | "Offline"; detail: string; title: string } {
  if (!status || !status.connected || !status.known) {
    const last = status && status.known ? status.lastDisconnect : null;
    const detail = last ? `disconnected ${duration(now - last.at)} ago` : "never connected";
    return { label: "Offline", detail, title: `Agent offline: ${detail}${last ? ` (${last.reason})` : ""}` };
  }
  const label = status.secure ? "WSS" : "WS";
  const since = status.since ? `connected ${duration(now - status.since)} ago` : "connected";
  const version = status.agentVersion ? `, agent ${status.agentVersion}` : "";
  return { label, detail: `${since}${version}`, title: `Agent connected via ${label}${status.secure ? " (secure)" : " (insecure)"}: ${since}${version}` };
}

export function StatusBadge({ status, now }: { status: HostStatus | undefined; now: number }) {
  const { label, detail, title } = describeStatus(status, now);
  return (
    <span class="status" title={title}>
      <span class={`badge ${label.toLowerCase()}`}>{label}</span>
      <span class="status-detail">{detail}</span>
    </span>
  );
}
