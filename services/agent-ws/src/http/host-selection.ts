import { CodedError, IDENTIFIER_PATTERN, type HostStatus, type PresenceRecord } from "@patchmon-ws/protocol";

export type HostSelection = { all: true } | { all: false; ids: string[] };

/** Most host ids one request may name. */
export const MAX_SELECTED_HOSTS = 50_000;

/**
 * Reads a host selection: a comma-separated string (query) or an array (JSON body) of host ids, or "all".
 * Ids are validated (they reach KV keys and subjects) and de-duplicated, in order.
 */
export function parseHostSelection(input: unknown, what = "hostIds"): HostSelection {
  if (input === "all") return { all: true };
  let items: unknown[];
  if (typeof input === "string") items = input.split(",").map((s) => s.trim()).filter(Boolean);
  else if (Array.isArray(input)) items = input;
  else throw new CodedError("VALIDATION_FAILED", `${what} must be "all" or a list of host ids`);
  if (items.length === 0) throw new CodedError("VALIDATION_FAILED", `${what} must name at least one host`);
  if (items.length > MAX_SELECTED_HOSTS) throw new CodedError("VALIDATION_FAILED", `${what} names more than ${MAX_SELECTED_HOSTS} hosts`);
  const ids = new Set<string>();
  for (const item of items) {
    if (typeof item !== "string" || !IDENTIFIER_PATTERN.test(item)) {
      throw new CodedError("VALIDATION_FAILED", `${what}: ${JSON.stringify(String(item).slice(0, 64))} is not a valid host id`);
    }
    ids.add(item);
  }
  return { all: false, ids: [...ids] };
}

export type { HostStatus };

export function hostStatus(hostId: string, record: PresenceRecord | undefined | null): HostStatus {
  return record ? { ...record, known: true } : { hostId, known: false, connected: false };
}
