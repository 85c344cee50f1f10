import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ManagedProcess, PortInUseError, requireBinary, spawnListening, withFreePort } from "@patchmon-ws/stack";

export type SshHostKeyType = "ed25519" | "ecdsa" | "rsa";

export interface SshdOptions {
  /**
   * Serve keyboard-interactive (password prompts). Without PAM, OpenSSH on Linux has no keyboard-interactive
   * device, so this runs sshd with UsePAM yes under its own PAM service (pam_unix only, see PAM_SERVICE) instead of
   * UsePAM no. Default false: password and key logins, no PAM.
   */
  keyboardInteractive?: boolean;
  /** Host key types to generate; default ["ed25519"]. */
  hostKeyTypes?: readonly SshHostKeyType[];
  /** Extra sshd_config lines (after ours; sshd takes the first value of a keyword, so these cannot override). */
  extraConfig?: readonly string[];
  timeoutMs?: number;
}

export interface SshTestUser {
  username: string;
  password: string;
  /** OpenSSH private key (ed25519, no passphrase), authorized for this daemon only. */
  privateKey: string;
  privateKeyPath: string;
  /** `ssh-ed25519 AAAA… comment` */
  publicKey: string;
}

export interface TestSshd {
  host: string;
  port: number;
  /** SHA256:… (as `ssh-keygen -l` prints them) by key type, and the ed25519 one (or the first) alone. */
  hostKeyFingerprints: Partial<Record<SshHostKeyType, string>>;
  hostKeyFingerprint: string;
  /** Host public keys, `ssh-ed25519 AAAA…` by type. */
  hostPublicKeys: Partial<Record<SshHostKeyType, string>>;
  user: SshTestUser;
  process: ManagedProcess;
  /** Restarts on the same port with freshly generated host keys (for "host key changed" tests). */
  restartWithNewHostKey(): Promise<void>;
  stop(): Promise<void>;
  /** Stops the daemon and deletes its folder (keys, config). The system account stays for the next run. */
  dispose(): Promise<void>;
}

/** The system account the tests log in as: sshd needs a real one (getpwnam, a shadow password). */
export const SSH_TEST_USERNAME = "pmws-ssh-test";
const USER_FILE = join(tmpdir(), "patchmon-ws-sshd-user.json");
/**
 * sshd names its PAM service after the program (argv[0]), so running it through a symlink of this name selects our
 * own /etc/pam.d entry (plain pam_unix) rather than the system sshd's stack (loginuid, motd, selinux…).
 */
export const PAM_SERVICE = "patchmon-ws-sshd-test";
const PAM_FILE = join("/etc/pam.d", PAM_SERVICE);
const PAM_STACK = [
  "# patchmon-ws testkit: the private test sshd's keyboard-interactive logins (packages/testkit/src/sshd.ts)",
  "auth     required pam_unix.so",
  "account  required pam_unix.so",
  "session  required pam_permit.so",
  "password required pam_deny.so",
  "",
].join("\n");
const USER_LOCK = `${USER_FILE}.lock`;

function run(command: string, args: string[], input?: string): string {
  return execFileSync(command, args, { encoding: "utf8", stdio: ["pipe", "pipe", "pipe"], ...(input === undefined ? {} : { input }) });
}

function userExists(name: string): boolean {
  try {
    run("id", ["-u", name]);
    return true;
  } catch {
    return false;
  }
}

