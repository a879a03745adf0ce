// PostGraphile 5 for bench/list_vs_bare.py: one Node process on 127.0.0.1:$PORT, POST /graphql (grafserv's Node
// adapter) and GET /healthz, over the views of schema.sql in $DATABASE_URL. Not part of the application.
import { createServer } from "node:http";

import pg from "pg";
import { postgraphile } from "postgraphile";
import { makePgService } from "postgraphile/adaptors/pg";
import { grafserv } from "postgraphile/grafserv/node";
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";

const port = Number(process.env.PORT);
// The same ceiling as the real app's SQLAlchemy pool and the bare endpoint's asyncpg pool, and like them it keeps
// its connections (pg's default closes one idle for 10 s: a reconnect in the next run, or a refusal when the
// shared server is at max_connections).
const pool = new pg.Pool({
  connectionString: process.env.DATABASE_URL,
  max: 20,
  min: 10,
  idleTimeoutMillis: 0,
  application_name: "cd-bench-postgraphile",
});

/** The root list is `complaints` (as in the real app) instead of amber's `allComplaints`. */
const ListNamePlugin = {
  name: "BenchListNamePlugin",
  version: "0.0.0",
  inflection: {
    replace: {
      allRowsConnection(previous, _options, resource) {
        return resource.name === "complaints" ? "complaints" : previous(resource);
      },
    },
  },
};

const preset = {
  extends: [PostGraphileAmberPreset],
  plugins: [ListNamePlugin],
  pgServices: [makePgService({ pool, schemas: ["postgraphile_bench"] })],
  schema: { defaultBehavior: "-insert -update -delete" }, // a read-only list: no mutations
  grafserv: { graphqlPath: "/graphql", graphiql: false, watch: false, maxRequestLength: 100000 },
  grafast: { explain: false },
};

const pgl = postgraphile(preset);
const serv = pgl.createServ(grafserv);
await pgl.getSchema(); // introspect and build before the first request
const handler = serv.createHandler();
const healthz = Buffer.from('{"status":"ok"}');
const server = createServer((req, res) => {
  if (req.method === "GET" && req.url === "/healthz") {
    res.writeHead(200, { "Content-Type": "application/json", "Content-Length": healthz.length });
    res.end(healthz);
    return;
  }
  handler(req, res);
});
server.keepAliveTimeout = 65_000;
server.listen(port, "127.0.0.1");

const stop = () => {
  server.close();
  Promise.resolve(pgl.release()).finally(() => pool.end()).finally(() => process.exit(0));
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
