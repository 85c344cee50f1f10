import { runService } from "@patchmon-ws/service-kit";
import { setupBullboard } from "./bullboard-service.js";
import { loadBullboardConfig } from "./config.js";

runService("bullboard", loadBullboardConfig, (context) => {
  setupBullboard(context);
});
