import { runService } from "@patchmon-ws/service-kit";
import { loadWebConfig } from "./config.js";
import { setupWeb } from "./service.js";

runService("web", loadWebConfig, setupWeb, () => ({ nats: false }));
