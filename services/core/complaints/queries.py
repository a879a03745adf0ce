"""Reading complaints: one statement per page, whatever the page size.

The list joins owner, store, responsible department, category and complainant in
the same SELECT and returns plain frozen views (no ORM identity map on the hot
path); the forms and the history are fetched per page by the batch functions
below, one statement each.
"""

from __future__ import annotations

import base64
import enum
import json
import uuid
from binascii import b2a_base64
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, NamedTuple, TypeVar

import orjson
from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    bindparam,
    exists,
    false,
    func,
    or_,
    select,
    true,
    tuple_,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased, defer
from sqlalchemy.types import NullType

from services.core import validation as v
from services.core.complaints.models import (
    Complainant,
    Complaint,
    CustomerMessage,
    CustomerOpinion,
    Evidence,
    HandlingForm,
    Investigation,
    Review,
    SatisfactionSurvey,
    TransferSlip,
)
from services.core.complaints.service import NUMBER_PATTERN
from services.core.crypto.fields import (
    DecryptionError,
    aad,
    aad_prefix,
    blind_index,
    keyring_of,
    open_sealed,
    open_subject_key,
)
from services.core.crypto.keys import Keyring
from services.core.deadlines.models import Deadline
from services.core.deadlines.service import due_before_clause, overdue_clause
from services.core.errors import DomainError, ErrorCode
from services.core.i18n import msg
from services.core.org.models import Category, OrgUnit, User
from services.core.validation import email_key, id_number_key, phone_key

MAX_PAGE = 100
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2999, 12, 31, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class UserRef:
    id: uuid.UUID
    email: str
    display_name: str
    roles: list[str]
    active: bool
    org_unit_id: uuid.UUID | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class UnitRef:
    id: uuid.UUID
    name: str
    code: str | None
    kind: str
    parent_id: uuid.UUID | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class CategoryRef:
    id: uuid.UUID
    code: str
    name: str
    cause: str | None
    dimension: str | None


class SealedBatch:
    """The rows read by one statement (a page): each sealed column is opened for all of them together, the first
    time a query reads it on any of them, and nothing is opened for a column no query reads.

    Opening the rows one after another in one loop costs about a third of opening each value when GraphQL
    reaches its field: between two such opens the execution of a whole row runs, and the cipher's code and data
    are no longer in the processor's caches (bench/README.md, 2026-12-07). A value that does not open is
    logged once and raises ``DecryptionError`` on its own row only, as a per-row open would.

    The batch keeps the ciphertexts it needs, not the views: the views refer to the batch and nothing here refers
    back, so a page is freed by reference counting when its request ends, never left to the garbage collector
    (a cycle per page made every request leave ~150 objects for it: a collection of ~4 ms every 50 requests).
    """

    __slots__ = ("_columns", "_identities", "people", "ring", "rows")

    def __init__(self, ring: Keyring) -> None:
        self.ring = ring
        self.rows: list[tuple[uuid.UUID, bytes | None, bytes | None]] = []  # id, description, resolution
        self.people: list[tuple[uuid.UUID, bytes | None, bytes]] = []  # complainant id, wrapped key, identity
        self._columns: dict[str, list[Any]] = {}
        self._identities: list[Any] | None = None

    def complaint_value(self, row: int, column: str) -> str | None:
        """``complaints.<column>`` (description, resolution) of the batch's ``row``-th view, decrypted."""
        opened = self._columns.get(column)
        if opened is None:
            opened = self._columns[column] = self._open_complaints(column)
        value = opened[row]
        if isinstance(value, DecryptionError):
            raise DecryptionError(*value.args)
        return value  # type: ignore[no-any-return]

    def _open_complaints(self, column: str) -> list[Any]:
        ring, prefix = self.ring, aad_prefix(self.ring.tenant, "complaints", column)
        description = column == "description"
        out: list[Any] = []
        append = out.append
        for row_id, description_blob, resolution_blob in self.rows:
            blob = description_blob if description else resolution_blob
            if blob is None:
                append(None)
                continue
            try:
                append(open_sealed(ring, blob, prefix + row_id.bytes).decode())
            except DecryptionError as exc:  # logged by open_sealed; raised when that row's field is read
                append(exc)
        return out

    def identity(self, slot: int) -> dict[str, Any] | DecryptionError:
        """The ``slot``-th complainant's identity (every complainant of the batch opened on the first call: one
        subject key and one decryption each), or the error that row raises when read."""
        opened = self._identities
        if opened is None:
            opened = self._identities = self._open_people()
        return opened[slot]  # type: ignore[no-any-return]

    def _open_people(self) -> list[Any]:
        ring = self.ring
        prefix = aad_prefix(ring.tenant, "complainants", "identity")
        out: list[Any] = []
        append = out.append
        for person_id, wrapped, blob in self.people:
            try:
                key = open_subject_key(ring, "complainants", person_id, wrapped)
                append({} if key is None else orjson.loads(open_sealed(ring, blob, prefix + person_id.bytes, key)))
            except DecryptionError as exc:  # logged once; raised when that complainant is read
                append(exc)
        return out


