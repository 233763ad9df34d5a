"""The Google emulator's OAuth side: the service-account key file it writes and the token endpoint.

google-auth signs an RS256 JWT with the key file's private key and posts it to the key file's
``token_uri`` (the JWT bearer grant:
https://developers.google.com/identity/protocols/oauth2/service-account#authorizingrequests).
The emulator checks the signature against the key it issued and answers with an access token that
lives 3600 s, as Google's do; API calls then carry it as ``Authorization: Bearer``.
"""
from __future__ import annotations

import json
import random
import threading
from dataclasses import dataclass
from pathlib import Path
from datetime import datetime
from typing import Callable
from urllib.parse import parse_qs

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from integrations.sandbox.google_common import ApiError, Fault, Response, b64url_decode

SERVICE_ACCOUNT_EMAIL = "webinar-worker@sandbox.iam.gserviceaccount.com"  # the address the key file names
PROJECT_ID = "sandbox"  # project_id in the key file
# google-auth always puts Google's own token endpoint in "aud", whatever token_uri the key file has.
GOOGLE_TOKEN_AUDIENCES = frozenset({"https://oauth2.googleapis.com/token",
                                    "https://www.googleapis.com/oauth2/v4/token",
                                    "https://accounts.google.com/o/oauth2/token"})
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"  # the only grant type served
TOKEN_LIFETIME = 3600  # seconds, like Google
_AUTH_MESSAGE = ("Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie "
                 "or other valid authentication credential. "
                 "See https://developers.google.com/identity/sign-in/web/devconsole-project.")
_BEARER_REALM = 'Bearer realm="https://accounts.google.com/", '  # start of WWW-Authenticate on 401 and 403


class OAuthError(Exception):
    """An error answer of the token endpoint: ``{"error", "error_description"}``."""

    def __init__(self, error: str, description: str, code: int = 400):
        super().__init__(description)
        self.code = code  # HTTP status
        self.error = error  # OAuth error code, e.g. invalid_grant
        self.description = description  # human text



@dataclass
class Token:
    """What an access token grants."""

    email: str  # the service account it was issued to
    scopes: frozenset[str]  # granted scopes
    expires_at: float  # POSIX time it stops working


