import { z } from "zod";

/** A catalogue of messages keyed by their `type`: each schema's `type` is the literal of its key. */
type Catalogue = Record<string, z.ZodObject<{ type: z.ZodLiteral<string> } & z.ZodRawShape>>;

/**
 * The discriminated union (on `type`) of every message of a catalogue, so a catalogue declared once as an object
 * (which also gives the list of its types) yields the parser of "any message of it".
 */
export function messageUnion<C extends Catalogue>(catalogue: C) {
  return z.discriminatedUnion("type", Object.values(catalogue) as unknown as [C[keyof C], ...C[keyof C][]]);
}

/**
 * The fields a message type declares, without the index signature a loose schema's type carries (`[k: string]:
 * unknown`, so receivers keep unknown fields): what a sender builds, so a misspelt field fails the typecheck.
 * Distributes over a union of messages.
 */
export type DeclaredFields<T> = T extends unknown
  ? { [K in keyof T as string extends K ? never : number extends K ? never : K]: T[K] }
  : never;
