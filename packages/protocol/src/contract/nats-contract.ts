/**
 * The NATS contract between services, as data: every subject (pattern), stream, KV bucket and queue group declared in
 * this package, and the JSON Schema of every message that crosses NATS between two services. Services deploy
 * independently ("NATS subjects" in docs/architecture.md), so a replica of one release must work beside replicas of the previous one; the
 * committed snapshot (packages/protocol/contract/nats-contract.json, written by `npm run contract:snapshot -w
 * @patchmon-ws/protocol`) is what the previous release spoke, and test/contract.test.ts fails when the contract built
 * here is not an additive change of it (compatibility.ts says what that means).
 *
 * Not part of the package's entry point: it is read by the snapshot script and the tests only.
 */
import { z } from "zod";
import { AGENT_TO_SERVER_TYPES } from "../agent-messages.js";
import {
  AgentBuckets,
  AgentConnectionEvent,
  AgentMessageEnvelope,
  BatchDeliveryReply,
  BatchDeliveryRequest,
  CommandDeliveryReply,
  CommandDeliveryRequest,
  PresenceRecord,
  ReplicaHeartbeat,
} from "../agents.js";
import {
  ConsumeTicketReply,
  ConsumeTicketRequest,
  GetHostReply,
  GetHostRequest,
  PinHostKeyReply,
  PinHostKeyRequest,
  RevocationEvent,
  VerifyAccessReply,
  VerifyAccessRequest,
  VerifyAgentReply,
  VerifyAgentsReply,
  VerifyAgentsRequest,
  VerifyAgentRequest,
  VerifySessionReply,
  VerifySessionRequest,
} from "../auth.js";
import { QueueNames } from "../queues.js";
import { ErrorReply } from "../replies.js";
import { AUTH_QUEUE_GROUP, AuthBuckets, SUBJECT_CATALOGUE } from "../subjects.js";
import { AUDIT_EVENT_KINDS, TerminalAuditEvent, TerminalBuckets, TerminalStreams } from "../terminal-audit.js";
import { AsciicastEvent, AsciicastHeader } from "../terminal-recording.js";
import { RelayInMessage, RelayOpenReply, RelayOpenRequest, RelayOutMessage } from "../terminal-relay.js";

/** Bumped only if the snapshot file's own layout changes. */
export const CONTRACT_FORMAT = 1;

/** A JSON Schema as z.toJSONSchema emits it (draft 2020-12). */
export type JsonSchema = { [key: string]: unknown };

/** A subject: a fixed string, or a pattern whose `{name}` tokens are filled in by the sender. */
export interface SubjectEntry {
  pattern: string;
  /**
   * Parameters that take one of a closed set of values (the rest are identifiers, IDENTIFIER_PATTERN): removing a
   * value removes a subject.
   */
  values?: Record<string, string[]>;
}

export type MessageRole = "request" | "reply" | "event" | "stream" | "kv";

export interface MessageEntry {
  /** How the message travels: request/reply, a published event, a JetStream stream entry, a KV value. */
  role: MessageRole;
  /** Subject keys (of `subjects`), stream keys or bucket keys the message travels on. */
  on: string[];
  /** What receivers accept (zod's input side: fields with defaults are optional). */
  schema: JsonSchema;
}

export interface NatsContract {
  format: number;
  subjects: Record<string, SubjectEntry>;
  streams: Record<string, { name: string; subjects: string }>;
  buckets: Record<string, string>;
  queueGroups: Record<string, string>;
  /** BullMQ queues (Redis, not NATS): producers (agent-ws) and Bull Board must agree on the names too. */
  queues: Record<string, string>;
  messages: Record<string, MessageEntry>;
}

/** The snapshot file: the contract plus the log of why it changed. */
export interface ContractSnapshot extends NatsContract {
  generatedBy: string;
  /** Why it changed; a change recorded with --allow-breaking lists the breaking issues it accepted. */
  changes: { date: string; note: string; breaking?: string[] }[];
}

/**
 * Parameters of subject builders that are not identifiers: the values they accept. A new subject builder with such a
 * parameter must be added here (building the contract fails and says so).
 */
const PARAMETER_VALUES: Record<string, readonly string[]> = {
  type: AGENT_TO_SERVER_TYPES,
  kind: AUDIT_EVENT_KINDS,
};

