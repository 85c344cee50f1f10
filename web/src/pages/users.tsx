import { useEffect, useState } from "preact/hooks";
import { PERMISSIONS, type Permission, type Role, type UserListResponse, type UserResponse, type UserView } from "@patchmon-ws/protocol";
import { api, ApiError } from "../lib/api.js";
import { user as me } from "../lib/session.js";
import { Dialog } from "../components/dialog.js";
import { Notice } from "../components/notice.js";

const PERMISSION_LABELS: Record<Permission, string> = {
  can_use_ssh_terminal: "Use the SSH terminal",
  can_manage_hosts: "Manage hosts and send commands",
  can_view_queues: "View the queues (Bull Board)",
  can_manage_users: "Manage users",
};

function PermissionBoxes({ value, onChange, disabled, idPrefix }: { value: Permission[]; onChange(next: Permission[]): void; disabled?: boolean; idPrefix: string }) {
  return (
    <fieldset disabled={disabled}>
      <legend>Permissions {disabled ? "(admins hold every permission)" : ""}</legend>
      {PERMISSIONS.map((permission) => (
        <label class="inline" for={`${idPrefix}-${permission}`}>
          <input
            id={`${idPrefix}-${permission}`}
            type="checkbox"
            checked={disabled || value.includes(permission)}
            onChange={(e) => onChange(e.currentTarget.checked ? [...value, permission] : value.filter((p) => p !== permission))}
          />{" "}
          {PERMISSION_LABELS[permission]}
        </label>
      ))}
    </fieldset>
  );
}

function UserDialog({ existing, onClose, onSaved }: { existing?: UserView; onClose(): void; onSaved(): void }) {
  const [username, setUsername] = useState(existing?.username ?? "");
  const [password, setPassword] = useState("");
  const [role, setRole] = useState<Role>(existing?.role ?? "user");
  const [permissions, setPermissions] = useState<Permission[]>(existing?.permissions ?? ["can_use_ssh_terminal"]);
  const [error, setError] = useState<string | undefined>();

  const submit = async (event: Event) => {
    event.preventDefault();
    setError(undefined);
    try {
      if (existing) {
        await api<UserResponse>("PATCH", `/api/v1/users/${existing.id}`, { body: { role, permissions, ...(password ? { password } : {}) } });
      } else {
        await api<UserResponse>("POST", "/api/v1/users", { body: { username: username.trim(), password, role, permissions } });
      }
      onSaved();
      onClose();
    } catch (err) {
      setError(err instanceof ApiError ? err.message : "Saving failed.");
    }
  };

  return (
    <Dialog title={existing ? `Edit ${existing.username}` : "Add a user"} open onClose={onClose}>
      <form onSubmit={submit}>
        {error && <Notice kind="error">{error}</Notice>}
        {!existing && (
          <>
            <label for="new-username">Username</label>
            <input id="new-username" required pattern="[A-Za-z0-9._@+\-]{1,64}" value={username} onInput={(e) => setUsername(e.currentTarget.value)} />
          </>
        )}
        <label for="new-password">{existing ? "New password (leave empty to keep)" : "Password (8 characters or more)"}</label>
        <input id="new-password" type="password" autocomplete="new-password" minLength={8} required={!existing} value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
        <label for="new-role">Role</label>
        <select id="new-role" value={role} onChange={(e) => setRole(e.currentTarget.value as Role)}>
          <option value="user">User</option>
          <option value="admin">Admin</option>
        </select>
        <PermissionBoxes value={permissions} onChange={setPermissions} disabled={role === "admin"} idPrefix="perm" />
        <div class="dialog-actions">
          <button type="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" class="primary">
            Save
          </button>
        </div>
      </form>
    </Dialog>
  );
}

export function UsersPage() {
  const [users, setUsers] = useState<UserView[] | undefined>();
  const [error, setError] = useState<string | undefined>();
  const [editing, setEditing] = useState<UserView | "new" | undefined>();

  const load = async () => {
    try {
      setUsers((await api<UserListResponse>("GET", "/api/v1/users")).users);
      setError(undefined);
    } catch (err) {
      setError(err instanceof ApiError ? err.message : "The users could not be loaded.");
    }
  };
  useEffect(() => {
    void load();
  }, []);

  const toggle = async (target: UserView) => {
    try {
      await api("PATCH", `/api/v1/users/${target.id}`, { body: { disabled: !target.disabled } });
      await load();
    } catch (err) {
      setError(err instanceof ApiError ? err.message : "The change failed.");
    }
  };

  const remove = async (target: UserView) => {
    if (!window.confirm(`Delete ${target.username}? Their sessions end at once.`)) return;
    try {
      await api("DELETE", `/api/v1/users/${target.id}`);
      await load();
    } catch (err) {
      setError(err instanceof ApiError ? err.message : "The user could not be deleted.");
    }
  };

  return (
    <main id="main" class="page">
      <div class="page-header">
        <h1>Users</h1>
        <button class="primary" onClick={() => setEditing("new")}>
          Add user
        </button>
      </div>
      {error && <Notice kind="error">{error}</Notice>}
      {users && (
        <div class="table-wrap">
          <table>
            <caption class="visually-hidden">Users</caption>
            <thead>
              <tr>
                <th scope="col">Username</th>
                <th scope="col">Role</th>
                <th scope="col">Permissions</th>
                <th scope="col">State</th>
                <th scope="col">
                  <span class="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {users.map((u) => (
                <tr key={u.id}>
                  <td>{u.username}</td>
                  <td>{u.role}</td>
                  <td>{u.role === "admin" ? "all" : u.permissions.map((p) => PERMISSION_LABELS[p]).join(", ") || "none"}</td>
                  <td>{u.disabled ? "disabled" : "active"}</td>
                  <td class="row-actions">
                    <button onClick={() => setEditing(u)} aria-label={`Edit ${u.username}`}>
                      Edit
                    </button>
                    {u.id !== me.value?.id && (
                      <>
                        <button onClick={() => void toggle(u)} aria-label={`${u.disabled ? "Enable" : "Disable"} ${u.username}`}>
                          {u.disabled ? "Enable" : "Disable"}
                        </button>
                        <button class="danger" onClick={() => void remove(u)} aria-label={`Delete ${u.username}`}>
                          Delete
                        </button>
                      </>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {editing && <UserDialog existing={editing === "new" ? undefined : editing} onClose={() => setEditing(undefined)} onSaved={() => void load()} />}
    </main>
  );
}
