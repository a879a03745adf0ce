// GraphiQL from local assets (bundled at build time); the API serves this page in development only.
import { createGraphiQLFetcher } from "@graphiql/toolkit";
import { GraphiQL } from "graphiql";
import { createRoot } from "react-dom/client";
import "graphiql/style.css";
import "./graphiql.css";

const fetcher = createGraphiQLFetcher({
  url: "/graphql",
  subscriptionUrl: `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/graphql`,
});

createRoot(document.getElementById("graphiql")!).render(<GraphiQL fetcher={fetcher} />);
