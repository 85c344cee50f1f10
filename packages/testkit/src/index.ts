export * from "./ports.js";
export * from "./daemon.js";
export * from "./processes.js";
export * from "./nats-server.js";
export * from "./redis-server.js";
export * from "./services.js";
export * from "./auth-client.js";
export * from "./stack.js";
