/** Inline messages: errors are announced at once (role=alert), other notes politely (role=status). */
import type { ComponentChildren } from "preact";

export function Notice({ kind, children }: { kind: "error" | "info" | "success" | "warning"; children: ComponentChildren }) {
  return (
    <div class={`notice ${kind}`} role={kind === "error" ? "alert" : "status"}>
      {children}
    </div>
  );
}
