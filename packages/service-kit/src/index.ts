export * from "./config.js";
export * from "./logger.js";
export * from "./proxy-trust.js";
export * from "./rejections.js";
export * from "./failure-limiter.js";
export * from "./nats.js";
export * from "./origin.js";
export * from "./service-runtime.js";
