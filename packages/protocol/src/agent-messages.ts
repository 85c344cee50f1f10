/**
 * The agent WebSocket message catalogue (PatchMon's: "Compatibility" in docs/architecture.md), as zod schemas. Field names are PatchMon's, unchanged,
 * so a stock agent works. Our extensions are additive and optional:
 *  - server→agent messages may carry `id` (a command id); agents that support it answer `{type:"ack", id}`.
 *  - agents may announce themselves with `{type:"hello", agent_version, capabilities}`; stock agents never do.
 * Unknown fields are ignored (schemas are loose), so either side can gain optional fields.
 */
import { z } from "zod";
import { messageUnion, type DeclaredFields } from "./message-union.js";

/** A stock agent drops any frame over 64 KiB: never send one larger. */
export const AGENT_MAX_FRAME_BYTES = 64 * 1024;
/** A stock agent pings every 30 s and expects a pong within 90 s. */
export const AGENT_PING_INTERVAL_MS = 30_000;
export const AGENT_READ_DEADLINE_MS = 90_000;

export const CommandId = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/);

const serverMessage = <T extends string, S extends z.ZodRawShape>(type: T, shape: S) =>
  z.looseObject({ type: z.literal(type), id: CommandId.optional(), ...shape });

const ComplianceMode = z.enum(["disabled", "on-demand", "enabled"]);
const ProfileId = z.string().regex(/^[a-zA-Z0-9_.-]+$/).max(256);
const ImageName = z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9_.\-/:@]*$/).max(512);
const ContainerName = z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9_-]*$/).max(256);
const SshSessionId = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/);

/** Server → agent. `connected` is the greeting; the rest are commands. */
export const ServerToAgentSchemas = {
  connected: serverMessage("connected", {}),
  settings_update: serverMessage("settings_update", { update_interval: z.number().int().positive().max(10_080) }),
  report_now: serverMessage("report_now", {}),
  update_agent: serverMessage("update_agent", {}),
  refresh_integration_status: serverMessage("refresh_integration_status", {}),
  docker_inventory_refresh: serverMessage("docker_inventory_refresh", {}),
  update_notification: serverMessage("update_notification", {
    version: z.string().max(64),
    force: z.boolean().default(false),
    message: z.string().max(1024).optional(),
    downloadUrl: z.string().max(2048).optional(),
  }),
  integration_toggle: serverMessage("integration_toggle", {
    integration: z.enum(["docker", "compliance"]),
    enabled: z.boolean(),
  }),
  set_compliance_mode: serverMessage("set_compliance_mode", { mode: ComplianceMode }),
  set_compliance_on_demand_only: serverMessage("set_compliance_on_demand_only", { on_demand_only: z.boolean() }),
  compliance_scan: serverMessage("compliance_scan", {
    profile_type: z.enum(["all", "openscap", "docker-bench"]).default("all"),
    profile_id: ProfileId.nullable().optional(),
    enable_remediation: z.boolean().optional(),
    fetch_remote_resources: z.boolean().optional(),
    openscap_enabled: z.boolean().optional(),
    docker_bench_enabled: z.boolean().optional(),
  }),
  compliance_scan_cancel: serverMessage("compliance_scan_cancel", {}),
  upgrade_ssg: serverMessage("upgrade_ssg", {}),
  install_scanner: serverMessage("install_scanner", {}),
  remediate_rule: serverMessage("remediate_rule", { rule_id: ProfileId }),
  docker_image_scan: serverMessage("docker_image_scan", {
    image_name: ImageName.optional(),
    container_name: ContainerName.optional(),
    scan_all_images: z.boolean().optional(),
  }),
  ssh_proxy: serverMessage("ssh_proxy", {
    session_id: SshSessionId,
    host: z.string().max(255),
    port: z.number().int().min(1).max(65535),
    username: z.string().max(64),
    terminal: z.string().max(64).optional(),
    cols: z.number().int().min(1).max(1000).optional(),
    rows: z.number().int().min(1).max(1000).optional(),
    password: z.string().max(1024).optional(),
    private_key: z.string().max(16_384).optional(),
    passphrase: z.string().max(1024).optional(),
  }),
  ssh_proxy_input: serverMessage("ssh_proxy_input", { session_id: SshSessionId, data: z.string() }),
  ssh_proxy_resize: serverMessage("ssh_proxy_resize", {
    session_id: SshSessionId,
    cols: z.number().int().min(1).max(1000),
    rows: z.number().int().min(1).max(1000),
  }),
  ssh_proxy_disconnect: serverMessage("ssh_proxy_disconnect", { session_id: SshSessionId }),
} as const;

