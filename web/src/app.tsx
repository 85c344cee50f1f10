import type { ComponentType } from "preact";
import { useEffect, useState } from "preact/hooks";
import type { TicketResponse } from "@patchmon-ws/protocol";
import { api, ApiError } from "./lib/api.js";
import { match, onLinkClick, path } from "./lib/router.js";
import { isAdmin, may, restoring, signOut, user } from "./lib/session.js";
import { streamControl } from "./lib/status-store.js";
import { Notice } from "./components/notice.js";
import { HostsPage } from "./pages/hosts.js";
import { SignInPage } from "./pages/sign-in.js";

/** A page loaded on first use (the terminal and the recordings player carry most of the JavaScript). */
function lazyPage<P>(load: () => Promise<ComponentType<P>>): ComponentType<P> {
  let loaded: ComponentType<P> | undefined;
  return function LazyPage(props: P) {
    const [Page, setPage] = useState<ComponentType<P> | undefined>(() => loaded);
    const [failed, setFailed] = useState(false);
    useEffect(() => {
      if (!loaded) void load().then((page) => setPage(() => (loaded = page)), () => setFailed(true));
    }, []);
    if (failed) return <Notice kind="error">This page could not be loaded; reload to try again.</Notice>;
    return Page ? <Page {...(props as P & object)} /> : <p class="loading">Loading…</p>;
  };
}

const TerminalPage = lazyPage<{ hostId: string }>(() => import("./pages/terminal-page.js").then((m) => m.TerminalPage));
const SessionsPage = lazyPage<object>(() => import("./pages/sessions.js").then((m) => m.SessionsPage));
const UsersPage = lazyPage<object>(() => import("./pages/users.js").then((m) => m.UsersPage));

function NavLink({ href, label }: { href: string; label: string }) {
  const current = path.value === href || (href === "/" && path.value.startsWith("/hosts"));
  return (
    <a href={href} onClick={onLinkClick} aria-current={current ? "page" : undefined}>
      {label}
    </a>
  );
}

async function openQueues(): Promise<void> {
  // A fresh one-time ticket: Bull Board exchanges it for its own cookie and drops it from the URL.
  const popup = window.open("about:blank", "_blank");
  try {
    const { ticket } = await api<TicketResponse>("POST", "/api/v1/auth/ticket", { body: { purpose: "bullboard", target: "*" } });
    if (popup) popup.location.href = `/bullboard?ticket=${encodeURIComponent(ticket)}`;
  } catch (err) {
    popup?.close();
    window.alert(err instanceof ApiError ? err.message : "The queues could not be opened.");
  }
}

function Forbidden() {
  return (
    <main id="main" class="page">
      <h1>Not allowed</h1>
      <p>Your account does not have access to this page.</p>
    </main>
  );
}

function Routes() {
  const current = path.value;
  const terminal = match("/hosts/:id/terminal", current);
  if (terminal) return may("can_use_ssh_terminal") ? <TerminalPage hostId={terminal.id!} /> : <Forbidden />;
  if (current === "/" || current === "/hosts") return <HostsPage />;
  if (current === "/sessions") return isAdmin.value ? <SessionsPage /> : <Forbidden />;
  if (current === "/users") return may("can_manage_users") ? <UsersPage /> : <Forbidden />;
  return (
    <main id="main" class="page">
      <h1>Not found</h1>
      <p>
        Nothing lives at this address.{" "}
        <a href="/" onClick={onLinkClick}>
          Go to the hosts
        </a>
        .
      </p>
    </main>
  );
}

export function App() {
  if (restoring.value) return <p class="loading">Loading…</p>;
  const signedIn = user.value;
  if (!signedIn) {
    streamControl.stop?.();
    return <SignInPage />;
  }
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <span class="brand">PatchMon</span>
        <nav aria-label="Main">
          <NavLink href="/" label="Hosts" />
          {isAdmin.value && <NavLink href="/sessions" label="Sessions" />}
          {may("can_manage_users") && <NavLink href="/users" label="Users" />}
          {may("can_view_queues") && (
            <button class="link" onClick={() => void openQueues()}>
              Queues
            </button>
          )}
        </nav>
        <span class="who">
          <span class="muted">{signedIn.username}</span>{" "}
          <button class="link" onClick={() => void signOut()}>
            Sign out
          </button>
        </span>
      </header>
      <Routes />
    </>
  );
}
