"""Exports (complaints, org units, users) and imports (org units, users), run by the worker with progress.

An export of complaints holds the rows the requester may read (``complaint.read``) with the complainant masked
unless they may see the identity (``complaint.read_identity``): the rights are evaluated when the worker runs it,
for the requester, and the requester must still hold ``data.export``. An import applies every row or none: every
row goes through the same core function as ``createOrgUnit``/``createUser`` inside one transaction; if any row
is refused, the transaction is rolled back and the transfer is FAILED with each refused row's number (the
file's line, the header being line 1), field, code and message.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.core import authz
from services.core.complaints.queries import ComplaintFilter, ComplaintOrder, count_complaints, list_complaints
from services.core.complaints.service import tenant_timezone
from services.core.errors import DomainError, ErrorCode
from services.core.i18n import msg
from services.core.org import service as org_service
from services.core.org.models import OrgUnit, OrgUnitKind, User
from services.core.reporting import jobs
from services.core.reporting.files import CSV_TYPE, XLSX_TYPE, Sheet, UnreadableFile, read_rows, to_csv, to_xlsx
from services.core.reporting.models import DataTransfer, FileFormat, JobState, ReportFile, TransferKind
from services.core.tenancy import TenantRef, tenant_session

logger = logging.getLogger("complaintdesk.reporting.transfers")

PAGE = 100
_ONE_DAY = timedelta(days=1)
COMPLAINT_HEADER = ["number", "status", "channel", "title", "category", "cause", "store", "responsible_department",
                    "owner", "complainant_name", "complainant_phone", "litigation", "repeat", "created_at",
                    "closed_at"]
ORG_UNIT_HEADER = ["code", "name", "kind", "parent_code"]
USER_HEADER = ["email", "display_name", "roles", "org_unit_code", "active"]


@dataclass(frozen=True)
class ExportFilter:
    statuses: list[str] | None = None
    store_id: uuid.UUID | None = None
    department_id: uuid.UUID | None = None
    channel: str | None = None
    created_from: date | None = None
    created_to: date | None = None  # inclusive day

    def as_json(self) -> dict[str, Any]:
        return {"statuses": self.statuses, "store_id": str(self.store_id) if self.store_id else None,
                "department_id": str(self.department_id) if self.department_id else None, "channel": self.channel,
                "created_from": self.created_from.isoformat() if self.created_from else None,
                "created_to": self.created_to.isoformat() if self.created_to else None}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> ExportFilter:
        def uid(v: Any) -> uuid.UUID | None:
            return uuid.UUID(v) if v else None

        def day(v: Any) -> date | None:
            return date.fromisoformat(v) if v else None

        return cls(statuses=raw.get("statuses"), store_id=uid(raw.get("store_id")),
                   department_id=uid(raw.get("department_id")), channel=raw.get("channel"),
                   created_from=day(raw.get("created_from")), created_to=day(raw.get("created_to")))


def _required_actions(kind: TransferKind) -> list[authz.Action]:
    if kind == TransferKind.EXPORT_COMPLAINTS:
        return [authz.Action.DATA_EXPORT]
    if kind.is_import:
        return [authz.Action.DATA_IMPORT, authz.Action.ORG_MANAGE]
    return [authz.Action.DATA_EXPORT, authz.Action.ORG_READ]


async def require_rights(session: AsyncSession, subject: authz.Subject, kind: TransferKind) -> None:
    for action in _required_actions(kind):
        await authz.require(session, subject, action)


def content_type(fmt: str) -> str:
    return CSV_TYPE if fmt == FileFormat.CSV.value else XLSX_TYPE


async def request_transfer(
    session: AsyncSession, *, subject: authz.Subject, kind: TransferKind, fmt: FileFormat, now: datetime,
    parameters: dict[str, Any] | None = None, upload: bytes | None = None, filename: str | None = None,
) -> DataTransfer:
    """Record an export or an import (PENDING) in the caller's transaction; the worker runs it."""
    if fmt not in (FileFormat.CSV, FileFormat.XLSX):
        raise DomainError(ErrorCode.INVALID, "exports and imports are CSV or XLSX", ["format"])
    await require_rights(session, subject, kind)
    transfer = DataTransfer(id=uuid.uuid4(), kind=kind.value, format=fmt.value, parameters=parameters or {},
                            state=JobState.PENDING.value, progress=0, rows_total=0, rows_done=0, attempts=0,
                            row_errors=[], created_by=subject.user_id, created_at=now)
    session.add(transfer)
    await session.flush()
    if kind.is_import:
        if not upload:
            raise DomainError(ErrorCode.REQUIRED, "the file to import is empty", ["file"])
        try:
            read_rows(upload, fmt.value)  # refused at once when it cannot be read at all
        except UnreadableFile as exc:
            raise DomainError(ErrorCode.INVALID, str(exc), ["file"]) from None
        session.add(ReportFile(id=uuid.uuid4(), transfer_id=transfer.id, purpose="INPUT", format=fmt.value,
                               filename=(filename or f"import.{fmt.value.lower()}")[:200],
                               content_type=content_type(fmt.value), size=len(upload),
                               sha256=hashlib.sha256(upload).hexdigest(), content=upload, created_at=now))
        await session.flush()
    return transfer


