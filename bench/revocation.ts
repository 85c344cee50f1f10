/**
 * Revocation benchmark: how long a revoked credential keeps a live socket open. Real nats-server,
 * redis-server, auth, agent-ws and bullboard processes on loopback. For each kind of revocation, the clock starts
 * just before the revoking HTTP call is sent to auth and stops at the socket's close event in this process:
 *
 *  - logout (POST /api/v1/auth/logout with the user's own token: the session is revoked)
 *      → the bullboard event socket (/bullboard/events, dashboard cookie of that session), expected 4001;
 *      → the agent-ws status stream (SSE /api/v1/agents/status/stream with that session's token), expected a final
 *        `revoked` event and the end of the response;
 *  - user disable (PATCH /api/v1/users/:id {disabled:true} by an admin) → the same two, same expectations;
 *  - API key rotation (POST /api/v1/hosts/:id/rotate-key) → the host's agent socket (raw `ws` with X-API-ID /
 *    X-API-KEY on /api/v1/agents/ws), expected 4001 CREDENTIALS_REVOKED;
 *  - host deletion (DELETE /api/v1/hosts/:id) → the host's agent socket, expected 4005 HOST_DELETED.
 *
 * A trial whose socket closes with another code, or not within CLOSE_TIMEOUT_MS, or whose HTTP call fails, is
 * counted as failed (and listed in the result's details); latencies are those of the trials that passed.
 * Baseline, measured in the same run and interleaved with the real trials, doing the same work minus what our
 * services add to it: the same HTTP call from this process to a bare revoker process (node:http, no authentication
 * or validation) that reads a session record from a NATS KV bucket, writes it back revoked with compare-and-set (as
 * auth's logout does its session record), publishes the revocation event and answers; a bare server process whose
 * NATS subscriber closes the bare `ws` socket the event names. Timed the same way, from just before the HTTP call
 * to the close event here. The ratio isolates what auth adds to the revoking request (its HTTP framework,
 * authenticating the caller, validation, the records beyond one read and one write: for a user disable the user
 * and all its sessions, for rotation and deletion the host's) and what bullboard and agent-ws add to acting on the
 * event (finding the sockets it names, closing them; for the status stream, its final event).
 *
 * Users and hosts are created (and the users logged in) ahead of time; sockets are opened a batch at a time
 * (BENCH_BATCH per kind, so at most 2 × BENCH_BATCH are open at once), then the batch's trials run one after another.
 * Five unrecorded warm-up trials per kind come first.
 * Sizes: BENCH_TRIALS (200 per kind), BENCH_BATCH (50). Writes bench/results/revocation.json.
 *
 * One file, three roles: the orchestrator (no argument), `--role=bare-revoker` and `--role=bare-server`.
 */
import { fork } from "node:child_process";
import { createServer, request as httpRequest } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import WebSocket, { WebSocketServer } from "ws";
import { connect } from "@nats-io/transport-node";
import { Kvm } from "@nats-io/kv";
import { CloseCode } from "@patchmon-ws/protocol";
import { figure, knob, machine, percentile, printAndSave, type Figure, type Goal } from "./lib/report.js";
import { NODE_ARGS, SERVICE_MODE } from "./lib/runtime.js";

const TRIALS = knob("BENCH_TRIALS", 200);
const BATCH = knob("BENCH_BATCH", 50);
const SETUP_CONCURRENCY = 8;
/** Trials per kind run first and not recorded. */
const WARMUP = 5;
const CLOSE_TIMEOUT_MS = 5000;
const GOAL_P99_MS = 1000;
const BARE_SUBJECT = "bench.revoked";
const BARE_BUCKET = "bench_revocation_sessions";
const SELF = fileURLToPath(import.meta.url);
const role = process.argv.find((a) => a.startsWith("--role="))?.slice(7);

/* ------------------------------------------------------------- role: bare revoker ------------------------------------------------------------- */

/**
 * The baseline's stand-in for auth: `PUT /sessions/<id>` stores a session record (set-up, untimed);
 * `POST /sessions/<id>/revoke` reads it, writes it back revoked with compare-and-set, publishes the revocation event
 * and answers 204 — what auth's logout does, without authenticating anyone or checking anything.
 */
