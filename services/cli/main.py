"""The ``complaintdesk`` command."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from services.core.config import ConfigError, reset_settings
from services.core.errors import DomainError
from services.core.tenancy import TenantError

T = TypeVar("T")


def _run(make: Callable[[], Awaitable[T]]) -> T:
    """Run one async operation with its own engine, disposed before the loop closes."""
    from services.core.db import dispose_engine

    async def main() -> T:
        try:
            return await make()
        finally:
            await dispose_engine()

    try:
        return asyncio.run(main())
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    except TenantError as exc:
        raise click.ClickException(f"{exc.message} [{exc.code}]") from None
    except DomainError as exc:
        raise click.ClickException(f"{exc.message} [{exc.code}]") from None
    except OSError as exc:  # connection refused, unknown host: say which, without a traceback
        raise click.ClickException(f"cannot reach a server: {exc}") from None


def _setup_logging(service: str | None = None) -> None:
    """Log lines; and traces (``service``: the process's service name) when OTEL_EXPORTER_OTLP_ENDPOINT is set."""
    from services.core.logs import configure_logging

    configure_logging()
    if service is not None:
        from services.core import tracing

        if tracing.setup(service):
            logging.getLogger("complaintdesk").info("tracing: spans exported over OTLP as %s", service)


@click.group()
@click.version_option(package_name="complaintdesk")
def cli() -> None:
    """complaintdesk: multi-tenant complaint management."""


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
def serve(host: str, port: int) -> None:
    """Serve the GraphQL API."""
    import uvicorn

    _setup_logging("complaintdesk-api")
    _require_settings()
    _require_signing_key()
    _require_master_key()
    _tune_gc()
    uvicorn.run(
        "services.cli.app:create_app", factory=True, host=host, port=port, log_config=None,
        loop="uvloop", http="httptools",  # uvicorn's fast event loop and HTTP parser (its standard extras)
        proxy_headers=False,  # the app believes forwarded headers from COMPLAINTDESK_TRUSTED_PROXIES only
        server_header=False,
        access_log=False,  # complaintdesk.access logs each operation with its request id, tenant, user and outcome
        ws="websockets-sansio",  # the subscriptions' WebSocket transport (graphql-transport-ws on /graphql)
    )


@cli.command()
@click.option("--threads", default=4, show_default=True, type=int, help="worker threads")
@click.option("--sweep-interval", default=2.0, show_default=True, type=float,
              help="seconds between outbox sweeps (0: no sweeper in this process)")
def worker(threads: int, sweep_interval: float) -> None:
    """Run a background worker (and the outbox sweeper) until SIGTERM or Ctrl-C."""
    from services.worker.runner import run_until

    _setup_logging("complaintdesk-worker")
    _require_settings()
    _require_signing_key()
    _require_master_key()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    # a log line, not a print: with COMPLAINTDESK_LOG_FORMAT=json every line of the worker's output is JSON
    logging.getLogger("complaintdesk.worker").info("worker running with %d threads; Ctrl-C to stop", threads)
    run_until(stop, threads=threads, sweep_interval=sweep_interval or None)


def _tune_gc() -> None:
    """Before uvicorn starts: the API's collector settings (``services.api.app.tune_gc``: start-up objects left
    out of it, fewer collections, every pause timed); the app's start-up applies them again."""
    from services.api.app import tune_gc

    tune_gc()


def _require_signing_key() -> None:
    """In production, no start without a usable JWT signing key; elsewhere a missing one is made up per process."""
    from services.core.auth.tokens import get_keyring, reset_keyring

    reset_keyring()
    try:
        get_keyring()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _require_master_key() -> None:
    """No start with a missing master key, or one that does not open the stored tenant keys."""
    from sqlalchemy.exc import SQLAlchemyError

    from services.core.crypto.keys import MasterKeyMismatch, verify_master_key
    from services.core.crypto.master import get_master_keys, reset_master_keys
    from services.core.db import dispose_engine

    reset_master_keys()
    try:
        get_master_keys()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None

    async def check() -> None:
        try:
            await verify_master_key()
        finally:
            await dispose_engine()

    try:
        asyncio.run(check())
    except MasterKeyMismatch as exc:
        raise click.ClickException(str(exc)) from None
    except (OSError, SQLAlchemyError) as exc:  # the database is not up yet: the key is checked on first use
        click.echo(f"warning: could not check the master key against the database ({type(exc).__name__}); "
                   "it is checked again when a tenant's keys are first loaded", err=True)


def _require_settings() -> None:
    from services.core.config import get_settings

    try:
        get_settings()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _print_progress(index: int, total: int, result: Any) -> None:
    if result.error is not None:
        click.echo(f"[{index}/{total}] {result.slug}: FAILED ({result.error}); rolled back", err=True)
    elif result.before == result.after:
        click.echo(f"[{index}/{total}] {result.slug}: up to date ({result.after})")
    else:
        click.echo(f"[{index}/{total}] {result.slug}: {result.before or 'empty'} -> {result.after}"
                   + (f"; {result.deadlines_moved} open deadline(s) counted again by the receipt rule"
                      if result.deadlines_moved else ""))


def _print_platform(before: str | None, after: str | None) -> None:
    """Only what happened: "up to date" when nothing migrated (not a line that looks like work)."""
    if before == after:
        click.echo(f"platform schema: up to date ({after})")
    else:
        click.echo(f"platform schema: {before or 'empty'} -> {after}")


@cli.command()
def migrate() -> None:
    """Upgrade the platform schema, then every tenant schema."""
    from tenants.provision import migrate_all

    _require_master_key()
    results = _run(lambda: migrate_all(on_progress=_print_progress, on_platform=_print_platform))
    failed = [r for r in results if r.error is not None]
    click.echo(f"{len(results)} tenant(s): {len(results) - len(failed)} ok, {len(failed)} failed")
    # tenants that had complaints before deadlines were planned (t0005): their deadlines, from the audit trail
    older = [r.slug for r in results if r.error is None and r.before is not None and r.before < DEADLINES_REVISION]
    if older:
        _backfill(older)
    if failed:
        sys.exit(1)


DEADLINES_REVISION = "t0005"


def _backfill(slugs: list[str]) -> None:
    from services.core.deadlines.backfill import backfill_tenant
    from services.core.tenancy import TenantRef
    from tenants.provision import get_tenant

    async def go() -> list[tuple[str, int]]:
        out = []
        for slug in slugs:
            def progress(done: int, total: int, slug: str = slug) -> None:
                click.echo(f"{slug}: deadlines planned for {done}/{total} complaint(s)")

            info = await get_tenant(slug)  # suspended ones too: their deadlines are ready when they resume
            ref = TenantRef(slug=info.slug, schema=info.schema_name, template=info.template)
            out.append((slug, await backfill_tenant(ref, on_progress=progress)))
        return out

    for slug, total in _run(go):
        click.echo(f"{slug}: {total} complaint(s) without deadlines replayed from their audit trail")


@cli.group()
def deadlines() -> None:
    """Deadlines: plan them for complaints recorded before deadlines existed."""


@deadlines.command("backfill")
@click.option("--tenant", "slugs", multiple=True, help="only this tenant (repeatable); default: all active")
def deadlines_backfill(slugs: tuple[str, ...]) -> None:
    """Plan the deadlines of every complaint that has none, by replaying its audit trail (each step at the
    moment it happened). `complaintdesk migrate` does this by itself for tenants upgraded from before t0005."""
    from tenants.provision import list_tenants

    _require_master_key()
    names = list(slugs) or [t.slug for t in _run(list_tenants) if t.status == "active"]
    _backfill(names)


@cli.group()
def tenant() -> None:
    """Create, list, suspend and resume tenants."""


def _echo_setup(setup: Any) -> None:
    click.echo(f"set-password link for {setup.email} (once, until {setup.expires_at.isoformat(timespec='minutes')}):")
    click.echo(f"  {setup.link}")
    click.echo(f"  token: {setup.token}")


@tenant.command("create")
@click.argument("slug")
@click.option("--name", "display_name", help="display name (default: the slug)")
@click.option("--template", default="retail", show_default=True, help="retail or bank")
@click.option("--admin-email", help="the first admin (role tenant_admin), who gets a one-time set-password link")
@click.option("--admin-name", help="the first admin's display name (default: the e-mail's local part)")
def tenant_create(slug: str, display_name: str | None, template: str, admin_email: str | None,
                  admin_name: str | None) -> None:
    """Create tenant SLUG with its own schema, migrated and seeded from a template, and its first admin."""
    from services.core.audit.service import Actor
    from tenants.provision import AdminSpec, migrate_platform, provision_tenant

    async def go() -> Any:
        await migrate_platform()
        return await provision_tenant(slug, display_name=display_name, template=template,
                                      admin=AdminSpec(admin_email, admin_name) if admin_email else None,
                                      actor=Actor(user_id=None, label="cli"))

    made = _run(go)
    info = made.info
    click.echo(f"created tenant {info.slug} ({info.template}) in schema {info.schema_name} at {info.schema_revision}")
    if made.admin is not None:
        _echo_setup(made.admin)
    else:
        click.echo(f"warning: no admin: run complaintdesk user create --tenant {info.slug} EMAIL --role tenant_admin",
                   err=True)


@cli.group()
def user() -> None:
    """A tenant's users, for operators: create one, or give one a new set-password link."""


def _run_in(slug: str, work: Callable[[Any, Any], Awaitable[T]]) -> T:
    """Run ``work(session, tenant)`` in one transaction of tenant ``slug`` (an active one)."""
    from services.core.tenancy import resolve_tenant, tenant_session

    async def go() -> T:
        ref = await resolve_tenant(slug)
        async with tenant_session(ref) as session, session.begin():
            return await work(session, ref)

    return _run(go)


@user.command("create")
@click.option("--tenant", "slug", required=True, help="the tenant")
@click.argument("email")
@click.option("--role", "roles", multiple=True, required=True, help="a role (repeatable), e.g. tenant_admin")
@click.option("--name", "display_name", help="display name (default: the e-mail's local part)")
@click.option("--password-stdin", is_flag=True,
              help="read the password from the first line of standard input (else: print a set-password link)")
def user_create(slug: str, email: str, roles: tuple[str, ...], display_name: str | None,
                password_stdin: bool) -> None:
    """Create user EMAIL in a tenant with the given roles."""
    from services.core.audit.service import Actor
    from services.core.auth.password_tokens import onboard_user
    from services.core.clock import system_clock

    password = sys.stdin.readline().rstrip("\r\n") if password_stdin else None

    async def work(session: Any, ref: Any) -> Any:
        return await onboard_user(session, tenant=ref.slug, email=email, roles=list(roles),
                                  display_name=display_name, actor=Actor(user_id=None, label="cli"),
                                  now=system_clock.now(), password=password)

    done = _run_in(slug, work)
    click.echo(f"created user {done.user.email} in tenant {slug} with role(s) {', '.join(done.user.roles)}")
    if done.setup is not None:
        _echo_setup(done.setup)


@user.command("reset-password")
@click.option("--tenant", "slug", required=True, help="the tenant")
@click.argument("email")
def user_reset_password(slug: str, email: str) -> None:
    """A new one-time set-password link for user EMAIL (earlier unused links stop working)."""
    from services.core.audit.service import Actor
    from services.core.auth.password_tokens import TokenPurpose, issue_for_email
    from services.core.clock import system_clock

    async def work(session: Any, ref: Any) -> Any:
        return await issue_for_email(session, tenant=ref.slug, email=email, actor=Actor(user_id=None, label="cli"),
                                     now=system_clock.now(), purpose=TokenPurpose.RESET)

    _echo_setup(_run_in(slug, work))


@cli.group()
def calendar() -> None:
    """A tenant's working-day calendar: import a year's official schedule."""


@calendar.command("import")
@click.option("--tenant", "slug", required=True, help="the tenant")
@click.option("--year", required=True, type=int, help="the year the file holds")
@click.option("--format", "fmt", type=click.Choice(["json", "csv"], case_sensitive=False),
              help="the file's format (default: from its extension)")
@click.option("--replace", is_flag=True, help="put it in place of the year's schedule or overrides")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def calendar_import(slug: str, year: int, fmt: str | None, replace: bool, file: Path) -> None:
    """Import FILE (JSON or CSV: date, kind HOLIDAY|WORKDAY, name) as the year's official schedule; all or nothing,
    and the tenant's open deadlines are computed again."""
    from services.core.audit.service import Actor
    from services.core.calendars.schedule import ScheduleFormat, ScheduleRefused
    from services.core.clock import system_clock
    from services.core.deadlines.service import import_calendar_year

    chosen = (fmt or file.suffix.lstrip(".")).upper()
    if chosen not in ScheduleFormat.__members__:
        raise click.ClickException("give --format json or csv (the file's extension does not say)")
    content = file.read_text(encoding="utf-8-sig")

    async def work(session: Any, ref: Any) -> Any:
        return await import_calendar_year(session, actor=Actor(user_id=None, label="cli"), now=system_clock.now(),
                                          year=year, fmt=ScheduleFormat(chosen), content=content, replace=replace)

    async def refused_or_done(session: Any, ref: Any) -> Any:
        try:
            async with session.begin_nested():  # a refusal rolls back to here (nothing was written)
                return await work(session, ref)
        except ScheduleRefused as exc:
            return exc

    done = _run_in(slug, refused_or_done)
    if isinstance(done, ScheduleRefused):
        for error in done.errors:
            click.echo(f"{error.message} [{error.code}]", err=True)
        raise click.ClickException(f"{file.name} refused: nothing imported")
    click.echo(f"imported {year} for tenant {slug}: {done.holidays} holiday(s), {done.workdays} make-up working "
               f"day(s); {done.replaced} earlier override(s) replaced; {done.deadlines_moved} open deadline(s) moved")


@tenant.command("list")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def tenant_list(as_json: bool) -> None:
    """List tenants."""
    from tenants.provision import list_tenants, migrate_platform

    async def go() -> Any:
        await migrate_platform()
        return await list_tenants()

    rows = _run(go)
    if as_json:
        click.echo(json.dumps([r.__dict__ for r in rows], ensure_ascii=False, indent=2))
        return
    if not rows:
        click.echo("no tenants")
        return
    header = ("SLUG", "STATUS", "TEMPLATE", "REVISION", "BUDGET", "CREATED", "NAME")
    table = [header] + [
        (r.slug, r.status, r.template, r.schema_revision or "-", r.request_budget or "default", r.created_at,
         r.display_name) for r in rows
    ]
    widths = [max(len(str(row[i])) for row in table) for i in range(len(header) - 1)]
    for row in table:
        click.echo("  ".join(str(c).ljust(w) for c, w in zip(row[:-1], widths, strict=True)) + "  " + row[-1])


def _set_status(slug: str, status_name: str) -> None:
    from services.core.tenancy import TenantStatus
    from tenants.provision import set_status

    status = TenantStatus(status_name)
    info, changed = _run(lambda: set_status(slug, status))
    click.echo(f"tenant {info.slug} {'is now' if changed else 'was already'} {info.status}")


@tenant.command("suspend")
@click.argument("slug")
def tenant_suspend(slug: str) -> None:
    """Suspend a tenant: every request and message for it is refused."""
    _set_status(slug, "suspended")


@tenant.command("resume")
@click.argument("slug")
def tenant_resume(slug: str) -> None:
    """Resume a suspended tenant."""
    _set_status(slug, "active")


@tenant.command("budget")
@click.argument("slug")
@click.argument("budget", required=False)
@click.option("--default", "use_default", is_flag=True, help="back to the platform's COMPLAINTDESK_TENANT_BUDGET")
def tenant_budget(slug: str, budget: str | None, use_default: bool) -> None:
    """Show or set a tenant's request budget: RATE/BURST, requests a second that one API process serves it
    (e.g. 50/100); beyond it the API answers 429 RATE_LIMITED with Retry-After before any other work."""
    from services.core.ratelimit import default_tenant_budget
    from tenants.provision import get_tenant, migrate_platform, set_request_budget

    if budget is not None and use_default:
        raise click.UsageError("give a BUDGET or --default, not both")

    async def go() -> Any:
        await migrate_platform()
        if budget is None and not use_default:
            return await get_tenant(slug)
        return await set_request_budget(slug, None if use_default else budget)

    info = _run(go)
    shown = info.request_budget or f"{default_tenant_budget()} (the platform's default)"
    click.echo(f"tenant {info.slug}: request budget {shown} requests a second per API process (rate/burst)")


@tenant.command("documents")
@click.argument("slug")
@click.option("--registered-only/--any", "registered_only", default=None,
              help="accept only the registered documents (the SPAs' operations, by their SHA-256), or any document")
def tenant_documents(slug: str, registered_only: bool | None) -> None:
    """Show or set which GraphQL documents a tenant accepts (trusted documents)."""
    from tenants.provision import get_tenant, migrate_platform, set_registered_documents_only

    async def go() -> Any:
        await migrate_platform()
        if registered_only is None:
            return await get_tenant(slug)
        return await set_registered_documents_only(slug, registered_only)

    info = _run(go)
    which = "registered documents only" if info.registered_documents_only else "any document"
    click.echo(f"tenant {info.slug} accepts {which}")


@tenant.command("delete")
@click.argument("slug")
@click.option("--yes", is_flag=True, help="do not ask (the tenant must be suspended first)")
def tenant_delete(slug: str, yes: bool) -> None:
    """Delete a suspended tenant: its schema is dropped and its keys destroyed (nothing of it can be read again)."""
    from tenants.provision import delete_tenant

    if not yes:
        click.confirm(f"Delete tenant {slug} and destroy its keys? This cannot be undone", abort=True)
    keys = _run(lambda: delete_tenant(slug))
    click.echo(f"tenant {slug} deleted; {keys} key(s) destroyed")


@cli.group()
def operator() -> None:
    """Platform operators: their own sign-in (operatorLogin) for createTenant, suspendTenant, resumeTenant."""


def _read_password(password_stdin: bool) -> str:
    if password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return str(click.prompt("password", hide_input=True, confirmation_prompt=True))


@operator.command("create")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="read the password from the first line of standard input")
def operator_create(name: str, password_stdin: bool) -> None:
    """Create operator NAME (password: at least 10 characters; asked for unless --password-stdin)."""
    from services.core.auth.operators import create_operator
    from tenants.provision import migrate_platform

    password = _read_password(password_stdin)

    async def go() -> None:
        await migrate_platform()
        await create_operator(name, password)

    _run(go)
    click.echo(f"created operator {name}")


