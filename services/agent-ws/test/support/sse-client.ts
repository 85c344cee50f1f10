export interface SseEvent {
  event: string;
  data: unknown;
  id?: string;
}

/** Reads a Server-Sent Events response (fetch) into parsed events, for assertions. */
export class SseClient {
  readonly events: SseEvent[] = [];
  private buffer = "";
  private readonly listeners = new Set<() => void>();
  readonly ended: Promise<void>;
  readonly status: number;

  private constructor(
    readonly response: Response,
    private readonly abort: AbortController,
  ) {
    this.status = response.status;
    this.ended = this.pump();
  }

  static async open(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
    const controller = new AbortController();
    const response = await fetch(url, { headers: { accept: "text/event-stream", ...headers }, signal: controller.signal });
    return new SseClient(response, controller);
  }

  private async pump(): Promise<void> {
    if (!this.response.body) return;
    const decoder = new TextDecoder();
    try {
      for await (const chunk of this.response.body as unknown as AsyncIterable<Uint8Array>) {
        this.buffer += decoder.decode(chunk, { stream: true });
        let index: number;
        while ((index = this.buffer.indexOf("\n\n")) >= 0) {
          const block = this.buffer.slice(0, index);
          this.buffer = this.buffer.slice(index + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          const id = /^id: (.*)$/m.exec(block)?.[1];
          if (event && data !== undefined) this.events.push({ event, data: JSON.parse(data), ...(id ? { id } : {}) });
        }
        for (const listener of this.listeners) listener();
      }
    } catch {
      // aborted
    }
    for (const listener of this.listeners) listener();
  }

  waitFor(predicate: (event: SseEvent) => boolean, timeoutMs = 15_000): Promise<SseEvent> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = this.events.find(predicate);
        if (found) {
          cleanup();
          resolve(found);
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`no matching SSE event within ${timeoutMs} ms; got ${JSON.stringify(this.events)}`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.listeners.delete(check);
      };
      this.listeners.add(check);
      check();
    });
  }

  close(): void {
    this.abort.abort();
  }
}
