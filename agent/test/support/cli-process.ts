/** Runs the agent CLI as a real process (from TypeScript source), keeping its output for assertions. */
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { waitFor } from "./wait.js";

const REPO_ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const CLI = fileURLToPath(new URL("../../src/cli.ts", import.meta.url));

export class CliProcess {
  readonly child: ChildProcess;
  stdout = "";
  stderr = "";
  exitCode: number | null | undefined;

  constructor(args: string[], env: Record<string, string> = {}) {
    const cleanEnv = { ...process.env };
    for (const name of ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "PATCHMON_SERVER", "PATCHMON_API_ID", "PATCHMON_API_KEY", "PATCHMON_ENV"]) {
      delete cleanEnv[name];
    }
    this.child = spawn(process.execPath, ["--conditions=source", "--import", "tsx", CLI, ...args], {
      cwd: REPO_ROOT,
      env: { ...cleanEnv, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.child.stdout?.on("data", (chunk: Buffer) => (this.stdout += chunk.toString()));
    this.child.stderr?.on("data", (chunk: Buffer) => (this.stderr += chunk.toString()));
    this.child.once("exit", (code) => (this.exitCode = code));
  }

  /** JSON lines printed on stdout so far. */
  get lines(): Record<string, unknown>[] {
    return this.stdout
      .split("\n")
      .filter((line) => line.startsWith("{"))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  }

  waitForLine(predicate: (line: Record<string, unknown>) => boolean, what: string, timeoutMs = 30_000) {
    return waitFor(
      () => {
        if (this.exitCode !== undefined) throw new Error(`CLI exited (${this.exitCode}) before ${what}:\n${this.stdout}\n${this.stderr}`);
        return this.lines.find(predicate);
      },
      what,
      timeoutMs,
    );
  }

  waitForExit(timeoutMs = 30_000): Promise<number | null> {
    return waitFor(() => (this.exitCode === undefined ? undefined : { code: this.exitCode }), "the CLI to exit", timeoutMs).then((r) => r.code);
  }

  /** Sends SIGTERM, then SIGKILL if it has not exited within timeoutMs. */
  async stop(timeoutMs = 15_000): Promise<number | null> {
    if (this.exitCode !== undefined) return this.exitCode;
    this.child.kill("SIGTERM");
    try {
      return await this.waitForExit(timeoutMs);
    } catch (error) {
      this.child.kill("SIGKILL");
      throw error;
    }
  }
}
