import { useState } from "preact/hooks";
import { ApiError } from "../lib/api.js";
import { useFormSubmit } from "../lib/form.js";
import { endedBecause, signIn } from "../lib/session.js";
import { Notice } from "../components/notice.js";

export function SignInPage() {
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const { busy, error, submit } = useFormSubmit(
    async () => {
      await signIn(username.trim(), password);
      setPassword("");
    },
    (err) => (err instanceof ApiError ? (err.code === "RATE_LIMITED" ? "Too many failed attempts from here; wait a few minutes and try again." : err.message) : "Signing in failed."),
  );

  return (
    <main class="sign-in" id="main">
      <form class="card" onSubmit={submit} aria-labelledby="sign-in-title">
        <h1 id="sign-in-title">Sign in to PatchMon</h1>
        {endedBecause.value && !error && <Notice kind="warning">{endedBecause.value}</Notice>}
        {error && <Notice kind="error">{error}</Notice>}
        <label for="username">Username</label>
        <input id="username" name="username" autocomplete="username" required value={username} onInput={(e) => setUsername(e.currentTarget.value)} />
        <label for="password">Password</label>
        <input id="password" name="password" type="password" autocomplete="current-password" required value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
        <button type="submit" class="primary" disabled={busy}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
      </form>
    </main>
  );
}
