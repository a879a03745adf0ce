"""Compiled plans: a registered query document answered by ONE SQL statement per root field.

At start-up (first use) every registered document (``services/api/documents.py``) that is a query is compiled:
each root field becomes one SELECT that reads the page as flat rows (only the columns the selection reads, the
connection's ``totalCount`` as a subquery), and Python code generated from the selection turns those rows into the
response's values (global IDs, cursors, times, the objects in the selection's order), as PostGraphile 5 does in Node
(building the JSON in PostgreSQL cost it three to four times what reading the page does, and PostgreSQL was the
limit: bench/README.md, branch ``compile2``). What the compiler cannot express (a field resolved in
Python: working days from a calendar, sealed values, loaders of other tables) makes the whole operation fall back
to the resolver path, and ``complaintdesk compile-report`` lists every registered query with ``compiled`` or
``fallback`` and the reason: never silently.

One source for each rule, shared with the resolver path:

- the rows: ``services.core.complaints.queries.page_statement`` / ``count_statement`` (the list's own filter,
  cursor and ordering, with the viewer's scope predicate ``ComplaintAccess.read`` from ``complaint_access``);
- the arguments: graphql-core's variable and argument coercion over the same schema, then the resolver's own
  ``list_filter``; a value the resolver refuses (a page size out of range, a bad cursor) and any refusal of the
  viewer (not signed in) makes the request take the resolver path, which answers it (errors identical by
  construction);
- labels in the reader's locale: ``Context.translate`` of the same message ids (``_labels_in``);
- cursors: ``queries.cursor_encoder``, the resolver path's ``encode_cursor``.

A request runs its compiled plan when it carries a registered document (by hash or identical text), compiled
plans are on (``COMPLAINTDESK_COMPILED_PLANS``, default on) and, outside production only, the request does not
carry ``x-complaintdesk-resolver-path: 1`` (the differential test's switch; ignored in production).

How a page runs (``_ListRoot``): its statement is rendered to SQL text once per shape (page size, order, first or
next page, the filter's shape) and kept with the viewer's access; the cursor's and the filter's values are bound per
request (``prepare``). The statement reads the viewer's row with the page (``_ListRoot.statement``) and reads the
page only under the access filters that row calls for, so a signed-in staff member's page is ONE statement on a
pooled connection, without a session (``one_round_trip``), built under what this process last saw of the viewer
(``_Seen``, a guess checked against the row read in the same snapshot, never trusted alone); when the row says
otherwise the request goes through the request's session, which reads the viewer afresh. An unexpected failure
inside a plan is logged and the request answered by the resolver path (its errors, its 503).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
from binascii import b2a_base64
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from operator import itemgetter
from typing import Any

import orjson
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    parse,
    validate,
)
from graphql.execution.values import get_argument_values, get_variable_values
from sqlalchemy import (
    Integer,
    and_,
    case,
    func,
    literal,
    null,
    select,
    true,
    union_all,
)
from strawberry.types.arguments import convert_arguments

from services.api import documents
from services.api.auth.principal import StaffPrincipal
from services.api.context import Context
from services.api.errors import RequestError
from services.core import authz, i18n, metrics
from services.core.auth import service as auth_service
from services.core.complaints import models, procedure
from services.core.complaints import queries as q
from services.core.crypto.fields import keyring_of
from services.core.crypto.keys import Keyring, get_keyring
from services.core.db import (
    TENANT_SCHEMA_PLACEHOLDER,
    driver_connection,
    get_engine,
    session_slots,
    statement_slots,
)
from services.core.errors import DomainError
from services.core.faults import unavailable_cause
from services.core.i18n.tenant import tenant_locale_statement
from services.core.logs import failures
from services.core.org import models as org_models

logger = logging.getLogger("complaintdesk.api.compiled")
access = logging.getLogger("complaintdesk.api.access")

RESOLVER_PATH_HEADER = "x-complaintdesk-resolver-path"
# Filtered pages through the plan too (kept per filter shape, values bound per request: _ListRoot.prepare)
FILTERED_PAGES = True
ARGUMENTS_KEPT = 256  # variables' arguments kept per plan (Plan.arguments)
RENDERED_KEPT = 8  # rendered statements kept per viewer's access (page sizes x orders x next page)
FILTERED_KEPT = 16  # and of filtered pages (filter shapes: which conditions, how many values in a list)
_NAME = re.compile(r"^[_A-Za-z][_0-9A-Za-z]*$")


class NotCompilable(Exception):
    """Why an operation takes the resolver path (printed by ``complaintdesk compile-report``)."""


def enabled() -> bool:
    return os.environ.get("COMPLAINTDESK_COMPILED_PLANS", "1").strip().lower() not in {"0", "false", "no", "off"}


# --------------------------------------------------------------------------------------------- rows to JSON
# The statement returns the page as flat rows, the list's own columns as the resolver path reads them; the response's
# values are made from them in Python, by code generated once per document: one expression per response key over a
# row ``r`` (its columns by position), from fixed templates (response keys checked against GraphQL's name pattern,
# helpers passed by name), compiled with ``exec``. PostgreSQL only reads the page: building the JSON there (global IDs
# and cursors base64-encoded per row, times formatted, ``json_build_object``/``json_agg``) cost it three to four
# times what reading the page does, and PostgreSQL was the limit (bench/README.md, branch ``compile2``).


def _iso(moment: datetime | None) -> str | None:
    """A time as Strawberry's DateTime writes it: ``isoformat()`` of asyncpg's UTC value (microseconds only when not
    zero), None for NULL."""
    return None if moment is None else moment.isoformat()


def _key(name: str) -> str:
    if not _NAME.fullmatch(name):  # pragma: no cover - graphql-core parses no other name
        raise NotCompilable(f"response key {name!r}")
    return repr(name)




class _Code:
    """One root field's rows in Python: the page's columns its expressions read (their place in the statement's rows,
    from ``first`` on; the id first, for the cursors), the helpers they call by name, the objects kept per call
    (``memo``) and the values worked out once per row (``once``: a row's id as text and its times formatted, which
    its global ID, its fields and its cursor share)."""

    def __init__(self, first: int) -> None:
        self.first = first
        self.columns: list[str] = ["id"]
        self.names: dict[str, Any] = {"_b64": b2a_base64, "_iso": _iso, "_open_text": q.open_text}
        self.memos = 0
        self.row: dict[str, str] = {}  # expression -> the name of its value in the row's loop (``once``)
        self.inline = 0  # > 0: building an expression of its own function (a memo's), where there is no row loop
        self.times: dict[int, str] = {}  # a time column's place in the row -> its formatted value's name (``once``)

    def use(self, column: str) -> str:
        if column not in self.columns:
            self.columns.append(column)
        return f"r[{self.first + self.columns.index(column)}]"

    def helper(self, value: Any) -> str:
        name = f"_h{len(self.names)}"
        self.names[name] = value
        return name

    def once(self, expression: str) -> str:
        """``expression`` (over the row ``r`` only) worked out once per row, before the row's object: its name."""
        if self.inline:
            return expression
        return self.row.setdefault(expression, f"_v{len(self.row)}")

    def memo(self, key: str, build: Callable[[], str]) -> str:
        """The expression ``build`` makes (an object of a joined row: the owner, a unit, a category) made once per call
        for each value of ``key`` (its id: one snapshot, one row per id), as the resolver path shares them
        (``refs``)."""
        self.inline += 1
        try:
            expression = build()
        finally:
            self.inline -= 1
        made = self.helper(self.function("r, labels, ring", expression, memos=False))
        name = f"_m{self.memos}"
        self.memos += 1
        return f"({name}.get({key}) or {name}.setdefault({key}, {made}(r, labels, ring)))"

    def function(self, arguments: str, expression: str, memos: bool = True) -> Any:
        """``expression`` as a function of ``arguments`` (with the objects kept per call, ``memos``)."""
        namespace = dict(self.names)
        kept = "".join(f"    _m{n} = {{}}\n" for n in range(self.memos)) if memos else ""
        exec(f"def _f({arguments}):\n{kept}    return {expression}\n", namespace)  # noqa: S102 - fixed templates
        return namespace["_f"]

    def rows_function(self, arguments: str, expression: str) -> Any:
        """``[expression for r in rows]`` as a function of ``arguments`` (``rows`` among them), the row's values
        (``once``) worked out before its object, the objects kept per call (``memo``)."""
        namespace = dict(self.names)
        kept = "".join(f"    _m{n} = {{}}\n" for n in range(self.memos))
        values = "".join(f"        {name} = {value}\n" for value, name in self.row.items())
        exec(f"def _f({arguments}):\n{kept}    out = []\n    append = out.append\n    for r in rows:\n{values}"  # noqa: S102
             f"        append({expression})\n    return out\n", namespace)  # fixed templates
        return namespace["_f"]


