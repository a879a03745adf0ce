// The typed operations generated from frontend-schema/operations (graphql-codegen), and a map from a mutation's
// root field (AvailableAction.mutation) to its document.
import type { DocumentNode, OperationDefinitionNode, FieldNode } from "graphql";
import * as generated from "./gql/graphql";

export * from "./gql/graphql";

function rootField(doc: DocumentNode): { operation: string; field: string } | null {
  const op = doc.definitions.find((d): d is OperationDefinitionNode => d.kind === "OperationDefinition");
  const field = op?.selectionSet.selections.find((s): s is FieldNode => s.kind === "Field");
  return op && field ? { operation: op.operation, field: field.name.value } : null;
}

export const MUTATIONS: Record<string, DocumentNode> = {};
for (const [name, value] of Object.entries(generated)) {
  if (!name.endsWith("Document") || typeof value !== "object" || value === null || !("definitions" in value)) continue;
  const root = rootField(value as DocumentNode);
  if (root?.operation === "mutation") MUTATIONS[root.field] = value as DocumentNode;
}
