/**
 * What the agent gateway (services/agent-ws) shares over NATS: JetStream KV buckets and message schemas (its
 * subjects, AgentSubjects, are in the catalogue of subjects.ts). Any service may consume agent messages, connection
 * events and presence; only agent-ws replicas answer command deliveries. Messages only ever gain optional fields, so
 * old and new replicas work side by side; parsers ignore unknown ones.
 */
import { z } from "zod";
import { HostId } from "./ids.js";
import { replyOf } from "./replies.js";
import { CommandId, ServerToAgentMessage } from "./agent-messages.js";

/** JetStream KV buckets owned by agent-ws. */
export const AgentBuckets = {
  /** hostId → PresenceRecord: who is connected where, and the last disconnect. */
  presence: "agents_presence",
  /** replicaId → ReplicaHeartbeat; the bucket's TTL expires replicas that stopped heart-beating. */
  replicas: "agents_replicas",
} as const;

/** Why an agent's connection ended, as recorded in presence and disconnect events. */
export const DISCONNECT_REASONS = [
  "agent_closed",
  "replaced",
  "heartbeat_timeout",
  "credentials_revoked",
  "host_deleted",
  "service_restart",
  "replica_lost",
  "policy_violation",
  "message_too_big",
  "socket_error",
  /** More pings than the ping-flood policy allows (closed with 1008). */
  "ping_flood",
  /** The TCP connection ended without a close frame (recorded with code 1006). */
  "connection_lost",
] as const;
export const DisconnectReason = z.enum(DISCONNECT_REASONS);
export type DisconnectReason = z.infer<typeof DisconnectReason>;

export const LastDisconnect = z.looseObject({
  at: z.number().int(),
  /** WebSocket close code (1006 when the TCP connection just died). */
  code: z.number().int(),
  reason: DisconnectReason.or(z.string().max(64)),
  replica: z.string().max(128).nullable().optional(),
});
export type LastDisconnect = z.infer<typeof LastDisconnect>;

/** A host's presence, cluster-wide (KV value of AgentBuckets.presence, key = host id). */
export const PresenceRecord = z.looseObject({
  hostId: HostId,
  apiId: z.string().max(256),
  connected: z.boolean(),
  /** Replica holding the live connection. */
  replica: z.string().max(128).nullable(),
  connectionId: z.string().max(64).nullable(),
  /** Epoch ms the live connection was accepted. */
  since: z.number().int().nullable(),
  /** wss (TLS at the edge or here) vs ws. */
  secure: z.boolean().nullable(),
  remoteAddress: z.string().max(64).nullable(),
  /** From the agent's `hello`; null for stock agents. */
  agentVersion: z.string().max(64).nullable(),
  capabilities: z.array(z.string().max(64)).max(32).default([]),
  lastDisconnect: LastDisconnect.nullable(),
  updatedAt: z.number().int(),
});
export type PresenceRecord = z.infer<typeof PresenceRecord>;

export const ReplicaHeartbeat = z.looseObject({
  replicaId: z.string().max(128),
  startedAt: z.number().int(),
  heartbeatAt: z.number().int(),
  connections: z.number().int().min(0),
});
export type ReplicaHeartbeat = z.infer<typeof ReplicaHeartbeat>;

/** Published on AgentSubjects.connected / .disconnected. */
export const AgentConnectionEvent = z.looseObject({
  kind: z.enum(["connected", "disconnected"]),
  hostId: HostId,
  record: PresenceRecord,
  at: z.number().int(),
});
export type AgentConnectionEvent = z.infer<typeof AgentConnectionEvent>;

/** Published on AgentSubjects.fromAgent: one validated agent→server message with where it came from. */
export const AgentMessageEnvelope = z.looseObject({
  hostId: HostId,
  apiId: z.string().max(256),
  replica: z.string().max(128),
  connectionId: z.string().max(64),
  receivedAt: z.number().int(),
  message: z.looseObject({ type: z.string() }),
});
export type AgentMessageEnvelope = z.infer<typeof AgentMessageEnvelope>;

/**
 * How a delivery ended:
 * - acked: the agent confirmed it handled the command (agents announcing the "ack" capability);
 * - rejected: the agent acked with ok:false (it could not handle the command);
 * - delivered: written to the agent's socket (stock agents, which never ack, or an ack that did not come in time);
 * - not_held: the replica asked does not hold this host's agent (it moved); the sender asks the replica presence names then.
 */
export const DELIVERY_STATUSES = ["acked", "rejected", "delivered", "not_held"] as const;
export const DeliveryStatus = z.enum(DELIVERY_STATUSES);
export type DeliveryStatus = z.infer<typeof DeliveryStatus>;

export const DeliveryResult = z.looseObject({
  hostId: HostId,
  commandId: CommandId,
  status: DeliveryStatus,
  replica: z.string().max(128).optional(),
  connectionId: z.string().max(64).optional(),
  /** true when the agent announced acks but none came within the timeout (status stays "delivered"). */
  ackTimedOut: z.boolean().optional(),
  /** The agent's error text for "rejected". */
  error: z.string().max(1024).optional(),
});
export type DeliveryResult = z.infer<typeof DeliveryResult>;

/** Default and bound of how long the holder waits for an agent's ack. */
export const DEFAULT_ACK_TIMEOUT_MS = 10_000;
export const MAX_ACK_TIMEOUT_MS = 60_000;

const AckOptions = {
  /** Wait for the agent's ack when it announced the capability (default true). */
  awaitAck: z.boolean().default(true),
  ackTimeoutMs: z.number().int().min(1).max(MAX_ACK_TIMEOUT_MS).default(DEFAULT_ACK_TIMEOUT_MS),
};

/**
 * Request on AgentSubjects.replicaCommand(replicaId). The message's own `id` is ignored; `commandId` is written
 * instead.
 */
export const CommandDeliveryRequest = z.looseObject({
  /** The host whose agent gets the command. */
  hostId: HostId,
  commandId: CommandId,
  message: ServerToAgentMessage,
  ...AckOptions,
});
export type CommandDeliveryRequest = z.infer<typeof CommandDeliveryRequest>;

/** Most targets one batch request carries (keeps a request far below NATS's 1 MiB max_payload). */
export const MAX_BATCH_TARGETS = 1000;

/** Request on AgentSubjects.replicaDeliver(replicaId): one message for many hosts, each with its own command id. */
export const BatchDeliveryRequest = z.looseObject({
  message: ServerToAgentMessage,
  targets: z.array(z.object({ hostId: HostId, commandId: CommandId })).min(1).max(MAX_BATCH_TARGETS),
  ...AckOptions,
});
export type BatchDeliveryRequest = z.infer<typeof BatchDeliveryRequest>;

export const CommandDeliveryReply = replyOf({ result: DeliveryResult });
export type CommandDeliveryReply = z.infer<typeof CommandDeliveryReply>;

export const BatchDeliveryReply = replyOf({ results: z.array(DeliveryResult) });
export type BatchDeliveryReply = z.infer<typeof BatchDeliveryReply>;