Leaf = Callable[[_Code, str], str]  # (the root's code, the object's column prefix) -> a Python expression over ``r``


def _column(name: str) -> Leaf:
    return lambda code, prefix: code.use(prefix + name)


def _enum(name: str, enum: type[Any]) -> Leaf:
    if any(m.name != m.value for m in enum):
        raise NotCompilable(f"enum {enum.__name__}: names differ from stored values")
    return _column(name)


def _gid(type_name: str, name: str) -> Leaf:
    """``relay.to_base64``: standard base64 of ``<type>:<id>``, written out (no call of ours per value)."""
    def leaf(code: _Code, prefix: str) -> str:
        text = code.once(f"str({code.use(prefix + name)})")
        return f"_b64(({type_name + ':'!r} + {text}).encode(), newline=False).decode()"

    return leaf


def _time(name: str) -> Leaf:
    """``_iso`` written out."""
    def leaf(code: _Code, prefix: str) -> str:
        column = code.use(prefix + name)
        value = code.once(f"(None if {column} is None else {column}.isoformat())")
        if not code.inline:  # the row's cursor shares it when the page is in this column's order
            code.times[code.first + code.columns.index(prefix + name)] = value
        return value

    return leaf


def _constant(value: str) -> Leaf:
    return lambda code, prefix: repr(value)


@dataclass(frozen=True)
class _Source:
    """A GraphQL object type as columns of the list's SELECT (``queries._build_base``) under a prefix."""
    type_name: str
    leaves: dict[str, Leaf]
    objects: dict[str, tuple[str, str, bool]] = field(default_factory=dict)  # field -> (source, prefix, nullable)
    presence: str = "id"  # the column that is NULL when the (outer-joined) object is absent


@cache
def _sources() -> dict[str, _Source]:
    return {
        "Complaint": _Source("Complaint", {
            "id": _gid("Complaint", "id"), "number": _column("number"), "title": _column("title"),
            "status": _enum("status", models.ComplaintStatus), "channel": _enum("channel", models.Channel),
            "scope": _enum("scope", models.Scope),
            "statusLabel": lambda code, prefix: f"labels.get({code.use(prefix + 'status')})",
            "createdAt": _time("created_at"), "updatedAt": _time("updated_at"), "closedAt": _time("closed_at"),
            "litigation": _column("litigation"), "resolvedOnTheSpot": _column("resolved_on_the_spot"),
            "orderNumber": _column("order_number"), "materialNumber": _column("material_number"),
            "quantity": _column("quantity"), "defectiveQuantity": _column("defective_quantity"),
        }, {"owner": ("User", "owner_", False), "store": ("OrgUnit", "store_", True),
            "responsibleDepartment": ("OrgUnit", "dept_", True), "category": ("Category", "cat_", True)}),
        "User": _Source("User", {
            "id": _gid("User", "id"), "email": _column("email"), "displayName": _column("name"),
            "active": _column("active"), "createdAt": _time("created"),
        }),
        "OrgUnit": _Source("OrgUnit", {
            "id": _gid("OrgUnit", "id"), "name": _column("name"), "code": _column("code"),
            "kind": _enum("kind", org_models.OrgUnitKind), "createdAt": _time("created"),
        }),
        "Category": _Source("Category", {
            "id": _gid("Category", "id"), "code": _column("code"), "name": _column("name"),
            "cause": _enum("cause", org_models.CategoryCause),
            "dimension": _enum("dimension", org_models.CategoryDimension),
        }),
    }