class ComplainantView:
    """A complainant as read with a page: the identity is opened on first access (one subject-key unwrap and
    one decryption; with every other complainant of the page, see ``SealedBatch``), so a page that does not
    show who complained decrypts nothing."""

    __slots__ = ("_batch", "_blob", "_error", "_id", "_ring", "_slot", "_values", "_wrapped")

    def __init__(self, ring: Keyring, complainant_id: uuid.UUID, wrapped_key: bytes | None, blob: bytes,
                 batch: SealedBatch | None = None) -> None:
        self._ring = ring
        self._id = complainant_id
        self._wrapped = wrapped_key
        self._blob = blob
        self._values: dict[str, Any] | None = None
        self._error: DecryptionError | None = None
        self._batch = batch
        if batch is not None:
            self._slot = len(batch.people)
            batch.people.append((complainant_id, wrapped_key, blob))

    @property
    def erased(self) -> bool:
        return self._wrapped is None

    def values(self) -> dict[str, Any]:
        """The identity fields by name (empty once erased), decrypted on the first call."""
        values = self._values
        return values if values is not None else self._open()

    def _open(self) -> dict[str, Any]:
        if self._values is None:
            if self._error is None:
                if self._batch is not None:
                    opened = self._batch.identity(self._slot)
                    if isinstance(opened, DecryptionError):
                        self._error = opened
                    else:
                        self._values = opened
                else:
                    key = open_subject_key(self._ring, "complainants", self._id, self._wrapped)
                    self._values = {} if key is None else orjson.loads(open_sealed(
                        self._ring, self._blob, aad(self._ring.tenant, "complainants", "identity", self._id), key))
            if self._error is not None:
                raise DecryptionError(*self._error.args)
            assert self._values is not None
        return self._values

    @property
    def name(self) -> str | None:
        return self.values().get("name")

    @property
    def phone(self) -> str | None:
        return self.values().get("phone")

    @property
    def email(self) -> str | None:
        return self.values().get("email")

    @property
    def id_number(self) -> str | None:
        return self.values().get("id_number")

    @property
    def address(self) -> str | None:
        return self.values().get("address")

class ComplaintView(NamedTuple):
    """A complaint as a page reads it: immutable, built once per row (a named tuple: a frozen dataclass of this
    many fields costs ten times as much to build, each field set through ``object.__setattr__``)."""

    id: uuid.UUID
    number: str
    status: str
    channel: str
    title: str
    description_blob: bytes
    scope: str
    cause: str | None
    order_number: str | None
    material_number: str | None
    quantity: int | None
    delivery_date: date | None
    defective_quantity: int | None
    amount: Decimal | None
    litigation: bool
    resolved_on_the_spot: bool
    resolution_blob: bytes | None
    repeat_of_id: uuid.UUID | None
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    owner: UserRef
    store: UnitRef | None
    responsible_department: UnitRef | None
    category: CategoryRef | None
    complainant: ComplainantView
    ring: Keyring
    identity_visible: bool = True
    batch: SealedBatch | None = None
    """The rows read with this one, whose sealed values are opened together (None: this row alone)."""
    row: int = 0
    """This view's place in ``batch``."""

    @property
    def description(self) -> str:
        """Decrypted on access (not with the page; with the rest of the page's descriptions, if any)."""
        if self.batch is not None:
            return self.batch.complaint_value(self.row, "description")  # type: ignore[return-value]
        return str(open_text(self.ring, "description", self.id, self.description_blob))

    @property
    def resolution(self) -> str | None:
        if self.resolution_blob is None:
            return None
        if self.batch is not None:
            return self.batch.complaint_value(self.row, "resolution")
        return open_text(self.ring, "resolution", self.id, self.resolution_blob)


SEALED_TEXTS = ("description", "resolution")


