export * from "./config.js";
export * from "./board-mode.js";
export * from "./cookies.js";
export * from "./event-messages.js";
export * from "./queue-names.js";
export * from "./security-headers.js";
export { setupBullboard } from "./service.js";
export { EVENTS_PATH } from "./event-gateway.js";
export { BOARD_BASE_PATH } from "./dashboard.js";
