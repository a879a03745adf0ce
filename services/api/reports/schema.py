"""Reports (generateReport, reports, report) and data transfers (exportComplaints, exportOrgUnits, exportUsers,
importOrgUnits, importUsers, dataTransfer): thin resolvers over ``services.core.reporting``."""

from __future__ import annotations

import base64
import binascii
import enum
import uuid
from datetime import date, datetime, timedelta
from typing import Any

import strawberry
from strawberry import relay
from strawberry.scalars import JSON

from services.api.authz import subject_of
from services.api.complaints.types import PageInfo
from services.api.context import Info
from services.api.errors import RequestError, UserError, user_error
from services.api.ids import decode_optional
from services.api.nodes import Node, global_id
from services.api.org.types import UserType, load_user
from services.core import queue
from services.core.complaints.models import Channel, ComplaintStatus
from services.core.errors import DomainError, ErrorCode
from services.core.i18n import msg
from services.core.org.models import OrgUnit
from services.core.queue import Job
from services.core.reporting import models, transfers
from services.core.reporting import service as reports
from services.core.reporting.files import MAX_IMPORT_BYTES

strawberry.enum(models.ReportKind, name="ReportKind",
                description="SEMI_ANNUAL_SUMMARY (seed IV 三.4), MANAGEMENT (periodic, seed III item 8), "
                            "ANNUAL_MECHANISM (seed III item 10), REGULATOR_RETURN (by the JR/T 0169-2018 codes)")
strawberry.enum(models.JobState, name="JobState", description="PENDING, RUNNING, COMPLETED or FAILED")
strawberry.enum(models.FileFormat, name="FileFormat")
strawberry.enum(models.TransferKind, name="DataTransferKind")
strawberry.enum(models.Cadence, name="ReportCadence", description="NONE, MONTHLY or QUARTERLY")


@strawberry.enum(description="The format of an export or an import")
class TableFormat(enum.Enum):
    CSV = "CSV"
    XLSX = "XLSX"


@strawberry.type(description="A file of a report or an export, with a short-lived signed download link")
class ReportFileType:
    format: models.FileFormat
    filename: str
    content_type: str
    size: int
    sha256: str = strawberry.field(description="SHA-256 of the file's bytes")
    url: str = strawberry.field(description="GET it (no token needed) until expiresAt; tied to you, this tenant, "
                                            "and your rights at download time")
    expires_at: datetime


async def _files(info: Info, *, report_id: uuid.UUID | None = None,
                 transfer_id: uuid.UUID | None = None) -> list[ReportFileType]:
    viewer = await info.context.require_viewer()
    async with info.context.db() as session:
        found = await transfers.files_of(session, report_id=report_id, transfer_id=transfer_id)
    out = []
    for f in found:
        url, expires = await reports.link_for(f, tenant=info.context.tenant.slug, user_id=viewer.id,
                                              now=info.context.now())
        out.append(ReportFileType(format=models.FileFormat(f.format), filename=f.filename,
                                  content_type=f.content_type, size=f.size, sha256=f.sha256, url=url,
                                  expires_at=expires))
    return out


@strawberry.type(name="Report", description="A generated report: never changed once COMPLETED")
class ReportType(Node):
    kind: models.ReportKind
    period_from: date
    period_to: date = strawberry.field(description="the period's last day (inclusive)")
    scheduled: bool = strawberry.field(description="made by the schedule, not asked for")
    state: models.JobState
    progress: int = strawberry.field(description="0 to 100")
    figures: JSON | None = strawberry.field(description="the figures the report used (statistics), once COMPLETED")
    content_hash: str | None = strawberry.field(description="SHA-256 of the figures as canonical JSON")
    error: str | None
    created_at: datetime
    completed_at: datetime | None
    created_by_id: strawberry.Private[uuid.UUID | None]
    row_id: strawberry.Private[uuid.UUID]

    @classmethod
    def from_model(cls, r: models.Report) -> ReportType:
        return cls(id=global_id("Report", r.id), kind=models.ReportKind(r.kind), period_from=r.period_from,
                   period_to=r.period_to - timedelta(days=1), scheduled=r.scheduled, state=models.JobState(r.state),
                   progress=r.progress, figures=JSON(r.figures) if r.figures is not None else None,
                   content_hash=r.content_hash, error=r.error,
                   created_at=r.created_at, completed_at=r.completed_at, created_by_id=r.created_by, row_id=r.id)

    @strawberry.field(description="who asked for it (null: the schedule)")
    async def created_by(self, info: Info) -> UserType | None:
        return await load_user(info, self.created_by_id)

    @strawberry.field(description="CSV, XLSX and PDF (with charts), once COMPLETED")
    async def files(self, info: Info) -> list[ReportFileType]:
        return await _files(info, report_id=self.row_id)

    @classmethod
    async def resolve_nodes(cls, *, info: Info, node_ids: Any, required: bool = False) -> list[ReportType | None]:
        return [await _report(info, str(node_id)) for node_id in node_ids]