def open_text(ring: Keyring, column: str, complaint_id: uuid.UUID, blob: bytes | None) -> str | None:
    """A complaint's sealed text (``SEALED_TEXTS``) opened, None for none: ``ComplaintView`` and the compiled plans
    (services/api/compiled.py, which receive the ciphertext at known places of a page's JSON)."""
    if blob is None:
        return None
    return open_sealed(ring, blob, aad(ring.tenant, "complaints", column, complaint_id)).decode()


class ComplaintOrder(enum.StrEnum):
    CREATED_AT_DESC = "CREATED_AT_DESC"
    CREATED_AT_ASC = "CREATED_AT_ASC"
    UPDATED_AT_DESC = "UPDATED_AT_DESC"
    NUMBER_ASC = "NUMBER_ASC"
    NUMBER_DESC = "NUMBER_DESC"


_ORDER_COLUMNS: dict[ComplaintOrder, tuple[Any, bool]] = {
    ComplaintOrder.CREATED_AT_DESC: (Complaint.created_at, True),
    ComplaintOrder.CREATED_AT_ASC: (Complaint.created_at, False),
    ComplaintOrder.UPDATED_AT_DESC: (Complaint.updated_at, True),
    ComplaintOrder.NUMBER_ASC: (Complaint.number, False),
    ComplaintOrder.NUMBER_DESC: (Complaint.number, True),
}


@dataclass(frozen=True)
class ComplaintFilter:
    statuses: Sequence[str] | None = None
    owner_id: uuid.UUID | None = None
    department_id: uuid.UUID | None = None
    store_id: uuid.UUID | None = None
    category_id: uuid.UUID | None = None
    channel: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    text: str | None = None
    complainant_phone: str | None = None
    complainant_id_number: str | None = None
    complainant_email: str | None = None
    litigation: bool | None = None
    repeat: bool | None = None
    overdue: bool | None = None
    """An open COMPANY deadline past due at ``now`` (or none, when False)."""
    due_before: datetime | None = None
    """An open, running COMPANY deadline due from ``now`` until this moment (dueWithinWorkingDays)."""
    now: datetime | None = None

    def filters(self) -> bool:
        """Whether it filters anything: ``self != ComplaintFilter(now=self.now)``, said without making one (the
        compiled list asks on every request)."""
        return any(getattr(self, name) != default for name, default in _CONDITIONS)


_CONDITIONS = tuple((f.name, f.default) for f in fields(ComplaintFilter) if f.name != "now")


@dataclass(frozen=True)
class Page:
    items: list[ComplaintView]
    has_next: bool
    has_previous: bool
    order: ComplaintOrder

    def cursor(self, item: ComplaintView) -> str:
        return encode_cursor(self.order, item)


_store = aliased(OrgUnit, name="store")
_department = aliased(OrgUnit, name="department")


# the driver's value as it is: asyncpg returns a text[] as a list, which SQLAlchemy's ARRAY would copy per row
_AS_RETURNED = NullType()


def _build_base() -> Select[*tuple[Any, ...]]:
    return (
        select(
            Complaint.id, Complaint.number, Complaint.status, Complaint.channel, Complaint.title,
            Complaint._description, Complaint.scope, Complaint.cause, Complaint.order_number,
            Complaint.material_number, Complaint.quantity, Complaint.delivery_date, Complaint.defective_quantity,
            Complaint.amount, Complaint.litigation, Complaint.resolved_on_the_spot, Complaint._resolution,
            Complaint.repeat_of_id, Complaint.created_at, Complaint.updated_at, Complaint.closed_at,
            User.id.label("owner_id"), User.email.label("owner_email"), User.display_name.label("owner_name"),
            type_coerce(User.roles, _AS_RETURNED).label("owner_roles"), User.active.label("owner_active"),
            User.org_unit_id.label("owner_unit"), User.created_at.label("owner_created"),
            _store.id.label("store_id"), _store.name.label("store_name"), _store.code.label("store_code"),
            _store.kind.label("store_kind"), _store.parent_id.label("store_parent"),
            _store.created_at.label("store_created"),
            _department.id.label("dept_id"), _department.name.label("dept_name"),
            _department.code.label("dept_code"), _department.kind.label("dept_kind"),
            _department.parent_id.label("dept_parent"), _department.created_at.label("dept_created"),
            Category.id.label("cat_id"), Category.code.label("cat_code"), Category.name.label("cat_name"),
            Category.cause.label("cat_cause"), Category.dimension.label("cat_dimension"),
            Complainant.id.label("p_id"), Complainant._subject_key.label("p_key"),
            Complainant._identity.label("p_identity"),
        )
        .select_from(Complaint)
        .join(User, User.id == Complaint.owner_id)
        # an outer join that always finds its row (complainant_id is NOT NULL, a foreign key): the same rows, and
        # PostgreSQL leaves it out of a SELECT of the page that reads no complainant column (a compiled plan's)
        .outerjoin(Complainant, Complainant.id == Complaint.complainant_id)
        .outerjoin(_store, _store.id == Complaint.store_id)
        .outerjoin(_department, _department.id == Complaint.responsible_department_id)
        .outerjoin(Category, Category.id == Complaint.category_id)
    )