@operator.command("set-password")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="read the password from the first line of standard input")
def operator_set_password(name: str, password_stdin: bool) -> None:
    """Set the password of operator NAME (and reactivate them)."""
    from services.core.auth.operators import set_operator_password

    password = _read_password(password_stdin)
    _run(lambda: set_operator_password(name, password))
    click.echo(f"password of operator {name} set")


@cli.group()
def audit() -> None:
    """The audit trail."""


@audit.command("verify")
@click.option("--tenant", "slugs", multiple=True, help="only this tenant (repeatable); default: all")
def audit_verify(slugs: tuple[str, ...]) -> None:
    """Walk each tenant's hash chain and report the first broken link."""
    from services.core.audit.service import verify_chain
    from services.core.tenancy import TenantRef, schema_for, tenant_session
    from tenants.provision import get_tenant, list_tenants

    async def go() -> list[tuple[str, Any]]:
        infos = [await get_tenant(s) for s in slugs] if slugs else await list_tenants()
        results = []
        for info in infos:
            ref = TenantRef(slug=info.slug, schema=schema_for(info.slug), template=info.template)
            async with tenant_session(ref) as session:
                results.append((info.slug, await verify_chain(session)))
        return results

    broken = 0
    for slug, result in _run(go):
        if result.ok:
            click.echo(f"{slug}: ok ({result.checked} events)")
        else:
            broken += 1
            click.echo(f"{slug}: BROKEN at event {result.first_broken_seq}: {result.reason} "
                       f"({result.checked} events verified before it)", err=True)
    if broken:
        sys.exit(1)


