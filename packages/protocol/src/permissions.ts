/**
 * Roles and permissions, and the checks on them. Without zod, so a browser page that only needs these (the web UI's
 * navigation) does not load the schema library with them.
 */
import { CodedError } from "./errors.js";

export const PERMISSIONS = ["can_use_ssh_terminal", "can_manage_hosts", "can_view_queues", "can_manage_users"] as const;
export const ROLES = ["admin", "user"] as const;
/** The names; auth.ts declares the `Permission` and `Role` schemas and types over the same lists. */
type Permission = (typeof PERMISSIONS)[number];
type Role = (typeof ROLES)[number];

/** Admins hold every permission; users hold what was granted to them. */
export function effectivePermissions(role: Role, granted: readonly Permission[]): Permission[] {
  return role === "admin" ? [...PERMISSIONS] : PERMISSIONS.filter((p) => granted.includes(p));
}

/** Whether a verified principal may do what `permission` guards (admins may do everything). */
export function hasPermission(principal: { role: Role; permissions: readonly Permission[] }, permission: Permission): boolean {
  return principal.role === "admin" || principal.permissions.includes(permission);
}

/** Throws FORBIDDEN naming the permission when the principal lacks it. */
export function requirePermission(principal: { role: Role; permissions: readonly Permission[] }, permission: Permission): void {
  if (!hasPermission(principal, permission)) throw new CodedError("FORBIDDEN", `This needs the ${permission} permission.`);
}