async def _report(info: Info, raw: str) -> ReportType | None:
    try:
        report_id = uuid.UUID(raw)
    except ValueError:
        return None
    subject = await subject_of(info.context)
    async with info.context.db() as session:
        try:
            await reports.require_reader(session, subject)
        except DomainError:
            return None
        found = await reports.get_report(session, report_id)
    return ReportType.from_model(found) if found is not None else None


@strawberry.type
class ReportEdge:
    cursor: str
    node: ReportType


@strawberry.type
class ReportConnection:
    edges: list[ReportEdge]
    page_info: PageInfo
    total_count: int


@strawberry.type(name="DataTransferRowError", description="A refused row of an import: nothing was applied")
class RowError:
    row: int = strawberry.field(description="the file's line (the header is line 1)")
    field: str | None = strawberry.field(description="the column")
    code: str
    message: str


@strawberry.type(name="DataTransfer", description="An export or an import run by the worker")
class DataTransferType:
    id: strawberry.ID
    kind: models.TransferKind
    format: TableFormat
    state: models.JobState
    progress: int = strawberry.field(description="0 to 100")
    rows_total: int
    rows_done: int
    row_errors: list[RowError] = strawberry.field(description="an import's refused rows (nothing was applied)")
    error: str | None
    created_at: datetime
    completed_at: datetime | None
    row_id: strawberry.Private[uuid.UUID]

    @classmethod
    def from_model(cls, t: models.DataTransfer) -> DataTransferType:
        return cls(id=global_id("DataTransfer", t.id), kind=models.TransferKind(t.kind),
                   format=TableFormat(t.format), state=models.JobState(t.state), progress=t.progress,
                   rows_total=t.rows_total, rows_done=t.rows_done,
                   row_errors=[RowError(row=e["row"], field=e.get("field"), code=e["code"], message=e["message"])
                               for e in t.row_errors],
                   error=t.error, created_at=t.created_at, completed_at=t.completed_at, row_id=t.id)

    @strawberry.field(description="the export's file, once COMPLETED")
    async def files(self, info: Info) -> list[ReportFileType]:
        if self.kind.is_import:
            return []
        return await _files(info, transfer_id=self.row_id)


@strawberry.input
class ReportPeriodInput:
    from_: date = strawberry.field(name="from")
    to: date = strawberry.field(description="the last day (inclusive)")


@strawberry.input
class GenerateReportInput:
    kind: models.ReportKind
    period: ReportPeriodInput


@strawberry.type
class GenerateReportPayload:
    report: ReportType | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input(description="Which complaints (all conditions hold); you get only those you may read")
class ExportComplaintsFilter:
    statuses: list[ComplaintStatus] | None = None
    store_id: relay.GlobalID | None = None
    department_id: relay.GlobalID | None = None
    channel: Channel | None = None
    created_from: date | None = None
    created_to: date | None = strawberry.field(default=None, description="inclusive")


@strawberry.input
class ExportComplaintsInput:
    format: TableFormat
    filter: ExportComplaintsFilter | None = None


@strawberry.input
class ExportInput:
    format: TableFormat


