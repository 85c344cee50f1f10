import { randomUUID } from "node:crypto";
import { CodedError, isIdentifier, type HostRecord, type PinnedHostKey, type SshTarget } from "@patchmon-ws/protocol";
import { digestsEqual, newApiCredentials, sha256 } from "./secrets.js";
import { hostView, type StoredHost } from "./records.js";
import type { AuthStorage } from "./auth-storage.js";
import type { RevocationSink } from "./revocations.js";

export interface NewHost {
  name: string;
  ssh: SshTarget | null;
  /** Record terminal sessions: true/false, null follows the global switch. */
  recordSessions?: boolean | null;
}

export interface HostPatch {
  name?: string;
  ssh?: SshTarget | null;
  /** Only null: clears the pinned SSH host key so the next connection pins again. */
  hostKey?: null;
  recordSessions?: boolean | null;
}

/** Compared against when an api id is unknown, so both paths hash and compare the same way. */
const UNKNOWN_KEY_HASH = sha256("unknown api id");

/** Hosts, their agent credentials (stored only as hashes) and their pinned SSH host keys. */
export class HostRegistry {
  constructor(
    private readonly store: AuthStorage,
    private readonly revocations: RevocationSink,
  ) {}

  list(): HostRecord[] {
    return this.store.hosts.values().sort((a, b) => a.createdAt - b.createdAt).map(hostView);
  }

  async get(id: string): Promise<HostRecord> {
    return hostView(await this.stored(id));
  }

  /** Creates a host; the API key is returned here once and never again. */
  async create(input: NewHost): Promise<{ host: HostRecord; apiKey: string }> {
    const { apiId, apiKey } = newApiCredentials();
    const now = Date.now();
    const host: StoredHost = {
      id: randomUUID(),
      name: input.name,
      apiId,
      apiKeyHash: sha256(apiKey),
      ssh: input.ssh,
      hostKey: null,
      recordSessions: input.recordSessions ?? null,
      createdAt: now,
      updatedAt: now,
    };
    await this.store.apiIds.create(apiId, { id: host.id });
    await this.store.hosts.create(host.id, host);
    return { host: hostView(host), apiKey };
  }

  async update(id: string, patch: HostPatch): Promise<HostRecord> {
    const updated = await this.store.hosts.modify(id, (host) => ({
      ...host,
      ...(patch.name !== undefined ? { name: patch.name } : {}),
      ...(patch.ssh !== undefined ? { ssh: patch.ssh } : {}),
      ...(patch.hostKey === null ? { hostKey: null } : {}),
      ...(patch.recordSessions !== undefined ? { recordSessions: patch.recordSessions } : {}),
      updatedAt: Date.now(),
    }));
    if (!updated) throw new CodedError("HOST_NOT_FOUND");
    return hostView(updated.value);
  }

  /** Replaces the API key; the old one stops working at once and live agent sockets are closed. */
  async rotateKey(id: string): Promise<{ host: HostRecord; apiKey: string }> {
    const { apiKey } = newApiCredentials();
    const updated = await this.store.hosts.modify(id, (host) => ({ ...host, apiKeyHash: sha256(apiKey), updatedAt: Date.now() }));
    if (!updated) throw new CodedError("HOST_NOT_FOUND");
    this.revocations.publish({ kind: "host", id, reason: "key_rotated" });
    return { host: hostView(updated.value), apiKey };
  }

  async delete(id: string): Promise<void> {
    const host = await this.stored(id);
    await this.store.hosts.delete(id);
    await this.store.apiIds.delete(host.apiId);
    this.revocations.publish({ kind: "host", id, reason: "host_deleted" });
  }

  /** Checks an agent's X-API-ID / X-API-KEY. Returns the host, or undefined when they do not match. */
  async verifyAgentKey(apiId: string, apiKey: string): Promise<HostRecord | undefined> {
    const pointer = isIdentifier(apiId) ? (await this.store.apiIds.get(apiId))?.value : undefined;
    const host = pointer ? (await this.store.hosts.get(pointer.id))?.value : undefined;
    const matches = digestsEqual(sha256(apiKey), host?.apiKeyHash ?? UNKNOWN_KEY_HASH);
    return host && matches && host.apiId === apiId ? hostView(host) : undefined;
  }

  /** Trust on first use: pins the key if none is pinned; otherwise returns the key already pinned. */
  async pinHostKey(id: string, key: Omit<PinnedHostKey, "pinnedAt">): Promise<{ pinned: boolean; hostKey: PinnedHostKey }> {
    let pinned = false;
    const updated = await this.store.hosts.modify(id, (host) => {
      pinned = host.hostKey === null;
      return pinned ? { ...host, hostKey: { ...key, pinnedAt: Date.now() }, updatedAt: Date.now() } : undefined;
    });
    if (!updated?.value.hostKey) throw new CodedError("HOST_NOT_FOUND");
    return { pinned, hostKey: updated.value.hostKey };
  }

  private async stored(id: string): Promise<StoredHost> {
    const host = isIdentifier(id) ? (await this.store.hosts.get(id))?.value : undefined;
    if (!host) throw new CodedError("HOST_NOT_FOUND");
    return host;
  }
}
