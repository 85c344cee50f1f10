/**
 * What an `ssh_proxy` request must satisfy before the agent dials anything, as the stock agent checks it (non-empty
 * session id; host a hostname, `localhost` or an IPv4 address of at most 255 characters; port 1-65535), plus the
 * choice of authentication (private key preferred over password). Pure.
 */
import ssh2 from "ssh2";

export const MAX_SSH_HOST_LENGTH = 255;
export const DEFAULT_SSH_TERMINAL = "xterm-256color";
export const DEFAULT_SSH_COLS = 80;
export const DEFAULT_SSH_ROWS = 24;

const IPV4_OCTET = "(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)";
const IPV4 = new RegExp(`^${IPV4_OCTET}(?:\\.${IPV4_OCTET}){3}$`);
const HOSTNAME_LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
const TERMINAL_NAME = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$/;

/** Why `host` is not an acceptable SSH target, or undefined when it is. */
export function sshHostProblem(host: unknown): string | undefined {
  if (typeof host !== "string" || host.length === 0) return "host is required";
  if (host.length > MAX_SSH_HOST_LENGTH) return `host is longer than ${MAX_SSH_HOST_LENGTH} characters`;
  if (host === "localhost" || IPV4.test(host)) return undefined;
  // Digits and dots only, but not a valid dotted quad (999.1.1.1, 10.1): never resolve that as a name.
  if (/^[\d.]+$/.test(host)) return "host is not a valid IPv4 address";
  if (host.split(".").every((label) => HOSTNAME_LABEL.test(label))) return undefined;
  return "host must be a hostname, localhost or an IPv4 address";
}

export function sshPortProblem(port: unknown): string | undefined {
  if (typeof port !== "number" || !Number.isInteger(port) || port < 1 || port > 65535) return "port must be between 1 and 65535";
  return undefined;
}

export interface SshProxyRequest {
  session_id: string;
  host: string;
  port: number;
  username: string;
  terminal?: string | undefined;
  cols?: number | undefined;
  rows?: number | undefined;
  password?: string | undefined;
  private_key?: string | undefined;
  passphrase?: string | undefined;
}

export interface SshTarget {
  host: string;
  port: number;
  username: string;
  term: string;
  cols: number;
  rows: number;
}

export type SshAuth =
  /** `password`, when also given, is tried after the key (password, then keyboard-interactive). */
  | { kind: "key"; privateKey: string; passphrase: string | undefined; password: string | undefined }
  | { kind: "password"; password: string };

/** The target of a request, or the reason it is refused (the ssh_proxy_error text). */
export function sshTargetOf(request: SshProxyRequest): { target: SshTarget } | { problem: string } {
  if (typeof request.session_id !== "string" || request.session_id.length === 0) return { problem: "session_id is required" };
  const problem = sshHostProblem(request.host) ?? sshPortProblem(request.port);
  if (problem) return { problem };
  const username = request.username;
  if (typeof username !== "string" || username.length === 0) return { problem: "username is required" };
  if (/[\x00-\x1f\x7f]/.test(username)) return { problem: "username contains control characters" };
  const term = request.terminal === undefined || request.terminal === "" ? DEFAULT_SSH_TERMINAL : request.terminal;
  if (!TERMINAL_NAME.test(term)) return { problem: "terminal must be a terminal type name such as xterm-256color" };
  return {
    target: {
      host: request.host,
      port: request.port,
      username,
      term,
      cols: request.cols ?? DEFAULT_SSH_COLS,
      rows: request.rows ?? DEFAULT_SSH_ROWS,
    },
  };
}

/**
 * Private key (with its passphrase) preferred over password, as the stock agent. A key that does not parse (or
 * needs a passphrase that is missing or wrong) is refused here, with ssh2's reason, which never quotes the key.
 */
export function sshAuthOf(request: Pick<SshProxyRequest, "password" | "private_key" | "passphrase">): { auth: SshAuth } | { problem: string } {
  const password = request.password ? request.password : undefined;
  if (request.private_key) {
    const passphrase = request.passphrase ? request.passphrase : undefined;
    // ssh2 returns an array for a file holding several keys: the first one authenticates.
    const parsed: unknown = ssh2.utils.parseKey(request.private_key, passphrase);
    const key = (Array.isArray(parsed) ? parsed[0] : parsed) as ReturnType<typeof ssh2.utils.parseKey> | undefined;
    if (key === undefined || key instanceof Error) {
      return { problem: `Invalid private key: ${key instanceof Error ? key.message : "no key found"}` };
    }
    if (!key.isPrivateKey()) return { problem: "Invalid private key: this is a public key" };
    return { auth: { kind: "key", privateKey: request.private_key, passphrase, password } };
  }
  if (password !== undefined) return { auth: { kind: "password", password } };
  return { problem: "No authentication method provided: send a password or a private_key" };
}
