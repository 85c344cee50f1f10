import ssh2, { type ClientChannel, type ConnectConfig, type KeyboardInteractiveCallback, type Prompt } from "ssh2";
import type { PinnedHostKey, TerminalHostKey } from "@patchmon-ws/protocol";
import { CodedError } from "@patchmon-ws/protocol";
import type { Logger } from "@patchmon-ws/service-kit";
import type { ShellBackend, ShellEvents, ShellFailure, ShellRequest } from "../shell-backend.js";
import { compareWithPin, describeHostKey, type PresentedHostKey } from "./host-key.js";

export interface DirectShellOptions {
  /** The key pinned for this host when the session started (null: none yet). */
  pinned: PinnedHostKey | null;
  /** Pins a key if none is pinned (auth, trust on first use); returns the key pinned now. */
  pinHostKey(key: PresentedHostKey): Promise<{ pinned: boolean; hostKey: PinnedHostKey }>;
  readyTimeoutMs: number;
  keepaliveMs: number;
  logger: Logger;
}

/** Network failures that mean the host could not be reached at all. */
const UNREACHABLE = new Set(["ECONNREFUSED", "EHOSTUNREACH", "ENETUNREACH", "ENOTFOUND", "EAI_AGAIN", "ETIMEDOUT", "ECONNRESET"]);

/**
 * A shell opened from this process with ssh2 to the address and port the host registry names. The host key is
 * verified before any credential is sent: pinned on first use (through auth, atomically: of two first connections
 * racing, both end up checked against the one key that won), refused on mismatch with both fingerprints.
 * Password, private key (+ passphrase) and keyboard-interactive; keepalives on.
 */
export class DirectShell implements ShellBackend {
  readonly mode = "direct" as const;
  private client: InstanceType<typeof ssh2.Client> | undefined;
  private channel: ClientChannel | undefined;
  private events: ShellEvents | undefined;
  private done = false;
  private opened = false;
  private hostKey: TerminalHostKey | null = null;
  /** Set when the host key was refused, so the error that follows is reported as what it is. */
  private refusal: ShellFailure | undefined;
  private pendingPrompt: KeyboardInteractiveCallback | undefined;
  private promptRounds = 0;

  constructor(private readonly options: DirectShellOptions) {}

  open(request: ShellRequest, events: ShellEvents): void {
    this.events = events;
    const { password, privateKey, passphrase } = request.credentials;
    if (!password && !privateKey) return this.fail({ code: "SSH_AUTH_FAILED", message: "Give a password or a private key to sign in." });
    if (privateKey) {
      const parsed = ssh2.utils.parseKey(privateKey, passphrase);
      if (parsed instanceof Error) {
        return this.fail({ code: "SSH_AUTH_FAILED", message: passphrase ? "The private key could not be read (wrong passphrase?)." : "The private key could not be read (it may need a passphrase)." });
      }
    }
    const client = new ssh2.Client();
    this.client = client;
    const config: ConnectConfig = {
      host: request.address,
      port: request.port,
      username: request.username,
      readyTimeout: this.options.readyTimeoutMs,
      keepaliveInterval: this.options.keepaliveMs,
      keepaliveCountMax: 3,
      tryKeyboard: true,
      hostVerifier: (key: Buffer, verify: (valid: boolean) => void) => {
        void this.verifyHostKey(key).then(verify, () => verify(false));
      },
      ...(password ? { password } : {}),
      ...(privateKey ? { privateKey, ...(passphrase ? { passphrase } : {}) } : {}),
    };
    client.on("keyboard-interactive", (name, instructions, _lang, prompts, finish) => this.keyboardInteractive(name, instructions, prompts, finish, password));
    client.on("ready", () => this.ready(request));
    client.on("error", (err: Error & { level?: string; code?: string }) => this.clientError(err));
    client.on("close", () => {
      if (this.done) return;
      if (this.opened) this.end();
      else this.fail({ code: "HOST_UNREACHABLE", message: "The SSH connection closed before the shell opened." });
    });
    try {
      client.connect(config);
      // Keystrokes are tiny packets: without TCP_NODELAY, Nagle holds each behind the previous one's delayed ACK (~40 ms).
      client.setNoDelay(true);
    } catch (err) {
      this.fail({ code: "SSH_ERROR", message: `The SSH connection could not start: ${(err as Error).message}` });
    }
  }

  write(data: string): boolean {
    if (!this.channel || this.done) return true;
    return this.channel.write(data);
  }

  resize(cols: number, rows: number): void {
    if (!this.channel || this.done) return;
    this.channel.setWindow(rows, cols, 0, 0);
  }

  answerPrompt(responses: string[]): void {
    const finish = this.pendingPrompt;
    this.pendingPrompt = undefined;
    finish?.(responses);
  }

