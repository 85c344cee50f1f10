/**
 * The envelope of every NATS request/reply answer: `{ok: true, ...}` or `{ok: false, code, error, retryAfter?}`.
 * `code` is read as a plain string so that an older replica still parses a code added by a newer one
 * (CodedError.fromBody maps codes it does not know to INTERNAL).
 */
import { z } from "zod";
import { ErrorCatalogue, isErrorCode, type ErrorCode } from "./errors.js";

/** An error code on the wire; a code this build does not know (from a newer peer) is read as INTERNAL, not refused. */
export const ErrorCodeSchema = z.string().transform((code): ErrorCode => (isErrorCode(code) ? code : "INTERNAL"));

export const ErrorReply = z.looseObject({
  ok: z.literal(false),
  code: z.string(),
  error: z.string(),
  retryAfter: z.number().optional(),
});
export type ErrorReply = z.infer<typeof ErrorReply>;

export function errorReply(code: ErrorCode, error?: string, retryAfter?: number): ErrorReply {
  return retryAfter === undefined
    ? { ok: false, code, error: error ?? ErrorCatalogue[code].message }
    : { ok: false, code, error: error ?? ErrorCatalogue[code].message, retryAfter };
}

/** A reply schema: the success shape (unknown fields kept) or the error envelope. */
export const replyOf = <T extends z.ZodRawShape>(shape: T) =>
  z.discriminatedUnion("ok", [z.looseObject({ ok: z.literal(true), ...shape }), ErrorReply]);
