import { useState } from "preact/hooks";
import type { AgentOfflineReply, CommandReply, CreatedHostResponse, HostRecord, HostResponse } from "@patchmon-ws/protocol";
import { api, ApiError } from "../lib/api.js";
import { dateTime, duration } from "../lib/format.js";
import { useFormSubmit } from "../lib/form.js";
import { Dialog } from "../components/dialog.js";
import { Notice } from "../components/notice.js";

function message(err: unknown): string {
  return err instanceof ApiError ? err.message : "Something went wrong.";
}

/** Copies text to the clipboard, saying so for screen readers. */
function CopyButton({ text, label }: { text: string; label: string }) {
  const [copied, setCopied] = useState(false);
  return (
    <button
      type="button"
      onClick={() => {
        void navigator.clipboard?.writeText(text).then(() => setCopied(true));
      }}
      aria-label={label}
    >
      {copied ? "Copied" : "Copy"}
    </button>
  );
}

/** The agent's credentials and config, shown once: the API key is never shown again. */
function CredentialsOnce({ created }: { created: CreatedHostResponse }) {
  return (
    <div class="credentials">
      <Notice kind="warning">Copy the API key now: it is shown only once. Rotate the key if it is lost.</Notice>
      <dl>
        <dt>API id</dt>
        <dd>
          <code data-testid="api-id">{created.host.apiId}</code>
        </dd>
        <dt>API key</dt>
        <dd>
          <code data-testid="api-key">{created.apiKey}</code> <CopyButton text={created.apiKey} label="Copy the API key" />
        </dd>
      </dl>
      <h3>/etc/patchmon/config.yml</h3>
      <pre>{created.agentConfig.configYaml}</pre>
      <CopyButton text={created.agentConfig.configYaml} label="Copy config.yml" />
      <h3>/etc/patchmon/credentials.yml</h3>
      <pre>{created.agentConfig.credentialsYaml}</pre>
      <CopyButton text={created.agentConfig.credentialsYaml} label="Copy credentials.yml" />
    </div>
  );
}

interface SshFields {
  address: string;
  port: string;
  username: string;
}

function SshTargetFields({ value, onChange }: { value: SshFields; onChange(next: SshFields): void }) {
  return (
    <fieldset>
      <legend>SSH target (direct terminal)</legend>
      <p class="hint">Where terminal-ws connects for direct sessions. Leave the address empty for hosts reachable only through their agent.</p>
      <label for="ssh-address">Address</label>
      <input id="ssh-address" value={value.address} placeholder="10.0.0.5 or web-01.internal" onInput={(e) => onChange({ ...value, address: e.currentTarget.value })} />
      <div class="row">
        <div>
          <label for="ssh-port">Port</label>
          <input id="ssh-port" type="number" min={1} max={65535} value={value.port} onInput={(e) => onChange({ ...value, port: e.currentTarget.value })} />
        </div>
        <div>
          <label for="ssh-username">Default user</label>
          <input id="ssh-username" value={value.username} onInput={(e) => onChange({ ...value, username: e.currentTarget.value })} />
        </div>
      </div>
    </fieldset>
  );
}

function sshTarget(fields: SshFields): { address: string; port: number; username: string } | null {
  const address = fields.address.trim();
  if (!address) return null;
  return { address, port: Number(fields.port) || 22, username: fields.username.trim() || "root" };
}

export function AddHostDialog({ onClose, onCreated }: { onClose(): void; onCreated(): void }) {
  const [name, setName] = useState("");
  const [ssh, setSsh] = useState<SshFields>({ address: "", port: "22", username: "root" });
  const [created, setCreated] = useState<CreatedHostResponse | undefined>();
  const { busy, error, submit } = useFormSubmit(async () => {
    setCreated(await api<CreatedHostResponse>("POST", "/api/v1/hosts", { body: { name: name.trim(), ssh: sshTarget(ssh) } }));
    onCreated();
  }, message);

  return (
    <Dialog title={created ? `Host ${created.host.name} added` : "Add a host"} open onClose={onClose} wide actions={created ? <button onClick={onClose}>Done</button> : undefined}>
      {created ? (
        <CredentialsOnce created={created} />
      ) : (
        <form onSubmit={submit}>
          {error && <Notice kind="error">{error}</Notice>}
          <label for="host-name">Name</label>
          <input id="host-name" required maxLength={255} value={name} onInput={(e) => setName(e.currentTarget.value)} />
          <SshTargetFields value={ssh} onChange={setSsh} />
          <div class="dialog-actions">
            <button type="button" onClick={onClose}>
              Cancel
            </button>
            <button type="submit" class="primary" disabled={busy}>
              Add host
            </button>
          </div>
        </form>
      )}
    </Dialog>
  );
}

type Confirm = "rotate" | "delete" | undefined;