def _fields(selection_set: SelectionSetNode, fragments: dict[str, FragmentDefinitionNode], type_name: str
            ) -> list[tuple[str, list[FieldNode]]]:
    """graphql-core's CollectFields for a concrete type: response keys in order, fields of one key merged."""
    collected: dict[str, list[FieldNode]] = {}
    for selection in selection_set.selections:
        if selection.directives:
            raise NotCompilable("directives (@include/@skip) in the selection")
        if isinstance(selection, FieldNode):
            collected.setdefault((selection.alias or selection.name).value, []).append(selection)
            continue
        if isinstance(selection, FragmentSpreadNode):
            fragment = fragments[selection.name.value]
            condition, inner = fragment.type_condition.name.value, fragment.selection_set
        elif isinstance(selection, InlineFragmentNode):
            condition = selection.type_condition.name.value if selection.type_condition else type_name
            inner = selection.selection_set
        else:  # pragma: no cover - graphql-core has no other selection
            raise NotCompilable(f"selection {type(selection).__name__}")
        if condition != type_name:
            raise NotCompilable(f"a fragment on {condition} inside {type_name}")
        for key, nodes in _fields(inner, fragments, type_name):
            collected.setdefault(key, []).extend(nodes)
    return list(collected.items())


def _merged(nodes: list[FieldNode]) -> SelectionSetNode | None:
    sets = [n.selection_set for n in nodes if n.selection_set is not None]
    if not sets:
        return None
    return SelectionSetNode(selections=tuple(s for ss in sets for s in ss.selections))


def _check_same_field(key: str, nodes: list[FieldNode]) -> str:
    names = {n.name.value for n in nodes}
    if len(names) != 1 or any(n.arguments for n in nodes):
        raise NotCompilable(f"{key}: arguments on a nested field")
    return names.pop()


# --------------------------------------------------------------------------------------------- sealed fields
# PostgreSQL cannot open them: the statement returns the ciphertext (and what opening needs) as columns of the page,
# and the row's code opens and masks it in Python, with the resolver path's own code.


def _sealed_text(column: str) -> Leaf:
    """``description``, ``resolution``: opened by ``queries.open_text`` (as ``ComplaintView`` opens them)."""
    return lambda code, prefix: (f"_open_text(ring, {column!r}, {code.use(prefix + 'id')}, "
                                 f"{code.use(prefix + '_' + column)})")


_COMPLAINANT_FIELDS = {"name": "name", "phone": "phone", "email": "email", "idNumber": "id_number",
                       "address": "address", "masked": "masked", "erased": "erased"}


def _complainant(selection: list[tuple[str, str]]) -> Leaf:
    """``complainant { ... }``: opened and masked by ``Complainant.from_view`` (the resolver path's) from the
    complainant's id, wrapped subject key, identity ciphertext and whether the viewer may see it; then the
    selection's fields."""
    from services.api.complaints.types import Complainant

    def person(ring: Keyring, ident: Any, key: bytes | None, blob: bytes | None, visible: Any) -> Any:
        if ident is None:
            return None
        found = Complainant.from_view(q.ComplainantView(ring, ident, key, blob if blob is not None else b""),
                                      visible=bool(visible))
        return {k: "Complainant" if attr == "__typename" else getattr(found, attr) for k, attr in selection}

    return lambda code, prefix: (f"{code.helper(person)}(ring, {code.use(prefix + 'p_id')}, "
                                 f"{code.use(prefix + 'p_key')}, {code.use(prefix + 'p_identity')}, "
                                 f"{code.use(prefix + 'identity_visible')})")


def _node_builder(source: _Source, selection_set: SelectionSetNode,
                  fragments: dict[str, FragmentDefinitionNode], where: str, sealed: bool = False) -> Leaf:
    """The Python expression of one node (a dict in the selection's order) over a row, as a function of the root's
    code and the node's column prefix. ``sealed``: sealed fields may be selected (a listed complaint's)."""
    parts: list[tuple[str, Leaf]] = []
    for key, nodes in _fields(selection_set, fragments, source.type_name):
        name = _check_same_field(key, nodes)
        path = f"{where}.{name}"
        if name == "__typename":
            parts.append((key, _constant(source.type_name)))
        elif source.type_name == "Complaint" and sealed and (name in q.SEALED_TEXTS or name == "complainant"):
            if name == "complainant":
                inner = _merged(nodes)
                if inner is None:  # pragma: no cover - validation requires a selection
                    raise NotCompilable(f"{path}: no selection")
                selection = []
                for ckey, cnodes in _fields(inner, fragments, "Complainant"):
                    cname = _check_same_field(ckey, cnodes)
                    if cname != "__typename" and cname not in _COMPLAINANT_FIELDS:  # pragma: no cover - validation
                        raise NotCompilable(f"{path}.{cname}")
                    selection.append((ckey, _COMPLAINANT_FIELDS.get(cname, cname)))
                parts.append((key, _complainant(selection)))
            else:
                parts.append((key, _sealed_text(name)))
        elif name in source.leaves:
            parts.append((key, source.leaves[name]))
        elif name in source.objects:
            child_type, child_prefix, nullable = source.objects[name]
            child = _sources()[child_type]
            inner = _merged(nodes)
            if inner is None:  # pragma: no cover - validation requires a selection
                raise NotCompilable(f"{path}: no selection")
            child_build = _node_builder(child, inner, fragments, path)

            def nested(code: _Code, prefix: str, build: Leaf = child_build, child_prefix: str = child_prefix,
                       nullable: bool = nullable, presence: str = child.presence) -> str:
                key = code.use(child_prefix + presence)
                value = code.memo(key, lambda: build(code, child_prefix))
                return f"(None if {key} is None else {value})" if nullable else value

            parts.append((key, nested))
        else:
            raise NotCompilable(f"{path}: resolved in Python (not in the list's SELECT)")

    def build(code: _Code, prefix: str) -> str:
        return "{" + ", ".join(f"{_key(key)}: {part(code, prefix)}" for key, part in parts) + "}"

    return build


