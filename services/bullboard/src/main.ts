import { runService } from "@patchmon-ws/service-kit";
import { setupBullboard } from "./service.js";
import { loadBullboardConfig } from "./config.js";

runService(
  "bullboard",
  loadBullboardConfig,
  (context) => {
    setupBullboard(context);
  },
  // It asks auth over NATS but keeps nothing in JetStream: no reason to wait for it.
  () => ({ usesJetStream: false }),
);
