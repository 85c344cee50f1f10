import type { BoardMode, Principal } from "@patchmon-ws/protocol";

export type { BoardMode };

/**
 * What a user may do on the dashboard. Admins get full control; users granted `can_view_queues` get the read-only
 * board (buttons hidden, writes refused); anyone else gets nothing. Treat dashboard access as Redis access.
 */
export function boardModeFor(principal: Pick<Principal, "role" | "permissions">): BoardMode | null {
  if (principal.role === "admin") return "full";
  if (principal.permissions.includes("can_view_queues")) return "read-only";
  return null;
}

/** Methods that change nothing; everything else is a write (CSRF-checked, refused on the read-only board). */
export function isSafeMethod(method: string): boolean {
  return method === "GET" || method === "HEAD" || method === "OPTIONS";
}
