import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import {
  CreatedHostResponse,
  HostPatchBody,
  LoginBody,
  NewHostBody,
  NewUserBody,
  SessionResponse,
  TicketBody,
  TicketResponse,
  UserPatchBody,
} from "@patchmon-ws/protocol";

describe("auth REST wire shapes", () => {
  it("stay browser-safe: no Node built-ins", () => {
    const source = readFileSync(fileURLToPath(new URL("../src/auth-http.ts", import.meta.url)), "utf8");
    expect(source).not.toMatch(/from "node:|require\(|\bBuffer\b|\bprocess\./);
    expect([...source.matchAll(/from "([^"]+)"/g)].map((m) => m[1])).toEqual(["zod", "./auth.js", "./ids.js"]);
  });

  it("apply today's defaults and field names", () => {
    expect(TicketBody.parse({ purpose: "bullboard" })).toEqual({ purpose: "bullboard", target: "*" });
    expect(NewUserBody.parse({ username: "a.b", password: "12345678" })).toEqual({ username: "a.b", password: "12345678", role: "user", permissions: [] });
    expect(NewHostBody.parse({ name: " web ", ssh: { address: "10.0.0.1" } })).toEqual({ name: "web", ssh: { address: "10.0.0.1", port: 22, username: "root" }, recordSessions: null });
    expect(NewHostBody.parse({ name: "web" }).ssh).toBeNull();
    expect(LoginBody.safeParse({ username: "admin" }).success).toBe(false);
  });

  it("refuse empty patches and unknown roles or permissions", () => {
    expect(UserPatchBody.safeParse({}).success).toBe(false);
    expect(HostPatchBody.safeParse({}).success).toBe(false);
    expect(HostPatchBody.parse({ hostKey: null })).toEqual({ hostKey: null });
    expect(UserPatchBody.safeParse({ role: "root" }).success).toBe(false);
    expect(NewUserBody.safeParse({ username: "x y", password: "12345678" }).success).toBe(false);
  });

  it("describe the responses", () => {
    const user = { id: "u1", username: "admin", role: "admin", permissions: [], disabled: false, createdAt: 1, updatedAt: 1 };
    expect(SessionResponse.parse({ accessToken: "t", tokenType: "Bearer", expiresIn: 900, user })).toMatchObject({ user: { id: "u1" } });
    expect(TicketResponse.parse({ ticket: "abc", expiresIn: 30 })).toEqual({ ticket: "abc", expiresIn: 30 });
    const host = { id: "h1", name: "web", apiId: "patchmon_x", ssh: null, hostKey: null, createdAt: 1, updatedAt: 1 };
    const agentConfig = { serverUrl: "https://x", apiVersion: "v1", configYaml: "a", credentialsYaml: "b" };
    expect(CreatedHostResponse.parse({ host, apiKey: "k", agentConfig })).toEqual({ host, apiKey: "k", agentConfig });
  });
});