@cli.group()
def policies() -> None:
    """A tenant's policy rules, outside the API (break glass)."""


@policies.command("reset")
@click.option("--tenant", "slug", required=True, help="the tenant whose rules are reset")
@click.option("--reason", required=True, help="why (kept, sealed, on the tenant's audit trail)")
@click.option("--yes", is_flag=True, help="do not ask")
def policies_reset(slug: str, reason: str, yes: bool) -> None:
    """Put the tenant's template's default rules (policies/<template>.csv) back in force, whatever its rules and
    roles are now: for a tenant that locked itself out. Kept as a new policy version (RESET) and audited with
    the operator as actor."""
    from services.core import authz
    from services.core.clock import system_clock
    from services.core.tenancy import TenantRef, schema_for, tenant_session
    from tenants.provision import get_tenant

    if not yes:
        click.confirm(f"Replace every policy rule of tenant {slug} with its template's defaults?", abort=True)

    async def go() -> tuple[str, authz.Reset]:
        info = await get_tenant(slug)  # a suspended tenant too: it may be suspended because it is locked out
        ref = TenantRef(slug=info.slug, schema=schema_for(info.slug), template=info.template)
        async with tenant_session(ref) as session, session.begin():
            return info.template, await authz.reset_rules(session, template=info.template, now=system_clock.now(),
                                                          reason=reason)

    template, reset = _run(go)
    for rule in reset.removed:
        click.echo(f"  - {rule.role}, {rule.action}, {rule.relation}, {rule.effect}")
    for rule in reset.added:
        click.echo(f"  + {rule.role}, {rule.action}, {rule.relation}, {rule.effect}")
    click.echo(f"tenant {slug}: the {template} template's rules are in force as policy version {reset.version} "
               f"({len(reset.added)} added, {len(reset.removed)} removed)")