# Built once: 50 columns and five joins cost more to construct than the rest of a page's statement.
# Rows are read by position (``_view``) or by name, never by Column object: SQLAlchemy need not rebuild the
# result's column map when the cached compiled form came from another statement object of the same shape
# (another user's filters, say), which it otherwise does on every execution (the ORM turns it off the same way).
_BASE = _build_base().execution_options(_result_disable_adapt_to_context=True)


def _base_select(identity: ColumnElement[bool] | None = None) -> Select[*tuple[Any, ...]]:
    """The list's one SELECT; ``identity`` (the last column) says on which rows the viewer may see who complained."""
    return _BASE.add_columns((identity if identity is not None else true()).label("identity_visible"))


def _view(row: Any, ring: Keyring, refs: dict[Any, Any] | None = None, batch: SealedBatch | None = None
          ) -> ComplaintView:
    """A row of ``_base_select`` (unpacked by position: the hot loop of a page) as a view. ``refs``: the owners,
    units and categories of the page so far, by id (rows of one page repeat them; they are the same rows).
    ``batch``: the rows read with this one (their sealed values are opened together); the view joins it."""
    (ident, number, status, channel, title, description, scope, cause, order_number,
     material_number, quantity, delivery_date, defective_quantity, amount, litigation, resolved_on_the_spot,
     resolution, repeat_of_id, created_at, updated_at, closed_at,
     owner_id, owner_email, owner_name, owner_roles, owner_active, owner_unit, owner_created,
     store_id, store_name, store_code, store_kind, store_parent, store_created,
     dept_id, dept_name, dept_code, dept_kind, dept_parent, dept_created,
     cat_id, cat_code, cat_name, cat_cause, cat_dimension,
     p_id, p_key, p_identity, identity_visible) = row
    if refs is None:
        refs = {}
    owner = refs.get(owner_id)
    if owner is None:
        owner = refs[owner_id] = UserRef(owner_id, owner_email, owner_name, owner_roles, owner_active, owner_unit,
                                         owner_created)
    store = department = category = None
    if store_id:
        store = refs.get(store_id)
        if store is None:
            store = refs[store_id] = UnitRef(store_id, store_name, store_code, store_kind, store_parent,
                                             store_created)
    if dept_id:
        department = refs.get(dept_id)
        if department is None:
            department = refs[dept_id] = UnitRef(dept_id, dept_name, dept_code, dept_kind, dept_parent,
                                                 dept_created)
    if cat_id:
        category = refs.get(cat_id)
        if category is None:
            category = refs[cat_id] = CategoryRef(cat_id, cat_code, cat_name, cat_cause, cat_dimension)
    if batch is None:
        return ComplaintView(
            ident, number, status, channel, title, description, scope, cause, order_number, material_number,
            quantity, delivery_date, defective_quantity, amount, litigation, resolved_on_the_spot, resolution,
            repeat_of_id, created_at, updated_at, closed_at, owner, store, department, category,
            ComplainantView(ring, p_id, p_key, p_identity), ring, bool(identity_visible))
    rows = batch.rows
    view = ComplaintView(
        ident, number, status, channel, title, description, scope, cause, order_number, material_number,
        quantity, delivery_date, defective_quantity, amount, litigation, resolved_on_the_spot, resolution,
        repeat_of_id, created_at, updated_at, closed_at, owner, store, department, category,
        ComplainantView(ring, p_id, p_key, p_identity, batch), ring, bool(identity_visible), batch, len(rows))
    rows.append((ident, description, resolution))
    return view


def _views(rows: Sequence[Any], ring: Keyring) -> list[ComplaintView]:
    """The rows of one statement as views sharing their owners, units and categories and one ``SealedBatch``."""
    refs: dict[Any, Any] = {}
    batch = SealedBatch(ring)
    return [_view(r, ring, refs, batch) for r in rows]


