import { Counter, Gauge, type Registry } from "prom-client";

/** terminal-ws's Prometheus metrics, registered on the runtime's registry (served at /metrics). */
export class TerminalWsMetrics {
  readonly sockets: Gauge;
  readonly upgrades: Counter<"result">;
  readonly sessionsEnded: Counter<"outcome" | "mode">;
  readonly bytes: Counter<"direction">;
  readonly recordingErrors: Counter;

  constructor(registry: Registry) {
    const registers = [registry];
    this.sockets = new Gauge({ name: "terminal_ws_sockets", help: "Terminal sockets held by this replica", registers });
    this.upgrades = new Counter({
      name: "terminal_ws_upgrades_total",
      help: "Terminal upgrade requests by result (accepted, or the refusal code)",
      labelNames: ["result"],
      registers,
    });
    this.sessionsEnded = new Counter({
      name: "terminal_ws_sessions_ended_total",
      help: "Terminal sessions ended, by outcome (disconnected, exited, heartbeat_timeout, or the terminal error code) and mode",
      labelNames: ["outcome", "mode"],
      registers,
    });
    this.bytes = new Counter({
      name: "terminal_ws_characters_total",
      help: "Terminal characters relayed, by direction (in: browser to host, out: host to browser)",
      labelNames: ["direction"],
      registers,
    });
    this.recordingErrors = new Counter({ name: "terminal_ws_recording_errors_total", help: "Recording batches that could not be stored", registers });
  }
}