@cli.group()
def keys() -> None:
    """The master key and tenant keys: make, rotate, follow rotations."""


@keys.command("generate-master")
def keys_generate_master() -> None:
    """Print a new random master key (base64) for COMPLAINTDESK_MASTER_KEY or a secret file."""
    from services.core.crypto.master import generate_master_key

    click.echo(generate_master_key())


@keys.command("rotate-master")
def keys_rotate_master() -> None:
    """Re-wrap every tenant key under the current master key (the previous one in
    COMPLAINTDESK_MASTER_KEY_PREVIOUS); no data is touched."""
    from services.core.crypto.keys import rewrap_all

    _setup_logging()
    count = _run(rewrap_all)
    click.echo(f"{count} tenant key(s) re-wrapped under the current master key")


def _show_rotation(info: Any) -> str:
    return (f"rotation {info.id} tenant {info.tenant}: {info.state}, v{info.from_version} -> v{info.to_version}, "
            f"{info.rows_done}/{info.rows_total} rows ({info.progress:.0%})"
            + (f": {info.error}" if info.error else ""))


@keys.command("rotate")
@click.option("--tenant", "slug", required=True, help="the tenant whose data key is rotated")
@click.option("--background", is_flag=True, help="hand the re-encryption to the workers instead of running it here")
@click.option("--batch", default=500, show_default=True, type=click.IntRange(1, 10_000), help="rows per transaction")
def keys_rotate(slug: str, background: bool, batch: int) -> None:
    """Rotate a tenant's data key and re-encrypt its rows (resumes a rotation that did not finish)."""
    from services.core.crypto.rotation import run_data_rotation, start_data_rotation

    _setup_logging()

    async def go() -> Any:
        rotation, created = await start_data_rotation(slug, started_by="cli")
        click.echo(("started " if created else "resuming ") + _show_rotation(rotation))
        if background:
            from services.worker.actors.keys import rotate_data_key

            await asyncio.to_thread(rotate_data_key.send, str(rotation.id))
            return rotation
        last = [0.0]

        def progress(info: Any) -> None:
            if time.monotonic() - last[0] >= 1 or info.state == "done":
                last[0] = time.monotonic()
                click.echo("  " + _show_rotation(info))

        return await run_data_rotation(rotation.id, batch=batch, on_progress=progress)

    info = _run(go)
    click.echo(("queued for the workers: " if background else "") + _show_rotation(info))
    if info.state == "failed":
        sys.exit(1)


