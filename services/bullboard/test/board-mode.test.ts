import { describe, expect, it } from "vitest";
import { boardModeFor, isSafeMethod } from "../src/board-mode.js";

describe("boardModeFor", () => {
  it("gives admins the full board, can_view_queues the read-only board, anyone else nothing", () => {
    expect(boardModeFor({ role: "admin", permissions: [] })).toBe("full");
    expect(boardModeFor({ role: "user", permissions: ["can_view_queues"] })).toBe("read-only");
    expect(boardModeFor({ role: "user", permissions: ["can_manage_hosts", "can_manage_users", "can_use_ssh_terminal"] })).toBeNull();
    expect(boardModeFor({ role: "user", permissions: [] })).toBeNull();
  });

  it("treats only GET, HEAD and OPTIONS as safe", () => {
    for (const method of ["GET", "HEAD", "OPTIONS"]) expect(isSafeMethod(method)).toBe(true);
    for (const method of ["POST", "PUT", "PATCH", "DELETE", "get"]) expect(isSafeMethod(method)).toBe(false);
  });
});