/** A directory lock (mkdir is atomic) so parallel workers create the account and set its password once. */
async function withUserLock<T>(work: () => T): Promise<T> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      mkdirSync(USER_LOCK);
      break;
    } catch {
      // A holder that died leaves the lock behind; older than 30 s means nobody holds it.
      try {
        if (Date.now() - statSync(USER_LOCK).mtimeMs > 30_000) rmSync(USER_LOCK, { recursive: true, force: true });
      } catch {
        // gone meanwhile
      }
      if (Date.now() > deadline) throw new Error(`could not take ${USER_LOCK}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  try {
    return work();
  } finally {
    rmSync(USER_LOCK, { recursive: true, force: true });
  }
}

/**
 * The test account, created if missing (useradd, as root here and in CI) with a random password kept in a 0600
 * file, so every worker on the machine shares one password instead of resetting each other's. The password is
 * random per machine, never a constant another sshd on the machine could be logged into with.
 */
async function ensurePamService(): Promise<void> {
  const current = () => (existsSync(PAM_FILE) ? readFileSync(PAM_FILE, "utf8") : "");
  if (current() === PAM_STACK) return;
  await withUserLock(() => {
    if (current() !== PAM_STACK) writeFileSync(PAM_FILE, PAM_STACK, { mode: 0o644 });
  });
}

async function ensureTestUser(): Promise<{ username: string; password: string }> {
  const read = () => {
    try {
      const saved = JSON.parse(readFileSync(USER_FILE, "utf8")) as { username: string; password: string };
      return saved.username === SSH_TEST_USERNAME && userExists(saved.username) ? saved : undefined;
    } catch {
      return undefined;
    }
  };
  const saved = read();
  if (saved) return saved;
  return withUserLock(() => {
    const again = read();
    if (again) return again;
    if (process.getuid?.() !== 0) throw new Error(`startSshd needs root to create the test account ${SSH_TEST_USERNAME} (useradd, chpasswd)`);
    if (!userExists(SSH_TEST_USERNAME)) {
      run("useradd", ["--create-home", "--shell", "/bin/sh", "--comment", "patchmon-ws sshd tests", SSH_TEST_USERNAME]);
    }
    const password = `pw-${randomBytes(18).toString("base64url")}`;
    run("chpasswd", [], `${SSH_TEST_USERNAME}:${password}\n`);
    const user = { username: SSH_TEST_USERNAME, password };
    writeFileSync(USER_FILE, JSON.stringify(user), { mode: 0o600 });
    chmodSync(USER_FILE, 0o600);
    return user;
  });
}

/** `256 SHA256:abc… comment (ED25519)` → `SHA256:abc…` */
function fingerprintOf(publicKeyPath: string): string {
  const line = run(requireBinary("ssh-keygen", "openssh-client"), ["-l", "-E", "sha256", "-f", publicKeyPath]);
  const match = /\b(SHA256:[A-Za-z0-9+/]+)/.exec(line);
  if (!match) throw new Error(`unexpected ssh-keygen output: ${line}`);
  return match[1]!;
}

function generateKey(path: string, type: SshHostKeyType, comment: string): void {
  rmSync(path, { force: true });
  rmSync(`${path}.pub`, { force: true });
  run(requireBinary("ssh-keygen", "openssh-client"), ["-q", "-t", type, "-N", "", "-C", comment, "-f", path]);
}

/**
 * Runs OpenSSH's sshd on a free loopback port with its own config, host keys and authorized key in a temporary
 * folder: never the system sshd or its configuration. The test user logs in with a password or with the generated
 * key, and with keyboard-interactive when asked for.
 */
export async function startSshd(options: SshdOptions = {}): Promise<TestSshd> {
  const sshd = requireBinary("sshd", "openssh-server");
  const types = options.hostKeyTypes ?? ["ed25519"];
  const { username, password } = await ensureTestUser();
  // Debian's sshd refuses to start without its privilege separation directory.
  if (!existsSync("/run/sshd")) mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
  const dir = mkdtempSync(join(tmpdir(), "patchmon-ws-sshd-"));
  chmodSync(dir, 0o755);
  const pam = options.keyboardInteractive === true;
  let program = sshd;
  if (pam) {
    await ensurePamService();
    program = join(dir, PAM_SERVICE);
    symlinkSync(sshd, program);
  }

  const userKey = join(dir, "user_ed25519");
  generateKey(userKey, "ed25519", `${username}@patchmon-ws-test`);
  const authorizedKeys = join(dir, "authorized_keys");
  writeFileSync(authorizedKeys, readFileSync(`${userKey}.pub`, "utf8"), { mode: 0o644 });

  const hostKeyPath = (type: SshHostKeyType) => join(dir, `ssh_host_${type}_key`);
  const fingerprints: Partial<Record<SshHostKeyType, string>> = {};
  const publicKeys: Partial<Record<SshHostKeyType, string>> = {};
  const makeHostKeys = () => {
    for (const type of types) {
      generateKey(hostKeyPath(type), type, "patchmon-ws-test-host");
      fingerprints[type] = fingerprintOf(`${hostKeyPath(type)}.pub`);
      publicKeys[type] = readFileSync(`${hostKeyPath(type)}.pub`, "utf8").trim();
    }
  };
  makeHostKeys();

  const configPath = join(dir, "sshd_config");
  const writeConfig = (port: number) =>
    writeFileSync(
      configPath,
      [
        `Port ${port}`,
        "ListenAddress 127.0.0.1",
        ...types.map((type) => `HostKey ${hostKeyPath(type)}`),
        `PidFile ${join(dir, "sshd.pid")}`,
        pam ? "UsePAM yes" : "UsePAM no",
        "StrictModes no",
        `AllowUsers ${username}`,
        "PermitRootLogin no",
        "PubkeyAuthentication yes",
        `AuthorizedKeysFile ${authorizedKeys}`,
        "PasswordAuthentication yes",
        `KbdInteractiveAuthentication ${pam ? "yes" : "no"}`,
        "PermitEmptyPasswords no",
        "AuthenticationMethods any",
        // Parallel tests open many connections at once; the default (10:30:100) drops some before auth.
        "MaxStartups 200",
        "MaxAuthTries 10",
        "LoginGraceTime 30",
        "LogLevel VERBOSE",
        "PrintMotd no",
        "Subsystem sftp internal-sftp",
        ...(options.extraConfig ?? []),
        "",
      ].join("\n"),
    );

  const launch = (port: number) => {
    writeConfig(port);
    return spawnListening(program, ["-D", "-e", "-f", configPath], port, /Server listening on 127\.0\.0\.1 port \d+/, {
      listening: false,
      ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
    });
  };

  let started: { port: number; child: ManagedProcess };
  try {
    started = await withFreePort(async (port) => ({ port, child: await launch(port) }));
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const { port } = started;
  const daemon: TestSshd = {
    host: "127.0.0.1",
    port,
    hostKeyFingerprints: fingerprints,
    get hostKeyFingerprint() {
      return fingerprints.ed25519 ?? fingerprints[types[0]!]!;
    },
    hostPublicKeys: publicKeys,
    user: { username, password, privateKey: readFileSync(userKey, "utf8"), privateKeyPath: userKey, publicKey: readFileSync(`${userKey}.pub`, "utf8").trim() },
    process: started.child,
    async restartWithNewHostKey() {
      await daemon.process.stop();
      makeHostKeys();
      for (let attempt = 1; ; attempt++) {
        try {
          daemon.process = await launch(port);
          return;
        } catch (err) {
          if (!(err instanceof PortInUseError) || attempt >= 5) throw err;
          await new Promise((r) => setTimeout(r, 200 * attempt));
        }
      }
    },
    async stop() {
      await daemon.process.stop();
    },
    async dispose() {
      await daemon.process.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return daemon;
}
