import { useState } from "preact/hooks";

/**
 * A form's submit: prevents the page load, runs `work` once at a time (`busy` disables the button), and keeps the
 * failure in words (`describe`) until the next attempt.
 */
export function useFormSubmit(work: () => Promise<void>, describe: (err: unknown) => string) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | undefined>();
  const submit = async (event: Event) => {
    event.preventDefault();
    if (busy) return;
    setBusy(true);
    setError(undefined);
    try {
      await work();
    } catch (err) {
      setError(describe(err));
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, submit };
}
