"""Single sign-on with OpenID Connect: the relying party's side, with authlib.

Authorization code flow with PKCE (S256), ``state`` and ``nonce``:

1. :meth:`OidcClient.authorization_url` -- where to send the browser; the page
   keeps state, nonce and the PKCE verifier in the database
   (:class:`~tcup_server.models.OidcLogin`), bound to a cookie of that browser;
2. :meth:`OidcClient.finish` -- with the ``code`` the browser brings back: the
   code is exchanged at the token endpoint (client secret and verifier), the ID
   token is checked (signature by the provider's published keys, ``iss``,
   ``aud``, ``exp``/``iat``, ``nonce``, ``azp``, ``at_hash``), the user info
   endpoint adds its claims, and staff membership is read from the configured
   claim.  The caller links the result to an account by issuer and ``sub``
   (:func:`tcup_server.services.accounts.sign_in_oidc`).

Everything the provider says is checked; every refusal is a :class:`SignInRefused`
with a status and a sentence for the person signing in (the web page shows it;
nothing here ever turns into a traceback).  The provider's discovery document
and keys are cached per process (an hour); unknown key ids fetch the keys again.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.requests_client import OAuth2Session
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import (
    ExpiredTokenError,
    InvalidClaimError,
    InvalidKeyIdError,
    JoseError,
    MissingClaimError,
)
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

from tcup_server.settings import ServerSettings

LOG = logging.getLogger(__name__)

DISCOVERY_PATH = "/.well-known/openid-configuration"
CACHE_SECONDS = 3600


class SignInRefused(Exception):
    """A single sign-on that cannot go on: ``status`` and ``message`` are for the page,
    ``reason`` (short, no secrets) for the log."""

    def __init__(self, status: int, message: str, reason: str, title: str = "Sign-in refused"):
        super().__init__(message)
        self.status = status
        self.title = title
        self.message = message
        self.reason = reason


@dataclass(frozen=True)
class SignedIn:
    """What a finished sign-in proved: who (issuer + ``sub``), their claims, staff or not."""

    issuer: str
    subject: str
    claims: dict[str, Any]
    staff: bool
    id_token: str


def claim_value(claims: dict[str, Any], path: str) -> Any:
    """The claim at ``path``; dots go into nested objects (``realm_access.roles``)."""
    value: Any = claims
    if path in claims:
        return claims[path]
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def is_staff(claims: dict[str, Any], claim: str, wanted: str) -> bool:
    """True iff the claim is ``wanted``, holds it (a list), or names it among
    space-separated words (as some providers send roles)."""
    value = claim_value(claims, claim)
    if isinstance(value, list):
        return any(str(item) == wanted for item in value)
    if isinstance(value, str):
        return value == wanted or wanted in value.split()
    if isinstance(value, bool | int):
        return str(value).lower() == wanted.lower()
    return False


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class OidcClient:
    """One configured provider; safe to share between the threads of a process."""

    def __init__(self, settings: ServerSettings) -> None:
        self.issuer = settings.oidc_issuer
        self.client_id = settings.oidc_client_id
        self.client_secret = settings.oidc_client_secret
        self.redirect_url = settings.resolved_oidc_redirect_url
        self.scopes = " ".join(settings.oidc_scopes.split())
        self.staff_claim = settings.oidc_staff_claim.strip()
        self.staff_value = settings.oidc_staff_value
        self.timeout = max(1, settings.oidc_timeout_seconds)
        self.leeway = settings.jwt_leeway_seconds
        self.label = settings.oidc_provider_name.strip() or "single sign-on"
        self._lock = threading.Lock()
        self._metadata: dict[str, Any] | None = None
        self._metadata_at = 0.0
        self._keys: KeySet | None = None

    # ------------------------------------------------------------ the provider's documents

    def _unavailable(self, what: str, exc: Exception | str) -> SignInRefused:
        detail = exc if isinstance(exc, str) else _describe(exc)
        return SignInRefused(
            502,
            f"Single sign-on is not available right now: the identity provider "
            f"({self.issuer}) {what} ({detail}). Try again later; if it goes on, "
            "tell the server's operators.",
            f"provider {what}: {detail}",
            title="Single sign-on unavailable",
        )

    def _get_json(self, url: str, what: str) -> dict[str, Any]:
        try:
            answer = requests.get(url, timeout=self.timeout, headers={"Accept": "application/json"})
        except requests.RequestException as exc:
            raise self._unavailable("did not answer", exc) from None
        if answer.status_code != 200:
            raise self._unavailable(f"answered {answer.status_code} for its {what}", "HTTP error")
        try:
            body = answer.json()
        except ValueError:
            raise self._unavailable(f"sent a {what} that is not JSON", "bad document") from None
        if not isinstance(body, dict):
            raise self._unavailable(f"sent a {what} that is not a JSON object", "bad document")
        return body

    def metadata(self) -> dict[str, Any]:
        """The provider's discovery document, checked; cached for an hour."""
        with self._lock:
            if self._metadata is not None and time.monotonic() - self._metadata_at < CACHE_SECONDS:
                return self._metadata
        doc = self._get_json(self.issuer.rstrip("/") + DISCOVERY_PATH, "discovery document")
        named = str(doc.get("issuer", ""))
        if named.rstrip("/") != self.issuer.rstrip("/"):
            raise SignInRefused(
                502,
                f"Single sign-on is misconfigured: the provider at {self.issuer} calls itself "
                f"{named or '(nothing)'!r}. Tell the server's operators (setting oidc_issuer).",
                f"discovery names issuer {named!r}, configured {self.issuer!r}",
                title="Single sign-on unavailable",
            )
        missing = [
            k for k in ("authorization_endpoint", "token_endpoint", "jwks_uri") if not doc.get(k)
        ]
        if missing:
            raise self._unavailable(
                "published an incomplete discovery document", ", ".join(missing)
            )
        methods = doc.get("code_challenge_methods_supported")
        if isinstance(methods, list) and "S256" not in methods:
            raise self._unavailable("does not support PKCE with S256", f"it offers {methods}")
        with self._lock:
            self._metadata, self._metadata_at = doc, time.monotonic()
        return doc

    def cached_metadata(self) -> dict[str, Any] | None:
        return self._metadata

    def _key_set(self, refresh: bool = False) -> KeySet:
        if self._keys is not None and not refresh:
            return self._keys
        doc = self._get_json(self.metadata()["jwks_uri"], "signing keys")
        try:
            keys = KeySet.import_key_set(doc)  # type: ignore[arg-type]
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            raise self._unavailable("published signing keys that cannot be read", exc) from None
        self._keys = keys
        return keys

    def form_action_origins(self) -> list[str]:
        """Origins forms may lead to: logging out goes on at the provider's logout page."""
        origins = {_origin(self.issuer)}
        end = (self._metadata or {}).get("end_session_endpoint")
        if isinstance(end, str) and end.startswith(("https://", "http://")):
            origins.add(_origin(end))
        return sorted(origins)

    # ------------------------------------------------------------ the flow

    def _session(self) -> OAuth2Session:
        doc = self.metadata()
        offered = doc.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
        if not self.client_secret:
            method = "none"
        elif "client_secret_basic" in offered or "client_secret_post" not in offered:
            method = "client_secret_basic"
        else:
            method = "client_secret_post"
        return OAuth2Session(
            client_id=self.client_id,
            client_secret=self.client_secret or None,
            scope=self.scopes,
            redirect_uri=self.redirect_url,
            code_challenge_method="S256",
            token_endpoint_auth_method=method,
        )

    def authorization_url(self, state: str, nonce: str, code_verifier: str) -> str:
        """Where the browser goes to sign in (raises :class:`SignInRefused` if the provider
        cannot be reached)."""
        with self._session() as session:
            url, _state = session.create_authorization_url(
                self.metadata()["authorization_endpoint"],
                state=state,
                nonce=nonce,
                code_verifier=code_verifier,
            )
        return url

    def check_response_issuer(self, iss: str | None) -> None:
        """RFC 9207: the authorization response names the issuer that sent it."""
        doc = self.metadata()
        if iss is None:
            if doc.get("authorization_response_iss_parameter_supported") is True:
                raise SignInRefused(
                    400,
                    "The answer from the identity provider does not say who sent it (no 'iss'), "
                    "though the provider always names itself. Start again from the login page.",
                    "authorization response without iss",
                )
            return
        if iss != doc["issuer"]:
            raise self._wrong_issuer(iss, "authorization response")

    def _wrong_issuer(self, iss: object, where: str) -> SignInRefused:
        return SignInRefused(
            401,
            f"The sign-in was refused: the {where} was issued by {iss!r}, not by the identity "
            f"provider this server trusts ({self.metadata()['issuer']!r}). Start again from "
            "the login page; if it goes on, tell the server's operators.",
            f"wrong issuer in {where}: {iss!r}",
        )

    def finish(self, code: str, nonce: str, code_verifier: str) -> SignedIn:
        """Exchange ``code`` and check everything the provider sends back."""
        doc = self.metadata()
        try:
            with self._session() as session:
                token = session.fetch_token(
                    doc["token_endpoint"],
                    grant_type="authorization_code",
                    code=code,
                    code_verifier=code_verifier,
                    timeout=self.timeout,
                )
        except requests.RequestException as exc:
            raise self._unavailable("did not answer the token request", exc) from None
        except AuthlibBaseError as exc:
            description = f": {exc.description}" if exc.description else ""
            raise SignInRefused(
                401,
                "The identity provider refused to complete the sign-in "
                f"({exc.error}{description}). Start again from the login page.",
                f"token endpoint refused: {exc.error}",
            ) from None
        except (ValueError, TypeError) as exc:
            raise self._unavailable(
                "answered the token request with something unreadable", exc
            ) from None
        id_token = token.get("id_token")
        if not isinstance(id_token, str) or not id_token:
            raise self._unavailable("answered without an ID token", "no id_token")
        claims = self._check_id_token(id_token, nonce, token.get("access_token"))
        access_token = token.get("access_token")
        if doc.get("userinfo_endpoint") and access_token:
            claims = {**self._userinfo(doc["userinfo_endpoint"], access_token, claims), **claims}
        subject = str(claims["sub"])
        return SignedIn(
            issuer=str(claims["iss"]),
            subject=subject,
            claims=claims,
            staff=is_staff(claims, self.staff_claim, self.staff_value),
            id_token=id_token,
        )

    def _check_id_token(self, id_token: str, nonce: str, access_token: str | None) -> dict:
        doc = self.metadata()
        algorithms = [
            a for a in doc.get("id_token_signing_alg_values_supported") or ["RS256"] if a != "none"
        ]
        registry = JWSRegistry(algorithms=algorithms, strict_check_header=False)
        try:
            try:
                decoded = jwt.decode(id_token, self._key_set(), registry=registry)
            except InvalidKeyIdError:
                decoded = jwt.decode(id_token, self._key_set(refresh=True), registry=registry)
        except (JoseError, ValueError, TypeError) as exc:
            raise SignInRefused(
                401,
                "The sign-in was refused: the ID token is not signed by the identity provider's "
                "published keys. Start again from the login page.",
                f"ID token signature: {_describe(exc)}",
            ) from None
        claims = CodeIDToken(
            decoded.claims,
            decoded.header,
            {
                "iss": {"essential": True, "value": doc["issuer"]},
                "aud": {"essential": True, "value": self.client_id},
                "sub": {"essential": True},
            },
            {"nonce": nonce, "client_id": self.client_id, "access_token": access_token},
        )
        try:
            claims.validate(leeway=self.leeway)
        except ExpiredTokenError:
            raise SignInRefused(
                401,
                "The sign-in was refused: the identity provider's ID token has expired "
                f"(it was valid until {_when(claims.get('exp'))}; this server's clock says "
                f"{_when(time.time())}). Check the clocks of the provider and of this "
                "server, then start again from the login page.",
                "expired ID token",
            ) from None
        except (InvalidClaimError, MissingClaimError) as exc:
            raise self._claim_refusal(exc.claim, claims) from None
        except (JoseError, ValueError, TypeError) as exc:
            raise SignInRefused(
                401,
                f"The sign-in was refused: the ID token is not valid ({_describe(exc)}). "
                "Start again from the login page.",
                f"ID token invalid: {_describe(exc)}",
            ) from None
        if not isinstance(claims.get("sub"), str) or not 0 < len(claims["sub"]) <= 255:
            raise self._claim_refusal("sub", claims)
        return dict(claims)

    def _claim_refusal(self, claim: str, claims: dict[str, Any]) -> SignInRefused:
        if claim == "iss":
            return self._wrong_issuer(claims.get("iss"), "ID token")
        if claim == "nonce":
            return SignInRefused(
                401,
                "The sign-in was refused: the ID token belongs to another sign-in (its nonce "
                "is not the one this browser sent). Start again from the login page.",
                "wrong nonce in ID token",
            )
        if claim == "aud":
            return SignInRefused(
                401,
                f"The sign-in was refused: the ID token was issued for another application "
                f"(audience {claims.get('aud')!r}, this server is {self.client_id!r}).",
                "wrong audience in ID token",
            )
        if claim in {"iat", "nbf"}:
            return SignInRefused(
                401,
                "The sign-in was refused: the ID token is not valid yet by this server's "
                "clock. Check the clocks of the provider and of this server.",
                f"ID token {claim} in the future",
            )
        return SignInRefused(
            401,
            f"The sign-in was refused: the ID token's claim {claim!r} is missing or wrong. "
            "Start again from the login page.",
            f"ID token claim {claim} invalid",
        )

    def _userinfo(self, url: str, access_token: str, id_claims: dict[str, Any]) -> dict:
        try:
            answer = requests.get(
                url,
                headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            raise self._unavailable("did not answer the user info request", exc) from None
        if answer.status_code != 200:
            raise self._unavailable(
                f"answered {answer.status_code} to the user info request", "HTTP error"
            )
        try:
            info = answer.json()
        except ValueError:
            raise self._unavailable("sent user info that is not JSON", "bad document") from None
        if not isinstance(info, dict) or info.get("sub") != id_claims["sub"]:
            raise SignInRefused(
                401,
                "The sign-in was refused: the provider's user info is about another person "
                "than its ID token. Start again from the login page.",
                "userinfo sub differs from ID token sub",
            )
        return info

    def logout_url(self, id_token: str, post_logout_redirect: str) -> str | None:
        """The provider's RP-initiated logout URL, if it advertises ``end_session_endpoint``."""
        try:
            end = self.metadata().get("end_session_endpoint")
        except SignInRefused as exc:
            LOG.warning("provider logout skipped: %s", exc.reason)
            return None
        if not isinstance(end, str) or not end.startswith(("https://", "http://")):
            return None
        query = urlencode(
            {
                "id_token_hint": id_token,
                "post_logout_redirect_uri": post_logout_redirect,
                "client_id": self.client_id,
            }
        )
        return f"{end}{'&' if '?' in end else '?'}{query}"


def _when(epoch: object) -> str:
    try:
        moment = dt.datetime.fromtimestamp(float(epoch), dt.UTC)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError, OSError):
        return "an unreadable time"
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _describe(exc: Exception) -> str:
    """One short line about a network or token error (never a token itself)."""
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return f"HTTP {exc.response.status_code}"
    if isinstance(exc, requests.ConnectionError):
        return "connection refused or host unreachable"
    if isinstance(exc, requests.Timeout):
        return "no answer in time"
    if isinstance(exc, JoseError):
        return exc.error or type(exc).__name__
    return type(exc).__name__