export function HostSettingsDialog({ host, onClose, onChanged }: { host: HostRecord; onClose(): void; onChanged(): void }) {
  const [current, setCurrent] = useState(host);
  const [ssh, setSsh] = useState<SshFields>({ address: host.ssh?.address ?? "", port: String(host.ssh?.port ?? 22), username: host.ssh?.username ?? "root" });
  const [record, setRecord] = useState<"default" | "on" | "off">(host.recordSessions === true ? "on" : host.recordSessions === false ? "off" : "default");
  const [note, setNote] = useState<{ kind: "error" | "success"; text: string } | undefined>();
  const [confirm, setConfirm] = useState<Confirm>();
  const [rotated, setRotated] = useState<CreatedHostResponse | undefined>();

  const patch = async (body: object, done: string) => {
    setNote(undefined);
    try {
      const { host: updated } = await api<HostResponse>("PATCH", `/api/v1/hosts/${encodeURIComponent(host.id)}`, { body });
      setCurrent(updated);
      setNote({ kind: "success", text: done });
      onChanged();
    } catch (err) {
      setNote({ kind: "error", text: message(err) });
    }
  };

  const rotate = async () => {
    setConfirm(undefined);
    try {
      setRotated(await api<CreatedHostResponse>("POST", `/api/v1/hosts/${encodeURIComponent(host.id)}/rotate-key`));
      onChanged();
    } catch (err) {
      setNote({ kind: "error", text: message(err) });
    }
  };

  const remove = async () => {
    try {
      await api("DELETE", `/api/v1/hosts/${encodeURIComponent(host.id)}`);
      onChanged();
      onClose();
    } catch (err) {
      setConfirm(undefined);
      setNote({ kind: "error", text: message(err) });
    }
  };

  if (rotated) {
    return (
      <Dialog title={`New API key for ${host.name}`} open onClose={onClose} wide actions={<button onClick={onClose}>Done</button>}>
        <Notice kind="info">The old key stopped working and the agent was disconnected; give it the new credentials.</Notice>
        <CredentialsOnce created={rotated} />
      </Dialog>
    );
  }

  return (
    <Dialog title={`Manage ${host.name}`} open onClose={onClose} wide actions={<button onClick={onClose}>Close</button>}>
      {note && <Notice kind={note.kind}>{note.text}</Notice>}
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void patch({ ssh: sshTarget(ssh), recordSessions: record === "default" ? null : record === "on" }, "Saved.");
        }}
      >
        <SshTargetFields value={ssh} onChange={setSsh} />
        <label for="record-sessions">Record terminal sessions</label>
        <select id="record-sessions" value={record} onChange={(e) => setRecord(e.currentTarget.value as "default" | "on" | "off")}>
          <option value="default">As configured for every host</option>
          <option value="on">Always</option>
          <option value="off">Never</option>
        </select>
        <div class="dialog-actions">
          <button type="submit" class="primary">
            Save
          </button>
        </div>
      </form>
      <section aria-labelledby="host-key-title">
        <h3 id="host-key-title">SSH host key</h3>
        {current.hostKey ? (
          <>
            <p>
              <code>{current.hostKey.algorithm}</code> <code>{current.hostKey.fingerprint}</code>, pinned {dateTime(current.hostKey.pinnedAt)}.
            </p>
            <p class="hint">Clear the pin only when the host's key changed on purpose: the next connection pins whatever key it is shown.</p>
            <button onClick={() => void patch({ hostKey: null }, "Pinned host key cleared.")}>Clear pinned key</button>
          </>
        ) : (
          <p>No key pinned yet: the first direct connection pins it.</p>
        )}
      </section>
      <section aria-labelledby="danger-title" class="danger">
        <h3 id="danger-title">Agent key and removal</h3>
        {confirm === "rotate" ? (
          <p>
            Rotate the API key? The agent is disconnected until it has the new key.{" "}
            <button class="danger" onClick={() => void rotate()}>
              Rotate key
            </button>{" "}
            <button onClick={() => setConfirm(undefined)}>Cancel</button>
          </p>
        ) : confirm === "delete" ? (
          <p>
            Delete {host.name}? Its agent is disconnected, its terminals close and its queued commands are dropped.{" "}
            <button class="danger" onClick={() => void remove()}>
              Delete host
            </button>{" "}
            <button onClick={() => setConfirm(undefined)}>Cancel</button>
          </p>
        ) : (
          <p>
            <button onClick={() => setConfirm("rotate")}>Rotate API key…</button> <button class="danger" onClick={() => setConfirm("delete")}>Delete host…</button>
          </p>
        )}
      </section>
    </Dialog>
  );
}

