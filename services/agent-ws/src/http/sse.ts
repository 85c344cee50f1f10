/** One Server-Sent Events frame. Data is JSON on a single line (JSON.stringify never emits raw newlines). */
export function sseEvent(event: string, data: unknown, id?: string | number): string {
  const lines = [];
  if (id !== undefined) lines.push(`id: ${id}`);
  lines.push(`event: ${event}`);
  lines.push(`data: ${JSON.stringify(data)}`);
  return lines.join("\n") + "\n\n";
}

/** A comment line: ignored by EventSource, keeps idle proxies from closing the stream. */
export function sseComment(text: string): string {
  return `: ${text.replace(/[\r\n]+/g, " ")}\n\n`;
}

/** Reconnection delay hint for EventSource (ms). */
export function sseRetry(ms: number): string {
  return `retry: ${Math.max(0, Math.round(ms))}\n\n`;
}
