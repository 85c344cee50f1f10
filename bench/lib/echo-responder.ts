/** The bare NATS request/reply baseline: a separate process answering every request with a fixed JSON reply. */
import { connect } from "@nats-io/transport-node";

const [servers, subject] = process.argv.slice(2);
const nc = await connect({ servers: servers! });
const reply = new TextEncoder().encode(JSON.stringify({ ok: true }));
nc.subscribe(subject!, {
  queue: "bench",
  callback: (_err, msg) => {
    msg.respond(reply);
  },
});
await nc.flush();
process.stdout.write("ready\n");
process.on("SIGTERM", () => void nc.close().then(() => process.exit(0)));
