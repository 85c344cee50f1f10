/**
 * The SSH terminal to one host, in a page of its own: xterm.js fitted to the window, the PatchMon terminal protocol
 * through terminal-ws (direct, or through the host's agent). Credentials are typed for each connection and kept in
 * this page's memory only (never in storage, never in a URL); the login name is remembered per host, as PatchMon's
 * own UI does. The page reconnects by itself only after a network loss or a replica going away, never after a normal
 * end, a refusal or a policy close.
 */
import "@xterm/xterm/css/xterm.css";
import { FitAddon } from "@xterm/addon-fit";
import { Terminal } from "@xterm/xterm";
import { useEffect, useRef, useState } from "preact/hooks";
import { terminalShouldReconnect, type ConnectionMode, type HostResponse, type HostRecord, type TerminalServerMessageOf } from "@patchmon-ws/protocol";
import { api, ApiError } from "../lib/api.js";
import { TerminalConnection, type ConnectParams } from "../lib/terminal-socket.js";
import { Dialog } from "../components/dialog.js";
import { Notice } from "../components/notice.js";

type Phase = "form" | "connecting" | "connected" | "reconnecting" | "ended";
const RECONNECT_DELAY_MS = 3000;
const MAX_RECONNECTS = 5;

const usernameKey = (hostId: string) => `ssh_username_${hostId}`;

function rememberedUsername(hostId: string): string {
  try {
    return localStorage.getItem(usernameKey(hostId)) ?? "";
  } catch {
    return "";
  }
}

