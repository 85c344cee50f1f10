import type { DisconnectReason, PresenceRecord } from "@patchmon-ws/protocol";

export interface VersionedRecord {
  record: PresenceRecord;
  revision: number;
}

/** A change seen in the presence bucket: a new record, or a host removed (record null). */
export interface PresenceChange {
  hostId: string;
  record: PresenceRecord | null;
  revision: number;
}

/** What presence records about a live connection. */
export interface ConnectionFacts {
  hostId: string;
  apiId: string;
  connectionId: string;
  replica: string;
  since: number;
  secure: boolean;
  remoteAddress: string;
  agentVersion: string | null;
  capabilities: readonly string[];
}

export interface DisconnectFacts {
  code: number;
  reason: DisconnectReason;
  replica: string | null;
}

/** The record of a live connection; the last disconnect of earlier connections is kept. */
export function connectedRecord(facts: ConnectionFacts, previous: PresenceRecord | null, now: number): PresenceRecord {
  return {
    hostId: facts.hostId,
    apiId: facts.apiId,
    connected: true,
    replica: facts.replica,
    connectionId: facts.connectionId,
    since: facts.since,
    secure: facts.secure,
    remoteAddress: facts.remoteAddress,
    agentVersion: facts.agentVersion,
    capabilities: [...facts.capabilities],
    lastDisconnect: previous?.lastDisconnect ?? null,
    updatedAt: now,
  };
}

/**
 * The record once the connection ended. Transport facts (secure, address, agent version) stay as "last known";
 * replica, connection id and since are cleared.
 */
export function disconnectedRecord(current: PresenceRecord, facts: DisconnectFacts, now: number): PresenceRecord {
  return {
    ...current,
    connected: false,
    replica: null,
    connectionId: null,
    since: null,
    lastDisconnect: { at: now, code: facts.code, reason: facts.reason, replica: facts.replica },
    updatedAt: now,
  };
}

interface Ordered {
  since: number | null;
  connectionId: string | null;
}

/**
 * Total order of connections of one host across replicas: later accept time wins, connection id breaks ties.
 * Every replica applies the same rule, so a duplicate connection on another replica is resolved the same way
 * everywhere.
 */
export function isNewerConnection(a: Ordered, b: Ordered): boolean {
  const sa = a.since ?? -Infinity;
  const sb = b.since ?? -Infinity;
  if (sa !== sb) return sa > sb;
  return (a.connectionId ?? "") > (b.connectionId ?? "");
}

/** A connect write must not overwrite a newer live connection of the same host (a late write after a reconnect). */
export function mayWriteConnect(current: PresenceRecord | null, mine: Ordered): boolean {
  if (!current || !current.connected || current.connectionId === mine.connectionId) return true;
  return !isNewerConnection(current, mine);
}

/** Only the connection a record describes may change it (hello, disconnect). */
export function describesConnection(current: PresenceRecord | null, connectionId: string): current is PresenceRecord {
  return !!current && current.connected && current.connectionId === connectionId;
}

/**
 * Records still shown online although their replica stopped heart-beating. This replica's own records are never
 * orphans while it runs (its writer owns them); at start-up, records naming this replica id are left over from an
 * earlier process with the same REPLICA_ID and are orphans too (`includeSelf`).
 */
export function orphanedRecords(
  records: Iterable<PresenceRecord>,
  liveReplicas: ReadonlySet<string>,
  self: string,
  includeSelf = false,
): PresenceRecord[] {
  const orphans: PresenceRecord[] = [];
  for (const record of records) {
    if (!record.connected || record.replica === null) continue;
    if (record.replica === self ? includeSelf : !liveReplicas.has(record.replica)) orphans.push(record);
  }
  return orphans;
}

/** Outcome of a connect write. */
export type ConnectWrite = { written: true; record: PresenceRecord; revision: number } | { written: false; newer: PresenceRecord };

/** Outcome of a disconnect write: the record written, or null when the connection was no longer the host's current one. */
export type DisconnectWrite = { record: PresenceRecord; revision: number } | null;