# --------------------------------------------------------------------------------------------- root fields
# The rows of a list root's statement: first the viewer's (its id, roles, unit, policy version and language, the
# tenant's language, whether the page was read, the count; NULL in the page's columns), then one row per complaint of
# the page (size + 1: the next page's first says there is one; NULL in the viewer's columns), with the page's columns
# (``_Code.columns``, then the ordering's column when the selection reads none); no row: no such active user.
VIEWER_ID, VIEWER_ROLES, VIEWER_UNIT, VIEWER_VERSION, VIEWER_LOCALE, TENANT_LOCALE, BUILT, TOTAL = range(8)
FIRST_COLUMN = 8


@dataclass
class _ListRoot:
    """``complaints(filter, orderBy, first, after)``: the connection as one statement."""
    key: str
    node: FieldNode
    # connection key -> what: "totalCount", "__typename", ("pageInfo", [(key, field)]), ("edges", the edges' code:
    # (rows, labels, ring, the cursors' encoder, the ordering column's place) -> the list of edges)
    parts: list[tuple[str, Any]]
    columns: list[str]  # the page's columns in the statement's rows, from FIRST_COLUMN on
    one_trip: int = 0  # pages this root answered in one round trip (one_round_trip)

    def arguments(self, schema: Any, variables: Any) -> dict[str, Any]:
        """The field's arguments as the resolver gets them: coerced by graphql-core, then converted by Strawberry
        (input classes); ``_Fallback`` for a value Strawberry refuses (a malformed global ID: its error, its path)."""
        graphql_schema = schema._schema
        field_def = graphql_schema.query_type.fields["complaints"]
        try:
            args = convert_arguments(get_argument_values(field_def, self.node, variables),
                                     field_def.extensions["strawberry-definition"].arguments,
                                     scalar_registry=schema.schema_converter.scalar_registry, config=schema.config)
        except Exception as exc:
            raise _Fallback("arguments") from exc
        if args.get("last") is not None or args.get("before") is not None:  # pragma: no cover - not registered
            raise _Fallback("backward paging")
        return dict(args)

    async def run(self, ctx: Context, args: dict[str, Any]) -> Any:
        from services.api.authz import complaint_access
        from services.api.complaints.queries import list_filter

        order = q.ComplaintOrder(args.get("order_by", q.ComplaintOrder.CREATED_AT_DESC))
        first, after, given = args.get("first"), args.get("after"), args.get("filter")
        if given is None or given.due_within_working_days is None:  # no calendar to read first: the viewer with
            answer = await self.one_round_trip(ctx, given, order, first, after)  # the page, in one statement
            if answer is not _MISSED:
                return answer
        grant = await complaint_access(ctx)  # the viewer's scope: the same ComplaintAccess as the resolver's
        core_filter = await list_filter(ctx, given)
        locale = await ctx.locale()
        seen = _remember(ctx)
        viewer = ctx._viewer
        assert viewer is not None  # complaint_access required one
        if not FILTERED_PAGES and core_filter.filters():
            raise _Fallback("a filtered page")
        subject = authz.Subject(user_id=viewer.id, tenant=ctx.tenant.slug)
        async with ctx.db() as session:
            # in the request's transaction: the same statement (the viewer read with the page again, checked the
            # same way), sent as SQL text straight to asyncpg (its prepared-statement cache)
            connection = await session.connection()
            prepared = self.prepare(grant, (subject, seen), core_filter, order, first, after, keyring_of(session),
                                    ctx.tenant.schema)
            raw = (await connection.get_raw_connection()).driver_connection
            assert raw is not None
            try:
                rows = await raw.fetch(*prepared)
            except Exception:  # the transaction is aborted: the resolver path answers it in a new one
                with contextlib.suppress(Exception):
                    await session.rollback()
                raise
            ring = keyring_of(session)
        accept = ctx.request.headers.get("accept-language") if ctx.request is not None else None
        if not _checked(rows, seen, accept, locale, ctx.tenant.slug):
            raise _Fallback("the viewer changed")  # since the request's session read it: the resolver path reads
        return self.answer(rows, q.page_size(first), order, after is not None, locale, ring)

    def answer(self, rows: Any, size: int, order: q.ComplaintOrder, next_page: bool, locale: str, ring: Keyring
               ) -> dict[str, Any]:
        """The connection's value from the statement's rows (``_checked`` first): the page's ``size`` rows, their
        cursors from their ordering value and id (``queries.cursor_of``, as the resolver path's)."""
        head, found = _split(rows)
        column, descending = q.ORDER_COLUMNS[order]
        at = FIRST_COLUMN + (self.columns.index(column.key) if column.key in self.columns else len(self.columns))
        # in the page's order (they come so: a linear pass), the next page's first row last
        page = sorted(found, key=itemgetter(at, FIRST_COLUMN), reverse=descending)[:size]

        encode = _CURSORS[order]

        def cursor(r: Any) -> str:
            return encode(r[at], r[FIRST_COLUMN])

        data: dict[str, Any] = {}
        for key, part in self.parts:
            if part == "totalCount":
                data[key] = head[TOTAL]
            elif part == "__typename":
                data[key] = "ComplaintConnection"
            elif part[0] == "pageInfo":
                info: dict[str, Any] = {}
                for info_key, what in part[1]:
                    if what == "hasNextPage":
                        info[info_key] = len(found) > size
                    elif what == "hasPreviousPage":
                        info[info_key] = next_page
                    elif what == "startCursor":
                        info[info_key] = cursor(page[0]) if page else None
                    elif what == "endCursor":
                        info[info_key] = cursor(page[-1]) if page else None
                    else:
                        info[info_key] = "PageInfo"
                data[key] = info
            else:  # ("edges", its code)
                data[key] = part[1](page, _labels_in(locale), ring, encode, at, _TEXT_CURSORS[order])
        return data

    def prepare(self, grant: Any, viewer: tuple[authz.Subject, _Seen], core_filter: q.ComplaintFilter,
                order: q.ComplaintOrder, first: int | None, after: str | None, ring: Any, schema: str
                ) -> tuple[Any, ...]:
        """The statement kept with the viewer's access (``grant.statements``) for this shape of request, as SQL
        text, and this request's parameters: ``(sql, *parameters)``. A shape: the page size, order, first or next
        page, and for a filtered page the filter's shape (which conditions, how many values in a list: SQLAlchemy's
        cache key of the page's and the count's SELECT), the filter's values bound per request (taken from this
        request's SELECTs by their place in the cache key), as the cursor's are. At most ``RENDERED_KEPT`` shapes
        per access (``_Fallback`` beyond: rendering one per request costs more than the resolver path). ``viewer``:
        whose row the statement reads with the page, and what it must say (``_checked``)."""
        cursor = q.CURSOR_PARAMETERS if after is not None else None
        values: dict[str, Any] = {}
        if after is not None:  # a next page: one kept statement for every cursor, its values bound
            q.page_size(first)  # the resolver checks the size before the cursor: so here
            values = q.cursor_values(order, after)
        built = bound = shape = None
        if core_filter.filters():
            built = (q.page_statement(core_filter, order, first, cursor, grant.read, grant.identity, ring),
                     q.count_statement(core_filter, grant.read, ring))
            keys = (built[0][0]._generate_cache_key(), built[1]._generate_cache_key())
            if keys[0] is None or keys[1] is None:  # pragma: no cover - every element of the list is cacheable
                raise _Fallback("a statement SQLAlchemy cannot key")
            bound = (keys[0].bindparams, keys[1].bindparams)
            lists = tuple(len(b.effective_value or ()) for binds in bound for b in binds if b.expanding)
            shape = (keys[0].key, keys[1].key, lists)
        cache_key = ("compiled", id(self), order, first, cursor is not None, shape)
        rendered = grant.statements.get(cache_key)
        if rendered is None:
            if _kept(grant, shape is not None) >= (RENDERED_KEPT if shape is None else FILTERED_KEPT):
                raise _Fallback("rendered statements kept")  # bounded like the resolver's kept pages
            if built is None:
                built = (q.page_statement(core_filter, order, first, cursor, grant.read, grant.identity, ring),
                         q.count_statement(core_filter, grant.read, ring))
            statement = self.statement(built, order, *viewer)
            rendered = grant.statements.setdefault(cache_key, _Rendered.render(
                statement, get_engine().dialect, {TENANT_SCHEMA_PLACEHOLDER: schema}, bound))
        return (rendered.sql, *rendered.params(values, bound))

    async def one_round_trip(self, ctx: Context, given: Any, order: q.ComplaintOrder, first: int | None,
                             after: str | None) -> Any:
        """A page and the viewer in ONE statement on a pooled connection, no session: the viewer's row (active,
        roles, org unit, language), the tenant's policy version and default language, and the page built under the
        access filters of the version and unit this process last saw for the viewer (``_Seen``), only if the row
        says they are still those (else the page is not built). Everything the answer depends on is checked against
        that row, read in the same snapshot as the page: a changed version, unit, roles or language, no such active
        user, or filters this process no longer keeps: ``_MISSED``, and the request takes the path through the
        request's session (which reads everything afresh)."""
        from services.api.complaints.queries import list_filter

        tenant, principal = ctx.tenant_ref, ctx.principal
        if tenant is None or not isinstance(principal, StaffPrincipal):
            return _MISSED
        key = (tenant.slug, principal.user_id)
        seen = _seen.get(key)
        if seen is None:
            return _MISSED
        subject = authz.Subject(user_id=principal.user_id, tenant=tenant.slug)
        grant = authz.kept_complaint_access(subject, version=seen.version, unit=seen.unit)
        if grant is None:
            return _MISSED
        core_filter = await list_filter(ctx, given)  # no database: no dueWithinWorkingDays (see run)
        if not FILTERED_PAGES and core_filter.filters():
            raise _Fallback("a filtered page")
        accept = ctx.request.headers.get("accept-language") if ctx.request is not None else None
        locale = i18n.choose(seen.preference, accept, _tenant_locales.get(tenant.slug))
        ring = await get_keyring(tenant.slug)
        prepared = self.prepare(grant, (subject, seen), core_filter, order, first, after, ring, tenant.schema)
        # in turn within a tenant, fairly between tenants: a few such statements at once (statement_slots), each with
        # a connection as a session takes its own (session_slots)
        gate, slots = statement_slots(), session_slots()
        await gate.acquire(tenant.slug)
        try:
            await slots.acquire(tenant.slug)
            try:
                async with driver_connection() as connection:
                    rows = await connection.fetch(*prepared)
            finally:
                slots.release(tenant.slug)
        finally:
            gate.release(tenant.slug)
        if not rows:  # no such active user (any more): the resolver path says so
            _seen.pop(key, None)
            return _MISSED
        if not _checked(rows, seen, accept, locale, tenant.slug):
            return _MISSED  # built for what the viewer no longer is (or not built): this request reads afresh
        self.one_trip += 1
        return self.answer(rows, q.page_size(first), order, after is not None, locale, ring)

    def statement(self, built: tuple[tuple[Any, int], Any], order: q.ComplaintOrder, subject: authz.Subject,
                  seen: _Seen) -> Any:
        """The root field's one SELECT around ``built`` (the page's SELECT and size, ``queries.page_statement``, and
        the count's, ``queries.count_statement``) with the viewer's row as ``auth.service.active_user`` reads it (no
        row: no such active user) and the tenant's stored language, the page read only when the row's policy version
        and unit are ``seen``'s (those the access filters in ``built`` were made for): rows as the list above
        ``_ListRoot`` says."""
        (page_select, _), count = built
        column = q.ORDER_COLUMNS[order][0].key
        names = self.columns if column in self.columns else [*self.columns, column]
        # only the columns the rows carry: PostgreSQL sorts the page's rows with every column they have (the sealed
        # values too), and leaves out the outer joins whose columns no one reads
        kept = [c for c, key in zip(page_select.selected_columns, page_select.subquery().c.keys(), strict=True)
                if key in names]  # (by the subquery's keys: a column's own key may differ, "_description")
        page = page_select.with_only_columns(*kept).subquery("page")
        who = auth_service.active_user_statement(subject.user_id).subquery("who")
        viewer = select(*who.c, and_(func.coalesce(who.c.policy_version, 0) == literal(seen.version, Integer),
                                     who.c.org_unit_id.is_not_distinct_from(seen.unit)).label("current")
                        ).cte("viewer")
        # LATERAL: the page is read (a gating one-time filter) only when the viewer's row is current. No ORDER BY:
        # the page's rows come in the page's order, and ``answer`` puts them in order whatever happens (a sort
        # PostgreSQL would do on every request). The viewer's columns once, not on every row of the page
        rows = select(*(page.c[name] for name in names)).where(viewer.c.current).lateral("rows")
        counted = any(part == "totalCount" for _, part in self.parts)
        total = case((viewer.c.current, count.scalar_subquery()), else_=null()) if counted else null()
        blank = [null()] * len(names)
        return union_all(
            select(viewer.c.id, viewer.c.roles, viewer.c.org_unit_id, viewer.c.policy_version, viewer.c.locale,
                   tenant_locale_statement().scalar_subquery(), viewer.c.current, total, *blank),
            select(*[null()] * FIRST_COLUMN, *rows.c).select_from(viewer).join(rows, true()))