def _apply_filter(query: Select[*tuple[Any, ...]], f: ComplaintFilter, ring: Keyring) -> Select[*tuple[Any, ...]]:
    conditions: list[Any] = []
    if f.statuses:
        conditions.append(Complaint.status.in_(list(f.statuses)))
    if f.owner_id is not None:
        conditions.append(Complaint.owner_id == f.owner_id)
    if f.department_id is not None:
        conditions.append(Complaint.responsible_department_id == f.department_id)
    if f.store_id is not None:
        conditions.append(Complaint.store_id == f.store_id)
    if f.category_id is not None:
        conditions.append(Complaint.category_id == f.category_id)
    if f.channel is not None:
        conditions.append(Complaint.channel == f.channel)
    if f.created_from is not None:
        conditions.append(Complaint.created_at >= f.created_from)
    if f.created_to is not None:
        conditions.append(Complaint.created_at < f.created_to)
    if f.litigation is not None:
        conditions.append(Complaint.litigation.is_(f.litigation))
    if f.repeat is not None:
        conditions.append(Complaint.repeat_of_id.is_not(None) if f.repeat else Complaint.repeat_of_id.is_(None))
    if f.overdue is not None or f.due_before is not None:
        if f.now is None:
            raise ValueError("the deadline filters need now")
        if f.overdue is not None:
            late = exists().where(Deadline.complaint_id == Complaint.id, overdue_clause(f.now))
            conditions.append(late if f.overdue else ~late)
        if f.due_before is not None:
            conditions.append(exists().where(Deadline.complaint_id == Complaint.id,
                                             due_before_clause(f.now, f.due_before)))
    if f.created_from is not None or f.created_to is not None:
        for moment, name in ((f.created_from, "createdFrom"), (f.created_to, "createdTo")):
            if moment is not None and not EARLIEST <= moment <= LATEST:
                raise DomainError(
                    ErrorCode.OUT_OF_RANGE, msg("{name} must be between 1970 and 2999", name=name), ["filter", name])
    if f.text:
        needle = v.text(f.text, "text", max_length=200) or ""
        escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        conditions.append(
            or_(Complaint.number.startswith(needle, autoescape=True),
                Complaint.title.ilike(f"%{escaped}%", escape="\\"))
        )
    lookups = (("phone", f.complainant_phone, "complainantPhone", phone_key, Complainant.phone_key),
               ("email", f.complainant_email, "complainantEmail", email_key, Complainant.email_key),
               ("id_number", f.complainant_id_number, "complainantIdNumber", id_number_key,
                Complainant.id_number_key))
    if any(given for _, given, *_ in lookups):
        keys = select(Complainant.id)
        for kind, given, field, normalise, column in lookups:
            if not given:
                continue
            normalised = normalise(v.text(given, field, max_length=254))
            if not normalised:
                conditions.append(false())  # e.g. a phone number without digits matches nothing
            else:  # through the blind index: the value itself is never compared or stored
                keys = keys.where(column == blind_index(ring, kind, normalised))
        conditions.append(Complaint.complainant_id.in_(keys))
    return query.where(and_(*conditions)) if conditions else query


def encode_cursor(order: ComplaintOrder, item: ComplaintView) -> str:
    column, _ = _ORDER_COLUMNS[order]
    return cursor_of(order, getattr(item, column.key), item.id)


def cursor_of(order: ComplaintOrder, value: Any, ident: uuid.UUID) -> str:
    """A row's cursor from its ordering value and id: base64url of ``json.dumps([order, value, id])``."""
    return _CURSOR_ENCODERS[order](value, ident)


def cursor_text_encoder(order: ComplaintOrder) -> Callable[[str, str], str]:
    """``cursor_encoder(order)`` of a row whose ordering value is already written as the cursor writes it (a time's
    ``isoformat()``, a complaint number's digits) and whose id is already ``str()``: the compiled plans format a
    row's creation time and id once, for ``createdAt``, the global ID and the cursor."""
    head = f'["{order.value}", "'

    def encode_text(text: str, ident: str) -> str:
        raw = f'{head}{text}", "{ident}"]'
        return b2a_base64(raw.encode(), newline=False).translate(_URLSAFE).rstrip(b"=").decode()

    return encode_text