/** The commands an operator sends most, with their fields. */
const COMMANDS = {
  report_now: { label: "Report now", build: () => ({ type: "report_now" }) },
  refresh_integration_status: { label: "Refresh integration status", build: () => ({ type: "refresh_integration_status" }) },
  docker_inventory_refresh: { label: "Refresh Docker inventory", build: () => ({ type: "docker_inventory_refresh" }) },
  update_agent: { label: "Update the agent", build: () => ({ type: "update_agent" }) },
  settings_update: { label: "Change the report interval", build: (f: CommandFields) => ({ type: "settings_update", update_interval: Number(f.interval) }) },
  compliance_scan: { label: "Run a compliance scan", build: (f: CommandFields) => ({ type: "compliance_scan", profile_type: f.profile }) },
  compliance_scan_cancel: { label: "Cancel the compliance scan", build: () => ({ type: "compliance_scan_cancel" }) },
} as const;
type CommandName = keyof typeof COMMANDS;

interface CommandFields {
  interval: string;
  profile: "all" | "openscap" | "docker-bench";
}

type Outcome = { kind: "done"; text: string } | { kind: "offline"; text: string } | { kind: "error"; text: string };

function describeReply(reply: CommandReply): string {
  switch (reply.status) {
    case "acked":
      return `Delivered and acknowledged by the agent${"latencyMs" in reply && typeof reply.latencyMs === "number" ? ` in ${Math.round(reply.latencyMs)} ms` : ""}.`;
    case "delivered":
      return reply.ackTimedOut ? "Delivered; the agent did not acknowledge it in time." : "Delivered (this agent does not send acknowledgements).";
    case "rejected":
      return `The agent refused it: ${reply.error ?? "no reason given"}.`;
    case "queued":
      return "Queued: it will be delivered when the agent reconnects.";
    default:
      return `Status: ${reply.status}.`;
  }
}

export function CommandDialog({ host, onClose }: { host: HostRecord; onClose(): void }) {
  const [name, setName] = useState<CommandName>("report_now");
  const [fields, setFields] = useState<CommandFields>({ interval: "60", profile: "all" });
  const [outcome, setOutcome] = useState<Outcome | undefined>();
  const [busy, setBusy] = useState(false);

  const send = async (ifOffline: "fail" | "queue") => {
    setBusy(true);
    setOutcome(undefined);
    try {
      const reply = await api<CommandReply>("POST", `/api/v1/agents/${encodeURIComponent(host.id)}/commands`, { body: { command: COMMANDS[name].build(fields), ifOffline } });
      setOutcome({ kind: "done", text: describeReply(reply) });
    } catch (err) {
      if (err instanceof ApiError && err.code === "AGENT_OFFLINE") {
        const last = (err.body as AgentOfflineReply | undefined)?.lastDisconnect;
        const since = last ? ` It disconnected ${duration(Date.now() - last.at)} ago (${last.reason}).` : " It has never connected.";
        setOutcome({ kind: "offline", text: `The agent of ${host.name} is not connected, so nothing was sent.${since} Queue it to deliver it when the agent reconnects.` });
      } else setOutcome({ kind: "error", text: message(err) });
    } finally {
      setBusy(false);
    }
  };

  return (
    <Dialog title={`Send a command to ${host.name}`} open onClose={onClose} actions={<button onClick={onClose}>Close</button>}>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void send("fail");
        }}
      >
        <label for="command">Command</label>
        <select id="command" value={name} onChange={(e) => setName(e.currentTarget.value as CommandName)}>
          {(Object.keys(COMMANDS) as CommandName[]).map((key) => (
            <option value={key}>{COMMANDS[key].label}</option>
          ))}
        </select>
        {name === "settings_update" && (
          <>
            <label for="interval">Report interval (minutes)</label>
            <input id="interval" type="number" min={1} max={10080} required value={fields.interval} onInput={(e) => setFields({ ...fields, interval: e.currentTarget.value })} />
          </>
        )}
        {name === "compliance_scan" && (
          <>
            <label for="profile">Profile</label>
            <select id="profile" value={fields.profile} onChange={(e) => setFields({ ...fields, profile: e.currentTarget.value as CommandFields["profile"] })}>
              <option value="all">All</option>
              <option value="openscap">OpenSCAP</option>
              <option value="docker-bench">Docker Bench</option>
            </select>
          </>
        )}
        {outcome && <Notice kind={outcome.kind === "done" ? "success" : outcome.kind === "offline" ? "warning" : "error"}>{outcome.text}</Notice>}
        <div class="dialog-actions">
          {outcome?.kind === "offline" && (
            <button type="button" onClick={() => void send("queue")} disabled={busy}>
              Queue it
            </button>
          )}
          <button type="submit" class="primary" disabled={busy}>
            {busy ? "Sending…" : "Send"}
          </button>
        </div>
      </form>
    </Dialog>
  );
}