export function TerminalPage({ hostId }: { hostId: string }) {
  const [host, setHost] = useState<HostRecord | undefined>();
  const [loadError, setLoadError] = useState<string | undefined>();
  const [phase, setPhase] = useState<Phase>("form");
  const [mode, setMode] = useState<ConnectionMode>("direct");
  const [username, setUsername] = useState(() => rememberedUsername(hostId));
  const [method, setMethod] = useState<"password" | "key">("password");
  const [password, setPassword] = useState("");
  const [privateKey, setPrivateKey] = useState("");
  const [passphrase, setPassphrase] = useState("");
  const [connected, setConnected] = useState<TerminalServerMessageOf<"connected"> | undefined>();
  const [error, setError] = useState<TerminalServerMessageOf<"error"> | undefined>();
  const [ended, setEnded] = useState<string | undefined>();
  const [warning, setWarning] = useState<TerminalServerMessageOf<"warning"> | undefined>();
  const [prompt, setPrompt] = useState<TerminalServerMessageOf<"auth_prompt"> | undefined>();
  const [answers, setAnswers] = useState<string[]>([]);

  const screen = useRef<HTMLDivElement>(null);
  const term = useRef<Terminal | undefined>(undefined);
  const fit = useRef<FitAddon | undefined>(undefined);
  const connection = useRef<TerminalConnection | undefined>(undefined);
  /** The credentials of the running session, for a reconnect after a network loss; wiped when it ends otherwise. */
  const credentials = useRef<ConnectParams | undefined>(undefined);
  const reconnects = useRef(0);
  const userEnded = useRef(false);

  useEffect(() => {
    document.title = "Terminal — PatchMon";
    api<HostResponse>("GET", `/api/v1/hosts/${encodeURIComponent(hostId)}`).then(
      ({ host: record }) => {
        setHost(record);
        setMode(record.ssh ? "direct" : "proxy");
        if (!rememberedUsername(hostId)) setUsername(record.ssh?.username ?? "root");
        document.title = `Terminal — ${record.name} — PatchMon`;
      },
      (err: unknown) => setLoadError(err instanceof ApiError ? err.message : "The host could not be loaded."),
    );
    const terminal = new Terminal({ cursorBlink: true, convertEol: false, scrollback: 5000, fontFamily: "ui-monospace, Menlo, Consolas, monospace", fontSize: 14 });
    const addon = new FitAddon();
    terminal.loadAddon(addon);
    term.current = terminal;
    fit.current = addon;
    terminal.onData((data) => connection.current?.input(data));
    terminal.onResize(({ cols, rows }) => connection.current?.resize(cols, rows));
    const onResize = () => fit.current?.fit();
    window.addEventListener("resize", onResize);
    const onUnload = () => connection.current?.disconnect();
    window.addEventListener("beforeunload", onUnload);
    return () => {
      window.removeEventListener("resize", onResize);
      window.removeEventListener("beforeunload", onUnload);
      userEnded.current = true;
      connection.current?.disconnect();
      terminal.dispose();
    };
  }, [hostId]);

  // The terminal is opened into its element once the element is shown.
  useEffect(() => {
    const terminal = term.current;
    if (!terminal || !screen.current || phase === "form") return;
    if (!terminal.element) terminal.open(screen.current);
    fit.current?.fit();
    if (phase === "connected") terminal.focus();
  }, [phase]);

  const start = async (params: ConnectParams) => {
    const terminal = term.current!;
    setError(undefined);
    setEnded(undefined);
    setWarning(undefined);
    userEnded.current = false;
    try {
      connection.current = await TerminalConnection.open(hostId, params, {
        connected: (message) => {
          reconnects.current = 0;
          setConnected(message);
          setPhase("connected");
        },
        data: (text) => terminal.write(text),
        error: (message) => setError(message),
        warning: (message) => setWarning(message),
        prompt: (message) => {
          setAnswers(message.prompts.map(() => ""));
          setPrompt(message);
        },
        closed: (code, closed) => {
          connection.current = undefined;
          setPrompt(undefined);
          setWarning(undefined);
          if (!userEnded.current && terminalShouldReconnect(code) && credentials.current && reconnects.current < MAX_RECONNECTS) {
            reconnects.current++;
            setPhase("reconnecting");
            terminal.write("\r\n\x1b[33m[connection lost; reconnecting…]\x1b[0m\r\n");
            setTimeout(() => {
              if (credentials.current && !userEnded.current) void start({ ...credentials.current, cols: terminal.cols, rows: terminal.rows });
            }, RECONNECT_DELAY_MS);
            return;
          }
          credentials.current = undefined;
          setPhase("ended");
          setEnded(closed?.reason === "disconnected" ? "You disconnected." : closed?.reason === "exited" ? "The remote shell exited." : closed ? `The session ended (${closed.reason ?? code}).` : `The connection closed (${code}).`);
        },
      });
    } catch (err) {
      setPhase("ended");
      credentials.current = undefined;
      setEnded(err instanceof ApiError ? err.message : "The terminal could not be opened.");
    }
  };

  const submit = (event: Event) => {
    event.preventDefault();
    const terminal = term.current!;
    const name = username.trim() || "root";
    try {
      localStorage.setItem(usernameKey(hostId), name);
    } catch {
      // storage unavailable: nothing to remember
    }
    setPhase("connecting");
    terminal.reset();
    // The element must be visible to measure: fit after this render, then connect with the fitted size.
    requestAnimationFrame(() => {
      if (!terminal.element && screen.current) terminal.open(screen.current);
      fit.current?.fit();
      const params: ConnectParams = {
        mode,
        username: name,
        cols: terminal.cols,
        rows: terminal.rows,
        ...(method === "key" ? { privateKey, ...(passphrase ? { passphrase } : {}) } : { password }),
      };
      credentials.current = params;
      setPassword("");
      setPassphrase("");
      void start(params);
    });
  };

  const disconnect = () => {
    userEnded.current = true;
    credentials.current = undefined;
    connection.current?.disconnect();
  };

  const loadKeyFile = async (file: File | undefined) => {
    if (file) setPrivateKey(await file.text());
  };

  const showForm = phase === "form" || phase === "ended";
  return (
    <main id="main" class="page terminal-page">
      <div class="page-header">
        <h1>{host ? `Terminal: ${host.name}` : "Terminal"}</h1>
        {phase === "connected" && connected && (
          <p class="summary" aria-live="polite">
            Connected ({connected.connection_mode ?? mode}
            {connected.host_key ? `, host key ${connected.host_key.fingerprint} ${connected.host_key.status}` : ""})
          </p>
        )}
        {(phase === "connected" || phase === "connecting" || phase === "reconnecting") && <button onClick={disconnect}>Disconnect</button>}
      </div>
      {loadError && <Notice kind="error">{loadError}</Notice>}
      {error && (
        <Notice kind="error">
          {error.message}
          {error.code ? ` (${error.code})` : ""}
        </Notice>
      )}
      {warning && <Notice kind="warning">{warning.message}</Notice>}
      {ended && !error && <Notice kind="info">{ended}</Notice>}
      {phase === "reconnecting" && <Notice kind="warning">The connection was lost; reconnecting…</Notice>}
      {showForm && (
        <form class="card connect-form" onSubmit={submit} aria-label="Connect">
          <fieldset>
            <legend>Connection</legend>
            <label class="inline">
              <input type="radio" name="mode" value="direct" checked={mode === "direct"} disabled={host !== undefined && !host.ssh} onChange={() => setMode("direct")} /> Direct
              {host && !host.ssh ? " (no SSH address registered)" : ""}
            </label>
            <label class="inline">
              <input type="radio" name="mode" value="proxy" checked={mode === "proxy"} onChange={() => setMode("proxy")} /> Through the host's agent
            </label>
          </fieldset>
          <label for="ssh-user">Username</label>
          <input id="ssh-user" autocomplete="username" required value={username} onInput={(e) => setUsername(e.currentTarget.value)} />
          <fieldset>
            <legend>Sign in with</legend>
            <label class="inline">
              <input type="radio" name="method" value="password" checked={method === "password"} onChange={() => setMethod("password")} /> Password
            </label>
            <label class="inline">
              <input type="radio" name="method" value="key" checked={method === "key"} onChange={() => setMethod("key")} /> Private key
            </label>
          </fieldset>
          {method === "password" ? (
            <>
              <label for="ssh-password">SSH password</label>
              <input id="ssh-password" type="password" autocomplete="off" value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
            </>
          ) : (
            <>
              <label for="ssh-key">Private key (OpenSSH or PEM)</label>
              <textarea id="ssh-key" rows={5} spellcheck={false} autocomplete="off" value={privateKey} onInput={(e) => setPrivateKey(e.currentTarget.value)} />
              <label for="ssh-key-file">…or load it from a file</label>
              <input id="ssh-key-file" type="file" onChange={(e) => void loadKeyFile(e.currentTarget.files?.[0])} />
              <label for="ssh-passphrase">Passphrase (if the key has one)</label>
              <input id="ssh-passphrase" type="password" autocomplete="off" value={passphrase} onInput={(e) => setPassphrase(e.currentTarget.value)} />
            </>
          )}
          <p class="hint">Credentials are used for this connection only and never stored.</p>
          <button type="submit" class="primary" disabled={!host}>
            {phase === "ended" ? "Connect again" : "Connect"}
          </button>
        </form>
      )}
      <div ref={screen} class={`terminal-screen ${showForm ? "hidden" : ""}`} role="region" aria-label="Terminal" />
      {prompt && (
        <Dialog
          title={prompt.name || "The SSH server asks"}
          open
          onClose={() => setPrompt(undefined)}
          actions={
            <button
              class="primary"
              onClick={() => {
                connection.current?.respond(answers);
                setPrompt(undefined);
              }}
            >
              Answer
            </button>
          }
        >
          {prompt.instructions && <p>{prompt.instructions}</p>}
          {prompt.prompts.map((p, i) => (
            <>
              <label for={`prompt-${i}`}>{p.prompt}</label>
              {p.echo ? (
                <input id={`prompt-${i}`} type="text" autocomplete="off" value={answers[i] ?? ""} onInput={(e) => setAnswers(answers.map((a, j) => (j === i ? e.currentTarget.value : a)))} />
              ) : (
                <input id={`prompt-${i}`} type="password" autocomplete="off" value={answers[i] ?? ""} onInput={(e) => setAnswers(answers.map((a, j) => (j === i ? e.currentTarget.value : a)))} />
              )}
            </>
          ))}
        </Dialog>
      )}
    </main>
  );
}