def cursor_encoder(order: ComplaintOrder) -> Callable[[Any, uuid.UUID], str]:
    """``cursor_of`` for one ordering (the compiled plans encode a page's cursors from its raw rows with it). A time or
    a complaint number (ten digits) is written as ``json.dumps`` writes it without calling it: the hot loop of a
    page."""
    text = cursor_text_encoder(order)

    def encode(value: Any, ident: uuid.UUID) -> str:
        if isinstance(value, datetime):
            return text(value.isoformat(), str(ident))
        if isinstance(value, str) and value.isdigit() and value.isascii():
            return text(value, str(ident))
        raw = json.dumps([order.value, value, str(ident)])
        return b2a_base64(raw.encode(), newline=False).translate(_URLSAFE).rstrip(b"=").decode()

    return encode


_URLSAFE = bytes.maketrans(b"+/", b"-_")  # base64.urlsafe_b64encode's alphabet
_CURSOR_ENCODERS = {order: cursor_encoder(order) for order in ComplaintOrder}


def _decode_cursor(order: ComplaintOrder, cursor: str, field: str) -> tuple[Any, uuid.UUID]:
    """Whatever a client sends as a cursor is either one of ours or an INVALID input, never a fault."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        name, value, ident = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if name != order.value or not isinstance(value, str) or not isinstance(ident, str):
            raise ValueError("not a cursor of this ordering")
        column, _ = _ORDER_COLUMNS[order]
        if column.key in ("created_at", "updated_at"):
            moment = datetime.fromisoformat(value)
            if moment.tzinfo is None or not EARLIEST <= moment <= LATEST:
                raise ValueError("cursor time out of range")
            return moment, uuid.UUID(ident)
        if not NUMBER_PATTERN.fullmatch(value):
            raise ValueError("not a complaint number")
        return value, uuid.UUID(ident)
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError, UnicodeDecodeError):
        raise DomainError(
            ErrorCode.INVALID, msg("{field} is not a cursor of this list", field=field), [field]) from None


CURSOR_PARAMETERS: Any = type("CursorParameters", (str,), {})()
"""Passed as ``after`` to ``page_statement``: the cursor's position as bind parameters ``cursor_value`` and
``cursor_id`` (values from ``cursor_values``), so one statement serves every next page."""


def page_size(first: int | None) -> int:
    """A forward page's size; the same ``DomainError`` as ``list_complaints`` when out of bounds."""
    return _page_size(first, None)[0]


def cursor_values(order: ComplaintOrder, cursor: str, field: str = "after") -> dict[str, Any]:
    """A cursor's position as ``CURSOR_PARAMETERS`` binds it; the same ``DomainError`` for a bad cursor."""
    value, ident = _decode_cursor(order, cursor, field)
    return {"cursor_value": value, "cursor_id": ident}


def _page_size(first: int | None, last: int | None) -> tuple[int, bool]:
    if first is not None and last is not None:
        raise DomainError(ErrorCode.INVALID, "pass first or last, not both", ["first"])
    size, backward = (last, True) if last is not None else (first if first is not None else 20, False)
    if not 1 <= size <= MAX_PAGE:
        field = "last" if backward else "first"
        raise DomainError(
            ErrorCode.OUT_OF_RANGE, msg("{field} must be between 1 and {max_page}",
                field=field, max_page=MAX_PAGE), [field])
    return size, backward


_NO_FILTER = ComplaintFilter()
_STATEMENTS_KEPT = 4  # page shapes kept per access (a client pages with one or two sizes and orders)


def _page_statement(
    filter: ComplaintFilter, order: ComplaintOrder, size: int, backward: bool, after: str | None,
    before: str | None, read: ColumnElement[bool] | None, identity: ColumnElement[bool] | None, ring: Keyring,
) -> Select[*tuple[Any, ...]]:
    column, descending = _ORDER_COLUMNS[order]
    query = _apply_filter(_base_select(identity), filter, ring)
    if read is not None:
        query = query.where(read)
    for cursor, field, forward_side in ((after, "after", True), (before, "before", False)):
        if cursor is None:
            continue
        value: Any
        ident: Any
        if cursor is CURSOR_PARAMETERS:  # a statement kept for any cursor: the values bound at execution
            value = bindparam("cursor_value", None, type_=column.type, required=False)
            ident = bindparam("cursor_id", None, type_=Complaint.id.type, required=False)
        else:
            value, ident = _decode_cursor(order, cursor, field)
        key = tuple_(column, Complaint.id)
        # "after" means later in the list's order, "before" earlier
        later = key < tuple_(value, ident) if descending else key > tuple_(value, ident)
        earlier = key > tuple_(value, ident) if descending else key < tuple_(value, ident)
        query = query.where(later if forward_side else earlier)
    sql_descending = descending != backward  # paging backward reads the list from its far end
    ordering = (column.desc(), Complaint.id.desc()) if sql_descending else (column.asc(), Complaint.id.asc())
    return query.order_by(*ordering).limit(size + 1)


