import type { Express, Request, Response } from "express";
import type { z } from "zod";
import {
  ASCIICAST_MEDIA_TYPE,
  AuditListQuery,
  CodedError,
  SessionListQuery,
  TERMINAL_SESSION_ID_PATTERN,
  type Principal,
  type TerminalSessionResponse,
} from "@patchmon-ws/protocol";
import { bearerToken, type PrincipalVerifier, type ProxyTrust } from "@patchmon-ws/service-kit";
import type { AuditIndex } from "./audit/audit-index.js";
import type { RecordingStore } from "./recording/recording-store.js";

export interface HttpApiDeps {
  app: Express;
  trust: ProxyTrust;
  verifier: PrincipalVerifier;
  index: AuditIndex;
  recordings: RecordingStore;
}

function parseQuery<S extends z.ZodType>(schema: S, query: unknown): z.infer<S> {
  const result = schema.safeParse(query);
  if (!result.success) {
    throw new CodedError("VALIDATION_FAILED", undefined, {
      details: result.error.issues.map((i) => ({ path: i.path.join("."), message: i.message })),
    });
  }
  return result.data;
}

function sessionIdParam(value: unknown): string {
  if (typeof value !== "string" || !TERMINAL_SESSION_ID_PATTERN.test(value)) throw new CodedError("SESSION_NOT_FOUND");
  return value;
}

/**
 * terminal-ws's admin API (JSON errors through the runtime's handler), for admins only:
 * - GET /api/v1/terminal/sessions               sessions, newest first, filtered and paged (SessionListQuery)
 * - GET /api/v1/terminal/sessions/:id           one session
 * - GET /api/v1/terminal/sessions/:id/recording its asciicast v2 recording, streamed as stored
 * - GET /api/v1/terminal/audit                  every audit event (access granted and refused, starts, ends)
 */
export function registerHttpApi({ app, trust, verifier, index, recordings }: HttpApiDeps): void {
  const requireAdmin = async (req: Request): Promise<Principal> => {
    const principal = await verifier.verify(bearerToken(req.headers), trust.clientAddress(req));
    if (principal.role !== "admin") throw new CodedError("FORBIDDEN", "Terminal sessions and recordings are for admins.");
    return principal;
  };
  const noStore = (res: Response) => res.setHeader("Cache-Control", "no-store");

  app.get("/api/v1/terminal/sessions", async (req: Request, res: Response) => {
    await requireAdmin(req);
    const query = parseQuery(SessionListQuery, req.query);
    noStore(res);
    res.json(index.listSessions(query));
  });

  app.get("/api/v1/terminal/sessions/:id", async (req: Request, res: Response) => {
    await requireAdmin(req);
    const session = index.session(sessionIdParam(req.params.id));
    if (!session) throw new CodedError("SESSION_NOT_FOUND");
    noStore(res);
    res.json({ session } satisfies TerminalSessionResponse);
  });

  app.get("/api/v1/terminal/sessions/:id/recording", async (req: Request, res: Response) => {
    await requireAdmin(req);
    const sessionId = sessionIdParam(req.params.id);
    const batches = recordings.read(sessionId);
    let first: IteratorResult<string>;
    try {
      first = await batches.next();
    } catch (err) {
      throw new CodedError("DEPENDENCY_UNAVAILABLE", "The recording store (NATS JetStream) is unavailable.", { retryAfter: 2, cause: err });
    }
    if (first.done) throw new CodedError("RECORDING_NOT_FOUND");
    res.status(200);
    res.setHeader("Content-Type", `${ASCIICAST_MEDIA_TYPE}; charset=utf-8`);
    res.setHeader("Content-Disposition", `attachment; filename="${sessionId}.cast"`);
    noStore(res);
    // Streamed as stored: a long recording never sits in memory whole; the client's pace sets the reading pace.
    const write = (chunk: string) =>
      res.write(chunk)
        ? Promise.resolve()
        : new Promise<void>((resolve) => {
            res.once("drain", resolve);
            res.once("close", resolve);
          });
    let aborted = false;
    res.once("close", () => (aborted = true));
    try {
      await write(first.value);
      for await (const batch of batches) {
        if (aborted) break;
        await write(batch);
      }
      res.end();
    } catch {
      // The store went away mid-stream: the status is sent, so end the body early (the client sees a short file).
      res.destroy();
    } finally {
      await batches.return(undefined);
    }
  });

  app.get("/api/v1/terminal/audit", async (req: Request, res: Response) => {
    await requireAdmin(req);
    const query = parseQuery(AuditListQuery, req.query);
    noStore(res);
    res.json(index.listEvents(query));
  });
}
