"""Opaque access tokens (HMAC-signed, expiring on the sandbox clock) and client-assertion checks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

TOKEN_PREFIX = "sbx1"
LEGACY_AUDIENCES = ("https://graph.windows.net", "https://graph.microsoft.com")


class TokenError(Exception):
    """A token or assertion that does not pass; ``reason`` names why (never the token)."""

    def __init__(self, reason: str, *, code: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


def b64url_encode(data: bytes) -> str:
    """Base64url without padding.

    :param data: the bytes.
    """
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    """Decode base64url with or without padding.

    :param text: the encoded text.
    """
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(key: bytes, message: str) -> str:
    return b64url_encode(hmac.new(key, message.encode(), hashlib.sha256).digest())


@dataclass(frozen=True)
class IssuedToken:
    """An access token and its lifetime.

    :param token: the opaque token.
    :param expires_in: seconds until it expires.
    :param expires_on: sandbox-clock expiry (POSIX seconds).
    """

    token: str
    expires_in: int
    expires_on: int


def issue_access_token(
    key: bytes,
    *,
    now: float,
    lifetime_s: int,
    client_id: str,
    subject: str,
    grant: str,
    audience: str,
    scopes: str,
) -> IssuedToken:
    """Mint an opaque, HMAC-signed access token.

    :param key: the signing key.
    :param now: the sandbox clock.
    :param lifetime_s: lifetime in seconds.
    :param client_id: the application.
    :param subject: the user (or the application for app-only tokens).
    :param grant: the grant type that produced it.
    :param audience: the resource it is for.
    :param scopes: the granted scopes.
    """
    expires_on = int(now) + int(lifetime_s)
    claims = {
        "cid": client_id,
        "sub": subject,
        "grant": grant,
        "aud": audience,
        "scp": scopes,
        "iat": int(now),
        "exp": expires_on,
        "jti": secrets.token_hex(8),
    }
    body = f"{TOKEN_PREFIX}.{b64url_encode(json.dumps(claims, separators=(',', ':')).encode())}"
    return IssuedToken(f"{body}.{_signature(key, body)}", int(lifetime_s), expires_on)


def verify_access_token(key: bytes, token: str, *, now: float, resource: str) -> dict[str, Any]:
    """Check a token's signature, expiry (sandbox clock) and audience; return its claims.

    :param key: the signing key.
    :param token: the presented token.
    :param now: the sandbox clock.
    :param resource: the audience the API expects.
    :raises TokenError: naming what is wrong.
    """
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX:
        raise TokenError("the access token is malformed")
    body = f"{parts[0]}.{parts[1]}"
    if not hmac.compare_digest(_signature(key, body), parts[2]):
        raise TokenError("the access token signature is invalid")
    claims: dict[str, Any] = json.loads(b64url_decode(parts[1]))
    if claims["exp"] <= now:
        raise TokenError("the access token has expired")
    if claims["aud"].rstrip("/") != resource:
        if claims["aud"].rstrip("/") in LEGACY_AUDIENCES:
            raise TokenError(
                f"The audience '{claims['aud']}' in the token is invalid and is no longer supported in "
                "Partner Center API",
                code="900420",
            )
        raise TokenError("the access token audience is not Partner Center")
    return claims


def x5t(cert_sha1_hex: str) -> str:
    """The ``x5t`` header value for a SHA-1 thumbprint given in hex.

    :param cert_sha1_hex: the thumbprint.
    """
    return b64url_encode(bytes.fromhex(cert_sha1_hex))


def verify_client_assertion(
    assertion: str,
    *,
    public_key: rsa.RSAPublicKey,
    client_id: str,
    thumbprint_sha1_hex: str,
    thumbprint_sha256_hex: str,
    token_path_suffixes: tuple[str, ...],
) -> None:
    """Verify a client-assertion JWT (RS256 or PS256) signed with the sandbox's client certificate.

    :param assertion: the compact JWT.
    :param public_key: the client certificate's public key.
    :param client_id: the expected ``iss``/``sub``.
    :param thumbprint_sha1_hex: the certificate's SHA-1 thumbprint (checked against ``x5t``).
    :param thumbprint_sha256_hex: the certificate's SHA-256 thumbprint (checked against ``x5t#S256``).
    :param token_path_suffixes: accepted endings of the ``aud`` (the token endpoint).
    :raises TokenError: naming what is wrong.
    """
    parts = assertion.split(".")
    if len(parts) != 3:
        raise TokenError("Client assertion is not a compact JWT.")
    try:
        header = json.loads(b64url_decode(parts[0]))
        claims = json.loads(b64url_decode(parts[1]))
        signature = b64url_decode(parts[2])
    except ValueError as err:
        raise TokenError("Client assertion could not be decoded.") from err
    # msal pads the base64url thumbprint; the JOSE spec does not: accept both.
    if "x5t" in header and str(header["x5t"]).rstrip("=") != x5t(thumbprint_sha1_hex):
        raise TokenError("Client assertion contains an invalid thumbprint (x5t).")
    if "x5t#S256" in header and str(header["x5t#S256"]).rstrip("=") != x5t(thumbprint_sha256_hex):
        raise TokenError("Client assertion contains an invalid thumbprint (x5t#S256).")
    signed = f"{parts[0]}.{parts[1]}".encode()
    algorithm = header.get("alg")
    try:
        if algorithm == "RS256":
            public_key.verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
        elif algorithm == "PS256":
            public_key.verify(
                signature, signed, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32), hashes.SHA256()
            )
        else:
            raise TokenError(f"Client assertion algorithm {algorithm!r} is not supported.")
    except InvalidSignature as err:
        raise TokenError("Client assertion failed signature validation.") from err
    if claims.get("iss") != client_id or claims.get("sub") != client_id:
        raise TokenError("Client assertion issuer and subject must be the client id.")
    if not str(claims.get("aud", "")).endswith(token_path_suffixes):
        raise TokenError("Client assertion audience is not this token endpoint.")
    if float(claims.get("exp", 0)) < time.time():
        raise TokenError("Client assertion has expired.")
