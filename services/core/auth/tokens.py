"""Access tokens: short-lived EdDSA (Ed25519) JWTs signed by the platform.

Keys come from the environment, never from the repository:

* ``COMPLAINTDESK_JWT_SIGNING_KEY_FILE``: a file with the private key (PEM, PKCS#8), or
* ``COMPLAINTDESK_JWT_SIGNING_KEY``: the same PEM inline;
* ``COMPLAINTDESK_JWT_PREVIOUS_PUBLIC_KEYS_FILE`` (optional): a PEM bundle of public keys that
  signed tokens still in circulation; they verify but never sign (key rotation).

Each token names its key in the ``kid`` header: the key's RFC 7638 thumbprint. In production
a missing key is a configuration error (``complaintdesk serve``/``worker`` refuse to start);
elsewhere a key is made up for the life of the process, with a warning.

Claims of a staff token: ``iss`` and ``aud`` "complaintdesk", ``sub`` (the user's UUID),
``tenant`` (the slug), ``roles`` (informative: the API reads roles from the database),
``iat``, ``nbf``, ``exp`` (15 minutes), ``jti``, ``typ`` "access". An operator token has
``sub`` "operator:NAME", ``scope`` "operator" and no ``tenant``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import re
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from services.core.config import ConfigError
from services.core.i18n import N_
from services.core.tenancy import SLUG_PATTERN

logger = logging.getLogger("complaintdesk.auth.tokens")

ISSUER = "complaintdesk"
AUDIENCE = "complaintdesk"
ALGORITHM = "EdDSA"
ACCESS_TTL = timedelta(minutes=15)
LEEWAY_S = 10  # clock skew between API pods
MAX_TOKEN_LENGTH = 8192
OPERATOR_SCOPE = "operator"
OPERATOR_PREFIX = "operator:"

ENV_KEY_FILE = "COMPLAINTDESK_JWT_SIGNING_KEY_FILE"
ENV_KEY = "COMPLAINTDESK_JWT_SIGNING_KEY"
ENV_PREVIOUS_KEYS_FILE = "COMPLAINTDESK_JWT_PREVIOUS_PUBLIC_KEYS_FILE"

_REQUIRED_CLAIMS = ["iss", "aud", "sub", "iat", "nbf", "exp", "jti"]
_PEM_BLOCK = re.compile(rb"-----BEGIN [A-Z0-9 ]+-----.+?-----END [A-Z0-9 ]+-----", re.DOTALL)
OPERATOR_NAME = re.compile(r"^[a-z][a-z0-9_.-]{1,63}$")


class InvalidToken(Exception):
    """The token is not one of ours, is malformed, tampered with or not yet valid. The message is safe to show."""

    def __init__(self, message: str = N_("the access token is not valid")) -> None:
        super().__init__(message)
        self.message = message


class ExpiredToken(InvalidToken):
    def __init__(self) -> None:
        super().__init__(N_("the access token has expired"))


# ---- keys -------------------------------------------------------------------------------------------------------


def thumbprint(public_key: Ed25519PublicKey) -> str:
    """RFC 7638 JWK thumbprint (SHA-256, base64url) of an Ed25519 public key: the ``kid``."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    jwk = {"crv": "Ed25519", "kty": "OKP", "x": _b64url(raw)}
    digest = hashlib.sha256(json.dumps(jwk, separators=(",", ":"), sort_keys=True).encode()).digest()
    return _b64url(digest)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class KeyRing:
    signing_key: Ed25519PrivateKey
    kid: str
    verification_keys: Mapping[str, Ed25519PublicKey]  # kid -> key: the signing key's and the previous ones
    ephemeral: bool = False