async function bareRevoker(): Promise<void> {
  const nc = await connect({ servers: process.env.NATS_URL! });
  const kv = await new Kvm(nc).create(BARE_BUCKET, { history: 1 });
  const server = createServer(async (req, res) => {
    const match = /^\/sessions\/([\w-]+)(\/revoke)?$/.exec(req.url ?? "");
    try {
      if (!match) return void res.writeHead(404).end();
      const id = match[1]!;
      if (req.method === "PUT" && !match[2]) {
        const now = Date.now();
        await kv.put(id, JSON.stringify({ id, userId: `u-${id}`, familyId: `f-${id}`, createdAt: now, expiresAt: now + 86_400_000, revokedAt: null, revokeReason: null }));
        return void res.writeHead(204).end();
      }
      if (req.method === "POST" && match[2]) {
        const entry = await kv.get(id);
        if (!entry || entry.operation !== "PUT") return void res.writeHead(404).end();
        await kv.update(id, JSON.stringify({ ...entry.json<Record<string, unknown>>(), revokedAt: Date.now(), revokeReason: "logout" }), entry.revision);
        nc.publish(`${BARE_SUBJECT}.${id}`, JSON.stringify({ kind: "session", id, reason: "logout", at: Date.now() }));
        return void res.writeHead(204).end();
      }
      res.writeHead(405).end();
    } catch (err) {
      res.writeHead(500).end(String(err));
    }
  });
  server.listen(0, "127.0.0.1", () => process.send!({ port: (server.address() as AddressInfo).port }));
  process.on("disconnect", () => void nc.close().finally(() => process.exit(0)));
}

/* ------------------------------------------------------------- role: bare server ------------------------------------------------------------- */

/** The baseline's server: bare ws sockets by id, and a NATS subscriber that closes the one an event names. */
async function bareServer(): Promise<void> {
  const nc = await connect({ servers: process.env.NATS_URL! });
  const sockets = new Map<string, WebSocket>();
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, clientTracking: false });
  const server = createServer((_req, res) => res.writeHead(404).end());
  server.on("upgrade", (req, socket, head) => {
    const id = new URL(req.url ?? "/", "http://x").searchParams.get("id") ?? "";
    wss.handleUpgrade(req, socket, head, (ws) => {
      sockets.set(id, ws);
      ws.on("close", () => {
        if (sockets.get(id) === ws) sockets.delete(id);
      });
      ws.on("error", () => undefined);
    });
  });
  nc.subscribe(`${BARE_SUBJECT}.>`, {
    callback: (err, msg) => {
      if (err) return;
      const event = msg.json() as { id?: unknown };
      if (typeof event.id === "string") sockets.get(event.id)?.close(CloseCode.CREDENTIALS_REVOKED, "credentials revoked");
    },
  });
  await nc.flush();
  server.listen(0, "127.0.0.1", () => process.send!({ port: (server.address() as AddressInfo).port }));
  process.on("disconnect", () => void nc.close().finally(() => process.exit(0)));
}

/* ------------------------------------------------------------------ sockets ------------------------------------------------------------------ */

/** A live socket (or stream) under observation: `closed` resolves with what it closed with and when. */
interface Watched {
  closed: Promise<{ code: string; at: number }>;
  destroy(): void;
}

function openWs(url: string, headers: Record<string, string>): Promise<Watched> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers, perMessageDeflate: false });
    const closed = new Promise<{ code: string; at: number }>((done) => ws.once("close", (code) => done({ code: String(code), at: performance.now() })));
    ws.once("open", () => resolve({ closed, destroy: () => ws.terminate() }));
    ws.once("unexpected-response", (_req, res) => {
      let body = "";
      res.on("data", (chunk: Buffer) => (body += chunk.toString()));
      res.on("end", () => reject(new Error(`${url}: upgrade refused with ${res.statusCode}: ${body.slice(0, 300)}`)));
    });
    ws.on("error", (err) => reject(err));
  });
}

