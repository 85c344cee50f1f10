/**
 * Live agent status as the pages read it: a map mutated in place (a 10 000-entry map is not copied per event) and a
 * version signal that changes when it did. Filled by status-stream.ts, which is loaded after the first paint: it
 * brings the protocol's schemas (zod) with it, which the first paint does not need.
 */
import { signal } from "@preact/signals";
import type { HostStatus } from "@patchmon-ws/protocol";

export const statuses = new Map<string, HostStatus>();
export const statusVersion = signal(0);
export type StreamState = "connecting" | "live" | "reconnecting" | "stopped";
export const streamState = signal<StreamState>("stopped");

/** Stops the stream if it was started (set by status-stream.ts, so stopping never loads it). */
export const streamControl: { stop?: () => void } = {};