async def list_complaints(
    session: AsyncSession,
    *,
    filter: ComplaintFilter,
    order: ComplaintOrder = ComplaintOrder.CREATED_AT_DESC,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
    read: ColumnElement[bool] | None = None,
    identity: ColumnElement[bool] | None = None,
    statements: dict[Any, Any] | None = None,
) -> Page:
    """A page of the complaints that ``read`` lets the viewer see (the authorization filter).

    ``statements`` (``ComplaintAccess.statements``: it lives as long as ``read`` and ``identity``) keeps the
    SELECT of a page without filter or cursor, so the next such page skips building it and SQLAlchemy's cache
    key walk over it (the key is memoized on the statement).
    """
    size, backward = _page_size(first, last)
    ring = keyring_of(session)
    plain = filter == _NO_FILTER and after is None and before is None
    shape = (order, size, backward)
    if statements is not None and plain and (cached := statements.get(shape)) is not None:
        statement = cached
    else:
        statement = _page_statement(filter, order, size, backward, after, before, read, identity, ring)
        if statements is not None and plain and len(statements) < _STATEMENTS_KEPT:
            statement = statements.setdefault(shape, statement)  # one object per shape, also when built at once
    # Core execution on the session's (tenant-bound) connection: the rows are plain columns, and the ORM's
    # execution path costs about as much again as the query itself on a 50-row page
    connection = await session.connection()
    rows = (await connection.execute(statement)).all()
    extra = len(rows) > size
    items = _views(rows[:size], ring)
    if backward:
        items.reverse()
        return Page(items, has_next=before is not None, has_previous=extra, order=order)
    return Page(items, has_next=extra, has_previous=after is not None, order=order)


def count_statement(filter: ComplaintFilter, read: ColumnElement[bool] | None, ring: Keyring
                    ) -> Select[tuple[int]]:
    """``SELECT count(*)`` of the complaints ``read`` lets the viewer see under ``filter`` (the connection's
    ``totalCount``; the compiled plans use the same statement as a scalar subquery)."""
    query = _apply_filter(select(func.count()).select_from(Complaint), filter, ring)
    if read is not None:
        query = query.where(read)
    return query


def page_statement(
    filter: ComplaintFilter, order: ComplaintOrder, first: int | None, after: str | None,
    read: ColumnElement[bool] | None, identity: ColumnElement[bool] | None, ring: Keyring,
) -> tuple[Select[*tuple[Any, ...]], int]:
    """A forward page's SELECT (``size + 1`` rows, filter, scope and cursor as ``list_complaints`` applies them)
    and its size; raises the same ``DomainError`` for a page size or cursor out of bounds."""
    size, backward = _page_size(first, None)
    return _page_statement(filter, order, size, backward, after, None, read, identity, ring), size


ORDER_COLUMNS = _ORDER_COLUMNS


async def count_complaints(
    session: AsyncSession, *, filter: ComplaintFilter, read: ColumnElement[bool] | None = None
) -> int:
    return int(await session.scalar(count_statement(filter, read, keyring_of(session))) or 0)


async def get_complaints(
    session: AsyncSession, ids: Sequence[uuid.UUID], *, read: ColumnElement[bool] | None = None,
    identity: ColumnElement[bool] | None = None,
) -> dict[uuid.UUID, ComplaintView]:
    query = _base_select(identity).where(Complaint.id.in_(list(ids)))
    if read is not None:
        query = query.where(read)
    connection = await session.connection()
    return {v.id: v for v in _views((await connection.execute(query)).all(), keyring_of(session))}


async def get_complaint_by_number(
    session: AsyncSession, number: str, *, read: ColumnElement[bool] | None = None,
    identity: ColumnElement[bool] | None = None,
) -> ComplaintView | None:
    if not NUMBER_PATTERN.fullmatch(number.strip()):
        return None
    query = _base_select(identity).where(Complaint.number == number.strip())
    if read is not None:
        query = query.where(read)
    row = (await session.execute(query)).first()
    return _view(row, keyring_of(session)) if row is not None else None