@strawberry.input(description="A CSV or XLSX file: org units (code, name, kind, parent_code) or users (email, "
                              "display_name, roles separated by ';', org_unit_code, active)")
class ImportInput:
    format: TableFormat
    content_base64: str
    filename: str | None = None


@strawberry.type
class DataTransferPayload:
    data_transfer: DataTransferType | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


async def _unit(session: Any, gid: relay.GlobalID | None, field: str) -> uuid.UUID | None:
    unit = decode_optional(gid, "OrgUnit", field)
    if unit is not None and await session.get(OrgUnit, unit) is None:
        raise DomainError(ErrorCode.NOT_FOUND, "org unit not found", ["input", "filter", field])
    return unit


async def _transfer(info: Info, kind: models.TransferKind, fmt: TableFormat, *,
                    parameters: dict[str, Any] | None = None, upload: bytes | None = None, filename: str | None = None,
                    filter_: ExportComplaintsFilter | None = None) -> DataTransferPayload:
    subject = await subject_of(info.context)
    try:
        async with info.context.transaction() as session:
            if filter_ is not None:
                parameters = {"filter": transfers.ExportFilter(
                    statuses=[s.value for s in filter_.statuses] if filter_.statuses else None,
                    store_id=await _unit(session, filter_.store_id, "storeId"),
                    department_id=await _unit(session, filter_.department_id, "departmentId"),
                    channel=filter_.channel.value if filter_.channel else None,
                    created_from=filter_.created_from, created_to=filter_.created_to).as_json()}
            transfer = await transfers.request_transfer(
                session, subject=subject, kind=kind, fmt=models.FileFormat(fmt.value), now=info.context.now(),
                parameters=parameters, upload=upload, filename=filename)
    except DomainError as exc:
        return DataTransferPayload(user_errors=[user_error(exc)])
    await queue.enqueue(Job.DATA_TRANSFER, str(transfer.id))  # after the commit; a lost message: the sweeper
    return DataTransferPayload(data_transfer=DataTransferType.from_model(transfer))


