import { Registry } from "prom-client";
import { createLogger } from "@patchmon-ws/service-kit";
import type { AgentSocket } from "../src/connection/agent-connection.js";
import { AgentWsMetrics } from "../src/metrics.js";

/** A socket that records what the gateway does to it. */
export class FakeSocket implements AgentSocket {
  readyState = 1;
  sent: string[] = [];
  pings = 0;
  pongs = 0;
  closed: { code: number; reason: string } | null = null;
  terminated = false;
  failWrites = false;

  send(data: string, cb: (err?: Error) => void): void {
    if (this.failWrites) {
      cb(new Error("write failed"));
      return;
    }
    this.sent.push(data);
    cb();
  }

  ping(): void {
    this.pings++;
  }

  pong(): void {
    this.pongs++;
  }

  close(code: number, reason: string): void {
    this.closed = { code, reason };
    this.readyState = 2;
  }

  terminate(): void {
    this.terminated = true;
    this.readyState = 3;
  }

  /** Parsed frames sent to the agent, greeting excluded. */
  commands(): Record<string, unknown>[] {
    return this.sent.map((s) => JSON.parse(s) as Record<string, unknown>).filter((m) => m.type !== "connected");
  }
}

export function testMetrics(): AgentWsMetrics {
  return new AgentWsMetrics(new Registry());
}

export const silentLogger = createLogger("test", "silent");

export async function counterValue(metrics: AgentWsMetrics, name: keyof AgentWsMetrics, labels: Record<string, string>): Promise<number> {
  const metric = metrics[name] as unknown as { get(): Promise<{ values: { labels: Record<string, string>; value: number }[] }> };
  const data = await metric.get();
  return data.values.find((v) => Object.entries(labels).every(([k, val]) => v.labels[k] === val))?.value ?? 0;
}
