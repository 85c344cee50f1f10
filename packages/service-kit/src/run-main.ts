import { ConfigError } from "./config.js";

/** Exit status for a bad configuration (sysexits EX_CONFIG), so supervisors can tell it from a crash. */
export const EXIT_CONFIG = 78;

/**
 * Runs a process's start-up function: a ConfigError exits 78 with its message (which names every bad variable),
 * any other failure exits 1 with its stack. Every entry point (services, the edge) starts through this.
 */
export function runMain(name: string, main: () => Promise<void>): void {
  main().catch((err: unknown) => {
    if (err instanceof ConfigError) {
      process.stderr.write(`${name}: ${err.message}\n`);
      process.exit(EXIT_CONFIG);
    }
    process.stderr.write(`${name}: failed to start: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  });
}
