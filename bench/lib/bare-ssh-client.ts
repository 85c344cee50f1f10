/**
 * The terminal benchmark's baseline: bare ssh2 PTY sessions to sshd, held in a process of their own as terminal-ws
 * (and the minimal relay) hold theirs, so that both sides decrypt in a separate process and the benchmark process
 * only receives bytes. Forked with an IPC channel: commands arrive over IPC (bench/lib/terminal-probe.ts,
 * BareSshCommand), each session's output leaves on file descriptor 4 (a pipe the benchmark reads) as frames
 * `[session id: uint32 BE][length: uint32 BE][bytes]`, exactly as ssh2 decrypted them. The pipe is written through
 * a net.Socket, asynchronously as terminal-ws writes its ws sockets (stdout would block the process on a full pipe).
 * Arguments: <sshd host> <sshd port> <username> <password>. First reports `ready` with the cipher a handshake
 * negotiated (a check connection with ssh2's debug log on; the sessions run without it, as terminal-ws's do).
 */
import { Socket } from "node:net";
import ssh2, { type ClientChannel } from "ssh2";
import type { BareSshCommand, BareSshReport } from "./terminal-probe.js";

const [host, port, username, password] = process.argv.slice(2);
const login = { host: host!, port: Number(port), username: username!, password: password!, readyTimeout: 20_000 };
const report = (message: BareSshReport) => process.send!(message);
const output = new Socket({ fd: 4, readable: false, writable: true });

/** Connects once with the debug log on and returns the server-to-client cipher the handshake chose. */
function negotiatedCipher(): Promise<string> {
  return new Promise((resolve, reject) => {
    let cipher = "";
    const client = new ssh2.Client();
    client.once("error", reject);
    client.once("ready", () => {
      client.end();
      if (cipher) resolve(cipher);
      else reject(new Error("the handshake named no cipher"));
    });
    client.connect({
      ...login,
      debug: (line: string) => {
        const chosen = /^Handshake: S->C cipher: (\S+)$/.exec(line)?.[1];
        if (chosen) cipher = chosen;
      },
    });
  });
}

const sessions = new Map<number, { client: ssh2.Client; channel?: ClientChannel }>();

function frame(id: number, data: Buffer): void {
  const header = Buffer.allocUnsafe(8);
  header.writeUInt32BE(id, 0);
  header.writeUInt32BE(data.length, 4);
  output.write(Buffer.concat([header, data]));
}

function open(command: Extract<BareSshCommand, { cmd: "open" }>): void {
  const { id } = command;
  const client = new ssh2.Client();
  const session: { client: ssh2.Client; channel?: ClientChannel } = { client };
  sessions.set(id, session);
  let opened = false;
  client.on("error", (err) => report({ event: opened ? "error" : "failed", id, message: err.message }));
  client.once("close", () => {
    sessions.delete(id);
    report({ event: "closed", id });
  });
  client.once("ready", () => {
    client.shell({ term: "xterm-256color", cols: command.cols, rows: command.rows }, (err, channel) => {
      if (err) {
        report({ event: "failed", id, message: err.message });
        client.end();
        return;
      }
      session.channel = channel;
      channel.on("data", (data: Buffer) => frame(id, data));
      channel.stderr.on("data", (data: Buffer) => frame(id, data));
      opened = true;
      report({ event: "opened", id });
    });
  });
  client.connect(login);
  // As terminal-ws does: without TCP_NODELAY every keystroke waits for a delayed ACK.
  client.setNoDelay(true);
}

process.on("message", (command: BareSshCommand) => {
  if (command.cmd === "open") open(command);
  else if (command.cmd === "input") sessions.get(command.id)?.channel?.write(command.data);
  else if (command.cmd === "close") {
    const session = sessions.get(command.id);
    session?.channel?.end();
    session?.client.end();
    if (!session) report({ event: "closed", id: command.id });
  }
});
process.on("disconnect", () => {
  for (const { client } of sessions.values()) client.end();
  process.exit(0);
});

report({ event: "ready", cipher: await negotiatedCipher() });
