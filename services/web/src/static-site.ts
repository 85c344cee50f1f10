import { createReadStream, existsSync, readFileSync, statSync } from "node:fs";
import { extname, join, normalize, sep } from "node:path";
import type { Request, Response } from "express";
import { sendError } from "@patchmon-ws/service-kit";

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".json": "application/json",
  ".wasm": "application/wasm",
  ".woff2": "font/woff2",
  ".txt": "text/plain; charset=utf-8",
};

/** How a request maps onto the build: a file, the app's page (its own routes), or nothing. */
export type Resolution = { kind: "file"; path: string; immutable: boolean } | { kind: "app" } | { kind: "missing" };

/**
 * Where a URL path leads in the build at `root`. Hashed files under /assets/ never change (cached for a year); a
 * path without an extension is one of the app's routes (/hosts, /hosts/<id>/terminal) and gets index.html; a path
 * with an extension that is not in the build is missing (404, never index.html, so a broken asset link is visible).
 * Paths are normalised first: nothing outside `root` is ever read.
 */
export function resolvePath(root: string, urlPath: string): Resolution {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return { kind: "missing" };
  }
  if (decoded.includes("\0")) return { kind: "missing" };
  const relative = normalize(decoded).replace(/^([/\\])+/, "");
  if (relative.startsWith("..")) return { kind: "missing" };
  const path = join(root, relative);
  if (!path.startsWith(root.endsWith(sep) ? root : root + sep) && path !== root) return { kind: "missing" };
  if (relative !== "" && relative !== "index.html" && existsSync(path) && statSync(path).isFile()) {
    return { kind: "file", path, immutable: relative.startsWith(`assets${sep}`) };
  }
  return extname(relative) === "" || relative === "index.html" ? { kind: "app" } : { kind: "missing" };
}

/** The encodings a client accepts, best first, that we keep precompressed copies in. */
export function preferredEncodings(acceptEncoding: string | undefined): ("br" | "gzip")[] {
  const accepted = (acceptEncoding ?? "").split(",").map((e) => e.trim().split(";")[0]!.toLowerCase());
  const encodings: ("br" | "gzip")[] = [];
  if (accepted.includes("br")) encodings.push("br");
  if (accepted.includes("gzip")) encodings.push("gzip");
  return encodings;
}

/** Serves the built UI from `root` (index.html read once: it is small and every app route returns it). */
export class StaticSite {
  private readonly index: Buffer | undefined;

  constructor(readonly root: string) {
    const indexPath = join(root, "index.html");
    this.index = existsSync(indexPath) ? readFileSync(indexPath) : undefined;
  }

  get built(): boolean {
    return this.index !== undefined;
  }

  readonly handle = (req: Request, res: Response): void => {
    if (req.method !== "GET" && req.method !== "HEAD") return sendError(res, "METHOD_NOT_ALLOWED");
    if (!this.index) return sendError(res, "DEPENDENCY_UNAVAILABLE", "The web UI is not built: run `npm run build -w @patchmon-ws/web`.");
    const resolution = resolvePath(this.root, req.path);
    if (resolution.kind === "missing") return sendError(res, "NOT_FOUND");
    res.setHeader("Vary", "Accept-Encoding");
    if (resolution.kind === "app") {
      // The page itself is never cached: it names the current build's assets.
      res.setHeader("Cache-Control", "no-cache");
      res.setHeader("Content-Type", TYPES[".html"]!);
      return this.send(req, res, join(this.root, "index.html"), this.index);
    }
    res.setHeader("Cache-Control", resolution.immutable ? "public, max-age=31536000, immutable" : "public, max-age=3600");
    res.setHeader("Content-Type", TYPES[extname(resolution.path)] ?? "application/octet-stream");
    this.send(req, res, resolution.path);
  };

  private send(req: Request, res: Response, path: string, inMemory?: Buffer): void {
    for (const encoding of preferredEncodings(req.headers["accept-encoding"])) {
      const compressed = `${path}.${encoding === "br" ? "br" : "gz"}`;
      if (existsSync(compressed)) {
        res.setHeader("Content-Encoding", encoding);
        res.setHeader("Content-Length", statSync(compressed).size);
        if (req.method === "HEAD") return void res.end();
        createReadStream(compressed).pipe(res);
        return;
      }
    }
    if (inMemory) {
      res.setHeader("Content-Length", inMemory.length);
      return void res.end(req.method === "HEAD" ? undefined : inMemory);
    }
    res.setHeader("Content-Length", statSync(path).size);
    if (req.method === "HEAD") return void res.end();
    createReadStream(path).pipe(res);
  }
}