def _decode_upload(input: ImportInput) -> bytes:
    if len(input.content_base64) > MAX_IMPORT_BYTES * 4 // 3 + 4:
        raise DomainError(ErrorCode.TOO_LONG, msg("the file is larger than {kb} KB", kb=MAX_IMPORT_BYTES // 1000),
                          ["input", "contentBase64"])
    try:
        return base64.b64decode(input.content_base64, validate=True)
    except (binascii.Error, ValueError):
        raise DomainError(ErrorCode.INVALID, "contentBase64 is not base64", ["input", "contentBase64"]) from None


def _offset_cursor(position: int) -> str:
    return base64.urlsafe_b64encode(f"report:{position}".encode()).decode()


def _parse_offset(cursor: str) -> int:
    try:
        kind, _, position = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
        if kind != "report" or not position.isdigit():
            raise ValueError(kind)
        return int(position)
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise RequestError("after is not a cursor of this list", "BAD_USER_INPUT") from None


@strawberry.type
class ReportQueries:
    @strawberry.field(description="Generated reports, newest first (report.read)")
    async def reports(self, info: Info, kind: models.ReportKind | None = None, first: int = 20,
                      after: str | None = None) -> ReportConnection:
        subject = await subject_of(info.context)
        offset = _parse_offset(after) if after is not None else 0
        if not 1 <= first <= 100:
            raise RequestError("first is 1 to 100", "BAD_USER_INPUT")
        async with info.context.db() as session:
            try:
                await reports.require_reader(session, subject)
            except DomainError as exc:
                raise RequestError(exc.message, "FORBIDDEN") from None
            found, total = await reports.list_reports(session, kind=kind, first=first + 1, offset=offset)
        page = found[:first]
        edges = [ReportEdge(cursor=_offset_cursor(offset + i + 1), node=ReportType.from_model(r))
                 for i, r in enumerate(page)]
        return ReportConnection(edges=edges, total_count=total, page_info=PageInfo(
            has_next_page=len(found) > first, has_previous_page=offset > 0,
            start_cursor=edges[0].cursor if edges else None, end_cursor=edges[-1].cursor if edges else None))

    @strawberry.field(description="A report of this tenant, or null (report.read)")
    async def report(self, info: Info, id: relay.GlobalID) -> ReportType | None:
        if id.type_name != "Report":
            return None
        return await _report(info, id.node_id)

    @strawberry.field(description="An export or import you asked for, or null")
    async def data_transfer(self, info: Info, id: relay.GlobalID) -> DataTransferType | None:
        viewer = await info.context.require_viewer()
        if id.type_name != "DataTransfer":
            return None
        try:
            transfer_id = uuid.UUID(id.node_id)
        except ValueError:
            return None
        async with info.context.db() as session:
            found = await transfers.get_transfer(session, transfer_id, user_id=viewer.id)
        return DataTransferType.from_model(found) if found is not None else None


@strawberry.input
class SetReportCadenceInput:
    cadence: models.Cadence


@strawberry.type
class SetReportCadencePayload:
    cadence: models.Cadence | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class ReportMutations:
    @strawberry.mutation(description="How often the worker makes the periodic management report (org.manage)")
    async def set_report_cadence(self, info: Info, input: SetReportCadenceInput) -> SetReportCadencePayload:
        subject = await subject_of(info.context)
        try:
            async with info.context.transaction() as session:
                cadence = await reports.set_cadence(session, subject=subject, cadence=input.cadence)
        except DomainError as exc:
            return SetReportCadencePayload(user_errors=[user_error(exc)])
        return SetReportCadencePayload(cadence=cadence)

    @strawberry.mutation(description="Ask the worker for a report over a period (report.generate)")
    async def generate_report(self, info: Info, input: GenerateReportInput) -> GenerateReportPayload:
        subject = await subject_of(info.context)
        try:
            async with info.context.transaction() as session:
                report = await reports.request_report(session, subject=subject, kind=input.kind,
                                                      period_from=input.period.from_, period_to=input.period.to,
                                                      now=info.context.now())
        except DomainError as exc:
            return GenerateReportPayload(user_errors=[user_error(exc)])
        await queue.enqueue(Job.REPORT, str(report.id))  # after the commit; a lost message: the sweeper
        return GenerateReportPayload(report=ReportType.from_model(report))

    @strawberry.mutation(description="Export the complaints you may read, the complainant masked unless you may "
                                     "see it (data.export)")
    async def export_complaints(self, info: Info, input: ExportComplaintsInput) -> DataTransferPayload:
        return await _transfer(info, models.TransferKind.EXPORT_COMPLAINTS, input.format,
                               filter_=input.filter or ExportComplaintsFilter())

    @strawberry.mutation(description="Export the org units (data.export, org.read)")
    async def export_org_units(self, info: Info, input: ExportInput) -> DataTransferPayload:
        return await _transfer(info, models.TransferKind.EXPORT_ORG_UNITS, input.format)

    @strawberry.mutation(description="Export the users (data.export, org.read)")
    async def export_users(self, info: Info, input: ExportInput) -> DataTransferPayload:
        return await _transfer(info, models.TransferKind.EXPORT_USERS, input.format)

    @strawberry.mutation(description="Import org units: every row or none (data.import, org.manage)")
    async def import_org_units(self, info: Info, input: ImportInput) -> DataTransferPayload:
        try:
            data = _decode_upload(input)
        except DomainError as exc:
            return DataTransferPayload(user_errors=[user_error(exc)])
        return await _transfer(info, models.TransferKind.IMPORT_ORG_UNITS, input.format, upload=data,
                               filename=input.filename)

    @strawberry.mutation(description="Import users: every row or none (data.import, org.manage)")
    async def import_users(self, info: Info, input: ImportInput) -> DataTransferPayload:
        try:
            data = _decode_upload(input)
        except DomainError as exc:
            return DataTransferPayload(user_errors=[user_error(exc)])
        return await _transfer(info, models.TransferKind.IMPORT_USERS, input.format, upload=data,
                               filename=input.filename)

