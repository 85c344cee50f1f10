import { COALESCIBLE_COMMANDS, type CommandType, type ServerToAgentMessage } from "@patchmon-ws/protocol";

/**
 * Which queued commands replace one another while a host is offline, so the agent gets one delivery carrying the
 * newest value instead of a backlog:
 * - idempotent triggers (COALESCIBLE_COMMANDS: report_now, refresh_integration_status, docker_inventory_refresh,
 *   settings_update): five `report_now` while offline arrive once;
 * - state setters, where only the last value matters and replaying older ones in a different order would leave
 *   the agent in the wrong state: integration_toggle (per integration) and the compliance mode (both message
 *   forms set the same state).
 * Returns null for commands that are each delivered (update_agent, compliance_scan, remediate_rule, ...).
 */
export function coalesceKey(message: ServerToAgentMessage): string | null {
  switch (message.type) {
    case "integration_toggle":
      return `integration_toggle-${message.integration}`;
    case "set_compliance_mode":
    case "set_compliance_on_demand_only":
      return "compliance_mode";
    default:
      return (COALESCIBLE_COMMANDS as readonly string[]).includes(message.type) ? (message.type as CommandType) : null;
  }
}
