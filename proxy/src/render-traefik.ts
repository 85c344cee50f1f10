/**
 * Writes proxy/traefik/dynamic.yml from the route table.
 *   node --conditions=source --import tsx proxy/src/render-traefik.ts           write the file
 *   node --conditions=source --import tsx proxy/src/render-traefik.ts --check   exit 1 if the file is stale
 */
import { readFile, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { renderDynamicYaml } from "./traefik-config.js";

const DYNAMIC_YAML_PATH = fileURLToPath(new URL("../traefik/dynamic.yml", import.meta.url));

async function main(): Promise<void> {
  const rendered = renderDynamicYaml();
  if (process.argv.includes("--check")) {
    const current = await readFile(DYNAMIC_YAML_PATH, "utf8").catch(() => "");
    if (current !== rendered) {
      process.stderr.write(`${DYNAMIC_YAML_PATH} is stale: run npm run render-traefik -w @patchmon-ws/edge\n`);
      process.exit(1);
    }
    process.stdout.write(`${DYNAMIC_YAML_PATH} is up to date\n`);
    return;
  }
  await writeFile(DYNAMIC_YAML_PATH, rendered);
  process.stdout.write(`wrote ${DYNAMIC_YAML_PATH}\n`);
}

await main();
