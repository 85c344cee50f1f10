import { Counter, Gauge, Histogram, type Registry } from "prom-client";

/** agent-ws's Prometheus metrics, registered on the runtime's registry (served at /metrics). */
export class AgentWsMetrics {
  readonly connections: Gauge;
  readonly upgrades: Counter<"result">;
  readonly authResults: Counter<"result">;
  readonly disconnects: Counter<"reason">;
  readonly messagesIn: Counter<"type">;
  readonly messagesOut: Counter<"type">;
  readonly invalidFrames: Counter<"reason">;
  readonly published: Counter<"type">;
  readonly commands: Counter<"path" | "status">;
  readonly commandLatency: Histogram<"status">;
  readonly queueJobs: Counter<"outcome">;
  readonly statusStreams: Gauge;
  readonly presenceWriteFailures: Counter;
  readonly relaySessions: Gauge;
  readonly relayEnded: Counter<"reason">;

  constructor(registry: Registry) {
    const registers = [registry];
    this.connections = new Gauge({ name: "agent_ws_connections", help: "Agent connections held by this replica", registers });
    this.upgrades = new Counter({
      name: "agent_ws_upgrades_total",
      help: "Agent upgrade requests by result (accepted, or the rejection code)",
      labelNames: ["result"],
      registers,
    });
    this.authResults = new Counter({
      name: "agent_ws_auth_results_total",
      help: "Agent credential checks by result (ok, invalid, rate_limited, unavailable)",
      labelNames: ["result"],
      registers,
    });
    this.disconnects = new Counter({
      name: "agent_ws_disconnects_total",
      help: "Agent connections ended, by reason",
      labelNames: ["reason"],
      registers,
    });
    this.messagesIn = new Counter({
      name: "agent_ws_messages_in_total",
      help: "Valid messages received from agents, by type",
      labelNames: ["type"],
      registers,
    });
    this.messagesOut = new Counter({
      name: "agent_ws_messages_out_total",
      help: "Messages written to agents, by type",
      labelNames: ["type"],
      registers,
    });
    this.invalidFrames = new Counter({
      name: "agent_ws_invalid_frames_total",
      help: "Frames from agents that were not valid catalogue messages, by reason",
      labelNames: ["reason"],
      registers,
    });
    this.published = new Counter({
      name: "agent_ws_published_messages_total",
      help: "Agent messages published on NATS, by type",
      labelNames: ["type"],
      registers,
    });
    this.commands = new Counter({
      name: "agent_ws_commands_total",
      help: "Commands sent through this replica's API or queue, by path (direct, queue) and outcome",
      labelNames: ["path", "status"],
      registers,
    });
    this.commandLatency = new Histogram({
      name: "agent_ws_command_latency_seconds",
      help: "Time from accepting a command to the agent's ack (or the write, for agents that do not ack)",
      labelNames: ["status"],
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.queueJobs = new Counter({
      name: "agent_ws_queue_jobs_total",
      help: "Durable command jobs processed by this replica's worker, by outcome",
      labelNames: ["outcome"],
      registers,
    });
    this.statusStreams = new Gauge({ name: "agent_ws_status_streams", help: "Open status streams (SSE)", registers });
    this.presenceWriteFailures = new Counter({
      name: "agent_ws_presence_write_failures_total",
      help: "Presence writes to the KV bucket that failed (retried)",
      registers,
    });
    this.relaySessions = new Gauge({ name: "agent_ws_relay_sessions", help: "Terminal relay sessions (proxy mode) open on this replica", registers });
    this.relayEnded = new Counter({
      name: "agent_ws_relay_sessions_ended_total",
      help: "Terminal relay sessions ended, by reason",
      labelNames: ["reason"],
      registers,
    });
  }
}
