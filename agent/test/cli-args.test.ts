import { describe, expect, it } from "vitest";
import { CliUsageError, parseCli } from "../src/cli-args.js";
import { ConfigFileError } from "../src/config-files.js";

/** Files the parser may read, by path; anything else is ENOENT. */
function files(map: Record<string, string>) {
  return (path: string) => {
    const text = map[path];
    if (text === undefined) throw Object.assign(new Error(`ENOENT: ${path}`), { code: "ENOENT" });
    return text;
  };
}

describe("parseCli run", () => {
  it("takes everything from flags", () => {
    const command = parseCli(
      ["run", "--server", "https://pm.example", "--api-id", "host_1", "--api-key", "k3y", "--api-version", "v2", "--ca", "/ca.pem", "--proxy", "http://p:3128"],
      {},
      files({ "/ca.pem": "-----BEGIN CERTIFICATE-----" }),
    );
    expect(command).toEqual({
      kind: "run",
      agent: { server: "https://pm.example", apiId: "host_1", apiKey: "k3y", apiVersion: "v2", ca: "-----BEGIN CERTIFICATE-----", proxy: "http://p:3128" },
      logLevel: "info",
      warnings: [],
    });
  });

  it("reads the stock agent's config and credentials files (credentials_file from config)", () => {
    const command = parseCli(
      ["run", "--config", "/etc/patchmon/config.yml"],
      {},
      files({
        "/etc/patchmon/config.yml": "patchmon_server: https://pm.example\napi_version: v1\ncredentials_file: /etc/patchmon/credentials.yml\nupdate_interval: 30\nlog_level: warning\n",
        "/etc/patchmon/credentials.yml": "api_id: host_2\napi_key: secret\n",
      }),
    );
    expect(command).toEqual({
      kind: "run",
      agent: { server: "https://pm.example", apiId: "host_2", apiKey: "secret", apiVersion: "v1", updateIntervalMinutes: 30 },
      logLevel: "warn",
      warnings: [],
    });
  });

  it("lets flags and PATCHMON_* env override the files", () => {
    const read = files({
      "/c.yml": "patchmon_server: https://from-file\n",
      "/cred.yml": "api_id: file_id\napi_key: file_key\n",
    });
    const command = parseCli(["run", "--config", "/c.yml", "--credentials", "/cred.yml", "--api-id", "flag_id"], { PATCHMON_SERVER: "https://from-env", PATCHMON_API_KEY: "env_key" }, read);
    expect(command).toMatchObject({ kind: "run", agent: { server: "https://from-env", apiId: "flag_id", apiKey: "env_key" } });
  });

  it("does not honour skip_ssl_verify silently: --insecure must be explicit", () => {
    const read = files({ "/c.yml": "patchmon_server: https://h\nskip_ssl_verify: true\n", "/cred.yml": "api_id: a\napi_key: k\n" });
    const quiet = parseCli(["run", "--config", "/c.yml", "--credentials", "/cred.yml"], {}, read);
    expect(quiet).toMatchObject({ kind: "run", warnings: [expect.stringMatching(/skip_ssl_verify .* ignored/)] });
    expect(quiet.kind === "run" && quiet.agent.insecure).toBeFalsy();
    const explicit = parseCli(["run", "--config", "/c.yml", "--credentials", "/cred.yml", "--insecure"], {}, read);
    expect(explicit).toMatchObject({ kind: "run", agent: { insecure: true }, warnings: [] });
  });

  it("refuses --insecure when PATCHMON_ENV is production", () => {
    const args = ["run", "--server", "https://h", "--api-id", "a", "--api-key", "k", "--insecure"];
    expect(() => parseCli(args, { PATCHMON_ENV: "production" })).toThrow(/--insecure is refused/);
    expect(() => parseCli(args, { PATCHMON_ENV: "Prod" })).toThrow(CliUsageError);
    expect(parseCli(args, { PATCHMON_ENV: "staging" })).toMatchObject({ agent: { insecure: true } });
  });

  it("reports what is missing or wrong", () => {
    expect(() => parseCli(["run", "--api-id", "a", "--api-key", "k"], {})).toThrow(/--server is required/);
    expect(() => parseCli(["run", "--server", "https://h", "--api-key", "k"], {})).toThrow(/--api-id is required/);
    expect(() => parseCli(["run", "--server", "https://h", "--api-id", "a"], {})).toThrow(/--api-key is required/);
    expect(() => parseCli(["run", "--bogus"], {})).toThrow(CliUsageError);
    expect(() => parseCli(["run", "--server"], {})).toThrow(CliUsageError);
    expect(() => parseCli(["run", "--server", "https://h", "--api-id", "a", "--api-key", "k", "--log-level", "loud"], {})).toThrow(/--log-level/);
    expect(() => parseCli(["run", "--config", "/missing.yml"], {}, files({}))).toThrow(ConfigFileError);
    expect(() => parseCli(["run", "--config", "/missing.yml"], {}, files({}))).toThrow(/config file not found/);
    expect(() => parseCli(["fly"], {})).toThrow(/unknown command "fly"/);
  });

  it("enables SSH proxying with --ssh-proxy-enabled, tuned by --known-hosts, --ssh-strict-host-keys, --ssh-max-sessions", () => {
    const base = ["run", "--server", "https://h", "--api-id", "a", "--api-key", "k"];
    expect(parseCli(base, {})).toMatchObject({ kind: "run", warnings: [] });
    expect((parseCli(base, {}) as { agent: object }).agent).not.toHaveProperty("sshProxy");
    expect(parseCli([...base, "--ssh-proxy-enabled"], {})).toMatchObject({ agent: { sshProxy: { enabled: true } } });
    expect(parseCli([...base, "--ssh-proxy-enabled", "--known-hosts", "/var/lib/pm/known_hosts", "--ssh-strict-host-keys", "--ssh-max-sessions", "3"], {})).toMatchObject({
      agent: { sshProxy: { enabled: true, knownHostsFile: "/var/lib/pm/known_hosts", strictHostKeys: true, maxSessions: 3 } },
      warnings: [],
    });
    expect(() => parseCli([...base, "--ssh-proxy-enabled", "--ssh-max-sessions", "0"], {})).toThrow(/--ssh-max-sessions must be a positive integer/);
    expect(() => parseCli([...base, "--ssh-proxy-enabled", "--known-hosts", " "], {})).toThrow(/--known-hosts needs a file path/);
    const unused = parseCli([...base, "--known-hosts", "/kh"], {});
    expect(unused).toMatchObject({ warnings: [expect.stringMatching(/no effect without --ssh-proxy-enabled/)] });
    expect((unused as { agent: object }).agent).not.toHaveProperty("sshProxy");
  });

  it("enables SSH proxying from the stock config's integrations: ssh-proxy-enabled: true (keys case-insensitive)", () => {
    const run = (yaml: string, extra: string[] = []) =>
      parseCli(["run", "--config", "/c.yml", ...extra], {}, files({ "/c.yml": `patchmon_server: https://h
credentials_file: /cred.yml
${yaml}`, "/cred.yml": "api_id: a\napi_key: k\n" }));
    expect(run("integrations:\n  docker: true\n  ssh-proxy-enabled: true\n")).toMatchObject({ agent: { sshProxy: { enabled: true } } });
    expect(run("Integrations:\n  SSH-Proxy-Enabled: true\n")).toMatchObject({ agent: { sshProxy: { enabled: true } } });
    expect((run("integrations:\n  ssh-proxy-enabled: false\n") as { agent: object }).agent).not.toHaveProperty("sshProxy");
    // The flag enables it even when the file says false; it cannot disable what the file enables.
    expect(run("integrations:\n  ssh-proxy-enabled: false\n", ["--ssh-proxy-enabled"])).toMatchObject({ agent: { sshProxy: { enabled: true } } });
    expect(run("integrations:\n  ssh-proxy-enabled: true\n", ["--known-hosts", "/kh"])).toMatchObject({ agent: { sshProxy: { enabled: true, knownHostsFile: "/kh" } }, warnings: [] });
  });

  it("prints help for no command, help, --help", () => {
    expect(parseCli([], {})).toEqual({ kind: "help" });
    expect(parseCli(["--help"], {})).toEqual({ kind: "help" });
    expect(parseCli(["run", "--help"], {})).toEqual({ kind: "help" });
  });
});

