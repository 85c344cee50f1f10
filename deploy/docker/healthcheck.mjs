// Container health check of every patchmon-ws image (Dockerfile HEALTHCHECK, docker-compose.yml healthcheck):
// GET http://127.0.0.1:$PORT/healthz (or the path given as the first argument, e.g. /readyz) must answer 2xx
// within 4 seconds. Exit 0 healthy, 1 not. Plain Node (fetch), no dependency.
const path = process.argv[2] ?? "/healthz";
const port = process.env.PORT ?? "3000";
try {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(4000) });
  process.exit(response.ok ? 0 : 1);
} catch {
  process.exit(1);
}