@keys.command("status")
@click.option("--tenant", "slug", help="only this tenant")
def keys_status(slug: str | None) -> None:
    """Recent data-key rotations and their progress."""
    from services.core.crypto.rotation import list_rotations

    rotations = _run(lambda: list_rotations(slug))
    if not rotations:
        click.echo("no rotations")
    for info in rotations:
        click.echo(_show_rotation(info))


@cli.group()
def retention() -> None:
    """Erase complainants whose retention period ended."""


@retention.command("run")
@click.option("--tenant", "slugs", multiple=True, help="only this tenant (repeatable); default: all active")
def retention_run(slugs: tuple[str, ...]) -> None:
    """Erase (crypto-shred) every complainant past their tenant's retention period, now."""
    from services.core.clock import system_clock
    from services.core.complaints.erasure import erase_expired_in
    from services.core.tenancy import resolve_tenant
    from tenants.provision import list_tenants

    async def go() -> list[tuple[str, int]]:
        names = list(slugs) or [t.slug for t in await list_tenants() if t.status == "active"]
        return [(name, await erase_expired_in(await resolve_tenant(name), now=system_clock.now())) for name in names]

    for name, total in _run(go):
        click.echo(f"{name}: {total} complainant(s) erased")


@cli.command("export-schema")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("frontend-schema/schema.graphql"), show_default=True)
@click.option("--check", is_flag=True, help="exit 1 if the file differs from the code instead of writing it")
def export_schema(output: Path, check: bool) -> None:
    """Write the GraphQL SDL that SPA developers build against, and the registered documents' manifest
    (frontend-schema/persisted-documents.json: the operations of frontend-schema/operations by SHA-256)."""
    from services.api.documents import MANIFEST, manifest_text
    from services.api.sdl import export_sdl

    _write_or_check(output, export_sdl(), "export-schema", check=check)
    _write_or_check(MANIFEST, manifest_text(), "export-schema", check=check)  # the registered documents