def generate_private_key_pem() -> bytes:
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def ensure_key_file(path: Path) -> bool:
    """Write a new private key to ``path`` (mode 0600) unless one is there; returns True when it made one."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(generate_private_key_pem())
    return True


def _load_private_key(pem: bytes, source: str) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            f"{source} does not hold an unencrypted PEM private key ({type(exc).__name__}); "
            "make one with `openssl genpkey -algorithm ed25519`"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"{source} must be an Ed25519 private key (`openssl genpkey -algorithm ed25519`)")
    return key


def _load_public_keys(bundle: bytes, source: str) -> list[Ed25519PublicKey]:
    keys = []
    for block in _PEM_BLOCK.findall(bundle):
        try:
            key = serialization.load_pem_public_key(block)
        except (ValueError, TypeError):
            raise ConfigError(f"{source} holds a PEM block that is not a public key") from None
        if not isinstance(key, Ed25519PublicKey):
            raise ConfigError(f"{source} holds a public key that is not Ed25519")
        keys.append(key)
    if not keys:
        raise ConfigError(f"{source} holds no PEM public key")
    return keys


def _read(path_value: str, variable: str) -> bytes:
    try:
        return Path(path_value).read_bytes()
    except OSError as exc:
        raise ConfigError(f"{variable}={path_value} cannot be read: {exc.strerror or type(exc).__name__}") from None


def signing_key_configured(environ: Mapping[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    return bool(env.get(ENV_KEY_FILE, "").strip() or env.get(ENV_KEY, "").strip())


def load_keyring(environ: Mapping[str, str] | None = None, *, allow_ephemeral: bool = False) -> KeyRing:
    """The keys the environment names; a ``ConfigError`` that says what to set when they are missing or wrong."""
    env = os.environ if environ is None else environ
    key_file = env.get(ENV_KEY_FILE, "").strip()
    inline = env.get(ENV_KEY, "").strip()
    if key_file and inline:
        raise ConfigError(f"set either {ENV_KEY_FILE} or {ENV_KEY}, not both")
    ephemeral = False
    if key_file:
        private = _load_private_key(_read(key_file, ENV_KEY_FILE), ENV_KEY_FILE)
    elif inline:
        private = _load_private_key(inline.encode(), ENV_KEY)
    elif allow_ephemeral:
        private, ephemeral = Ed25519PrivateKey.generate(), True
    else:
        raise ConfigError(
            f"no JWT signing key: set {ENV_KEY_FILE} to a file holding an Ed25519 private key (PEM; make one with "
            f"`openssl genpkey -algorithm ed25519 -out jwt.pem`) or {ENV_KEY} to the PEM itself"
        )
    public = private.public_key()
    kid = thumbprint(public)
    verification: dict[str, Ed25519PublicKey] = {kid: public}
    previous_file = env.get(ENV_PREVIOUS_KEYS_FILE, "").strip()
    if previous_file:
        for key in _load_public_keys(_read(previous_file, ENV_PREVIOUS_KEYS_FILE), ENV_PREVIOUS_KEYS_FILE):
            verification.setdefault(thumbprint(key), key)
    return KeyRing(signing_key=private, kid=kid, verification_keys=verification, ephemeral=ephemeral)


_keyring: KeyRing | None = None
_keyring_lock = threading.Lock()


def get_keyring() -> KeyRing:
    """The process's keys, loaded once. Outside production a missing key is replaced by a process-local one."""
    global _keyring
    with _keyring_lock:
        if _keyring is None:
            production = os.environ.get("COMPLAINTDESK_ENV", "production").strip() in ("", "production")
            _keyring = load_keyring(allow_ephemeral=not production)
            if _keyring.ephemeral:
                logger.warning(
                    "no JWT signing key configured (%s or %s): using a key made up for this process; "
                    "its tokens stop working when it stops", ENV_KEY_FILE, ENV_KEY,
                )
        return _keyring


def reset_keyring() -> None:
    """Forget the loaded keys (the CLI and the tests change the environment first)."""
    global _keyring
    with _keyring_lock:
        _keyring = None
        _verified.clear()


# ---- issuing ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedToken:
    token: str
    jti: str
    expires_at: datetime


def _issue(claims: dict[str, Any], now: datetime, ttl: timedelta) -> IssuedToken:
    ring = get_keyring()
    jti = uuid.uuid4().hex
    issued = int(now.timestamp())
    expires = issued + int(ttl.total_seconds())
    payload = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        **claims,
        "iat": issued,
        "nbf": issued,
        "exp": expires,
        "jti": jti,
        "typ": "access",
    }
    token = jwt.encode(payload, ring.signing_key, algorithm=ALGORITHM, headers={"kid": ring.kid, "typ": "JWT"})
    return IssuedToken(token=token, jti=jti, expires_at=datetime.fromtimestamp(expires, tz=now.tzinfo))


def issue_access_token(
    *, user_id: uuid.UUID, tenant: str, roles: list[str] | tuple[str, ...], now: datetime,
    ttl: timedelta = ACCESS_TTL,
) -> IssuedToken:
    """A staff member's access token for ``tenant``."""
    return _issue({"sub": str(user_id), "tenant": tenant, "roles": sorted(roles)}, now, ttl)