@dataclass(frozen=True)
class _Rendered:
    """A statement as asyncpg's SQL text (the tenant's schema written in) and its positional parameters: the kept
    values, the names bound per request (a cursor's position), and those taken from the request's own page and
    count SELECTs (a filter's values: ``sources``, by their place in the SELECTs' cache keys)."""
    sql: str
    names: tuple[str, ...]
    kept: dict[str, Any]
    processors: dict[str, Any]
    sources: dict[str, tuple[int, int, int | None]] = field(default_factory=dict)  # name -> (SELECT, bind, item)

    @classmethod
    def of(cls, statement: Any, connection: Any) -> _Rendered:
        sync = connection.sync_connection
        return cls.render(statement, sync.dialect, sync.get_execution_options().get("schema_translate_map") or {})

    @classmethod
    def render(cls, statement: Any, dialect: Any, schemas: dict[str, str],
               bound: tuple[Any, ...] | None = None) -> _Rendered:
        """``bound``: the bind parameters of the SELECTs inside ``statement`` in their cache keys' order; the
        parameters rendered from them are taken from the same places of each request's SELECTs (``params``)."""
        compiled = statement.compile(dialect=dialect, schema_translate_map=schemas,
                                     compile_kwargs={"render_postcompile": True})
        sql = str(compiled)
        for key, schema in schemas.items():
            sql = sql.replace(f"__[SCHEMA_{key}]", dialect.identifier_preparer.quote_schema(schema))
        if "__[SCHEMA_" in sql:  # pragma: no cover - every table of the list is the tenant's
            raise RuntimeError("a schema placeholder left in a compiled plan")
        names = tuple(compiled.positiontup or ())
        sources: dict[str, tuple[int, int, int | None]] = {}
        if bound is not None:
            place = {id(b): (n, i) for n, binds in enumerate(bound) for i, b in enumerate(binds)}
            for name in names:
                item: int | None = None
                bind = compiled.binds.get(name)
                if bind is None:  # an item of an expanded list (IN): "<list's name>_<1-based position>"
                    base, _, position = name.rpartition("_")
                    bind = compiled.binds.get(base)
                    if bind is None or not bind.expanding:  # pragma: no cover - SQLAlchemy names them so
                        raise RuntimeError(f"parameter {name} of a compiled plan not found")
                    item = int(position) - 1
                found = place.get(id(bind))
                if found is not None:
                    sources[name] = (*found, item)
        # interned: viewers of the same shape of access share the text (their values are parameters)
        return cls(sys.intern(sql), names, compiled.construct_params(), dict(compiled._bind_processors), sources)

    def params(self, values: dict[str, Any], bound: tuple[Any, ...] | None = None) -> tuple[Any, ...]:
        out = []
        for name in self.names:
            if name in values:
                value = values[name]
            elif bound is not None and name in self.sources:
                select_, bind, item = self.sources[name]
                value = bound[select_][bind].effective_value
                if item is not None:
                    value = value[item]
            else:
                value = self.kept[name]
            processor = self.processors.get(name)
            out.append(processor(value) if processor is not None else value)
        return tuple(out)


