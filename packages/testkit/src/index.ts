export * from "./sshd.js";
export * from "./ws-client.js";
export * from "./sse-client.js";
export * from "./terminal-client.js";
export * from "./terminal-screen.js";
export * from "./eventually.js";
export * from "./browser.js";
