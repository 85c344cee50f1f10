/**
 * A modal dialog on the native <dialog> element: focus moves into it, Escape closes it, focus returns to what opened
 * it, and the page behind is inert (the browser does all of that for showModal()).
 */
import type { ComponentChildren } from "preact";
import { useEffect, useRef } from "preact/hooks";

export interface DialogProps {
  title: string;
  open: boolean;
  onClose(): void;
  children: ComponentChildren;
  /** Buttons and the like, at the bottom. */
  actions?: ComponentChildren;
  wide?: boolean;
}

let counter = 0;

export function Dialog({ title, open, onClose, children, actions, wide }: DialogProps) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useRef(`dialog-title-${++counter}`).current;
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (open && !dialog.open) dialog.showModal();
    if (!open && dialog.open) dialog.close();
  }, [open]);
  return (
    <dialog ref={ref} class={wide ? "dialog wide" : "dialog"} aria-labelledby={titleId} onClose={onClose} onCancel={onClose}>
      <h2 id={titleId}>{title}</h2>
      <div class="dialog-body">{children}</div>
      {actions && <div class="dialog-actions">{actions}</div>}
    </dialog>
  );
}