  pauseOutput(): void {
    this.channel?.pause();
    this.channel?.stderr.pause();
  }

  resumeOutput(): void {
    this.channel?.resume();
    this.channel?.stderr.resume();
  }

  close(): void {
    if (this.done) return;
    this.done = true;
    this.channel?.removeAllListeners("data");
    this.client?.end();
  }

  private async verifyHostKey(blob: Buffer): Promise<boolean> {
    const presented = describeHostKey(blob);
    const verdict = compareWithPin(this.options.pinned, presented);
    if (verdict === "verified") {
      this.hostKey = { ...presented, status: "verified" };
      return true;
    }
    if (verdict === "mismatch") return this.refuseKey(this.options.pinned!.fingerprint, presented);
    let pin: { pinned: boolean; hostKey: PinnedHostKey };
    try {
      pin = await this.options.pinHostKey(presented);
    } catch (err) {
      const unavailable = err instanceof CodedError && err.status === 503;
      this.refusal = unavailable
        ? { code: "DEPENDENCY_UNAVAILABLE", message: "The host key could not be pinned (auth is unavailable); try again shortly." }
        : { code: "SSH_ERROR", message: "The host key could not be pinned." };
      return false;
    }
    if (pin.hostKey.fingerprint !== presented.fingerprint) return this.refuseKey(pin.hostKey.fingerprint, presented);
    this.hostKey = { ...presented, status: pin.pinned ? "pinned" : "verified" };
    if (pin.pinned) this.options.logger.info({ algorithm: presented.algorithm, fingerprint: presented.fingerprint }, "host key pinned on first use");
    return true;
  }

  private refuseKey(expected: string, presented: PresentedHostKey): false {
    this.refusal = {
      code: "HOST_KEY_MISMATCH",
      message: `The host presented the ${presented.algorithm} key ${presented.fingerprint}, but ${expected} is pinned. If the host's key changed on purpose, an administrator must clear the pinned key.`,
      extra: { expected_fingerprint: expected, presented_fingerprint: presented.fingerprint },
    };
    this.options.logger.warn({ expected, presented: presented.fingerprint }, "SSH host key mismatch; refused");
    return false;
  }

  private keyboardInteractive(name: string, instructions: string, prompts: Prompt[], finish: KeyboardInteractiveCallback, password: string | undefined): void {
    this.promptRounds++;
    // The common case: PAM asks for the password once, blind. Answer it with the password the user gave.
    if (password && this.promptRounds === 1 && prompts.length > 0 && prompts.every((p) => !p.echo)) {
      finish(prompts.map(() => password));
      return;
    }
    if (prompts.length === 0) {
      finish([]);
      return;
    }
    this.pendingPrompt = finish;
    this.events?.prompt({ name, instructions, prompts: prompts.map((p) => ({ prompt: p.prompt, echo: p.echo === true })) });
  }

  private ready(request: ShellRequest): void {
    if (this.done || !this.client) return;
    this.client.shell({ term: request.term, cols: request.cols, rows: request.rows }, (err, channel) => {
      if (this.done) {
        channel?.close();
        return;
      }
      if (err) return this.fail({ code: "SSH_ERROR", message: `The SSH server refused a shell: ${err.message}` });
      this.channel = channel;
      this.opened = true;
      channel.setEncoding("utf8");
      channel.stderr.setEncoding("utf8");
      const forward = (text: string) => {
        if (!this.done) this.events?.data(text);
      };
      channel.on("data", forward);
      channel.stderr.on("data", forward);
      channel.on("drain", () => this.events?.drain());
      channel.on("close", () => this.end());
      this.events?.connected(this.hostKey);
    });
  }

  private clientError(err: Error & { level?: string; code?: string }): void {
    if (this.done) return;
    if (this.refusal) return this.fail(this.refusal);
    if (err.level === "client-authentication") return this.fail({ code: "SSH_AUTH_FAILED", message: "The SSH server refused the credentials." });
    if (err.level === "client-timeout") return this.fail({ code: "HOST_UNREACHABLE", message: "The SSH server did not complete the handshake in time." });
    if (err.code && UNREACHABLE.has(err.code)) return this.fail({ code: "HOST_UNREACHABLE", message: `The host could not be reached over SSH (${err.code}).` });
    this.fail({ code: "SSH_ERROR", message: `SSH error: ${err.message}` });
  }

  private fail(failure: ShellFailure): void {
    if (this.done) return;
    this.done = true;
    this.client?.end();
    this.events?.failed(failure);
  }

  private end(): void {
    if (this.done) return;
    this.done = true;
    this.client?.end();
    this.events?.ended();
  }
}
