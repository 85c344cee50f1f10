/** A small history router: the path as a signal, links that navigate without reloading, routes as patterns. */
import { signal } from "@preact/signals";

export const path = signal(window.location.pathname);

export function navigate(to: string, options: { replace?: boolean } = {}): void {
  if (to === window.location.pathname + window.location.search) return;
  if (options.replace) window.history.replaceState(null, "", to);
  else window.history.pushState(null, "", to);
  path.value = window.location.pathname;
  window.scrollTo(0, 0);
}

window.addEventListener("popstate", () => {
  path.value = window.location.pathname;
});

/** Matches `/hosts/:id/terminal` against a path; returns the named segments, or undefined. */
export function match(pattern: string, current: string): Record<string, string> | undefined {
  const want = pattern.split("/").filter(Boolean);
  const have = current.split("/").filter(Boolean);
  if (want.length !== have.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < want.length; i++) {
    const w = want[i]!;
    const h = have[i]!;
    if (w.startsWith(":")) params[w.slice(1)] = decodeURIComponent(h);
    else if (w !== h) return undefined;
  }
  return params;
}

/** An <a> click that should stay in the app (plain left click, same origin, no target). */
export function onLinkClick(event: MouseEvent): void {
  const anchor = event.currentTarget as HTMLAnchorElement;
  if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  if (anchor.target && anchor.target !== "_self") return;
  if (anchor.origin !== window.location.origin) return;
  event.preventDefault();
  navigate(anchor.pathname + anchor.search);
}
