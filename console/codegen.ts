// Typed operations from the exported schema and the SPA's operations (both in ../frontend-schema).
// An operation that no longer matches the schema fails this step (and so CI).
import type { CodegenConfig } from "@graphql-codegen/cli";

const config: CodegenConfig = {
  schema: "../frontend-schema/schema.graphql",
  documents: ["../frontend-schema/operations/**/*.graphql"],
  ignoreNoDocuments: false,
  generates: {
    "src/gql/": {
      preset: "client",
      presetConfig: { fragmentMasking: false },
      config: {
        enumsAsTypes: true,
        useTypeImports: true,
        scalars: { DateTime: "string", Date: "string", Time: "string", Decimal: "string", JSON: "unknown" },
      },
    },
  },
};

export default config;
