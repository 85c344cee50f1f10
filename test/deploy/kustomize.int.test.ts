/**
 * deploy/kubernetes through kustomize itself (`kubectl kustomize`, or a standalone `kustomize`): the kustomization
 * builds, every object lands in the patchmon-ws namespace, the images carry the pinned tag. Skipped, saying so, only
 * when neither tool is installed.
 */
import { execFile, execFileSync } from "node:child_process";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { SERVICE_NAMES } from "../../proxy/src/routes.js";
import { ROOT, isPinnedImage, kustomizeResources, type Manifest } from "./support.js";

const run = promisify(execFile);

function findKustomize(): string[] | undefined {
  for (const command of [["kubectl", "kustomize"], ["kustomize", "build"]]) {
    try {
      execFileSync(command[0]!, command[0] === "kubectl" ? ["version", "--client"] : ["version"], { stdio: "ignore", timeout: 20_000 });
      return command;
    } catch {
      // not installed
    }
  }
  return undefined;
}

const kustomize = findKustomize();
const CLUSTER_SCOPED = new Set(["Namespace"]);

describe(kustomize ? `kustomize build (${kustomize.join(" ")})` : "kustomize build", () => {
  if (!kustomize) {
    it.skip("SKIPPED: neither `kubectl` nor `kustomize` is installed", () => {});
    return;
  }

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
