/**
 * Writes the production routing generated from the route table (routes.ts):
 *   node --conditions=source --import tsx proxy/src/render-deploy.ts compose      the traefik.* labels in docker-compose.yml
 *   node --conditions=source --import tsx proxy/src/render-deploy.ts kubernetes   deploy/kubernetes/traefik/ingressroute.yaml
 * Add --check to only verify (exit 1 if stale). In this workspace: `npm run render-compose`, `npm run render-kubernetes`.
 */
import { readFile, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { COMPOSE_FILE, KUBERNETES_INGRESS_FILE, renderComposeLabels, renderKubernetesIngress } from "./deploy-config.js";

const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));

const TARGETS = {
  compose: { file: COMPOSE_FILE, render: (current: string) => renderComposeLabels(current), script: "render-compose" },
  kubernetes: { file: KUBERNETES_INGRESS_FILE, render: () => renderKubernetesIngress(), script: "render-kubernetes" },
} as const;

async function main(args: string[]): Promise<number> {
  const check = args.includes("--check");
  const names = args.filter((a) => !a.startsWith("--"));
  const unknown = names.filter((n) => !(n in TARGETS));
  if (names.length === 0 || unknown.length > 0) {
    process.stderr.write(`usage: render-deploy.ts compose|kubernetes [--check]${unknown.length ? ` (unknown: ${unknown.join(", ")})` : ""}\n`);
    return 2;
  }
  let stale = false;
  for (const name of names as (keyof typeof TARGETS)[]) {
    const target = TARGETS[name];
    const path = REPO_ROOT + target.file;
    const current = await readFile(path, "utf8").catch(() => "");
    const rendered = target.render(current);
    if (check) {
      if (current !== rendered) {
        process.stderr.write(`${target.file} is stale: run npm run ${target.script} -w @patchmon-ws/edge\n`);
        stale = true;
      } else process.stdout.write(`${target.file} is up to date\n`);
      continue;
    }
    await writeFile(path, rendered);
    process.stdout.write(`wrote ${target.file}\n`);
  }
  return stale ? 1 : 0;
}

process.exitCode = await main(process.argv.slice(2));