/**
 * An SSE status stream: resolves once its snapshot arrived (the stream is registered then); `closed` resolves at
 * the end of the response with the name of the last event received (`revoked` is the documented one).
 */
function openStatusStream(url: string, token: string): Promise<Watched> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { headers: { authorization: `Bearer ${token}`, accept: "text/event-stream" }, agent: false }, (res) => {
      if (res.statusCode !== 200) {
        let body = "";
        res.on("data", (chunk: Buffer) => (body += chunk.toString()));
        res.on("end", () => reject(new Error(`${url}: ${res.statusCode}: ${body.slice(0, 300)}`)));
        return;
      }
      res.setEncoding("utf8");
      let pending = "";
      let lastEvent = "";
      let open = false;
      const closed = new Promise<{ code: string; at: number }>((done) => {
        res.on("end", () => done({ code: lastEvent || "none", at: performance.now() }));
        res.on("close", () => done({ code: `aborted after ${lastEvent || "nothing"}`, at: performance.now() }));
        res.on("error", () => undefined);
      });
      res.on("data", (chunk: string) => {
        pending += chunk;
        let end: number;
        while ((end = pending.indexOf("\n\n")) >= 0) {
          const block = pending.slice(0, end);
          pending = pending.slice(end + 2);
          const name = /^event: ?(.*)$/m.exec(block)?.[1];
          if (name) lastEvent = name.trim();
          if (!open && lastEvent === "snapshot") {
            open = true;
            resolve({ closed, destroy: () => res.destroy() });
          }
        }
      });
    });
    req.on("error", reject);
    req.end();
  });
}

/** Runs `task` over `items` with at most `limit` at a time. */
async function pool<T, R>(items: readonly T[], limit: number, task: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      for (let i = next++; i < items.length; i = next++) out[i] = await task(items[i]!, i);
    }),
  );
  return out;
}

/* ------------------------------------------------------------- role: orchestrator ------------------------------------------------------------- */

type Kind = "baseline" | "logout" | "disable" | "rotation" | "deletion";
type SocketKind = "bullboard" | "status" | "agent" | "bare";

const SOCKET_NAMES: Record<SocketKind, string> = {
  bullboard: "bullboard event socket",
  status: "agent-ws status stream",
  agent: "agent socket",
  bare: "bare ws socket",
};
const KIND_NAMES: Record<Kind, string> = {
  baseline: "bare revoke",
  logout: "logout",
  disable: "user disable",
  rotation: "API key rotation",
  deletion: "host deletion",
};

interface Outcome {
  latencies: number[];
  failures: { trial: number; code: string; expected: string }[];
}

/** One trial's target: what to revoke, and the sockets that must close (with the code each must close with). */
interface Target {
  revoke(): Promise<void>;
  sockets: { kind: SocketKind; watched: Watched; expected: string }[];
}

