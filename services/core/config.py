"""Settings read once from the environment.

Nothing here has a silent production default for secrets or tenants: a missing
``DATABASE_URL`` only means "use the embedded server" for the commands that
start one (``up`` and the test run), and they set it before anything reads it.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path


class ConfigError(RuntimeError):
    """A setting is missing or malformed; the message says which and how to fix it."""


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str
    redis_url: str
    environment: str
    data_dir: Path
    queue_namespace: str
    # addresses and networks of the reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are believed
    # (COMPLAINTDESK_TRUSTED_PROXIES); empty: the headers are ignored and the client is the connection's peer
    trusted_proxies: tuple[str, ...] = ()
    # the built web console (console/dist; COMPLAINTDESK_CONSOLE_DIR), served at / (None: the repository's)
    console_dir: Path | None = None

    @property
    def development(self) -> bool:
        return self.environment == "development"


def _async_database_url(url: str) -> str:
    """Accept the usual ``postgresql://`` spelling and use the asyncpg driver."""
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix):]
    raise ConfigError("DATABASE_URL must be a postgresql:// URL")


TRUSTED_PROXIES = "COMPLAINTDESK_TRUSTED_PROXIES"


def parse_trusted_proxies(raw: str) -> tuple[str, ...]:
    """``10.0.0.5, 10.1.0.0/16, ::1`` -> each entry checked: an IP address or network, nothing else."""
    entries = tuple(part.strip() for part in raw.split(",") if part.strip())
    for entry in entries:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise ConfigError(f"{TRUSTED_PROXIES}: {entry!r} is not an IP address or network (a comma list of "
                              "addresses and CIDRs, e.g. 10.0.0.0/8)") from None
    return entries


def secret_setting(name: str) -> str:
    """``NAME`` from the environment, else the content of the file ``NAME_FILE`` names (a mounted Secret), stripped;
    both set: the variable wins (as for the keys). A ``NAME_FILE`` that cannot be read stops the process."""
    value = os.environ.get(name, "").strip()
    path = os.environ.get(f"{name}_FILE", "").strip()
    if value or not path:
        return value
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"{name}_FILE: cannot read {path} ({type(exc).__name__})") from None


def load_settings() -> Settings:
    database_url = secret_setting("DATABASE_URL")
    redis_url = secret_setting("REDIS_URL")
    if not database_url:
        raise ConfigError(
            "DATABASE_URL is not set (use `complaintdesk up` for embedded PostgreSQL in development)"
        )
    if not redis_url:
        raise ConfigError("REDIS_URL is not set (use `complaintdesk up` for embedded Redis in development)")
    environment = os.environ.get("COMPLAINTDESK_ENV", "production").strip() or "production"
    if environment not in {"production", "development", "test"}:
        raise ConfigError("COMPLAINTDESK_ENV must be production, development or test")
    return Settings(
        database_url=_async_database_url(database_url),
        redis_url=redis_url,
        environment=environment,
        data_dir=Path(os.environ.get("COMPLAINTDESK_DATA_DIR", ".complaintdesk")).resolve(),
        queue_namespace=os.environ.get("COMPLAINTDESK_QUEUE_NAMESPACE", "complaintdesk"),
        trusted_proxies=parse_trusted_proxies(os.environ.get(TRUSTED_PROXIES, "")),
        console_dir=Path(os.environ["COMPLAINTDESK_CONSOLE_DIR"]).resolve()
        if os.environ.get("COMPLAINTDESK_CONSOLE_DIR", "").strip() else None,
    )


_settings: Settings | None = None


def get_settings() -> Settings:
    global _settings
    if _settings is None:
        _settings = load_settings()
    return _settings


def reset_settings() -> None:
    """Forget cached settings (the CLI and the tests change the environment first)."""
    global _settings
    _settings = None
