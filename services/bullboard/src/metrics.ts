import { Counter, Gauge, type Registry } from "prom-client";
import type { AuthOutcome } from "./access-guard.js";

export interface MetricSources {
  sockets: () => number;
  queues: () => number;
  redisUp: () => boolean;
}

/** The dashboard's Prometheus metrics, registered on the runtime's registry. */
export class BullboardMetrics {
  readonly authResults: Counter<"outcome">;
  readonly ticketExchanges: Counter<"result">;
  readonly eventMessages: Counter<"type">;
  readonly eventsDropped: Counter;

  constructor(registry: Registry, sources: MetricSources) {
    this.authResults = new Counter({
      name: "bullboard_auth_results_total",
      help: "Dashboard authentication attempts by outcome",
      labelNames: ["outcome"],
      registers: [registry],
    });
    this.ticketExchanges = new Counter({
      name: "bullboard_ticket_exchanges_total",
      help: "Ticket exchanges (?ticket=) by result",
      labelNames: ["result"],
      registers: [registry],
    });
    this.eventMessages = new Counter({
      name: "bullboard_event_messages_total",
      help: "Live-event messages handed to sockets, by message type",
      labelNames: ["type"],
      registers: [registry],
    });
    this.eventsDropped = new Counter({
      name: "bullboard_event_messages_dropped_total",
      help: "Job/queue events dropped for slow sockets (each announced by a gap message)",
      registers: [registry],
    });
    new Gauge({
      name: "bullboard_event_sockets",
      help: "Open live-event sockets",
      registers: [registry],
      collect() {
        this.set(sources.sockets());
      },
    });
    new Gauge({
      name: "bullboard_queues",
      help: "Queues shown by the dashboard",
      registers: [registry],
      collect() {
        this.set(sources.queues());
      },
    });
    new Gauge({
      name: "bullboard_redis_up",
      help: "1 when the Redis command connection is ready",
      registers: [registry],
      collect() {
        this.set(sources.redisUp() ? 1 : 0);
      },
    });
  }

  authOutcome = (outcome: AuthOutcome): void => {
    this.authResults.inc({ outcome });
  };
}