async function orchestrate(): Promise<void> {
  const { startStack } = await import("@patchmon-ws/stack");
  const stops: (() => Promise<unknown> | void)[] = [];
  const stack = await startStack({
    services: ["auth", "agent-ws", "bullboard"],
    serviceEnv: { auth: { AGENT_AUTH_MAX_FAILURES: "1000000" } },
    env: { LOG_LEVEL: "info" },
    ...SERVICE_MODE,
  });
  stops.push(() => stack.stop());
  try {
    const nats = { url: stack.natsUrl };
    const auth = stack.auth;
    const agentWs = stack.service("agent-ws");
    const board = stack.service("bullboard");

    /** Forks one of the baseline's roles (NATS_URL set) and resolves with the port it listens on. */
    const forkRole = async (name: "bare-server" | "bare-revoker") => {
      const child = fork(SELF, [`--role=${name}`], {
        execArgv: [...NODE_ARGS],
        env: { ...process.env, NATS_URL: nats.url },
        stdio: ["ignore", "inherit", "inherit", "ipc"],
      });
      stops.push(
        () =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null) return resolve();
            child.once("exit", () => resolve());
            child.disconnect();
          }),
      );
      return new Promise<number>((resolve, reject) => {
        child.once("message", (m: { port: number }) => resolve(m.port));
        child.once("exit", (code) => reject(new Error(`${name} exited (${code})`)));
      });
    };
    const barePort = await forkRole("bare-server");
    const bareRevokerUrl = `http://127.0.0.1:${await forkRole("bare-revoker")}`;

    const adminToken = await auth.adminToken();
    const authUrl = auth.service.url;
    /** The revoking HTTP call, the same for auth and for the baseline's bare revoker. */
    const call = async (base: string, method: string, path: string, token: string, body?: unknown, expect = [200, 204]) => {
      const res = await fetch(base + path, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await res.text();
      if (!expect.includes(res.status)) throw new Error(`${method} ${path} answered ${res.status}: ${text.slice(0, 300)}`);
    };

    // --- ahead of time: users (logged in) and hosts --------------------------------------------------------------
    process.stdout.write(`creating ${2 * (TRIALS + WARMUP)} users and ${2 * (TRIALS + WARMUP)} hosts...\n`);
    const statusHost = await auth.client.createHost(adminToken, { name: "bench-revocation-status" });
    const newUser = async (prefix: string, i: number) => {
      const username = `${prefix}${i}`;
      const password = `pw-bench-${prefix}-${i}-${Math.random().toString(36).slice(2)}`;
      const user = await auth.client.createUser(adminToken, { username, password, role: "user", permissions: ["can_view_queues"] });
      const login = await auth.client.login(username, password);
      return { id: user.id, accessToken: login.accessToken };
    };
    const newHost = async (prefix: string, i: number) => {
      const { host, apiKey } = await auth.client.createHost(adminToken, { name: `${prefix}-${i}` });
      return { id: host.id, apiId: host.apiId, apiKey };
    };
    const indexes = Array.from({ length: TRIALS }, (_, i) => i);
    const all = Array.from({ length: TRIALS + WARMUP }, (_, i) => i);
    const logoutUsers = await pool(all, SETUP_CONCURRENCY, (i) => newUser("blogout", i));
    const disableUsers = await pool(all, SETUP_CONCURRENCY, (i) => newUser("bdisable", i));
    const rotationHosts = await pool(all, SETUP_CONCURRENCY, (i) => newHost("brotate", i));
    const deletionHosts = await pool(all, SETUP_CONCURRENCY, (i) => newHost("bdelete", i));

    // --- how each kind opens its sockets and revokes -----------------------------------------------------------------
    const statusUrl = `${agentWs.url}/api/v1/agents/status/stream?hostIds=${statusHost.host.id}`;
    const userSockets = async (user: { accessToken: string }) => {
      const ticket = await auth.client.ticket(user.accessToken, "bullboard");
      const exchange = await fetch(`${board.url}/bullboard?ticket=${ticket}`, { redirect: "manual" });
      if (exchange.status !== 303) throw new Error(`ticket exchange answered ${exchange.status}: ${await exchange.text()}`);
      const cookie = exchange.headers
        .getSetCookie()
        .map((c) => c.split(";")[0])
        .join("; ");
      const events = await openWs(`ws://127.0.0.1:${board.port}/bullboard/events`, { cookie, origin: board.url });
      const status = await openStatusStream(statusUrl, user.accessToken);
      return [
        { kind: "bullboard" as const, watched: events, expected: String(CloseCode.CREDENTIALS_REVOKED) },
        { kind: "status" as const, watched: status, expected: "revoked" },
      ];
    };
    const agentSocket = async (host: { apiId: string; apiKey: string }, expected: number) => [
      {
        kind: "agent" as const,
        watched: await openWs(`ws://127.0.0.1:${agentWs.port}/api/v1/agents/ws`, { "X-API-ID": host.apiId, "X-API-KEY": host.apiKey }),
        expected: String(expected),
      },
    ];
    const prepare: Record<Kind, (i: number) => Promise<Target>> = {
      baseline: async (i) => {
        const id = `t${i}`;
        await call(bareRevokerUrl, "PUT", `/sessions/${id}`, adminToken);
        return {
          revoke: () => call(bareRevokerUrl, "POST", `/sessions/${id}/revoke`, adminToken),
          sockets: [{ kind: "bare", watched: await openWs(`ws://127.0.0.1:${barePort}/?id=${id}`, {}), expected: String(CloseCode.CREDENTIALS_REVOKED) }],
        };
      },
      logout: async (i) => {
        const user = logoutUsers[i]!;
        return { revoke: () => call(authUrl, "POST", "/api/v1/auth/logout", user.accessToken), sockets: await userSockets(user) };
      },
      disable: async (i) => {
        const user = disableUsers[i]!;
        return { revoke: () => call(authUrl, "PATCH", `/api/v1/users/${user.id}`, adminToken, { disabled: true }), sockets: await userSockets(user) };
      },
      rotation: async (i) => {
        const host = rotationHosts[i]!;
        return { revoke: () => call(authUrl, "POST", `/api/v1/hosts/${host.id}/rotate-key`, adminToken), sockets: await agentSocket(host, CloseCode.CREDENTIALS_REVOKED) };
      },
      deletion: async (i) => {
        const host = deletionHosts[i]!;
        return { revoke: () => call(authUrl, "DELETE", `/api/v1/hosts/${host.id}`, adminToken), sockets: await agentSocket(host, CloseCode.HOST_DELETED) };
      },
    };

    // --- trials: batches, kinds interleaved, trials within a batch one after another -------------------------------
    const KINDS: Kind[] = ["baseline", "logout", "disable", "rotation", "deletion"];
    const outcomes = new Map<string, Outcome>();
    const outcome = (kind: Kind, socket: SocketKind) => {
      const key = `${kind}/${socket}`;
      let o = outcomes.get(key);
      if (!o) outcomes.set(key, (o = { latencies: [], failures: [] }));
      return o;
    };
    const deadline = (ms: number) => {
      let timer: NodeJS.Timeout | undefined;
      const promise = new Promise<{ code: string; at: number }>((resolve) => {
        timer = setTimeout(() => resolve({ code: `no close within ${ms} ms`, at: NaN }), ms);
      });
      return { promise, cancel: () => clearTimeout(timer) };
    };

    const runBatch = async (kind: Kind, batch: number[], record: boolean) => {
      const targets = await pool(batch, SETUP_CONCURRENCY, (i) => prepare[kind](i));
      for (const [n, target] of targets.entries()) {
        const trial = batch[n]!;
        const started = performance.now();
        const revoking = target.revoke().then(
          () => undefined,
          (err: Error) => err,
        );
        const closes = await Promise.all(
          target.sockets.map(async (s) => {
            const limit = deadline(CLOSE_TIMEOUT_MS);
            const result = await Promise.race([s.watched.closed, limit.promise]);
            limit.cancel();
            return { socket: s, result };
          }),
        );
        const httpError = await revoking;
        for (const s of target.sockets) s.watched.destroy();
        if (!record) continue;
        for (const { socket, result } of closes) {
          const o = outcome(kind, socket.kind);
          if (httpError) o.failures.push({ trial, code: `HTTP call failed: ${httpError.message.slice(0, 200)}`, expected: socket.expected });
          else if (result.code !== socket.expected) o.failures.push({ trial, code: result.code, expected: socket.expected });
          else o.latencies.push(result.at - started);
        }
      }
    };

    // Warm-up (not recorded): first connections, JIT, the services' first revocations.
    process.stdout.write(`${WARMUP} warm-up trials per kind...\n`);
    const warmup = Array.from({ length: WARMUP }, (_, i) => TRIALS + i);
    for (const kind of KINDS) await runBatch(kind, warmup, false);
    for (let start = 0; start < TRIALS; start += BATCH) {
      const batch = indexes.slice(start, start + BATCH);
      process.stdout.write(`trials ${start + 1}-${start + batch.length} of ${TRIALS} per kind...\n`);
      for (const kind of KINDS) await runBatch(kind, batch, true);
    }

    // --- figures -------------------------------------------------------------------------------------------------
    const sorted = (values: number[]) => [...values].sort((a, b) => a - b);
    const base = sorted(outcome("baseline", "bare").latencies);
    const baseP50 = percentile(base, 50);
    const baseP99 = percentile(base, 99);
    const baselineName = "bare HTTP → KV read + CAS write → NATS publish → ws close";
    const figures: Figure[] = [];
    const pairs: [Kind, SocketKind][] = [
      ["logout", "bullboard"],
      ["logout", "status"],
      ["disable", "bullboard"],
      ["disable", "status"],
      ["rotation", "agent"],
      ["deletion", "agent"],
    ];
    const p99Goal: Goal[] = [{ kind: "max", value: GOAL_P99_MS, strict: true }];
    for (const [kind, socket] of pairs) {
      const o = outcome(kind, socket);
      const values = sorted(o.latencies);
      const label = `${KIND_NAMES[kind]} → ${SOCKET_NAMES[socket]} closed`;
      figures.push(figure({ name: `${label}, p50`, value: percentile(values, 50), unit: "ms", baseline: baseP50, baselineName }));
      figures.push(figure({ name: `${label}, p99`, value: percentile(values, 99), unit: "ms", baseline: baseP99, baselineName, goals: p99Goal }));
      figures.push(figure({ name: `${KIND_NAMES[kind]} → ${SOCKET_NAMES[socket]}: failed trials (of ${TRIALS})`, value: o.failures.length, unit: "trials", goals: [{ kind: "max", value: 0 }] }));
    }
    const baseFailures = outcome("baseline", "bare").failures;
    if (baseFailures.length > 0) {
      figures.push(figure({ name: `baseline: failed trials (of ${TRIALS})`, value: baseFailures.length, unit: "trials" }));
    }
    const details: Record<string, unknown> = {
      failures: Object.fromEntries(
        [...outcomes.entries()]
          .filter(([, o]) => o.failures.length > 0)
          .map(([key, o]) => [key, { count: o.failures.length, first: o.failures.slice(0, 20) }]),
      ),
      trials: Object.fromEntries([...outcomes.entries()].map(([key, o]) => [key, { passed: o.latencies.length, failed: o.failures.length }])),
    };
    printAndSave({
      bench: "revocation",
      date: new Date().toISOString(),
      machine: machine(),
      method:
        `${TRIALS} trials per kind (after ${WARMUP} unrecorded warm-up trials per kind) in batches of ${BATCH} (kinds and the baseline interleaved batch by batch; within a batch one trial at a time); ` +
        `nats-server, redis-server, auth, agent-ws and bullboard as separate processes on loopback, LOG_LEVEL=info; clock from just before the revoking HTTP call to auth ` +
        `(logout with the user's token, PATCH disabled:true, rotate-key, DELETE host) to the close event of the live socket in the benchmark process: ` +
        `the bullboard event socket (expected 4001) and the agent-ws SSE status stream (expected a final "revoked" event) of that user's session, ` +
        `or the host's raw ws agent socket (4001 on rotation, 4005 on deletion); another code or no close within ${CLOSE_TIMEOUT_MS} ms fails the trial ` +
        `(counted, excluded from the percentiles); baseline = the same HTTP call to a bare revoker process (node:http, no authentication or checks) that reads a session record from NATS KV, ` +
        `writes it back revoked with compare-and-set and publishes the event, which a separate process's subscriber turns into closing the bare ws socket it holds, timed the same way; ` +
        `the ratio isolates what auth adds to the revoking request (HTTP framework, authenticating the caller, validation, records beyond one read and one write) ` +
        `and what bullboard and agent-ws add to acting on the event (finding and closing the sockets it names); percentiles over all passed trials of the run`,
      runs: 1,
      figures,
      details,
    });
    const failed = [...outcomes.values()].reduce((n, o) => n + o.failures.length, 0);
    if (failed > 0) process.stdout.write(`${failed} trials failed: ${JSON.stringify(details.failures).slice(0, 2000)}\n`);
  } finally {
    for (const stop of stops.reverse()) {
      try {
        await stop();
      } catch {
        // keep stopping the rest
      }
    }
  }
}

if (role === "bare-server") await bareServer();
else if (role === "bare-revoker") await bareRevoker();
else await orchestrate();
