import { readFileSync } from "node:fs";

/**
 * The reference agent's version, read from its package.json (which sits one folder up from both `src/` and
 * `dist/`), sent in the `hello` message unless AgentOptions.agentVersion overrides it.
 */
export const AGENT_PACKAGE_VERSION: string = readPackageVersion();

function readPackageVersion(): string {
  const raw = readFileSync(new URL("../package.json", import.meta.url), "utf8");
  const version = (JSON.parse(raw) as { version?: unknown }).version;
  if (typeof version !== "string" || version.length === 0) throw new Error("agent/package.json has no version");
  return version;
}
