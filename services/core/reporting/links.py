"""Short-lived signed download links: ``/files/<token>``, the token a JWT signed with the platform's signing key
(EdDSA), audience ``complaintdesk-download`` (never accepted as an access token, whose audience differs), naming
the tenant, the file and the user it was made for. Serving it checks the signature and expiry, that the tenant
of the request is the token's, and the user's rights again at that moment (``reporting.service.open_download``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt

from services.core.auth.tokens import ALGORITHM, ISSUER, get_keyring
from services.core.tenancy import SLUG_PATTERN

AUDIENCE = "complaintdesk-download"
LINK_TTL = timedelta(minutes=5)
PATH_PREFIX = "/files/"


@dataclass(frozen=True)
class DownloadClaim:
    tenant: str
    file_id: uuid.UUID
    user_id: uuid.UUID


class InvalidLink(Exception):
    """Bad signature, expired, or malformed: the link serves nothing."""


def sign(*, tenant: str, file_id: uuid.UUID, user_id: uuid.UUID, now: datetime,
         ttl: timedelta = LINK_TTL) -> tuple[str, datetime]:
    """A download path and when it stops working."""
    ring = get_keyring()
    issued = int(now.timestamp())
    expires = issued + int(ttl.total_seconds())
    token = jwt.encode({"iss": ISSUER, "aud": AUDIENCE, "tenant": tenant, "file": str(file_id),
                        "sub": str(user_id), "iat": issued, "exp": expires, "typ": "download"},
                       ring.signing_key, algorithm=ALGORITHM, headers={"kid": ring.kid})
    return PATH_PREFIX + token, datetime.fromtimestamp(expires, tz=now.tzinfo)


def verify(token: str, *, now: datetime) -> DownloadClaim:
    if len(token) > 2048:
        raise InvalidLink()
    try:
        kid = jwt.get_unverified_header(token).get("kid")
        key = get_keyring().verification_keys.get(kid) if isinstance(kid, str) else None
        if key is None:
            raise InvalidLink()
        claims = jwt.decode(token, key, algorithms=[ALGORITHM], audience=AUDIENCE, issuer=ISSUER,
                            options={"require": ["exp", "iat", "sub", "aud", "iss"], "verify_exp": False})
    except jwt.PyJWTError:
        raise InvalidLink() from None
    if claims.get("typ") != "download" or int(claims["exp"]) <= int(now.timestamp()):
        raise InvalidLink()
    tenant = claims.get("tenant")
    if not isinstance(tenant, str) or not SLUG_PATTERN.fullmatch(tenant):
        raise InvalidLink()
    try:
        return DownloadClaim(tenant=tenant, file_id=uuid.UUID(str(claims.get("file"))),
                             user_id=uuid.UUID(str(claims["sub"])))
    except ValueError:
        raise InvalidLink() from None
