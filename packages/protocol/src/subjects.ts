/**
 * Every NATS subject of the system, declared once, as one catalogue: each subject with the services that publish on
 * it, the services that subscribe to it, and how it is used. The subject objects services call (`AuthSubjects`,
 * `AgentSubjects`, `RelaySubjects`, `TerminalSubjects`) are read from it, and so are the NATS contract
 * (contract/nats-contract.ts) and the subject permissions of each service's NATS identity.
 *
 * Families: auth's (answered by auth; revocations published by auth), the agent gateway's (agent-ws: command
 * deliveries and relay opens to the replica holding an agent, agent events), terminal relays (one stream per session
 * each way between terminal-ws and agent-ws) and the terminal's JetStream subjects (terminal-ws). bullboard owns no
 * subject: it asks auth (`verifyAccess`, `consumeTicket`) and follows revocations, as those entries say.
 *
 * A breaking change to a message gets a new version segment while the old subject is still served (see "NATS
 * subjects" in docs/architecture.md). Builders put identifiers in single tokens and refuse any that does not match
 * IDENTIFIER_PATTERN, so subject metacharacters never reach a subject.
 */
import { AGENT_TO_SERVER_TYPES, type AgentToServerType } from "./agent-messages.js";
import { IDENTIFIER_PATTERN } from "./ids.js";
import type { AuditEventKind } from "./terminal-audit.js";

/** The services that speak NATS (services/web does not). */
export const NATS_SERVICES = ["auth", "agent-ws", "terminal-ws", "bullboard"] as const;
export type NatsService = (typeof NATS_SERVICES)[number];

/**
 * How a subject is used:
 * - request: request/reply; publishers send requests, subscribers answer them (to the requester's inbox);
 * - event: published to whoever subscribes, no reply, at most once;
 * - stream: an ordered flow: a relay session's messages on core NATS, or a JetStream stream's subjects (stored;
 *   read back through JetStream consumers).
 */
export type SubjectUse = "request" | "event" | "stream";

/** A subject, or the builder of one from identifiers (each argument one whole token). */
type SubjectValue = string | ((...args: never[]) => string);

export interface SubjectDeclaration {
  subject: SubjectValue;
  use: SubjectUse;
  /** Services that publish on it (for a request: send it). Empty for a wildcard, which is only subscribed to. */
  publishers: readonly NatsService[];
  /**
   * Services that receive its messages (for a request: answer it), directly or through a wildcard entry. Empty when
   * only consumers outside this tier read it.
   */
  subscribers: readonly NatsService[];
  /** The queue group subscribers join, so each message goes to one of them. */
  queue?: string;
}

type SubjectFamily = Record<string, SubjectDeclaration>;

/** The subject object of a family: each key's subject or builder. */
export type SubjectsOf<F extends SubjectFamily> = { readonly [K in keyof F]: F[K]["subject"] };

/** One identifier as one subject token; anything else is refused. */
export function subjectToken(id: string): string {
  if (!IDENTIFIER_PATTERN.test(id)) throw new Error(`refusing to build a subject from ${JSON.stringify(id)}`);
  return id;
}

function agentMessageType(type: string): string {
  if (!(AGENT_TO_SERVER_TYPES as string[]).includes(type)) throw new Error(`unknown agent message type ${JSON.stringify(type)}`);
  return type;
}

function subjectsOf<F extends SubjectFamily>(family: F): SubjectsOf<F> {
  return Object.fromEntries(Object.entries(family).map(([key, entry]) => [key, entry.subject])) as SubjectsOf<F>;
}

/** Queue group shared by every auth replica, so requests are load-balanced. */
export const AUTH_QUEUE_GROUP = "auth";

/** Services that ask auth about users' tokens, and follow revocations to close live sockets. */
const USER_SERVICES = ["agent-ws", "terminal-ws", "bullboard"] as const;

