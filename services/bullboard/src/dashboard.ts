import type { Queue } from "bullmq";
import type { Express } from "express";
import { createBullBoard } from "@bull-board/api";
import { BullMQAdapter } from "@bull-board/api/bullMQAdapter";
import type { BoardMode } from "./board-mode.js";
import { GuardedExpressAdapter } from "./guarded-express-adapter.js";

/** Where Bull Board is served; the cookie path and the UI's <base href> follow it. */
export const BOARD_BASE_PATH = "/bullboard";

export interface DashboardOptions {
  title: string;
  /** Throws (a 503 CodedError) while the API cannot answer, e.g. Redis is down. */
  gate: () => void;
}

/**
 * Two Bull Board instances over the same queues: the full board for admins and a read-only board (every queue in
 * readOnlyMode, so its buttons are hidden and its write routes refuse) for users with can_view_queues. Each request
 * is handed to the board of the caller's mode after authentication.
 */
export class Dashboard {
  private readonly adapters: Record<BoardMode, GuardedExpressAdapter>;
  private readonly boards: Record<BoardMode, ReturnType<typeof createBullBoard>>;

  constructor(options: DashboardOptions) {
    this.adapters = { full: new GuardedExpressAdapter(options.gate), "read-only": new GuardedExpressAdapter(options.gate) };
    const board = (mode: BoardMode) => {
      this.adapters[mode].setBasePath(BOARD_BASE_PATH);
      return createBullBoard({
        queues: [],
        serverAdapter: this.adapters[mode],
        options: {
          uiConfig: {
            boardTitle: mode === "full" ? options.title : `${options.title} (read-only)`,
            hideDocsLink: true,
          },
        },
      });
    };
    this.boards = { full: board("full"), "read-only": board("read-only") };
  }

  /** The Express app serving the board of a mode (mounted at BOARD_BASE_PATH). */
  router(mode: BoardMode): Express {
    return this.adapters[mode].getRouter() as Express;
  }

  addQueue(queue: Queue): void {
    this.boards.full.addQueue(new BullMQAdapter(queue, { readOnlyMode: false }));
    this.boards["read-only"].addQueue(new BullMQAdapter(queue, { readOnlyMode: true }));
  }

  removeQueue(name: string): void {
    this.boards.full.removeQueue(name);
    this.boards["read-only"].removeQueue(name);
  }
}
