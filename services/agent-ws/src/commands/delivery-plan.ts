import { MAX_BATCH_TARGETS, type DeliveryResult, type ErrorCode } from "@patchmon-ws/protocol";

export interface Target {
  hostId: string;
  commandId: string;
}

/** Where a command ended up, from the sender's side. */
export type SendOutcome =
  | (DeliveryResult & { status: "acked" | "rejected" | "delivered" })
  | { hostId: string; commandId: string; status: "offline" }
  | { hostId: string; commandId: string; status: "failed"; code: ErrorCode; error: string };

export interface DeliveryPlan {
  /** Hosts whose agent this replica holds: delivered in-process. */
  local: Target[];
  /** Hosts presence shows on another replica: one batch request per chunk. */
  batches: { replica: string; targets: Target[] }[];
  /** Hosts presence shows offline or does not know: resolved one by one (offline unless presence changed meanwhile). */
  direct: Target[];
}

/**
 * Splits a multi-host send by where each agent is: here, on a known replica (batched, at most
 * MAX_BATCH_TARGETS per request), or unknown. A replica that no longer holds a host answers not_held and the
 * sender resolves that host again through presence.
 */
export function planDelivery(
  targets: readonly Target[],
  holdsLocally: (hostId: string) => boolean,
  ownerOf: (hostId: string) => string | null,
  self: string,
  batchSize: number = MAX_BATCH_TARGETS,
): DeliveryPlan {
  const local: Target[] = [];
  const direct: Target[] = [];
  const byReplica = new Map<string, Target[]>();
  for (const target of targets) {
    if (holdsLocally(target.hostId)) {
      local.push(target);
      continue;
    }
    const owner = ownerOf(target.hostId);
    if (owner === null || owner === self) {
      direct.push(target);
      continue;
    }
    const list = byReplica.get(owner);
    if (list) list.push(target);
    else byReplica.set(owner, [target]);
  }
  const batches: DeliveryPlan["batches"] = [];
  for (const [replica, list] of byReplica) {
    for (let i = 0; i < list.length; i += batchSize) batches.push({ replica, targets: list.slice(i, i + batchSize) });
  }
  return { local, batches, direct };
}