/** The parameter names of a subject builder, read from its source (`(hostId, type) => …`). */
function parameterNames(fn: (...args: string[]) => string): string[] {
  const source = fn.toString();
  const match = /^(?:async\s*)?(?:function\s*[\w$]*\s*)?\(([^)]*)\)/.exec(source) ?? /^([\w$]+)\s*=>/.exec(source);
  if (!match) throw new Error(`cannot read the parameters of ${source.slice(0, 80)}`);
  return match[1]!
    .split(",")
    .map((p) => p.trim().replace(/[:=].*$/, "").trim())
    .filter(Boolean);
}

/** `agents.v1.from.{hostId}.{type}`: call the builder with a sentinel per parameter and put the names back. */
export function subjectPattern(name: string, builder: (...args: string[]) => string): SubjectEntry {
  const params = parameterNames(builder);
  const samples = params.map((param, i) => PARAMETER_VALUES[param]?.[0] ?? `P${i}x${param}`);
  let subject: string;
  try {
    subject = builder(...samples);
  } catch (err) {
    throw new Error(`subject builder ${name}(${params.join(", ")}) refused sample values; add its parameters to PARAMETER_VALUES`, { cause: err });
  }
  const tokens = subject.split(".");
  const values: Record<string, string[]> = {};
  params.forEach((param, i) => {
    const index = tokens.indexOf(samples[i]!);
    if (index === -1) throw new Error(`subject builder ${name}: parameter ${param} does not appear as a whole token in ${subject}`);
    tokens[index] = `{${param}}`;
    const domain = PARAMETER_VALUES[param];
    if (domain) values[param] = [...domain];
  });
  return Object.keys(values).length > 0 ? { pattern: tokens.join("."), values } : { pattern: tokens.join(".") };
}

interface MessageDeclaration {
  schema: z.ZodType;
  role: MessageRole;
  on: string[];
}

/**
 * Every message that crosses NATS between services (or between replicas of one service through JetStream). A new
 * NATS message schema belongs here; contract.test.ts checks every non-wildcard subject carries one.
 */
const MESSAGES: Record<string, MessageDeclaration> = {
  VerifyAccessRequest: { schema: VerifyAccessRequest, role: "request", on: ["AuthSubjects.verifyAccess"] },
  VerifyAccessReply: { schema: VerifyAccessReply, role: "reply", on: ["AuthSubjects.verifyAccess"] },
  ConsumeTicketRequest: { schema: ConsumeTicketRequest, role: "request", on: ["AuthSubjects.consumeTicket"] },
  ConsumeTicketReply: { schema: ConsumeTicketReply, role: "reply", on: ["AuthSubjects.consumeTicket"] },
  VerifySessionRequest: { schema: VerifySessionRequest, role: "request", on: ["AuthSubjects.verifySession"] },
  VerifySessionReply: { schema: VerifySessionReply, role: "reply", on: ["AuthSubjects.verifySession"] },
  VerifyAgentRequest: { schema: VerifyAgentRequest, role: "request", on: ["AuthSubjects.verifyAgent"] },
  VerifyAgentReply: { schema: VerifyAgentReply, role: "reply", on: ["AuthSubjects.verifyAgent"] },
  VerifyAgentsRequest: { schema: VerifyAgentsRequest, role: "request", on: ["AuthSubjects.verifyAgents"] },
  VerifyAgentsReply: { schema: VerifyAgentsReply, role: "reply", on: ["AuthSubjects.verifyAgents"] },
  GetHostRequest: { schema: GetHostRequest, role: "request", on: ["AuthSubjects.getHost"] },
  GetHostReply: { schema: GetHostReply, role: "reply", on: ["AuthSubjects.getHost"] },
  PinHostKeyRequest: { schema: PinHostKeyRequest, role: "request", on: ["AuthSubjects.pinHostKey"] },
  PinHostKeyReply: { schema: PinHostKeyReply, role: "reply", on: ["AuthSubjects.pinHostKey"] },
  RevocationEvent: {
    schema: RevocationEvent,
    role: "event",
    on: ["AuthSubjects.revokedUser", "AuthSubjects.revokedSession", "AuthSubjects.revokedHost", "AuthSubjects.revokedAll"],
  },
  /** The error envelope every request/reply answer may be (part of each *Reply too). */
  ErrorReply: { schema: ErrorReply, role: "reply", on: [] },
  CommandDeliveryRequest: { schema: CommandDeliveryRequest, role: "request", on: ["AgentSubjects.replicaCommand"] },
  CommandDeliveryReply: { schema: CommandDeliveryReply, role: "reply", on: ["AgentSubjects.replicaCommand"] },
  BatchDeliveryRequest: { schema: BatchDeliveryRequest, role: "request", on: ["AgentSubjects.replicaDeliver"] },
  BatchDeliveryReply: { schema: BatchDeliveryReply, role: "reply", on: ["AgentSubjects.replicaDeliver"] },
  AgentConnectionEvent: {
    schema: AgentConnectionEvent,
    role: "event",
    on: ["AgentSubjects.connected", "AgentSubjects.disconnected", "AgentSubjects.connectedAll", "AgentSubjects.eventsAll"],
  },
  AgentMessageEnvelope: {
    schema: AgentMessageEnvelope,
    role: "event",
    on: ["AgentSubjects.fromAgent", "AgentSubjects.fromAgentOfType", "AgentSubjects.fromAgentOfHost", "AgentSubjects.fromAgentAll"],
  },
  PresenceRecord: { schema: PresenceRecord, role: "kv", on: ["AgentBuckets.presence"] },
  ReplicaHeartbeat: { schema: ReplicaHeartbeat, role: "kv", on: ["AgentBuckets.replicas"] },
  RelayOpenRequest: { schema: RelayOpenRequest, role: "request", on: ["AgentSubjects.replicaRelay"] },
  RelayOpenReply: { schema: RelayOpenReply, role: "reply", on: ["AgentSubjects.replicaRelay"] },
  RelayInMessage: { schema: RelayInMessage, role: "stream", on: ["RelaySubjects.input"] },
  RelayOutMessage: { schema: RelayOutMessage, role: "stream", on: ["RelaySubjects.output"] },
  TerminalAuditEvent: { schema: TerminalAuditEvent, role: "stream", on: ["TerminalSubjects.audit", "TerminalStreams.audit"] },
  /** A recording's first entry on its subject; asciicast events follow. */
  AsciicastHeader: { schema: AsciicastHeader, role: "stream", on: ["TerminalSubjects.recording", "TerminalStreams.recordings"] },
  AsciicastEvent: { schema: AsciicastEvent, role: "stream", on: ["TerminalSubjects.recording", "TerminalStreams.recordings"] },
};

