# One image for every Tributary stage: `docker run tributary <command>` (see `tributary --help`).
# It runs the compiled code (dist/) with production dependencies only: no TypeScript compiler,
# and no chDB (the optional embedded ClickHouse, ~540 MB): set CLICKHOUSE_URL to a ClickHouse
# server, as docker-compose.yml does.

FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=optional
COPY tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts
COPY cli ./cli
COPY platform ./platform
COPY schemas ./schemas
COPY producers ./producers
COPY streams ./streams
COPY consumers ./consumers
COPY dashboards ./dashboards
# The built-in and example declarations the compiled code reads beside itself (scripts/copy-assets.js).
COPY rollups ./rollups
COPY events ./events
RUN npm run build

FROM node:24-bookworm-slim
WORKDIR /app
# Tributary's servers listen on 127.0.0.1 unless told otherwise; in a container that is its own network namespace.
ENV NODE_ENV=production DATA_DIR=/data BIND_HOST=0.0.0.0
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --omit=optional && npm cache clean --force
COPY bin/tributary.js ./bin/
COPY --from=build /app/dist ./dist
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
ENTRYPOINT ["node", "bin/tributary.js"]
CMD ["--help"]
