import type { Express, Request, Response } from "express";
import { BulkCommandRequest, CodedError, IDENTIFIER_PATTERN, requirePermission, SingleCommandRequest, type Principal } from "@patchmon-ws/protocol";
import { bearerToken, type ProxyTrust } from "@patchmon-ws/service-kit";
import { parseBody, parseOperatorCommand } from "../commands/command-request.js";
import type { CommandDispatcher } from "../commands/command-dispatcher.js";
import { hostStatus, parseHostSelection, type HostStatus } from "./host-selection.js";
import type { PresenceView } from "../presence/presence-view.js";
import { parseLastEventId, type StatusStreams } from "./status-streams.js";
import type { UserAccess } from "./user-access.js";

export interface HttpApiDeps {
  app: Express;
  trust: ProxyTrust;
  access: UserAccess;
  commands: CommandDispatcher;
  view: PresenceView;
  streams: StatusStreams;
  defaultAckTimeoutMs: number;
}

function hostIdParam(value: unknown): string {
  if (typeof value !== "string" || !IDENTIFIER_PATTERN.test(value)) throw new CodedError("VALIDATION_FAILED", "hostId is not a valid host id");
  return value;
}

/**
 * The HTTP API of agent-ws (JSON; errors are `{error, code}` through the runtime's error handler):
 * - POST /api/v1/agents/:hostId/commands   send one command to one host (can_manage_hosts)
 * - POST /api/v1/agents/commands           send one command to many hosts or "all" (can_manage_hosts)
 * - GET  /api/v1/agents/status?hostIds=…   presence of the named hosts (all known hosts when omitted)
 * - GET  /api/v1/agents/:hostId/status     presence of one host
 * - GET  /api/v1/agents/status/stream?hostIds=…|all[&ticket=…][&lastEventId=…]   SSE: snapshot (or `resumed` and
 *        the missed changes, when resuming from Last-Event-ID / lastEventId), then every change
 */
export function registerHttpApi(deps: HttpApiDeps): void {
  const { app, trust, access, commands, view, streams } = deps;

  const principalOf = (req: Request): Promise<Principal> => access.verifyToken(bearerToken(req.headers), trust.clientAddress(req));

  app.post("/api/v1/agents/commands", async (req: Request, res: Response) => {
    const principal = await principalOf(req);
    requirePermission(principal, "can_manage_hosts");
    const body = parseBody(BulkCommandRequest, req.body);
    const selection = parseHostSelection(body.hostIds);
    const message = parseOperatorCommand(body.command);
    const result = await commands.sendMany(selection, message, {
      ifOffline: body.ifOffline,
      waitForAck: body.waitForAck,
      ackTimeoutMs: body.ackTimeoutMs ?? deps.defaultAckTimeoutMs,
      requestedBy: principal.userId,
    });
    res.status(result.httpStatus).json(result.body);
  });

  app.post("/api/v1/agents/:hostId/commands", async (req: Request, res: Response) => {
    const principal = await principalOf(req);
    requirePermission(principal, "can_manage_hosts");
    const hostId = hostIdParam(req.params.hostId);
    const body = parseBody(SingleCommandRequest, req.body);
    const message = parseOperatorCommand(body.command);
    const result = await commands.sendOne(hostId, message, {
      ifOffline: body.ifOffline,
      waitForAck: body.waitForAck,
      ackTimeoutMs: body.ackTimeoutMs ?? deps.defaultAckTimeoutMs,
      ...(body.commandId ? { commandId: body.commandId } : {}),
      requestedBy: principal.userId,
    });
    res.status(result.httpStatus).json(result.body);
  });

  app.get("/api/v1/agents/status/stream", async (req: Request, res: Response) => {
    const ticket = typeof req.query.ticket === "string" ? req.query.ticket : undefined;
    const source = trust.clientAddress(req);
    const principal = ticket ? await access.consumeStatusTicket(ticket, source) : await principalOf(req);
    const selection = parseHostSelection(req.query.hostIds ?? "all");
    const since = parseLastEventId(req.query.lastEventId, req.headers["last-event-id"]);
    streams.open(res, principal, selection, since);
  });

  app.get("/api/v1/agents/status", async (req: Request, res: Response) => {
    await principalOf(req);
    const hosts: Record<string, HostStatus> = {};
    if (req.query.hostIds === undefined) {
      for (const { record } of view.values()) hosts[record.hostId] = hostStatus(record.hostId, record);
    } else {
      const selection = parseHostSelection(req.query.hostIds);
      if (selection.all) for (const { record } of view.values()) hosts[record.hostId] = hostStatus(record.hostId, record);
      else for (const id of selection.ids) hosts[id] = hostStatus(id, view.get(id)?.record);
    }
    res.json({ hosts });
  });

  app.get("/api/v1/agents/:hostId/status", async (req: Request, res: Response) => {
    await principalOf(req);
    const hostId = hostIdParam(req.params.hostId);
    res.json({ host: hostStatus(hostId, view.get(hostId)?.record) });
  });
}