class TokenService:
    """Issues service-account keys and access tokens, and checks the tokens API calls carry."""

    def __init__(self, clock: Callable[[], datetime], rng: random.Random, lock: threading.RLock):
        self._clock = clock  # "now" for token expiry and JWT time checks
        self._rng = rng  # key ids, client ids and access tokens
        self._lock = lock  # the emulator's state lock, shared by all services
        self._private_key: rsa.RSAPrivateKey | None = None  # the service-account key, made on first use
        self._key_id = ""  # private_key_id of that key
        self._accounts: dict[str, tuple[rsa.RSAPublicKey, str]] = {}  # email -> (public key, key id)
        self._tokens: dict[str, Token] = {}  # access token -> grant

    def write_service_account_key(self, path: str | Path, email: str, token_uri: str) -> str:
        """Write a service-account JSON key whose token_uri is ``token_uri``; return its client_email."""
        with self._lock:
            if self._private_key is None:
                self._private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
                self._key_id = "%040x" % self._rng.getrandbits(160)
            self._accounts[email] = (self._private_key.public_key(), self._key_id)
            pem = self._private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                  serialization.NoEncryption()).decode()
            client_id = str(self._rng.randrange(10 ** 20, 10 ** 21))
        info = {
            "type": "service_account",
            "project_id": PROJECT_ID,
            "private_key_id": self._key_id,
            "private_key": pem,
            "client_email": email,
            "client_id": client_id,
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": token_uri,
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/" + email.replace("@", "%40"),
            "universe_domain": "googleapis.com",
        }
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
        return email

    def expire_all(self) -> None:
        """Make every access token issued so far invalid."""
        with self._lock:
            for token in self._tokens.values():
                token.expires_at = 0.0

    def token_response(self, body: bytes, fault: Fault | None, token_uri: str) -> Response:
        """Answer ``POST /token``: an access token for a valid JWT grant, else Google's OAuth error."""
        try:
            if fault is not None:
                raise OAuthError("internal_failure" if fault.status >= 500 else (fault.reason or "invalid_request"),
                                 "Emulated failure", fault.status)
            form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
            grant_type = form.get("grant_type", [""])[0]
            if grant_type != JWT_BEARER:
                raise OAuthError("unsupported_grant_type", f"Invalid grant_type: {grant_type}")
            email, scopes = self._verify_assertion(form.get("assertion", [""])[0], token_uri)
        except OAuthError as err:
            return Response(err.code, {"error": err.error, "error_description": err.description})
        access_token = "ya29.sandbox-" + "".join(self._rng.choice("abcdefghijklmnopqrstuvwxyz0123456789")
                                                 for _ in range(40))
        self._tokens[access_token] = Token(email, scopes, self._clock().timestamp() + TOKEN_LIFETIME)
        return Response(200, {"access_token": access_token, "expires_in": TOKEN_LIFETIME, "token_type": "Bearer"})

    def _verify_assertion(self, assertion: str, token_uri: str) -> tuple[str, frozenset[str]]:
        """Check an RS256 JWT grant; return (client_email, scopes) or raise OAuthError."""
        try:
            head_b64, claims_b64, signature_b64 = assertion.split(".")
            header = json.loads(b64url_decode(head_b64))
            claims = json.loads(b64url_decode(claims_b64))
            signature = b64url_decode(signature_b64)
        except (ValueError, json.JSONDecodeError):
            raise OAuthError("invalid_request", "Invalid JWT: the assertion is not a signed JWT.") from None
        if header.get("alg") != "RS256":
            raise OAuthError("invalid_grant", "Invalid JWT: the algorithm must be RS256.")
        email = claims.get("iss", "")
        account = self._accounts.get(email)
        if account is None:
            raise OAuthError("invalid_grant", "Invalid grant: account not found")
        public_key, key_id = account
        if header.get("kid") not in (None, key_id):
            raise OAuthError("invalid_grant", "Invalid JWT Signature.")
        try:
            public_key.verify(signature, f"{head_b64}.{claims_b64}".encode(), padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            raise OAuthError("invalid_grant", "Invalid JWT Signature.") from None
        if claims.get("aud") not in GOOGLE_TOKEN_AUDIENCES | {token_uri}:
            raise OAuthError("invalid_grant", "Invalid JWT: Failed audience check. The right audience is "
                                              f"{token_uri}")
        now = self._clock().timestamp()
        try:
            issued, expires = float(claims["iat"]), float(claims["exp"])
        except (KeyError, TypeError, ValueError):
            raise OAuthError("invalid_grant", "Invalid JWT: iat and exp are required.") from None
        if expires <= now or issued > now + 300 or expires - issued > TOKEN_LIFETIME:
            raise OAuthError("invalid_grant", "Invalid JWT: Token must be a short-lived token (60 minutes) and in "
                                              "a reasonable timeframe. Check your iat and exp values in the JWT "
                                              "claim.")
        scopes = frozenset(str(claims.get("scope", "")).split())
        if not scopes:
            raise OAuthError("invalid_scope", "Invalid OAuth scope or ID token audience provided.")
        return email, scopes

    def grant(self, headers: dict[str, str]) -> Token:
        """The live token in the ``Authorization`` header, else the 401 Google answers."""
        value = headers.get("authorization", "")
        token = self._tokens.get(value[7:].strip()) if value.lower().startswith("bearer ") else None
        if token is None or token.expires_at <= self._clock().timestamp():
            raise ApiError(401, _AUTH_MESSAGE, "authError", extra={"location": "Authorization",
                                                                   "locationType": "header"},
                           v4_reason="ACCESS_TOKEN_EXPIRED" if value else "CREDENTIALS_MISSING",
                           headers={"WWW-Authenticate": _BEARER_REALM + 'error="invalid_token"'})
        return token

    @staticmethod
    def require_scopes(token: Token, allowed: frozenset[str]) -> None:
        """A 403 insufficientPermissions unless the token holds one of the ``allowed`` scopes."""
        if not token.scopes & allowed:
            raise ApiError(403, "Request had insufficient authentication scopes.", "insufficientPermissions",
                           headers={"WWW-Authenticate": _BEARER_REALM + 'error="insufficient_scope"'})
