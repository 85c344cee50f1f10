/**
 * Imported first by every module that validates with the protocol's schemas. zod compiles object parsers with
 * `new Function` when it can, and probes for that on its first parse; the page's Content-Security-Policy forbids
 * eval, so the probe would be reported as a violation. jitless: zod never tries.
 */
import { config } from "zod";

config({ jitless: true });
