import { describe, expect, it } from "vitest";
import { TERMINAL_ERROR_CODES } from "@patchmon-ws/protocol";
import { classifyAgentError } from "../src/shells/relay-shell.js";

/** The stock PatchMon agent's refusal when `ssh-proxy-enabled` is off (its ssh_proxy handler, verbatim shape). */
const PROXY_DISABLED_TEXT =
  "SSH proxy is not enabled.\n\n" +
  "To enable SSH proxy, edit the file /etc/patchmon/config.yml and add the following:\n\n" +
  "integrations:\n" +
  "    ssh-proxy-enabled: true\n\n" +
  "Note: This cannot be pushed from the server to the agent and should require you to manually do this for security reasons.";

/** The stock agent wraps ssh.Dial's error: `Failed to connect: %v`. */
const failedToConnect = (err: string) => `Failed to connect: ${err}`;

describe("classifyAgentError: the stock agent's texts", () => {
  it("reads the refusal of a disabled SSH proxy as PROXY_DISABLED", () => {
    expect(classifyAgentError(PROXY_DISABLED_TEXT, undefined)).toBe("PROXY_DISABLED");
    // The Windows agent names another config path; the setting is what counts.
    expect(classifyAgentError(PROXY_DISABLED_TEXT.replace("/etc/patchmon/config.yml", "C:\\ProgramData\\PatchMon\\config.yml"), undefined)).toBe(
      "PROXY_DISABLED",
    );
    expect(classifyAgentError("SSH proxying is disabled on this host", undefined)).toBe("PROXY_DISABLED");
    expect(classifyAgentError("ssh proxy not enabled", undefined)).toBe("PROXY_DISABLED");
  });

  it("reads Go's authentication failures as SSH_AUTH_FAILED", () => {
    for (const text of [
      failedToConnect("ssh: handshake failed: ssh: unable to authenticate, attempted methods [none password], no supported methods remain"),
      failedToConnect("ssh: handshake failed: ssh: unable to authenticate, attempted methods [none publickey], no supported methods remain"),
      "ssh: handshake failed: ssh: unable to authenticate, attempted methods [none password], no supported methods remain",
      "Permission denied (publickey,password).",
      "Authentication failed.",
    ]) {
      expect(classifyAgentError(text, undefined), text).toBe("SSH_AUTH_FAILED");
    }
  });

  it("reads connection failures as HOST_UNREACHABLE", () => {
    for (const text of [
      failedToConnect("dial tcp 127.0.0.1:22: connect: connection refused"),
      "dial tcp 127.0.0.1:22: connect: connection refused",
      failedToConnect("dial tcp [::1]:22: connect: connection refused"),
      failedToConnect("dial tcp 10.0.0.9:22: i/o timeout"),
      failedToConnect("dial tcp 10.0.0.9:22: connect: no route to host"),
      failedToConnect("dial tcp 10.0.0.9:22: connect: network is unreachable"),
      failedToConnect("dial tcp: lookup db-9.internal: no such host"),
    ]) {
      expect(classifyAgentError(text, undefined), text).toBe("HOST_UNREACHABLE");
    }
  });

  it("reads host key mismatches as HOST_KEY_MISMATCH, not as an authentication failure", () => {
    for (const text of [
      failedToConnect("ssh: handshake failed: knownhosts: key mismatch"),
      "Host key verification failed.",
      "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@",
      "ssh: handshake failed: host key mismatch",
    ]) {
      expect(classifyAgentError(text, undefined), text).toBe("HOST_KEY_MISMATCH");
    }
  });

  it("reads anything else as AGENT_ERROR", () => {
    for (const text of [
      "",
      "Failed to request PTY: ssh: pty-req failed",
      "Failed to start shell: EOF",
      "No authentication method provided (password or private key required)",
      "Invalid port (must be 1-65535)",
      "something unexpected",
    ]) {
      expect(classifyAgentError(text, undefined), text).toBe("AGENT_ERROR");
    }
  });
});

describe("classifyAgentError: explicit codes", () => {
  it("passes a known terminal error code through, whatever the text says", () => {
    expect(classifyAgentError("whatever", "HOST_KEY_MISMATCH")).toBe("HOST_KEY_MISMATCH");
    expect(classifyAgentError(PROXY_DISABLED_TEXT, "SSH_AUTH_FAILED")).toBe("SSH_AUTH_FAILED");
    for (const code of TERMINAL_ERROR_CODES) expect(classifyAgentError("text", code)).toBe(code);
  });

  it("ignores an unknown or empty code and reads the text instead", () => {
    expect(classifyAgentError("dial tcp 127.0.0.1:22: connect: connection refused", "ECONNREFUSED")).toBe("HOST_UNREACHABLE");
    expect(classifyAgentError(PROXY_DISABLED_TEXT, "")).toBe("PROXY_DISABLED");
    expect(classifyAgentError("something unexpected", "toString")).toBe("AGENT_ERROR");
    expect(classifyAgentError("something unexpected", "__proto__")).toBe("AGENT_ERROR");
  });
});