class _Fallback(Exception):
    """This request (not the operation) takes the resolver path."""


_MISSED: Any = object()  # one_round_trip could not answer: the request's session path does


@dataclass(frozen=True, slots=True)
class _Seen:
    """What a viewer's row said when this process last read it: a guess of the access filters and language to build
    the next page with, checked against the row read with that page (never trusted on its own)."""
    version: int
    unit: Any
    roles: tuple[str, ...]
    preference: str | None  # the user's own language


SEEN_KEPT = 4096  # viewers remembered per process (an entry is a few hundred bytes)
_seen: OrderedDict[tuple[str, Any], _Seen] = OrderedDict()
# the tenant's stored language as the last statement read it (a guess too, checked the same way)
_tenant_locales: dict[str, str | None] = {}


def _keep(key: tuple[str, Any], seen: _Seen) -> None:
    _seen[key] = seen
    _seen.move_to_end(key)
    while len(_seen) > SEEN_KEPT:
        _seen.popitem(last=False)


def _remember(ctx: Context) -> _Seen:
    """After the request's session read the viewer: what it said (and what ``one_round_trip`` will guess next
    time, for a staff member)."""
    viewer, principal, tenant = ctx._viewer, ctx.principal, ctx.tenant_ref
    assert viewer is not None and ctx.policy_version is not None and tenant is not None
    seen = _Seen(version=ctx.policy_version, unit=viewer.org_unit_id, roles=tuple(viewer.roles),
                 preference=viewer.locale)
    if isinstance(principal, StaffPrincipal):
        _keep((tenant.slug, principal.user_id), seen)
    return seen


