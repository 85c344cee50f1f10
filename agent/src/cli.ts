/**
 * CLI entry point: `run` one reference agent, or `simulate` many for load tests.
 *   node --conditions=source --import tsx agent/src/cli.ts run --server https://patchmon.example.com --api-id … --api-key …
 * Logs are JSON lines on stdout. SIGINT/SIGTERM close every connection with 1000 and exit 0; bad arguments exit 2.
 */
import { CliUsageError, parseCli, USAGE } from "./cli-args.js";
import { ConfigFileError } from "./config-files.js";
import { createJsonLogger } from "./json-logger.js";
import { AgentOptionsError } from "./options.js";
import { ProxyConfigError } from "./proxy-env.js";
import { ReferenceAgent } from "./reference-agent.js";
import { simulate } from "./simulate.js";

async function main(argv: string[]): Promise<void> {
  const command = parseCli(argv);
  if (command.kind === "help") {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const logger = createJsonLogger(command.logLevel);
  for (const warning of command.warnings) logger.warn(warning);

  if (command.kind === "run") {
    const agent = new ReferenceAgent({ ...command.agent, logger });
    agent.on("report", ({ id }) => logger.info({ id }, "report requested (the reference agent collects no packages)"));
    // Failures are already logged by the agent; the listener keeps them from being fatal.
    agent.on("error", () => {});
    agent.start();
    await untilSignal();
    await agent.stop();
    logger.info({ apiId: agent.apiId }, "stopped");
    return;
  }

  const startedAt = performance.now();
  const simulation = await simulate({ ...command.simulation, logger });
  const total = simulation.agents.length;
  const status = (event: string) => {
    const line = {
      time: new Date().toISOString(),
      event,
      connected: simulation.connectedCount(),
      total,
      elapsedMs: Math.round(performance.now() - startedAt),
      rssBytes: process.memoryUsage.rss(),
    };
    process.stdout.write(`${JSON.stringify(line)}\n`);
  };
  status("started");
  void simulation.waitForConnected(total, 2 ** 31 - 1).then(() => status("all_connected"), () => {});
  const timer = setInterval(() => status("status"), command.statusIntervalMs);
  await untilSignal();
  clearInterval(timer);
  await simulation.stop();
  status("stopped");
}

function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      resolve(signal);
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  });
}

main(process.argv.slice(2)).then(
  () => process.exit(0),
  (error: unknown) => {
    const usage = error instanceof CliUsageError || error instanceof ConfigFileError || error instanceof AgentOptionsError || error instanceof ProxyConfigError;
    process.stderr.write(`patchmon-agent: ${(error as Error).message}\n`);
    if (error instanceof CliUsageError) process.stderr.write(`\n${USAGE}\n`);
    process.exit(usage ? 2 : 1);
  },
);
