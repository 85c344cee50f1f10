/**
 * Who is signed in. The access token lives in this module's memory only; the HttpOnly refresh cookie (path
 * /api/v1/auth) renews it silently a minute before it expires and whenever a call finds it expired. A new tab signs
 * itself in with that cookie, so tabs stay signed in side by side (auth's refresh grace window covers two tabs renewing
 * at once). Signing out in one tab signs every tab out (BroadcastChannel). A session that ends (revoked, expired,
 * disabled user) returns to the sign-in page with the reason.
 */
import { computed, signal } from "@preact/signals";
import { hasPermission, type Permission, type SessionResponse, type UserView } from "@patchmon-ws/protocol";
import { api, ApiError, useTokens } from "./api.js";

export const user = signal<UserView | undefined>(undefined);
/** Why the last session ended (shown on the sign-in page), if it did not end by signing out. */
export const endedBecause = signal<string | undefined>(undefined);
/** True until the first silent sign-in attempt on load has finished. */
export const restoring = signal(true);

export const isAdmin = computed(() => user.value?.role === "admin");
export function may(permission: Permission): boolean {
  const current = user.value;
  return current !== undefined && hasPermission(current, permission);
}

let accessToken: string | undefined;
/** Set while this tab signs out: the revocation it causes is not news to it. */
let signingOut = false;
let refreshTimer: ReturnType<typeof setTimeout> | undefined;
let renewing: Promise<boolean> | undefined;
const channel = typeof BroadcastChannel === "undefined" ? undefined : new BroadcastChannel("patchmon-ws-session");
/**
 * A hint (not a secret) that this browser signed in before, so a fresh visitor's page does not ask for a refresh it
 * cannot have: the refresh cookie itself is HttpOnly and invisible here.
 */
const HINT = "patchmon-ws.signed-in";
const hint = {
  get: () => safely(() => localStorage.getItem(HINT) === "1") ?? false,
  set: (on: boolean) => safely(() => (on ? localStorage.setItem(HINT, "1") : localStorage.removeItem(HINT))),
};
function safely<T>(work: () => T): T | undefined {
  try {
    return work();
  } catch {
    return undefined;
  }
}

/** Renew this long before the access token expires. */
const RENEW_EARLY_S = 60;

const REASONS: Record<string, string> = {
  SESSION_REVOKED: "Your session was ended (signed out elsewhere, or revoked by an administrator). Please sign in again.",
  REFRESH_TOKEN_REUSED: "Your session was ended because its refresh token was used twice. Please sign in again.",
  TOKEN_EXPIRED: "Your session has expired. Please sign in again.",
  USER_DISABLED: "Your account has been disabled.",
};

function accept(session: SessionResponse): void {
  hint.set(true);
  accessToken = session.accessToken;
  user.value = session.user;
  endedBecause.value = undefined;
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => void renew(), Math.max(5, session.expiresIn - RENEW_EARLY_S) * 1000);
}

function forget(reason?: string): void {
  hint.set(false);
  accessToken = undefined;
  clearTimeout(refreshTimer);
  if (user.value !== undefined && reason) endedBecause.value = reason;
  user.value = undefined;
}

/** A new access token from the refresh cookie (single flight); false when the session is over. */
export function renew(): Promise<boolean> {
  renewing ??= api<SessionResponse>("POST", "/api/v1/auth/refresh", { anonymous: true, body: {} })
    .then((session) => {
      accept(session);
      return true;
    })
    .catch((err: unknown) => {
      if (err instanceof ApiError && err.status === 401) forget(REASONS[err.code] ?? REASONS.SESSION_REVOKED);
      else if (err instanceof ApiError && err.status === 403) forget(REASONS[err.code] ?? err.message);
      return false;
    })
    .finally(() => (renewing = undefined));
  return renewing;
}

useTokens({ token: () => accessToken, renew });

/** On load: sign in silently with the refresh cookie if there is one. */
export async function restore(): Promise<void> {
  try {
    if (hint.get()) await renew();
  } finally {
    restoring.value = false;
  }
}

export async function signIn(username: string, password: string): Promise<void> {
  accept(await api<SessionResponse>("POST", "/api/v1/auth/login", { anonymous: true, body: { username, password } }));
}

export async function signOut(): Promise<void> {
  signingOut = true;
  channel?.postMessage({ type: "signed-out" });
  try {
    await api("POST", "/api/v1/auth/logout");
  } catch {
    // Signed out locally either way.
  } finally {
    forget();
    endedBecause.value = undefined;
    signingOut = false;
  }
}

/** The session ended for a reason the UI learnt elsewhere (the status stream said `revoked`, a 401 on a socket). */
export function sessionEnded(reason: string): void {
  if (!signingOut) forget(reason);
}

channel?.addEventListener("message", (event: MessageEvent<{ type?: string }>) => {
  if (event.data?.type === "signed-out") forget("You signed out in another tab.");
});
