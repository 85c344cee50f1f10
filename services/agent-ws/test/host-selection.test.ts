import { describe, expect, it } from "vitest";
import { CodedError } from "@patchmon-ws/protocol";
import { hostStatus, MAX_SELECTED_HOSTS, parseHostSelection } from "../src/http/host-selection.js";

function code(fn: () => unknown) {
  try {
    fn();
  } catch (err) {
    return (err as CodedError).code;
  }
  return undefined;
}

describe("parseHostSelection", () => {
  it("reads all, comma lists and arrays, de-duplicated in order", () => {
    expect(parseHostSelection("all")).toEqual({ all: true });
    expect(parseHostSelection("a, b,a,,c")).toEqual({ all: false, ids: ["a", "b", "c"] });
    expect(parseHostSelection(["x", "y", "x"])).toEqual({ all: false, ids: ["x", "y"] });
  });

  it("refuses ids that could reach a subject, empty and oversized selections", () => {
    expect(code(() => parseHostSelection("a.b"))).toBe("VALIDATION_FAILED");
    expect(code(() => parseHostSelection(["a*"]))).toBe("VALIDATION_FAILED");
    expect(code(() => parseHostSelection([">"]))).toBe("VALIDATION_FAILED");
    expect(code(() => parseHostSelection([1]))).toBe("VALIDATION_FAILED");
    expect(code(() => parseHostSelection(""))).toBe("VALIDATION_FAILED");
    expect(code(() => parseHostSelection([]))).toBe("VALIDATION_FAILED");
    expect(code(() => parseHostSelection({}))).toBe("VALIDATION_FAILED");
    expect(code(() => parseHostSelection(Array.from({ length: MAX_SELECTED_HOSTS + 1 }, (_, i) => `h${i}`)))).toBe("VALIDATION_FAILED");
  });
});

describe("hostStatus", () => {
  it("marks hosts presence never saw", () => {
    expect(hostStatus("h", undefined)).toEqual({ hostId: "h", known: false, connected: false });
  });
});