def _checked(rows: Any, seen: _Seen, accept: str | None, locale: str, slug: str) -> bool:
    """Whether the rows of a list root's statement hold the page: not when there is no such active user (any more),
    or the viewer's row says they are not what ``seen`` said (the page was then not read), or their language is not
    ``locale``. What the row says is remembered either way (the next guess)."""
    row, _ = _split(rows)
    if row is None:
        return False
    now = _Seen(version=int(row[VIEWER_VERSION] or 0), unit=row[VIEWER_UNIT], roles=tuple(row[VIEWER_ROLES]),
                preference=row[VIEWER_LOCALE])
    _keep((slug, row[VIEWER_ID]), now)
    _tenant_locales[slug] = row[TENANT_LOCALE]
    return bool(row[BUILT]) and now == seen and i18n.choose(now.preference, accept, row[TENANT_LOCALE]) == locale


def _split(rows: Any) -> tuple[Any, list[Any]]:
    """A list root's rows as the viewer's (None: no such active user) and the page's."""
    if rows and rows[0][VIEWER_ID] is not None:  # first, as UNION ALL reads its branches in turn
        return rows[0], rows[1:]
    viewer = next((r for r in rows if r[VIEWER_ID] is not None), None)  # in any other order
    return viewer, [r for r in rows if r[VIEWER_ID] is None]


def _kept(grant: Any, filtered: bool) -> int:
    """Statements of compiled plans kept with ``grant``: of filtered pages, or of the others."""
    return sum(1 for key in grant.statements if isinstance(key, tuple) and str(key[0]).startswith("compiled")
               and (key[-1] is not None) == filtered)


_CONNECTION_FIELDS = {"totalCount", "pageInfo", "edges", "__typename"}
_PAGE_INFO_FIELDS = {"hasNextPage", "hasPreviousPage", "startCursor", "endCursor", "__typename"}


def _cursor(code: _Code) -> str:
    """An edge's cursor (``queries.cursor_encoder`` of the page's order, ``cursor``, and the ordering column's place
    in the row, ``at``): from the row's creation (or other) time as the node's field formats it when the page is in
    that time's order (``queries.cursor_text_encoder``, ``text_cursor``), else from the column's value; the row's id
    as text either way."""
    ident = code.once(f"str(r[{FIRST_COLUMN}])")
    expression = f"cursor(r[at], {ident})"
    for place, value in code.times.items():
        expression = f"(text_cursor({value}, {ident}) if at == {place} and {value} is not None else {expression})"
    return expression


def _list_root(key: str, node: FieldNode, fragments: dict[str, FragmentDefinitionNode]) -> _ListRoot:
    if node.selection_set is None:  # pragma: no cover
        raise NotCompilable("complaints: no selection")
    parts: list[tuple[str, Any]] = []
    code = _Code(FIRST_COLUMN)
    for ckey, nodes in _fields(node.selection_set, fragments, "ComplaintConnection"):
        name = _check_same_field(ckey, nodes)
        if name not in _CONNECTION_FIELDS:
            raise NotCompilable(f"complaints.{name}")
        if name in ("totalCount", "__typename"):
            parts.append((ckey, name))
        elif name == "pageInfo":
            inner = _merged(nodes)
            assert inner is not None
            info = []
            for ikey, inodes in _fields(inner, fragments, "PageInfo"):
                iname = _check_same_field(ikey, inodes)
                if iname not in _PAGE_INFO_FIELDS:  # pragma: no cover - validation
                    raise NotCompilable(f"complaints.pageInfo.{iname}")
                info.append((ikey, iname))
            parts.append((ckey, ("pageInfo", info)))
        else:
            inner = _merged(nodes)
            assert inner is not None
            edge: list[tuple[str, str | None]] = []  # (key, expression; None: the cursor)
            for ekey, enodes in _fields(inner, fragments, "ComplaintEdge"):
                ename = _check_same_field(ekey, enodes)
                if ename == "cursor":
                    edge.append((ekey, None))  # once the node is built (the row's values it shares)
                elif ename == "__typename":
                    edge.append((ekey, "'ComplaintEdge'"))
                elif ename == "node":
                    node_set = _merged(enodes)
                    assert node_set is not None
                    build = _node_builder(_sources()["Complaint"], node_set, fragments, "complaints.edges.node",
                                          sealed=True)
                    edge.append((ekey, build(code, '')))
                else:  # pragma: no cover - validation
                    raise NotCompilable(f"complaints.edges.{ename}")
            expression = "{" + ", ".join(f"{_key(k)}: {_cursor(code) if v is None else v}" for k, v in edge) + "}"
            parts.append((ckey, ("edges", code.rows_function("rows, labels, ring, cursor, at, text_cursor",
                                                             expression))))
    return _ListRoot(key, node, parts, code.columns)


_ROOTS: dict[str, Callable[[str, FieldNode, dict[str, FragmentDefinitionNode]], Any]] = {
    "complaints": _list_root,
}


def _labels_in(locale: str) -> dict[str, str]:
    """``{status: label}`` in the reader's locale, as ``ComplaintType.status_label`` translates it
    (``Context.translate``: ``i18n.translate`` in the request's locale)."""
    found = _LABELS.get(locale)
    if found is None:
        found = _LABELS[locale] = {s.value: i18n.translate(procedure.status_label(s), locale)
                                   for s in models.ComplaintStatus}
    return found