@cli.command("compile-report")
def compile_report() -> None:
    """List every registered query: compiled to one SQL statement per root field, or answered by the resolver
    path, with the reason (services/api/compiled.py)."""
    from services.api.compiled import build, report_text
    from services.api.schema import build_schema

    click.echo(report_text(build(build_schema()._schema)), nl=False)


def _write_or_check(output: Path, text_: str, command: str, *, check: bool) -> None:
    """Write a file generated from the code, or (``check``) fail when the committed one differs."""
    if check:
        current = output.read_text(encoding="utf-8") if output.exists() else ""
        if current != text_:
            raise click.ClickException(f"{output} is out of date: run `complaintdesk {command}`")
        click.echo(f"{output} is up to date")
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text_, encoding="utf-8")
    click.echo(f"wrote {output}")


@cli.command("lifecycle-doc")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("docs/lifecycle.md"), show_default=True)
@click.option("--check", is_flag=True, help="exit 1 if the file differs from the code instead of writing it")
def lifecycle_doc(output: Path, check: bool) -> None:
    """Write the lifecycle's state diagram and step table, drawn from ``lifecycle.STEPS``."""
    from services.core.complaints.lifecycle import document

    _write_or_check(output, document(), "lifecycle-doc", check=check)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="where embedded servers keep data [default: ./.complaintdesk]")
@click.option("--threads", default=2, show_default=True, type=int, help="worker threads")
@click.option("--dev", is_flag=True, help="development mode: GraphiQL, introspection without a token, suggestions")
def up(host: str, port: int, data_dir: Path | None, threads: int, dev: bool) -> None:
    """Everything at once: embedded servers, migrations, demo tenant, API and worker. Production mode unless
    --dev (or COMPLAINTDESK_ENV) says otherwise."""
    from services.cli.up import run_up

    _setup_logging("complaintdesk")
    started = time.monotonic()
    folder = (data_dir or Path(os.environ.get("COMPLAINTDESK_DATA_DIR", ".complaintdesk"))).resolve()
    if dev:
        os.environ["COMPLAINTDESK_ENV"] = "development"
    elif not os.environ.get("COMPLAINTDESK_ENV", "").strip():
        os.environ["COMPLAINTDESK_ENV"] = "production"
    reset_settings()
    run_up(host=host, port=port, data_dir=folder, threads=threads, started=started)


def main() -> None:
    cli(prog_name="complaintdesk")


if __name__ == "__main__":
    main()