describe("parseCli simulate", () => {
  const creds = JSON.stringify([
    { apiId: "a1", apiKey: "k1" },
    { apiId: "a2", apiKey: "k2" },
    { apiId: "a3", apiKey: "k3" },
  ]);

  it("takes the first --count agents of the credentials file", () => {
    const command = parseCli(["simulate", "--server", "https://h", "--credentials-file", "/c.json", "--count", "2", "--concurrency", "50", "--insecure"], {}, files({ "/c.json": creds }));
    expect(command).toEqual({
      kind: "simulate",
      simulation: {
        server: "https://h",
        agents: [
          { apiId: "a1", apiKey: "k1" },
          { apiId: "a2", apiKey: "k2" },
        ],
        insecure: true,
        connectConcurrency: 50,
      },
      logLevel: "warn",
      statusIntervalMs: 5000,
      warnings: [],
    });
  });

  it("defaults --count to every agent in the file", () => {
    const command = parseCli(["simulate", "--server", "https://h", "--credentials-file", "/c.json", "--status-interval-s", "1"], {}, files({ "/c.json": creds }));
    expect(command).toMatchObject({ kind: "simulate", statusIntervalMs: 1000 });
    expect(command.kind === "simulate" && command.simulation.agents).toHaveLength(3);
  });

  it("rejects bad counts and missing inputs", () => {
    const read = files({ "/c.json": creds });
    expect(() => parseCli(["simulate", "--server", "https://h", "--credentials-file", "/c.json", "--count", "4"], {}, read)).toThrow(/exceeds the 3 agents/);
    expect(() => parseCli(["simulate", "--server", "https://h", "--credentials-file", "/c.json", "--count", "0"], {}, read)).toThrow(/positive integer/);
    expect(() => parseCli(["simulate", "--server", "https://h", "--credentials-file", "/c.json", "--count", "2x"], {}, read)).toThrow(/positive integer/);
    expect(() => parseCli(["simulate", "--server", "https://h"], {}, read)).toThrow(/--credentials-file is required/);
    expect(() => parseCli(["simulate", "--credentials-file", "/c.json"], {}, read)).toThrow(/--server is required/);
  });
});