# ------------------------------------------------------------- per-page batches (one statement each)


async def investigations_for(session: AsyncSession, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Investigation]:
    rows = (await session.scalars(select(Investigation).where(Investigation.complaint_id.in_(list(ids))))).all()
    return {r.complaint_id: r for r in rows}


M = TypeVar("M", TransferSlip, HandlingForm, SatisfactionSurvey, CustomerOpinion, CustomerMessage, Review)


async def _latest(session: AsyncSession, model: type[M], ids: Sequence[uuid.UUID], *newest_first: Any
                  ) -> dict[uuid.UUID, M]:
    """The newest row of ``model`` per complaint (DISTINCT ON), one statement for any number of complaints."""
    rows = (
        await session.scalars(
            select(model)
            .where(model.complaint_id.in_(list(ids)))
            .ext(distinct_on(model.complaint_id))
            .order_by(model.complaint_id, *newest_first)
        )
    ).all()
    return {r.complaint_id: r for r in rows}


async def _all(session: AsyncSession, model: type[M], ids: Sequence[uuid.UUID], *oldest_first: Any
               ) -> dict[uuid.UUID, list[M]]:
    """Every row of ``model`` per complaint, oldest first."""
    rows = (await session.scalars(select(model).where(model.complaint_id.in_(list(ids))).order_by(*oldest_first))).all()
    grouped: dict[uuid.UUID, list[M]] = {i: [] for i in ids}
    for r in rows:
        grouped[r.complaint_id].append(r)
    return grouped


async def latest_transfer_slips(session: AsyncSession, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, TransferSlip]:
    return await _latest(session, TransferSlip, ids, TransferSlip.sent_at.desc(), TransferSlip.id)


async def latest_handling_forms(session: AsyncSession, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, HandlingForm]:
    return await _latest(session, HandlingForm, ids, HandlingForm.version.desc())


async def latest_reviews(session: AsyncSession, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Review]:
    return await _latest(session, Review, ids, Review.requested_at.desc(), Review.id)


async def latest_surveys(session: AsyncSession, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, SatisfactionSurvey]:
    return await _latest(session, SatisfactionSurvey, ids, SatisfactionSurvey.recorded_at.desc(), SatisfactionSurvey.id)


async def opinions_for(session: AsyncSession, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[CustomerOpinion]]:
    return await _all(session, CustomerOpinion, ids, CustomerOpinion.recorded_at, CustomerOpinion.id)


@dataclass(frozen=True, slots=True)
class EvidenceMeta:
    id: uuid.UUID
    complaint_id: uuid.UUID
    filename: str
    content_type: str
    size: int
    sha256: str
    note: str | None
    uploaded_by: uuid.UUID
    uploaded_at: datetime


async def evidence_for(session: AsyncSession, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[EvidenceMeta]]:
    """Evidence metadata (not the contents, which stay sealed and unread) per complaint."""
    rows = (
        await session.scalars(
            select(Evidence).options(defer(Evidence._content))
            .where(Evidence.complaint_id.in_(list(ids)))
            .order_by(Evidence.uploaded_at, Evidence.id)
        )
    ).all()
    grouped: dict[uuid.UUID, list[EvidenceMeta]] = {i: [] for i in ids}
    for r in rows:
        grouped[r.complaint_id].append(EvidenceMeta(r.id, r.complaint_id, r.filename, r.content_type, r.size,
                                                    r.sha256, r.note, r.uploaded_by, r.uploaded_at))
    return grouped


async def messages_for(session: AsyncSession, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[CustomerMessage]]:
    return await _all(session, CustomerMessage, ids, CustomerMessage.sent_at, CustomerMessage.id)


async def users_by_id(session: AsyncSession, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, UserRef]:
    rows = (await session.execute(
        select(User.id, User.email, User.display_name, User.roles, User.active, User.org_unit_id, User.created_at)
        .where(User.id.in_(list(ids)))
    )).all()
    return {r.id: UserRef(*r) for r in rows}


async def units_by_id(session: AsyncSession, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, UnitRef]:
    rows = (await session.execute(
        select(OrgUnit.id, OrgUnit.name, OrgUnit.code, OrgUnit.kind, OrgUnit.parent_id, OrgUnit.created_at)
        .where(OrgUnit.id.in_(list(ids)))
    )).all()
    return {r.id: UnitRef(*r) for r in rows}
