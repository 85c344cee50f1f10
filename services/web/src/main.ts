import { runMain } from "@patchmon-ws/service-kit";
import { loadWebConfig } from "./config.js";
import { startWebService } from "./web-service.js";

runMain("web", async () => {
  const { runtime } = await startWebService(loadWebConfig());
  runtime.installSignalHandlers();
});