const AUTH_SUBJECTS = {
  /** Verify a user access token. */
  verifyAccess: { subject: "auth.v1.verify.access", use: "request", publishers: USER_SERVICES, subscribers: ["auth"], queue: AUTH_QUEUE_GROUP },
  /** Consume a one-time ticket, bound to purpose and target. */
  consumeTicket: { subject: "auth.v1.ticket.consume", use: "request", publishers: USER_SERVICES, subscribers: ["auth"], queue: AUTH_QUEUE_GROUP },
  /** Re-check a login session and its user (long-lived sockets after a user_changed event). */
  verifySession: { subject: "auth.v1.verify.session", use: "request", publishers: ["terminal-ws"], subscribers: ["auth"], queue: AUTH_QUEUE_GROUP },
  /** Verify an agent's X-API-ID / X-API-KEY. */
  verifyAgent: { subject: "auth.v1.verify.agent", use: "request", publishers: ["agent-ws"], subscribers: ["auth"], queue: AUTH_QUEUE_GROUP },
  /** Verify several agents at once (VerifyAgentsRequest): one message for upgrades that arrive together. */
  verifyAgents: { subject: "auth.v1.verify.agents", use: "request", publishers: ["agent-ws"], subscribers: ["auth"], queue: AUTH_QUEUE_GROUP },
  /** Fetch a host's public record (name, SSH target, pinned host key). */
  getHost: { subject: "auth.v1.hosts.get", use: "request", publishers: ["agent-ws", "terminal-ws"], subscribers: ["auth"], queue: AUTH_QUEUE_GROUP },
  /** Pin a host's SSH host key if none is pinned yet (trust on first use). */
  pinHostKey: { subject: "auth.v1.hosts.pin-key", use: "request", publishers: ["terminal-ws"], subscribers: ["auth"], queue: AUTH_QUEUE_GROUP },
  /** Every revocation event (the one subscription of each service's revocation hub). */
  revokedAll: { subject: "auth.v1.revoked.>", use: "event", publishers: [], subscribers: USER_SERVICES },
  /** A user was logged out everywhere, disabled, deleted or changed (RevocationEvent). */
  revokedUser: { subject: (userId: string) => `auth.v1.revoked.user.${subjectToken(userId)}`, use: "event", publishers: ["auth"], subscribers: USER_SERVICES },
  /** A login session was revoked. */
  revokedSession: {
    subject: (sessionId: string) => `auth.v1.revoked.session.${subjectToken(sessionId)}`,
    use: "event",
    publishers: ["auth"],
    subscribers: USER_SERVICES,
  },
  /** A host's API key was rotated, or the host deleted. */
  revokedHost: { subject: (hostId: string) => `auth.v1.revoked.host.${subjectToken(hostId)}`, use: "event", publishers: ["auth"], subscribers: USER_SERVICES },
} as const satisfies SubjectFamily;