async def get_transfer(session: AsyncSession, transfer_id: uuid.UUID, *, user_id: uuid.UUID) -> DataTransfer | None:
    """The transfer, to the user who asked for it only (an export holds what that user may see)."""
    return await session.scalar(select(DataTransfer).where(DataTransfer.id == transfer_id,
                                                           DataTransfer.created_by == user_id))


async def files_of(session: AsyncSession, *, report_id: uuid.UUID | None = None,
                   transfer_id: uuid.UUID | None = None) -> list[ReportFile]:
    """The OUTPUT files (their metadata; the content is opened only on download)."""
    query = select(ReportFile).where(ReportFile.purpose == "OUTPUT").order_by(ReportFile.format)
    query = query.where(ReportFile.report_id == report_id) if report_id else query.where(
        ReportFile.transfer_id == transfer_id)
    return list((await session.scalars(query)).all())


# ------------------------------------------------------------------ running


def _local(value: datetime | None, zone: ZoneInfo) -> str | None:
    return value.astimezone(zone).isoformat(timespec="seconds") if value else None


async def _complaint_sheet(session: AsyncSession, transfer: DataTransfer, subject: authz.Subject,
                           progress: Any) -> Sheet:
    zone = await tenant_timezone(session)
    access = await authz.complaint_access(session, subject)
    f = ExportFilter.from_json(transfer.parameters.get("filter") or {})
    filter_ = ComplaintFilter(
        statuses=f.statuses, store_id=f.store_id, department_id=f.department_id, channel=f.channel,
        created_from=datetime.combine(f.created_from, time(), zone) if f.created_from else None,
        created_to=(datetime.combine(f.created_to, time(), zone) + _ONE_DAY) if f.created_to else None)
    total = await count_complaints(session, filter=filter_, read=access.read)
    await progress(0, total)
    sheet = Sheet("complaints", COMPLAINT_HEADER)
    after: str | None = None
    while True:
        page = await list_complaints(session, filter=filter_, order=ComplaintOrder.NUMBER_ASC, first=PAGE,
                                     after=after, read=access.read, identity=access.identity)
        for item in page.items:
            person = item.complainant
            name = phone = None
            if not person.erased:
                name, phone = person.name, person.phone
                if not item.identity_visible:
                    name = authz.mask_name(name) if name else None
                    phone = authz.mask_phone(phone) if phone else None
            sheet.rows.append([
                item.number, item.status, item.channel, item.title, item.category.code if item.category else None,
                item.cause, item.store.code or item.store.name if item.store else None,
                (item.responsible_department.code or item.responsible_department.name)
                if item.responsible_department else None,
                item.owner.email, name, phone, item.litigation, item.repeat_of_id is not None,
                _local(item.created_at, zone), _local(item.closed_at, zone)])
        await progress(len(sheet.rows), total)
        if not page.has_next or not page.items:
            break
        after = page.cursor(page.items[-1])
    return sheet


async def _org_unit_sheet(session: AsyncSession) -> Sheet:
    units = list((await session.scalars(select(OrgUnit).order_by(OrgUnit.created_at, OrgUnit.id))).all())
    codes = {u.id: u.code for u in units}
    return Sheet("org_units", ORG_UNIT_HEADER,
                 [[u.code, u.name, u.kind, codes.get(u.parent_id) if u.parent_id else None] for u in units])


