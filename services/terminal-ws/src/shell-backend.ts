import type { ConnectionMode, TerminalErrorCode, TerminalHostKey } from "@patchmon-ws/protocol";

/** Everything a backend needs to open one shell. The target comes from the host registry, never from the browser. */
export interface ShellRequest {
  sessionId: string;
  hostId: string;
  /** Direct: the registered SSH address; proxy: where the agent connects (localhost). */
  address: string;
  port: number;
  username: string;
  term: string;
  cols: number;
  rows: number;
  /** Used once, never stored or logged. */
  credentials: { password?: string; privateKey?: string; passphrase?: string };
}

/** A failure with the terminal error code the browser sees; `extra` carries fields such as fingerprints. */
export interface ShellFailure {
  code: TerminalErrorCode;
  message: string;
  extra?: Record<string, string>;
}

/** What a backend tells its session. Each method is called in order; nothing after `failed` or `ended`. */
export interface ShellEvents {
  /** The shell is open. */
  connected(hostKey: TerminalHostKey | null): void;
  /** Output, UTF-8 text (never split inside a character). */
  data(text: string): void;
  /** A keyboard-interactive round: answer with `answerPrompt`. */
  prompt(prompt: { name: string; instructions: string; prompts: { prompt: string; echo: boolean }[] }): void;
  /** `write` returned false earlier; more input may go now. */
  drain(): void;
  /** The session could not open, or broke. */
  failed(failure: ShellFailure): void;
  /** The remote shell exited. */
  ended(): void;
}

/**
 * One SSH shell, wherever it runs: DirectShell (ssh2 from this process) or RelayShell (through the host's agent, over
 * NATS). The session drives it; tests drive the session with a fake one.
 */
export interface ShellBackend {
  readonly mode: ConnectionMode;
  open(request: ShellRequest, events: ShellEvents): void;
  /** Input; false means "buffered, wait for drain". */
  write(data: string): boolean;
  resize(cols: number, rows: number): void;
  answerPrompt(responses: string[]): void;
  /** Output back-pressure: stop producing / produce again. */
  pauseOutput(): void;
  resumeOutput(): void;
  /** Ends the shell (idempotent); no events follow. */
  close(): void;
}
