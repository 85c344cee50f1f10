import type { IncomingHttpHeaders } from "node:http";
import { CodedError } from "@patchmon-ws/protocol";

/** The access token of an `Authorization: Bearer <token>` header; CREDENTIALS_MISSING when there is none. */
export function bearerToken(headers: IncomingHttpHeaders): string {
  const header = headers.authorization;
  const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
  if (!match) throw new CodedError("CREDENTIALS_MISSING", "An Authorization: Bearer <access token> header is required.");
  return match[1]!;
}