async def _user_sheet(session: AsyncSession) -> Sheet:
    codes = dict((await session.execute(select(OrgUnit.id, OrgUnit.code))).all())
    users = (await session.scalars(select(User).order_by(User.email))).all()
    return Sheet("users", USER_HEADER, [[u.email, u.display_name, ";".join(u.roles),
                                         codes.get(u.org_unit_id) if u.org_unit_id else None, u.active]
                                        for u in users])


async def run_transfer(tenant: TenantRef, transfer_id: uuid.UUID, *, now: Any) -> str | None:
    """Claim and run one transfer; its final state, or None when another worker holds it (or it is done).
    ``now``: a callable giving the time (a clock's ``now``)."""
    async with tenant_session(tenant) as session, session.begin():
        attempt = await jobs.claim(session, DataTransfer, transfer_id, now=now())
    if attempt is None:
        return None
    try:
        return await _run(tenant, transfer_id, attempt, now)
    except Exception as exc:
        logger.exception("transfer %s failed", transfer_id)
        async with tenant_session(tenant) as session, session.begin():
            await jobs.fail(session, DataTransfer, transfer_id, attempt, f"internal error ({type(exc).__name__})",
                            now=now())
        return JobState.FAILED.value




async def _run(tenant: TenantRef, transfer_id: uuid.UUID, attempt: int, now: Any) -> str:
    async def progress(done: int, total: int) -> None:
        async with tenant_session(tenant) as s, s.begin():
            await jobs.set_progress(s, DataTransfer, transfer_id, attempt, (done * 100 // total) if total else 0,
                                    now=now(), rows_done=done, rows_total=total)

    async with tenant_session(tenant) as session, session.begin():
        transfer = await session.get(DataTransfer, transfer_id)
        assert transfer is not None
        kind = TransferKind(transfer.kind)
        subject = authz.Subject(user_id=transfer.created_by, tenant=tenant.slug)
        try:
            await require_rights(session, subject, kind)
            active = await session.scalar(select(User.active).where(User.id == transfer.created_by))
            if not active:
                raise DomainError(ErrorCode.NOT_ALLOWED, "the requester is no longer active")
        except DomainError as exc:
            await jobs.fail(session, DataTransfer, transfer_id, attempt, exc.message, now=now())
            return JobState.FAILED.value
        if kind.is_import:
            source = await session.scalar(select(ReportFile).where(ReportFile.transfer_id == transfer_id,
                                                                   ReportFile.purpose == "INPUT"))
            assert source is not None
            data, fmt = source.content, transfer.format
    if kind.is_import:
        return await _import(tenant, transfer_id, attempt, kind, data, fmt, now, progress)
    async with tenant_session(tenant) as session, session.begin():
        transfer = await session.get(DataTransfer, transfer_id)
        assert transfer is not None
        if kind == TransferKind.EXPORT_COMPLAINTS:
            sheet = await _complaint_sheet(session, transfer, subject, progress)
        elif kind == TransferKind.EXPORT_ORG_UNITS:
            sheet = await _org_unit_sheet(session)
        else:
            sheet = await _user_sheet(session)
    blob = to_csv([sheet]) if transfer.format == FileFormat.CSV.value else to_xlsx([sheet])
    stamp = now().strftime("%Y%m%d%H%M%S")
    async with tenant_session(tenant) as session, session.begin():
        finished = await session.execute(
            update(DataTransfer).where(jobs.held(DataTransfer, transfer_id, attempt))  # type: ignore[arg-type]
            .values(state=JobState.COMPLETED.value, progress=100, rows_total=len(sheet.rows),
                    rows_done=len(sheet.rows), lease_until=None, completed_at=now()))
        if not finished.rowcount:  # type: ignore[attr-defined]
            await session.rollback()
            return JobState.RUNNING.value  # another attempt holds it now
        session.add(ReportFile(id=uuid.uuid4(), transfer_id=transfer_id, purpose="OUTPUT", format=transfer.format,
                               filename=f"{sheet.name}-{stamp}.{transfer.format.lower()}",
                               content_type=content_type(transfer.format), size=len(blob),
                               sha256=hashlib.sha256(blob).hexdigest(), content=blob, created_at=now()))
    return JobState.COMPLETED.value


_IMPORT_HEADERS = {TransferKind.IMPORT_ORG_UNITS: ORG_UNIT_HEADER, TransferKind.IMPORT_USERS: USER_HEADER}


def _row_error(line: int, field: str | None, code: str, message: str) -> dict[str, Any]:
    return {"row": line, "field": field, "code": code, "message": message}


async def _import(tenant: TenantRef, transfer_id: uuid.UUID, attempt: int, kind: TransferKind, data: bytes,
                  fmt: str, now: Any, progress: Any) -> str:
    header, rows = read_rows(data, fmt)
    wanted = _IMPORT_HEADERS[kind]
    required = wanted[:2]
    errors: list[dict[str, Any]] = []
    missing = [h for h in required if h not in header]
    if missing:
        errors.append(_row_error(1, missing[0], ErrorCode.REQUIRED.value,
                                 f"the header lacks the column(s) {', '.join(missing)}"))
    total = len(rows)
    await progress(0, total)
    if not errors:
        async with tenant_session(tenant) as session:
            await session.begin()
            for i, row in enumerate(rows):
                line = i + 2
                values = {h: row[header.index(h)] if h in header else "" for h in wanted}
                try:
                    async with session.begin_nested():
                        if kind == TransferKind.IMPORT_ORG_UNITS:
                            await _import_unit(session, values)
                        else:
                            await _import_user(session, values)
                except DomainError as exc:
                    field = exc.field[0] if exc.field else None
                    errors.append(_row_error(line, _COLUMN.get(field or "", field), exc.code.value, exc.message))
                if (i + 1) % 50 == 0:
                    await progress(i + 1, total)
            if errors:
                await session.rollback()  # nothing applied
            else:
                finished = await session.execute(
                    update(DataTransfer).where(jobs.held(DataTransfer, transfer_id, attempt))  # type: ignore[arg-type]
                    .values(state=JobState.COMPLETED.value, progress=100, rows_total=total, rows_done=total,
                            lease_until=None, completed_at=now()))
                if not finished.rowcount:  # type: ignore[attr-defined]
                    await session.rollback()
                    return JobState.RUNNING.value
                await session.commit()
                return JobState.COMPLETED.value
    async with tenant_session(tenant) as session, session.begin():
        await session.execute(
            update(DataTransfer).where(jobs.held(DataTransfer, transfer_id, attempt))  # type: ignore[arg-type]
            .values(state=JobState.FAILED.value, progress=100, rows_total=total, rows_done=0,
                    row_errors=errors[:1000], lease_until=None, completed_at=now(),
                    error=f"{len(errors)} row(s) refused; nothing was applied"))
    return JobState.FAILED.value


# the core's field names (as the API names them) -> the file's columns
_COLUMN = {"parentId": "parent_code", "orgUnitId": "org_unit_code", "displayName": "display_name"}


async def _unit_by_code(session: AsyncSession, code: str, field: str) -> uuid.UUID:
    found = await session.scalar(select(OrgUnit.id).where(OrgUnit.code == code))
    if found is None:
        raise DomainError(ErrorCode.NOT_FOUND, msg("no org unit has the code {code}", code=repr(code)), [field])
    return found


async def _import_unit(session: AsyncSession, values: dict[str, str]) -> None:
    if not values["code"]:
        raise DomainError(ErrorCode.REQUIRED, "code is required", ["code"])
    try:
        kind = OrgUnitKind((values["kind"] or "DEPARTMENT").upper())
    except ValueError:
        raise DomainError(ErrorCode.INVALID,
                          msg("kind is one of {kinds}", kinds=", ".join(k.value for k in OrgUnitKind)),
                          ["kind"]) from None
    parent = await _unit_by_code(session, values["parent_code"], "parent_code") if values["parent_code"] else None
    await org_service.create_org_unit(session, name=values["name"], kind=kind, code=values["code"], parent_id=parent)


async def _import_user(session: AsyncSession, values: dict[str, str]) -> None:
    unit = (await _unit_by_code(session, values["org_unit_code"], "org_unit_code")
            if values["org_unit_code"] else None)
    roles = [r.strip() for r in values["roles"].replace(",", ";").split(";") if r.strip()]
    user = await org_service.create_user(session, email=values["email"], display_name=values["display_name"],
                                         roles=roles, org_unit_id=unit)
    if values.get("active", "").strip().lower() in ("false", "0", "no", "n"):
        user.active = False
        await session.flush()
