import { runService } from "@patchmon-ws/service-kit";
import { loadAuthConfig } from "./config.js";
import { setupAuth } from "./service.js";

runService("auth", loadAuthConfig, setupAuth);
