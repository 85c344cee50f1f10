/** The web UI's server as a library. */
export { setupWeb } from "./service.js";
export { loadWebConfig, webConfigSchema, type WebConfig } from "./config.js";
export { resolvePath, preferredEncodings, StaticSite } from "./static-site.js";
export { CONTENT_SECURITY_POLICY, SECURITY_HEADERS } from "./security-headers.js";
