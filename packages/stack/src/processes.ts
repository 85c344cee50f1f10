import { spawn, type ChildProcess, type SpawnOptions } from "node:child_process";
import { accessSync, constants, createWriteStream, readFileSync } from "node:fs";
import { delimiter, join } from "node:path";

/** Finds an executable on PATH (plus the sbin folders Debian uses for daemons). */
export function findBinary(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? "").split(delimiter), "/usr/sbin", "/usr/local/sbin", "/sbin"];
  for (const dir of dirs) {
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // keep looking
    }
  }
  return undefined;
}

export function requireBinary(name: string, debianPackage: string): string {
  const path = findBinary(name);
  if (!path) throw new Error(`${name} not found on PATH: install it with \`apt-get install -y ${debianPackage}\``);
  return path;
}

/** Resident memory of a process (VmRSS from /proc, Linux), in bytes. */
export function processRss(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (!match) throw new Error(`no VmRSS for process ${pid}`);
  return Number(match[1]) * 1024;
}

/** A child process whose output is kept (last 64 KiB) for error messages, stopped with SIGTERM then SIGKILL. */
export class ManagedProcess {
  readonly child: ChildProcess;
  private output = "";
  private exited: Promise<number | null>;

  constructor(command: string, args: string[], options: SpawnOptions = {}) {
    this.child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"], ...options });
    const keep = (chunk: Buffer) => {
      this.output = (this.output + chunk.toString()).slice(-65536);
    };
    this.child.stdout?.on("data", keep);
    this.child.stderr?.on("data", keep);
    this.exited = new Promise((resolve) => this.child.once("exit", (code) => resolve(code)));
  }

  /** Also appends everything the process prints to `path` (npm start keeps one log file per process). */
  logTo(path: string): this {
    const file = createWriteStream(path, { flags: "a" });
    this.child.stdout?.on("data", (chunk: Buffer) => file.write(chunk));
    this.child.stderr?.on("data", (chunk: Buffer) => file.write(chunk));
    void this.exited.then(() => file.end());
    return this;
  }

  get log(): string {
    return this.output;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Resolves when the output matches, rejects if the process exits first or the timeout passes. */
  waitForOutput(pattern: RegExp, timeoutMs = 15_000): Promise<RegExpMatchArray> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const match = this.output.match(pattern);
        if (match) {
          cleanup();
          resolve(match);
        }
      };
      const onExit = () => {
        cleanup();
        reject(new Error(`process exited before printing ${pattern}:\n${this.output}`));
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out waiting for ${pattern}:\n${this.output}`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.child.stdout?.off("data", check);
        this.child.stderr?.off("data", check);
        this.child.off("exit", onExit);
      };
      this.child.stdout?.on("data", check);
      this.child.stderr?.on("data", check);
      this.child.once("exit", onExit);
      check();
    });
  }

  async stop(signal: NodeJS.Signals = "SIGTERM", graceMs = 5000): Promise<number | null> {
    if (!this.running) return this.child.exitCode;
    this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill("SIGKILL"), graceMs);
    const code = await this.exited;
    clearTimeout(timer);
    return code;
  }

  kill(): Promise<number | null> {
    return this.stop("SIGKILL", 0);
  }

  waitForExit(): Promise<number | null> {
    return this.exited;
  }
}
