import { fork, type ChildProcess } from "node:child_process";
import { NODE_ARGS } from "./runtime.js";

/** What every role process may send: its answers, an unsolicited event, or the error that ended a command. */
export type RoleMessage = { event: string } & ({ event: "error"; message: string } | Record<string, unknown>);

/**
 * A benchmark file run again in a child process under another role (`--role=<name>`): the load on its own core and
 * file-descriptor budget. Commands go over IPC; answers come back in the order asked. An `error` answer, or the
 * child's exit, rejects what is pending.
 */
export class RoleProcess<To, From extends RoleMessage> {
  readonly child: ChildProcess;
  private readonly pending: { resolve: (m: From) => void; reject: (err: Error) => void }[] = [];

  /**
   * `file` is the benchmark's own compiled path; `unsolicited` takes the events the child sends on its own (counts,
   * progress) and returns true for them, so they are not taken as an answer.
   */
  constructor(
    file: string,
    readonly role: string,
    options: { args?: readonly string[]; execArgv?: readonly string[]; unsolicited?: (message: From) => boolean } = {},
  ) {
    this.child = fork(file, [`--role=${role}`, ...(options.args ?? [])], {
      execArgv: [...NODE_ARGS, ...(options.execArgv ?? [])],
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    this.child.on("message", (m: From) => {
      if (options.unsolicited?.(m)) return;
      const waiter = this.pending.shift();
      if (m.event === "error") waiter?.reject(new Error(`${role} process: ${(m as { message?: string }).message}`));
      else waiter?.resolve(m);
    });
    this.child.on("exit", (code) => {
      for (const waiter of this.pending.splice(0)) waiter.reject(new Error(`${role} process exited (${code})`));
    });
  }

  /** The next answer, whatever asked for it (a child that announces itself once ready). */
  next(): Promise<From> {
    return new Promise((resolve, reject) => this.pending.push({ resolve, reject }));
  }

  /** Sends a command and resolves with its answer. */
  ask(message: To): Promise<From> {
    const answer = this.next();
    this.child.send(message as object);
    return answer;
  }

  /** Sends a command that has no answer. */
  tell(message: To): void {
    this.child.send(message as object);
  }

  kill(): void {
    this.child.kill("SIGKILL");
  }
}