export type ServerToAgentType = keyof typeof ServerToAgentSchemas;
export const SERVER_TO_AGENT_TYPES = Object.keys(ServerToAgentSchemas) as ServerToAgentType[];
export const ServerToAgentMessage = messageUnion(ServerToAgentSchemas);
export type ServerToAgentMessage = z.infer<typeof ServerToAgentMessage>;
/** A server→agent message as a sender builds it: one of the catalogue's types with its declared fields only. */
export type ServerToAgentFrame = DeclaredFields<z.input<typeof ServerToAgentMessage>>;

/** Commands an operator may send (everything server→agent except the greeting and the SSH relay, which terminal-ws owns). */
export const COMMAND_TYPES = SERVER_TO_AGENT_TYPES.filter(
  (t) => t !== "connected" && !t.startsWith("ssh_proxy"),
) as Exclude<ServerToAgentType, "connected" | `ssh_proxy${string}`>[];
export type CommandType = (typeof COMMAND_TYPES)[number];

/** Commands that are idempotent: repeats while a host is offline coalesce into one delivery. */
export const COALESCIBLE_COMMANDS: readonly CommandType[] = [
  "report_now",
  "refresh_integration_status",
  "docker_inventory_refresh",
  "settings_update",
];

const agentMessage = <T extends string, S extends z.ZodRawShape>(type: T, shape: S) =>
  z.looseObject({ type: z.literal(type), ...shape });

/** Agent → server. */
export const AgentToServerSchemas = {
  docker_status: agentMessage("docker_status", {
    event: z.looseObject({}).optional(),
    container_id: z.string().max(256).optional(),
    name: z.string().max(512).optional(),
    status: z.string().max(128).optional(),
    timestamp: z.union([z.string().max(64), z.number()]).optional(),
  }),
  compliance_scan_progress: agentMessage("compliance_scan_progress", {
    phase: z.string().max(64),
    profile_name: z.string().max(256).optional(),
    message: z.string().max(4096).optional(),
    progress: z.number().min(0).max(100).optional(),
    error: z.string().max(4096).optional(),
    timestamp: z.string().max(64).optional(),
  }),
  ssh_proxy_connected: agentMessage("ssh_proxy_connected", { session_id: SshSessionId }),
  ssh_proxy_data: agentMessage("ssh_proxy_data", { session_id: SshSessionId, data: z.string() }),
  ssh_proxy_error: agentMessage("ssh_proxy_error", {
    session_id: SshSessionId,
    message: z.string().max(4096).optional(),
    data: z.string().max(4096).optional(),
  }),
  ssh_proxy_closed: agentMessage("ssh_proxy_closed", { session_id: SshSessionId }),
  /** Extension: acknowledges a command that carried an id. */
  ack: agentMessage("ack", { id: CommandId, ok: z.boolean().optional(), error: z.string().max(1024).optional() }),
  /** Extension: the agent's version and capabilities, sent once after connecting. */
  hello: agentMessage("hello", {
    agent_version: z.string().max(64),
    capabilities: z.array(z.string().max(64)).max(32).default([]),
  }),
} as const;

export type AgentToServerType = keyof typeof AgentToServerSchemas;
export const AGENT_TO_SERVER_TYPES = Object.keys(AgentToServerSchemas) as AgentToServerType[];
export const AgentToServerMessage = messageUnion(AgentToServerSchemas);
export type AgentToServerMessage = z.infer<typeof AgentToServerMessage>;
