export * from "./ids.js";
export * from "./close-codes.js";
export * from "./errors.js";
export * from "./subjects.js";
export * from "./auth.js";
export * from "./queues.js";
export * from "./agent-messages.js";
export * from "./agents.js";
