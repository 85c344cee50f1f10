/**
 * Writes packages/protocol/contract/nats-contract.json, the committed snapshot of the NATS contract.
 *
 *   npm run contract:snapshot -w @patchmon-ws/protocol -- "what changed and why"      record the current contract
 *   npm run contract:snapshot -w @patchmon-ws/protocol -- --check                     exit 1 unless additive and current
 *   npm run contract:snapshot -w @patchmon-ws/protocol -- --allow-breaking "note"     record a breaking change (only
 *       when no release that speaks the old contract can still be running, e.g. a subject no release ever shipped:
 *       see docs/deploy.md, "Rolling deploys"); the change lists every breaking issue it accepted
 *
 * A breaking change is refused without --allow-breaking, printing what breaks; the usual fix is a new subject (or a
 * version segment in it) beside the old one, which both stay in the contract until no old release runs.
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { checkContractCompatibility, formatIssues } from "./compatibility.js";
import { buildNatsContract, type ContractSnapshot, type NatsContract } from "./nats-contract.js";

const SNAPSHOT_PATH = fileURLToPath(new URL("../../contract/nats-contract.json", import.meta.url));
const GENERATED_BY = "npm run contract:snapshot -w @patchmon-ws/protocol -- \"<change note>\"";

function contractPart(snapshot: ContractSnapshot): NatsContract {
  const { generatedBy: _generatedBy, changes: _changes, ...contract } = snapshot;
  return contract;
}

function renderSnapshot(snapshot: ContractSnapshot): string {
  return `${JSON.stringify(snapshot, null, 2)}\n`;
}

async function readSnapshot(): Promise<ContractSnapshot | undefined> {
  const text = await readFile(SNAPSHOT_PATH, "utf8").catch(() => undefined);
  return text === undefined ? undefined : (JSON.parse(text) as ContractSnapshot);
}

async function main(args: string[]): Promise<number> {
  const check = args.includes("--check");
  const allowBreaking = args.includes("--allow-breaking");
  const note = args.filter((a) => !a.startsWith("--")).join(" ").trim();
  const current = buildNatsContract();
  const previous = await readSnapshot();
  const issues = previous ? checkContractCompatibility(contractPart(previous), current) : [];
  const unchanged = previous !== undefined && JSON.stringify(contractPart(previous)) === JSON.stringify(current);

  if (check) {
    if (!previous) return fail(`${SNAPSHOT_PATH} is missing: run ${GENERATED_BY}`);
    if (issues.length > 0) return fail(`the NATS contract is not an additive change of the snapshot:\n${formatIssues(issues)}`);
    if (!unchanged) return fail(`the NATS contract changed additively; record it: ${GENERATED_BY}`);
    process.stdout.write(`${SNAPSHOT_PATH} is up to date\n`);
    return 0;
  }
  if (unchanged) {
    process.stdout.write(`the NATS contract is unchanged; ${SNAPSHOT_PATH} left as it is\n`);
    return 0;
  }
  if (!note) return fail(`say what changed: ${GENERATED_BY}`);
  if (issues.length > 0 && !allowBreaking) {
    return fail(
      `refusing to record a breaking change of the NATS contract:\n${formatIssues(issues)}\n` +
        "Keep the old subject or field beside the new one, or pass --allow-breaking once no release that speaks the old contract can run.",
    );
  }
  const snapshot: ContractSnapshot = {
    generatedBy: GENERATED_BY,
    changes: [
      ...(previous?.changes ?? []),
      {
        date: new Date().toISOString().slice(0, 10),
        ...(issues.length > 0 ? { note: `BREAKING: ${note}`, breaking: issues.map((i) => `${i.path}: ${i.problem}`) } : { note }),
      },
    ],
    ...current,
  };
  await mkdir(dirname(SNAPSHOT_PATH), { recursive: true });
  await writeFile(SNAPSHOT_PATH, renderSnapshot(snapshot));
  process.stdout.write(`wrote ${SNAPSHOT_PATH}${issues.length > 0 ? ` (breaking: ${issues.length} issue(s))` : ""}\n`);
  return 0;
}

function fail(message: string): number {
  process.stderr.write(`${message}\n`);
  return 1;
}

process.exitCode = await main(process.argv.slice(2));