_LABELS: dict[str, dict[str, str]] = {}
_CURSORS = {order: q.cursor_encoder(order) for order in q.ComplaintOrder}
_TEXT_CURSORS = {order: q.cursor_text_encoder(order) for order in q.ComplaintOrder}


# --------------------------------------------------------------------------------------------- plans


@dataclass
class Plan:
    name: str
    digest: str
    document: DocumentNode
    operation: OperationDefinitionNode
    roots: list[Any]
    answered: int = 0  # requests this plan answered (the rest of its requests took the resolver path)

    # the roots' arguments by the request's variables (as JSON): coerced and converted once, as graphql-core and
    # Strawberry would each time (a pure function of the document and the variables; values are only read)
    _arguments: OrderedDict[bytes, list[dict[str, Any]]] = field(default_factory=OrderedDict, repr=False)

    def arguments(self, schema: Any, variables: dict[str, Any] | None) -> list[dict[str, Any]] | None:
        """Each root's arguments, or None for variables the resolver path refuses (it reports them)."""
        try:
            key: bytes | None = orjson.dumps(variables, option=orjson.OPT_SORT_KEYS)
        except TypeError:  # pragma: no cover - an integer past 64 bits: not kept
            key = None
        found = self._arguments.get(key) if key is not None else None
        if found is not None:
            self._arguments.move_to_end(key)  # type: ignore[arg-type]
            return found
        coerced = get_variable_values(schema._schema, self.operation.variable_definitions or (), variables or {})
        if isinstance(coerced, list):  # variable errors: the resolver path reports them
            return None
        found = [root.arguments(schema, coerced) for root in self.roots]  # _Fallback: not kept
        if key is not None:
            self._arguments[key] = found
            while len(self._arguments) > ARGUMENTS_KEPT:
                self._arguments.popitem(last=False)
        return found

    async def run(self, ctx: Context, schema: Any, variables: dict[str, Any] | None) -> dict[str, Any] | None:
        """The response's ``data``, or None: this request takes the resolver path (which answers it). ``schema``:
        the Strawberry schema the resolver path executes."""
        data: dict[str, Any] = {}
        try:
            arguments = self.arguments(schema, variables)
            if arguments is None:
                return None
            for root, args in zip(self.roots, arguments, strict=True):
                data[root.key] = await root.run(ctx, args)
        except (DomainError, RequestError, _Fallback):
            return None
        except Exception as exc:  # the resolver path answers it (a 503 when a dependency is down, as it answers)
            if unavailable_cause(exc) is None:
                failures.report(logger, exc, f"compiled plan {self.name}")
            return None
        self.answered += 1
        return data


def compile_document(schema: GraphQLSchema, digest: str, text: str) -> Plan:
    """The document's plan, or ``NotCompilable`` with the reason."""
    document = parse(text, no_location=True)
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    if len(operations) != 1:
        raise NotCompilable("not exactly one operation")
    [operation] = operations
    if operation.operation is not OperationType.QUERY:
        raise NotCompilable(f"a {operation.operation.value}")
    if errors := validate(schema, document):
        raise NotCompilable(f"not valid against the schema: {errors[0].message}")
    roots = []
    for key, nodes in _fields(operation.selection_set, fragments, "Query"):
        name = nodes[0].name.value
        if len(nodes) > 1:
            raise NotCompilable(f"{key}: a root field selected twice")
        if name not in _ROOTS:
            raise NotCompilable(f"root field {name}: no compiler for it")
        roots.append(_ROOTS[name](key, nodes[0], fragments))
    name = operation.name.value if operation.name else "(anonymous)"
    return Plan(name, digest, document, operation, roots)


@dataclass
class Report:
    plans: dict[str, Plan]
    rows: list[tuple[str, str, str, str]]  # (name, digest, "compiled" | "fallback", reason)


def build(schema: GraphQLSchema, registered: dict[str, str] | None = None) -> Report:
    plans: dict[str, Plan] = {}
    rows: list[tuple[str, str, str, str]] = []
    for digest, text in sorted((registered if registered is not None else documents.registry()).items()):
        operation = next((d for d in parse(text, no_location=True).definitions
                          if isinstance(d, OperationDefinitionNode)), None)
        if operation is None or operation.operation is not OperationType.QUERY:
            continue
        name = operation.name.value if operation.name else "(anonymous)"
        try:
            plans[digest] = compile_document(schema, digest, text)
            rows.append((name, digest, "compiled", ""))
        except NotCompilable as exc:
            rows.append((name, digest, "fallback", str(exc)))
    rows.sort()
    for name, _, outcome, reason in rows:
        if outcome == "fallback":
            logger.info("registered query %s takes the resolver path: %s", name, reason)
    return Report(plans, rows)


def report_text(report: Report) -> str:
    width = max((len(r[0]) for r in report.rows), default=4)
    lines = [f"{name:<{width}}  {digest[:12]}  {outcome}{'  ' + reason if reason else ''}"
             for name, digest, outcome, reason in report.rows]
    compiled = sum(1 for r in report.rows if r[2] == "compiled")
    lines.append(f"{compiled} of {len(report.rows)} registered queries compiled; the others take the resolver path")
    return "\n".join(lines) + "\n"


def observe(plan: Plan, seconds: float) -> None:
    """What ``OperationMetrics`` records for an operation (the compiled path skips Strawberry's extensions)."""
    names = [r.key for r in plan.roots]
    label = names[0] if len(names) == 1 else "(multiple)"
    metrics.labelled(metrics.GRAPHQL_OPERATIONS, "query", label, "ok").inc()
    metrics.labelled(metrics.GRAPHQL_LATENCY, "query", label).observe(seconds)
    access.info("query %s: ok in %.1f ms (compiled)", label, seconds * 1000)
