import type { NatsConnection } from "@nats-io/transport-node";
import { AuthSubjects, GetHostReply, type HostRecord } from "@patchmon-ws/protocol";
import { requestJson, unwrapReply } from "@patchmon-ws/service-kit";

/** Asks the auth service (the host registry) whether a host exists; throws HOST_NOT_FOUND when it does not. */
export class HostLookup {
  constructor(
    private readonly nc: NatsConnection,
    private readonly timeoutMs: number,
  ) {}

  async get(hostId: string): Promise<HostRecord> {
    return unwrapReply(await requestJson(this.nc, AuthSubjects.getHost, { hostId }, GetHostReply, this.timeoutMs)).host;
  }
}
