import { randomBytes, randomUUID } from "node:crypto";
import { CodedError, type Permission, type Role } from "@patchmon-ws/protocol";
import type { PasswordHasher } from "./passwords.js";
import { usernameKey, type AuthStorage } from "./auth-storage.js";
import type { StoredUser } from "./records.js";
import type { RevocationSink } from "./revocations.js";
import type { SessionManager } from "./sessions.js";

export interface NewUser {
  username: string;
  password: string;
  role: Role;
  permissions: Permission[];
}

export interface UserPatch {
  role?: Role;
  permissions?: Permission[];
  disabled?: boolean;
  password?: string;
}

/** Users: creation with unique usernames, password checks, changes that revoke what they must. */
export class UserDirectory {
  constructor(
    private readonly store: AuthStorage,
    private readonly hasher: PasswordHasher,
    private readonly sessions: SessionManager,
    private readonly revocations: RevocationSink,
  ) {}

  list(): StoredUser[] {
    return this.store.users.values().sort((a, b) => a.createdAt - b.createdAt);
  }

  async get(id: string): Promise<StoredUser> {
    const user = (await this.store.users.get(id))?.value;
    if (!user) throw new CodedError("USER_NOT_FOUND");
    return user;
  }

  async create(input: NewUser): Promise<StoredUser> {
    const now = Date.now();
    const user: StoredUser = {
      id: randomUUID(),
      username: input.username,
      passwordHash: await this.hasher.hash(input.password),
      role: input.role,
      permissions: [...new Set(input.permissions)],
      disabled: false,
      createdAt: now,
      updatedAt: now,
    };
    // Claim the username first: the create is atomic across replicas.
    try {
      await this.store.usernames.create(usernameKey(input.username), { id: user.id });
    } catch (err) {
      if (err instanceof CodedError && err.code === "CONFLICT") throw new CodedError("USERNAME_TAKEN");
      throw err;
    }
    await this.store.users.create(user.id, user);
    return user;
  }

  /** Returns the user when the password matches, spending the same time whether or not the user exists. */
  async authenticate(username: string, password: string): Promise<StoredUser | undefined> {
    const pointer = (await this.store.usernames.get(usernameKey(username)))?.value;
    const user = pointer ? (await this.store.users.get(pointer.id))?.value : undefined;
    if (!user) return this.hasher.verifyDummy(password).then(() => undefined);
    return (await this.hasher.verify(password, user.passwordHash)) ? user : undefined;
  }

  async update(id: string, patch: UserPatch): Promise<StoredUser> {
    const current = await this.get(id);
    const losesAdmin =
      current.role === "admin" && !current.disabled && ((patch.role !== undefined && patch.role !== "admin") || patch.disabled === true);
    if (losesAdmin) this.assertNotLastAdmin(id);
    const passwordHash = patch.password === undefined ? undefined : await this.hasher.hash(patch.password);
    const updated = await this.store.users.modify(id, (user) => ({
      ...user,
      ...(patch.role !== undefined ? { role: patch.role } : {}),
      ...(patch.permissions !== undefined ? { permissions: [...new Set(patch.permissions)] } : {}),
      ...(patch.disabled !== undefined ? { disabled: patch.disabled } : {}),
      ...(passwordHash !== undefined ? { passwordHash } : {}),
      updatedAt: Date.now(),
    }));
    if (!updated) throw new CodedError("USER_NOT_FOUND");
    if (patch.password !== undefined || patch.disabled === true) {
      await this.sessions.revokeAllForUser(id, patch.disabled === true ? "user_disabled" : "user_changed");
    }
    // Live sockets re-authorise on any change of what the user may do.
    this.revocations.publish({ kind: "user", id, reason: patch.disabled === true ? "user_disabled" : "user_changed" });
    return updated.value;
  }

  async delete(id: string): Promise<void> {
    const user = await this.get(id);
    if (user.role === "admin" && !user.disabled) this.assertNotLastAdmin(id);
    await this.store.users.delete(id);
    await this.store.usernames.delete(usernameKey(user.username));
    await this.sessions.revokeAllForUser(id, "user_deleted");
    this.revocations.publish({ kind: "user", id, reason: "user_deleted" });
  }

  /**
   * Creates the first admin when no admin exists. Returns the generated password when none was configured, so the
   * caller can print it once; undefined when an admin already existed (e.g. another replica won the race).
   */
  async bootstrapAdmin(username: string, password: string | undefined): Promise<{ created: boolean; generatedPassword?: string }> {
    if (this.list().some((u) => u.role === "admin")) return { created: false };
    // 18 random bytes = 144 bits, 24 URL-safe characters: far beyond guessing, still easy to paste.
    const chosen = password ?? randomBytes(18).toString("base64url");
    try {
      await this.create({ username, password: chosen, role: "admin", permissions: [] });
    } catch (err) {
      if (err instanceof CodedError && err.code === "USERNAME_TAKEN") return { created: false };
      throw err;
    }
    return password === undefined ? { created: true, generatedPassword: chosen } : { created: true };
  }

  private assertNotLastAdmin(id: string): void {
    const otherAdmins = this.list().filter((u) => u.role === "admin" && !u.disabled && u.id !== id);
    if (otherAdmins.length === 0) throw new CodedError("LAST_ADMIN");
  }
}
