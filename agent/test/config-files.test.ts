import { describe, expect, it } from "vitest";
import { ConfigFileError, parseCredentialsJson, parseStockConfig, parseStockCredentials } from "../src/config-files.js";

describe("parseStockConfig (/etc/patchmon/config.yml)", () => {
  it("reads the keys the stock agent writes", () => {
    const yaml = [
      "patchmon_server: https://patchmon.example.com",
      "api_version: v1",
      "credentials_file: /etc/patchmon/credentials.yml",
      "log_file: /etc/patchmon/logs/patchmon-agent.log",
      "log_level: info",
      "skip_ssl_verify: false",
      "update_interval: 60",
      "report_offset: 1234",
      "integrations:",
      "  docker: true",
      "  compliance: on-demand",
    ].join("\n");
    expect(parseStockConfig(yaml, "config.yml")).toEqual({
      server: "https://patchmon.example.com",
      apiVersion: "v1",
      credentialsFile: "/etc/patchmon/credentials.yml",
      skipSslVerify: false,
      updateIntervalMinutes: 60,
      logLevel: "info",
    });
  });

  it("reads integrations.ssh-proxy-enabled, the stock agent's local opt-in to SSH proxying", () => {
    expect(parseStockConfig("integrations:\n  docker: true\n  compliance: on-demand\n  ssh-proxy-enabled: true\n", "c")).toEqual({ sshProxyEnabled: true });
    expect(parseStockConfig("integrations:\n  ssh-proxy-enabled: false\n", "c")).toEqual({ sshProxyEnabled: false });
    expect(parseStockConfig("INTEGRATIONS:\n  Ssh-Proxy-Enabled: true\n", "c")).toEqual({ sshProxyEnabled: true });
    expect(parseStockConfig("integrations:\n", "c")).toEqual({});
    expect(parseStockConfig("integrations:\n  docker: false\n", "c")).toEqual({});
    expect(() => parseStockConfig("integrations:\n  ssh-proxy-enabled: sometimes\n", "/etc/patchmon/config.yml")).toThrow(
      /^\/etc\/patchmon\/config.yml: integrations.ssh-proxy-enabled: must be true or false/,
    );
    expect(() => parseStockConfig("integrations: [docker]\n", "c")).toThrow(/integrations/);
  });

  it("matches keys case-insensitively, as viper does", () => {
    expect(parseStockConfig("PatchMon_Server: http://h:3001\nAPI_VERSION: v2\n", "c")).toEqual({ server: "http://h:3001", apiVersion: "v2" });
  });

  it("treats an empty file and update_interval 0 as unset", () => {
    expect(parseStockConfig("", "c")).toEqual({});
    expect(parseStockConfig("update_interval: 0\n", "c")).toEqual({});
  });

  it("names the file and the field when a value is wrong", () => {
    expect(() => parseStockConfig("skip_ssl_verify: sometimes\n", "/etc/patchmon/config.yml")).toThrow(ConfigFileError);
    expect(() => parseStockConfig("skip_ssl_verify: sometimes\n", "/etc/patchmon/config.yml")).toThrow(/^\/etc\/patchmon\/config.yml: skip_ssl_verify/);
    expect(() => parseStockConfig("update_interval: -5\n", "c")).toThrow(/update_interval/);
    expect(() => parseStockConfig("patchmon_server: [unclosed\n", "c")).toThrow(/not valid YAML/);
    expect(() => parseStockConfig("- a\n- b\n", "c")).toThrow(ConfigFileError);
  });
});

describe("parseStockCredentials (/etc/patchmon/credentials.yml)", () => {
  it("reads api_id and api_key", () => {
    expect(parseStockCredentials("api_id: patchmon_1a2b3c4d\napi_key: abcdef0123456789\n", "cred.yml")).toEqual({
      apiId: "patchmon_1a2b3c4d",
      apiKey: "abcdef0123456789",
    });
  });

  it("refuses missing or empty credentials, as the stock agent does", () => {
    expect(() => parseStockCredentials("api_id: x\n", "cred.yml")).toThrow(/cred.yml: api_key/);
    expect(() => parseStockCredentials('api_id: ""\napi_key: k\n', "cred.yml")).toThrow(/api_id is empty/);
  });
});

describe("parseCredentialsJson (simulate --credentials-file)", () => {
  it("accepts apiId/apiKey, api_id/api_key, and {agents: [...]}", () => {
    expect(parseCredentialsJson('[{"apiId":"a","apiKey":"k1"},{"api_id":"b","api_key":"k2"}]', "f")).toEqual([
      { apiId: "a", apiKey: "k1" },
      { apiId: "b", apiKey: "k2" },
    ]);
    expect(parseCredentialsJson('{"agents":[{"apiId":"a","apiKey":"k"}]}', "f")).toEqual([{ apiId: "a", apiKey: "k" }]);
  });

  it("rejects bad files with the path in the message", () => {
    expect(() => parseCredentialsJson("[", "creds.json")).toThrow(/^creds.json: not valid JSON/);
    expect(() => parseCredentialsJson("[]", "creds.json")).toThrow(/lists no agents/);
    expect(() => parseCredentialsJson('[{"apiId":"a"}]', "creds.json")).toThrow(ConfigFileError);
  });
});
