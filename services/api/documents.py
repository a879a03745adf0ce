"""Trusted documents: the operations the SPAs send, registered by their SHA-256 at build time.

A client may send, instead of the document, its hash in the persisted-query convention of Apollo's and
graphql-codegen's clients::

    {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "<64 hex>"}}, "variables": {...}}

(a GET request carries the same ``extensions`` parameter, JSON-encoded). A known hash runs that document; an unknown
one is answered as Apollo Server does, ``PersistedQueryNotFound`` (code ``PERSISTED_QUERY_NOT_FOUND``, HTTP 200, not
cacheable), and nothing is stored from a client: the set is fixed at build time. A document sent with its hash must
match it.

The registered set is ``frontend-schema/persisted-documents.json`` (``{hash: document}``), written by
``complaintdesk export-schema`` from ``frontend-schema/operations/``: each operation printed with the fragments it
uses, in name order (what a code generator sends), plus, when the console has been built, the manifest its build
wrote (``console/dist/persisted-documents.json``, the same shape).

A tenant can be set to accept registered documents only (``complaintdesk tenant documents SLUG --registered-only``):
then a document that is not registered is refused (``PERSISTED_QUERY_NOT_IN_LIST``), whether sent as text or as an
unknown hash. Requests of no tenant (sign-in without one, operators) are not concerned.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

from graphql import (
    DocumentNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    Node,
    OperationDefinitionNode,
    parse,
    print_ast,
    visit,
)
from graphql.language import Visitor
from strawberry.http import GraphQLRequestData

from services.api import http
from services.core.i18n import N_

ROOT = Path(__file__).resolve().parents[2]
OPERATIONS = ROOT / "frontend-schema" / "operations"
MANIFEST = ROOT / "frontend-schema" / "persisted-documents.json"
CONSOLE_MANIFEST = ROOT / "console" / "dist" / "persisted-documents.json"
_HASH = re.compile(r"^[0-9a-f]{64}$")

NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
NOT_IN_LIST = "PERSISTED_QUERY_NOT_IN_LIST"
NO_CACHE = {"Cache-Control": "private, no-cache, must-revalidate"}


def sha256(document: str) -> str:
    return hashlib.sha256(document.encode("utf-8")).hexdigest()


class _Spreads(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()

    def enter_fragment_spread(self, node: FragmentSpreadNode, *_: Any) -> None:
        self.names.add(node.name.value)


def _spreads(node: Node) -> set[str]:
    visitor = _Spreads()
    visit(node, visitor)
    return visitor.names


def registered_documents(operations: Path = OPERATIONS) -> dict[str, str]:
    """``{sha256: document}`` for every operation under ``operations``: the operation and the fragments it uses
    (transitively), printed by graphql-core in name order, so the text is the same wherever it is made."""
    fragments: dict[str, FragmentDefinitionNode] = {}
    ops: list[OperationDefinitionNode] = []
    for path in sorted(operations.rglob("*.graphql")):
        for definition in parse(path.read_text(encoding="utf-8"), no_location=True).definitions:
            if isinstance(definition, FragmentDefinitionNode):
                fragments[definition.name.value] = definition
            elif isinstance(definition, OperationDefinitionNode):
                ops.append(definition)
    documents: dict[str, str] = {}
    for operation in ops:
        needed: set[str] = set()
        todo = _spreads(operation)
        while todo:
            name = todo.pop()
            if name not in needed and name in fragments:
                needed.add(name)
                todo |= _spreads(fragments[name])
        document = print_ast(DocumentNode(definitions=(operation, *(fragments[n] for n in sorted(needed)))))
        documents[sha256(document)] = document
    return dict(sorted(documents.items()))


def manifest_text(operations: Path = OPERATIONS) -> str:
    """What ``export-schema`` writes to ``frontend-schema/persisted-documents.json``."""
    return json.dumps(registered_documents(operations), ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def _read(paths: Iterable[Path]) -> dict[str, str]:
    found: dict[str, str] = {}
    for path in paths:
        if not path.exists():
            continue
        data = json.loads(path.read_text(encoding="utf-8"))
        for key, document in data.items():
            if not _HASH.fullmatch(key) or not isinstance(document, str) or sha256(document) != key:
                raise ValueError(f"{path}: {key[:16]}... is not the SHA-256 of its document")
            found[key] = document
    return found


@cache
def registry() -> dict[str, str]:
    """The registered documents by hash (read once per process)."""
    return _read((MANIFEST, CONSOLE_MANIFEST))


def _persisted_hash(extensions: dict[str, Any] | None) -> str | None:
    persisted = (extensions or {}).get("persistedQuery")
    if persisted is None:
        return None
    if not isinstance(persisted, dict) or persisted.get("version") != 1 or \
            not isinstance(persisted.get("sha256Hash"), str) or not _HASH.fullmatch(persisted["sha256Hash"]):
        raise http.bad_request(N_("extensions.persistedQuery must be {\"version\": 1, \"sha256Hash\": \"<64 "
                                  "lower-case hex digits>\"}"))
    return str(persisted["sha256Hash"])


class PersistedQueryRefused(Exception):
    """Answered as a GraphQL request error with ``code`` (HTTP 200 for a hash not found, as clients expect)."""

    def __init__(self, message: str, code: str, status: int) -> None:
        super().__init__(message)
        self.message, self.code, self.status = message, code, status


def resolve(data: GraphQLRequestData, *, registered_only: bool, documents: dict[str, str] | None = None
            ) -> GraphQLRequestData:
    """The request with its document: the registered one its hash names, or its own text."""
    known = registry() if documents is None else documents
    digest = _persisted_hash(data.extensions)
    if digest is not None:
        if data.query is None:
            document = known.get(digest)
            if document is None:
                raise PersistedQueryRefused("PersistedQueryNotFound", NOT_FOUND, 200)
            return GraphQLRequestData(query=document, variables=data.variables, operation_name=data.operation_name,
                                      extensions=data.extensions)
        if sha256(data.query) != digest:
            raise http.bad_request("provided sha does not match query")
    if registered_only and data.query is not None and sha256(data.query) not in known:
        raise PersistedQueryRefused(N_("this tenant accepts registered documents only: send the hash of one "
                                       "(extensions.persistedQuery)"), NOT_IN_LIST, 400)
    return data