function toSchema(name: string, schema: z.ZodType): JsonSchema {
  // "input": what a receiver's parser accepts (a field with a default may be left out by a sender).
  const json = z.toJSONSchema(schema, { io: "input", unrepresentable: "throw" }) as JsonSchema;
  delete json.$schema;
  if (Object.keys(json).length === 0) throw new Error(`message ${name} has no JSON Schema representation`);
  return json;
}

/** The contract as the code declares it now. */
export function buildNatsContract(): NatsContract {
  const subjects: Record<string, SubjectEntry> = {};
  for (const [objectName, family] of Object.entries(SUBJECT_CATALOGUE)) {
    for (const [key, { subject: value }] of Object.entries(family)) {
      const name = `${objectName}.${key}`;
      if (typeof value === "string") subjects[name] = { pattern: value };
      else if (typeof value === "function") subjects[name] = subjectPattern(name, value as (...args: string[]) => string);
      else throw new Error(`${name} is neither a subject nor a subject builder`);
    }
  }
  const streams = Object.fromEntries(Object.entries(TerminalStreams).map(([key, stream]) => [`TerminalStreams.${key}`, { ...stream }]));
  const buckets: Record<string, string> = {};
  for (const [objectName, object] of Object.entries({ AuthBuckets, AgentBuckets, TerminalBuckets })) {
    for (const [key, bucket] of Object.entries(object)) buckets[`${objectName}.${key}`] = bucket;
  }
  const queues = Object.fromEntries(Object.entries(QueueNames).map(([key, queue]) => [`QueueNames.${key}`, queue]));
  const messages: Record<string, MessageEntry> = {};
  for (const [name, { schema, role, on }] of Object.entries(MESSAGES)) {
    for (const where of on) {
      if (!(where in subjects) && !(where in streams) && !(where in buckets)) throw new Error(`message ${name} names an unknown subject, stream or bucket: ${where}`);
    }
    messages[name] = { role, on: [...on], schema: toSchema(name, schema) };
  }
  return {
    format: CONTRACT_FORMAT,
    subjects,
    streams,
    buckets,
    queueGroups: { AUTH_QUEUE_GROUP },
    queues,
    messages,
  };
}

/** A subject pattern's tokens that are wildcards for subscribers (`*`, `>`). */
export function isWildcardPattern(pattern: string): boolean {
  return pattern.split(".").some((token) => token === "*" || token === ">");
}
