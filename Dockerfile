# syntax=docker/dockerfile:1
#
# The images of patchmon-ws: one Dockerfile, one target per service.
#
#   docker build --target auth        -t patchmon-ws/auth:0.1.0 .
#   docker build --target agent-ws    -t patchmon-ws/agent-ws:0.1.0 .
#   docker build --target terminal-ws -t patchmon-ws/terminal-ws:0.1.0 .
#   docker build --target bullboard   -t patchmon-ws/bullboard:0.1.0 .
#   docker build --target web         -t patchmon-ws/web:0.1.0 .
#   (docker compose build does all five: each compose service names its target)
#
# Why one file and not one per service: the services are workspaces of one npm project with one package-lock.json,
# and they share the build (one `npm ci`, one `npm run build` compiling every workspace with tsc and the web UI with
# Vite). One file builds that stage once for all five images and keeps them on the same lockfile and base image; the
# targets differ only in which workspace's production dependencies they install and which dist/ they copy.
#
# Reproducible: the base image is pinned, `npm ci` installs exactly package-lock.json, and install scripts are not run
# (--ignore-scripts, what the root package.json's allowScripts policy says under npm 11; the base image's npm 10 does
# not read that policy). The final images hold production dependencies and built JavaScript only (no TypeScript
# sources, no tsx, no devDependencies), run as the unprivileged `node` user (uid 1000, numeric so Kubernetes can
# verify runAsNonRoot), and check their own health.

ARG NODE_IMAGE=node:20.20.2-bookworm-slim

# ---- the workspace manifests: what `npm ci` needs, copied alone so dependency layers are cached across code changes
FROM ${NODE_IMAGE} AS manifests
WORKDIR /app
COPY package.json package-lock.json ./
COPY packages/protocol/package.json packages/protocol/
COPY packages/service-kit/package.json packages/service-kit/
COPY packages/testkit/package.json packages/testkit/
COPY packages/stack/package.json packages/stack/
COPY services/agent-ws/package.json services/agent-ws/
COPY services/auth/package.json services/auth/
COPY services/bullboard/package.json services/bullboard/
COPY services/terminal-ws/package.json services/terminal-ws/
COPY services/web/package.json services/web/
COPY proxy/package.json proxy/
COPY agent/package.json agent/
COPY web/package.json web/

# ---- build: every dependency, then `npm run build` (tsc for every workspace, vite for web/)
FROM manifests AS build
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY . .
RUN npm run build

# ---- production dependencies of one service: its workspace and the workspaces it depends on, no devDependencies.
# TypeScript can arrive as an optional peer dependency (valibot, under @bull-board/api): npm keeps such
# "devOptional" packages unless optional dependencies are omitted too, and --omit=optional would also drop prebuilt
# native modules (msgpackr-extract). Nothing in an image runs tsc, so it is removed.
FROM manifests AS deps-auth
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund --workspace=services/auth \
    && rm -rf node_modules/typescript node_modules/.bin/tsc node_modules/.bin/tsserver

FROM manifests AS deps-agent-ws
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund --workspace=services/agent-ws \
    && rm -rf node_modules/typescript node_modules/.bin/tsc node_modules/.bin/tsserver

FROM manifests AS deps-terminal-ws
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund --workspace=services/terminal-ws \
    && rm -rf node_modules/typescript node_modules/.bin/tsc node_modules/.bin/tsserver

FROM manifests AS deps-bullboard
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund --workspace=services/bullboard \
    && rm -rf node_modules/typescript node_modules/.bin/tsc node_modules/.bin/tsserver

FROM manifests AS deps-web
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund --workspace=services/web \
    && rm -rf node_modules/typescript node_modules/.bin/tsc node_modules/.bin/tsserver

# ---- what every service image starts from: a clean base, the health check script, no build tools
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY deploy/docker/healthcheck.mjs ./healthcheck.mjs
# Every service image inherits these: numeric non-root user (Kubernetes can verify runAsNonRoot), drain on SIGTERM,
# GET /healthz on $PORT. COPY in the targets below still writes as root: the app files stay read-only to the process.
USER 1000:1000
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 CMD ["node", "healthcheck.mjs"]

# ---- auth: users, sessions, hosts, tickets, agent keys (needs JWT_SECRET, NATS_URL)
FROM runtime AS auth
COPY --from=deps-auth /app ./
COPY --from=build /app/packages/protocol/dist packages/protocol/dist
COPY --from=build /app/packages/service-kit/dist packages/service-kit/dist
COPY --from=build /app/services/auth/dist services/auth/dist
ENV PORT=3001
EXPOSE 3001
CMD ["node", "services/auth/dist/main.js"]

# ---- agent-ws: the agent WebSocket gateway (NATS_URL, REDIS_URL)
FROM runtime AS agent-ws
COPY --from=deps-agent-ws /app ./
COPY --from=build /app/packages/protocol/dist packages/protocol/dist
COPY --from=build /app/packages/service-kit/dist packages/service-kit/dist
COPY --from=build /app/services/agent-ws/dist services/agent-ws/dist
ENV PORT=3002
EXPOSE 3002
CMD ["node", "services/agent-ws/dist/main.js"]

# ---- terminal-ws: the browser SSH terminal (NATS_URL)
FROM runtime AS terminal-ws
COPY --from=deps-terminal-ws /app ./
COPY --from=build /app/packages/protocol/dist packages/protocol/dist
COPY --from=build /app/packages/service-kit/dist packages/service-kit/dist
COPY --from=build /app/services/terminal-ws/dist services/terminal-ws/dist
ENV PORT=3003
EXPOSE 3003
CMD ["node", "services/terminal-ws/dist/main.js"]

# ---- bullboard: the queue dashboard (NATS_URL, REDIS_URL)
FROM runtime AS bullboard
COPY --from=deps-bullboard /app ./
COPY --from=build /app/packages/protocol/dist packages/protocol/dist
COPY --from=build /app/packages/service-kit/dist packages/service-kit/dist
COPY --from=build /app/services/bullboard/dist services/bullboard/dist
ENV PORT=3004
EXPOSE 3004
CMD ["node", "services/bullboard/dist/main.js"]

# ---- web: the built UI (web/dist) served by services/web; no NATS
FROM runtime AS web
COPY --from=deps-web /app ./
COPY --from=build /app/packages/protocol/dist packages/protocol/dist
COPY --from=build /app/packages/service-kit/dist packages/service-kit/dist
COPY --from=build /app/services/web/dist services/web/dist
COPY --from=build /app/web/dist web/dist
ENV PORT=8080 WEB_ROOT=/app/web/dist
EXPOSE 8080
# Static files only: up in well under the services' 20 s.
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 CMD ["node", "healthcheck.mjs"]
CMD ["node", "services/web/dist/main.js"]