def issue_operator_token(*, name: str, now: datetime, ttl: timedelta = ACCESS_TTL) -> IssuedToken:
    """A platform operator's access token: no tenant, scope "operator"."""
    return _issue({"sub": OPERATOR_PREFIX + name, "scope": OPERATOR_SCOPE}, now, ttl)


# ---- verifying --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UserClaims:
    user_id: uuid.UUID
    tenant: str
    jti: str


@dataclass(frozen=True)
class OperatorClaims:
    name: str
    jti: str


def peek_issuer(token: str) -> str | None:
    """The unverified ``iss`` claim: only to choose who verifies the token (us or a tenant's identity provider)."""
    if token in _verified:  # one of ours, verified before
        return ISSUER
    if len(token) > MAX_TOKEN_LENGTH:
        return None
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    issuer = claims.get("iss")
    return issuer if isinstance(issuer, str) else None


# Tokens verified in this process: token -> (claims, exp, kid, key). A token's signature, audience, issuer and
# claims never change, so a second verification can only differ by expiry (checked again on every use, as
# PyJWT checks it) or by its key having left the keyring (checked: the same key object must still be there).
# Access tokens are not revocable one by one (they live 15 minutes), so nothing else can change the answer.
VERIFIED_CACHE_SIZE = 4096
_verified: OrderedDict[str, tuple[UserClaims | OperatorClaims, float, str, Ed25519PublicKey]] = OrderedDict()


def verify_access_token(token: str) -> UserClaims | OperatorClaims:
    """A token we signed with a current or previous key, unexpired, for us; else ``InvalidToken``."""
    with _keyring_lock:
        hit = _verified.get(token)
        if hit is not None:
            _verified.move_to_end(token)
    if hit is not None:
        known, expires, kid, key = hit
        if get_keyring().verification_keys.get(kid) is key:
            if time.time() - LEEWAY_S >= expires:
                raise ExpiredToken()
            return known
    return _verify(token)


def _verify(token: str) -> UserClaims | OperatorClaims:
    if len(token) > MAX_TOKEN_LENGTH:
        raise InvalidToken()
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise InvalidToken() from None
    kid = header.get("kid")
    if not isinstance(kid, str):
        raise InvalidToken()
    key = get_keyring().verification_keys.get(kid)
    if header.get("alg") != ALGORITHM or key is None:
        raise InvalidToken()
    try:
        claims = jwt.decode(
            token, key, algorithms=[ALGORITHM], audience=AUDIENCE, issuer=ISSUER, leeway=LEEWAY_S,
            options={"require": _REQUIRED_CLAIMS, "strict_aud": True},
        )
    except jwt.ExpiredSignatureError:
        raise ExpiredToken() from None
    except jwt.PyJWTError:
        raise InvalidToken() from None
    if claims.get("typ") != "access":
        raise InvalidToken()
    subject, jti = claims["sub"], claims["jti"]
    if not isinstance(subject, str) or not isinstance(jti, str):
        raise InvalidToken()
    if claims.get("scope") == OPERATOR_SCOPE:
        name = subject.removeprefix(OPERATOR_PREFIX)
        if not subject.startswith(OPERATOR_PREFIX) or "tenant" in claims or not OPERATOR_NAME.fullmatch(name):
            raise InvalidToken()
        return _remember(token, OperatorClaims(name=name, jti=jti), claims["exp"], kid, key)
    if "scope" in claims:
        raise InvalidToken()
    tenant = claims.get("tenant")
    if not isinstance(tenant, str) or not SLUG_PATTERN.fullmatch(tenant):
        raise InvalidToken()
    try:
        user_id = uuid.UUID(subject)
    except ValueError:
        raise InvalidToken() from None
    return _remember(token, UserClaims(user_id=user_id, tenant=tenant, jti=jti), claims["exp"], kid, key)


def _remember(
    token: str, claims: UserClaims | OperatorClaims, expires: Any, kid: str, key: Ed25519PublicKey
) -> UserClaims | OperatorClaims:
    if isinstance(expires, int | float):
        with _keyring_lock:
            _verified[token] = (claims, float(expires), kid, key)
            while len(_verified) > VERIFIED_CACHE_SIZE:
                _verified.popitem(last=False)
    return claims