const AGENT_SUBJECTS = {
  /**
   * Deliver one command to an agent held by this replica (`hostId` in the request). Senders find the replica in
   * the presence bucket: presence is the routing table, so no replica holds a subscription per agent.
   */
  replicaCommand: {
    subject: (replicaId: string) => `agents.v1.replica.${subjectToken(replicaId)}.cmd`,
    use: "request",
    publishers: ["agent-ws"],
    subscribers: ["agent-ws"],
  },
  /** Deliver one command to many agents held by one replica (broadcasts). */
  replicaDeliver: {
    subject: (replicaId: string) => `agents.v1.replica.${subjectToken(replicaId)}.deliver`,
    use: "request",
    publishers: ["agent-ws"],
    subscribers: ["agent-ws"],
  },
  /** Open a terminal relay session through an agent held by this replica (terminal-relay.ts). */
  replicaRelay: {
    subject: (replicaId: string) => `agents.v1.replica.${subjectToken(replicaId)}.relay`,
    use: "request",
    publishers: ["terminal-ws"],
    subscribers: ["agent-ws"],
  },
  /** An agent connected / disconnected (AgentConnectionEvent), for consumers outside this tier. */
  connected: { subject: (hostId: string) => `agents.v1.events.connected.${subjectToken(hostId)}`, use: "event", publishers: ["agent-ws"], subscribers: [] },
  disconnected: { subject: (hostId: string) => `agents.v1.events.disconnected.${subjectToken(hostId)}`, use: "event", publishers: ["agent-ws"], subscribers: [] },
  connectedAll: { subject: "agents.v1.events.connected.*", use: "event", publishers: [], subscribers: [] },
  eventsAll: { subject: "agents.v1.events.>", use: "event", publishers: [], subscribers: [] },
  /** Validated agent→server messages (AgentMessageEnvelope), per host and type, for consumers outside this tier. */
  fromAgent: {
    subject: (hostId: string, type: AgentToServerType) => `agents.v1.from.${subjectToken(hostId)}.${agentMessageType(type)}`,
    use: "event",
    publishers: ["agent-ws"],
    subscribers: [],
  },
  fromAgentOfType: { subject: (type: AgentToServerType) => `agents.v1.from.*.${agentMessageType(type)}`, use: "event", publishers: [], subscribers: [] },
  fromAgentOfHost: { subject: (hostId: string) => `agents.v1.from.${subjectToken(hostId)}.*`, use: "event", publishers: [], subscribers: [] },
  fromAgentAll: { subject: "agents.v1.from.>", use: "event", publishers: [], subscribers: [] },
} as const satisfies SubjectFamily;

const RELAY_SUBJECTS = {
  /** Browser → host direction of one session (terminal-ws publishes, the agent-ws holder subscribes). */
  input: { subject: (sessionId: string) => `terminal.v1.relay.${subjectToken(sessionId)}.in`, use: "stream", publishers: ["terminal-ws"], subscribers: ["agent-ws"] },
  /** Host → browser direction of one session (the agent-ws holder publishes, terminal-ws subscribes). */
  output: { subject: (sessionId: string) => `terminal.v1.relay.${subjectToken(sessionId)}.out`, use: "stream", publishers: ["agent-ws"], subscribers: ["terminal-ws"] },
} as const satisfies SubjectFamily;

const TERMINAL_SUBJECTS = {
  /** The TERMINAL_AUDIT stream's subjects (TerminalAuditEvent), read back by the admin queries. */
  audit: { subject: (kind: AuditEventKind) => `terminal.v1.audit.${kind}`, use: "stream", publishers: ["terminal-ws"], subscribers: ["terminal-ws"] },
  /** The TERMINAL_RECORDINGS stream's subjects: one session's asciicast lines, read back by the recording API. */
  recording: {
    subject: (sessionId: string) => `terminal.v1.recording.${subjectToken(sessionId)}`,
    use: "stream",
    publishers: ["terminal-ws"],
    subscribers: ["terminal-ws"],
  },
} as const satisfies SubjectFamily;

/** The catalogue, by the name each family's subject object is exported under. */
export const SUBJECT_CATALOGUE = {
  AuthSubjects: AUTH_SUBJECTS,
  AgentSubjects: AGENT_SUBJECTS,
  RelaySubjects: RELAY_SUBJECTS,
  TerminalSubjects: TERMINAL_SUBJECTS,
} as const satisfies Record<string, SubjectFamily>;

export const AuthSubjects = subjectsOf(AUTH_SUBJECTS);
export const AgentSubjects = subjectsOf(AGENT_SUBJECTS);
export const RelaySubjects = subjectsOf(RELAY_SUBJECTS);
export const TerminalSubjects = subjectsOf(TERMINAL_SUBJECTS);

/** JetStream KV buckets owned by the auth service. */
export const AuthBuckets = {
  users: "auth_users",
  usernames: "auth_usernames",
  hosts: "auth_hosts",
  apiIds: "auth_api_ids",
  sessions: "auth_sessions",
  tickets: "auth_tickets",
  /** sha256(limiter + source address) → {failures, windowEndsAt}: failure limits shared by every auth replica */
  failures: "auth_failures",
} as const;
