"""The OpenID Connect relying party: discovery, the authorization request with PKCE,
the code exchange and the ID token's verification.

What is verified, and why each refusal has its own code (the callback page names it, the
tests provoke each one against a real provider):

- the discovery document's ``issuer`` is the one its URL names (OIDC Discovery 4.3), so a
  document served elsewhere cannot name another issuer;
- the ID token's signature, by a key of the provider's JWKS whose ``kid`` it names, with an
  asymmetric algorithm the provider says it signs with (never ``none`` or HMAC): an unknown
  ``kid`` refetches the JWKS once (keys rotate), at most once a minute;
- ``iss`` is the provider's issuer (and so is the callback's ``iss`` parameter, RFC 9207,
  when the provider sends one: a mix-up between providers is refused before the exchange);
- ``aud`` holds our client id (and ``azp`` is ours when there are several audiences);
- ``exp`` is in the future and ``iat`` not, give or take ``leeway_s``;
- ``nonce`` is the one this sign-in sent.

The e-mail address comes from the ID token or, when it has none (providers that keep
scope claims for userinfo), from the userinfo endpoint with the access token, whose
``sub`` must then be the ID token's (OIDC Core 5.3.2). It counts as verified with
``email_verified: true`` (Entra ID marks a domain-verified address with the optional claim
``xms_edov`` instead, which counts too).

joserfc does the JOSE (signature, algorithms, key selection); the claim checks are here, in
the order above, so that each failure is reported for what it is.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from classroom.config import OidcConfig

#: Signature algorithms an ID token may use: asymmetric only.
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")
#: How long discovery and keys are kept before they are fetched again.
DISCOVERY_TTL_S = 3600.0
JWKS_REFETCH_MIN_S = 60.0
TIMEOUT = aiohttp.ClientTimeout(total=10)
MAX_DOCUMENT = 512 * 1024


class SignInRefused(Exception):
    """The sign-in did not prove who someone is; ``code`` names what failed."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Provider:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    algorithms: tuple[str, ...]
    basic_auth: bool
    end_session_endpoint: str = ""
    userinfo_endpoint: str = ""


@dataclass(frozen=True)
class Identity:
    """Who the ID token says signed in."""

    issuer: str
    subject: str
    email: str
    email_verified: bool
    name: str


def pkce_pair() -> tuple[str, str]:
    """A PKCE code verifier and its S256 challenge (RFC 7636)."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


async def _get_json(
    http: aiohttp.ClientSession, url: str, refusal: str = "provider_error", **kw: Any
) -> Any:
    """The JSON object at `url`; an error answer is a `SignInRefused` with `refusal`."""
    try:
        async with http.request(kw.pop("method", "GET"), url, timeout=TIMEOUT, **kw) as response:
            body = await response.content.read(MAX_DOCUMENT + 1)
            if len(body) > MAX_DOCUMENT:
                raise SignInRefused("provider_error", f"{url} answered with too much")
            try:
                data = json.loads(body) if body else None
            except ValueError:
                data = None
            if response.status >= 400:
                error = data.get("error", "") if isinstance(data, dict) else ""
                raise SignInRefused(refusal, f"{url} answered {response.status} {error}".strip())
            if not isinstance(data, dict):
                raise SignInRefused("provider_error", f"{url} did not answer with JSON")
            return data
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise SignInRefused("provider_unavailable", f"{url}: {exc!r}") from None


class OidcClient:
    """One per node; `http` is the node's client session (closed with the app)."""

    def __init__(self, config: OidcConfig, redirect_uri: str, http: aiohttp.ClientSession) -> None:
        self.config = config
        self.redirect_uri = redirect_uri
        self._http = http
        self._provider: Provider | None = None
        self._provider_at = 0.0
        self._keys: KeySet | None = None
        self._keys_at = 0.0

    async def provider(self) -> Provider:
        now = time.monotonic()
        if self._provider is not None and now - self._provider_at < DISCOVERY_TTL_S:
            return self._provider
        url = self.config.discovery_url
        doc = await _get_json(self._http, url)
        issuer = str(doc.get("issuer", ""))
        if not issuer or issuer.rstrip("/") + "/.well-known/openid-configuration" != url:
            raise SignInRefused(
                "wrong_issuer", f"the discovery document names issuer {issuer!r}, not its own URL"
            )
        needed = ("authorization_endpoint", "token_endpoint", "jwks_uri")
        if any(not isinstance(doc.get(k), str) for k in needed):
            raise SignInRefused("provider_error", "the discovery document lacks an endpoint")
        offered = doc.get("id_token_signing_alg_values_supported") or ["RS256"]
        algorithms = tuple(a for a in ALGORITHMS if a in offered)
        if not algorithms:
            raise SignInRefused("provider_error", f"no usable ID token algorithm in {offered}")
        methods = doc.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
        self._provider = Provider(
            issuer=issuer,
            authorization_endpoint=doc["authorization_endpoint"],
            token_endpoint=doc["token_endpoint"],
            jwks_uri=doc["jwks_uri"],
            algorithms=algorithms,
            basic_auth="client_secret_basic" in methods or "client_secret_post" not in methods,
            end_session_endpoint=str(doc.get("end_session_endpoint") or ""),
            userinfo_endpoint=str(doc.get("userinfo_endpoint") or ""),
        )
        self._provider_at = now
        return self._provider

    async def authorization_url(self, state: str, nonce: str, challenge: str) -> str:
        provider = await self.provider()
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self.config.client_id,
                "redirect_uri": self.redirect_uri,
                "scope": " ".join(self.config.scopes),
                "state": state,
                "nonce": nonce,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            }
        )
        sep = "&" if "?" in provider.authorization_endpoint else "?"
        return f"{provider.authorization_endpoint}{sep}{query}"

    async def check_response_issuer(self, iss: str | None) -> None:
        """RFC 9207: the callback's ``iss``, when the provider sends one, is its issuer."""
        provider = await self.provider()
        if iss is not None and iss != provider.issuer:
            raise SignInRefused("wrong_issuer", "the answer came from another issuer")

    async def finish(self, code: str, verifier: str, nonce: str) -> Identity:
        """Exchange the code (with the PKCE verifier) and verify the ID token."""
        provider = await self.provider()
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.redirect_uri,
            "code_verifier": verifier,
        }
        headers = {"Accept": "application/json"}
        if provider.basic_auth:  # RFC 6749 2.3.1: each part form-urlencoded first
            headers["Authorization"] = aiohttp.encode_basic_auth(
                quote(self.config.client_id, safe=""), quote(self.config.client_secret, safe="")
            )
        else:
            form |= {"client_id": self.config.client_id, "client_secret": self.config.client_secret}
        answer = await _get_json(
            self._http,
            provider.token_endpoint,
            "token_refused",
            method="POST",
            data=form,
            headers=headers,
        )
        id_token = answer.get("id_token")
        if not isinstance(id_token, str) or not id_token:
            raise SignInRefused("bad_token", "the token endpoint sent no ID token")
        claims = await self.verify(id_token, nonce)
        access_token = answer.get("access_token")
        if not claims.get("email") and provider.userinfo_endpoint and isinstance(access_token, str):
            claims = {**await self._userinfo(provider, access_token, claims["sub"]), **claims}
        return Identity(
            issuer=provider.issuer,
            subject=str(claims["sub"]),
            email=str(claims.get("email") or ""),
            email_verified=claims.get("email_verified") is True or claims.get("xms_edov") is True,
            name=str(claims.get("name") or "")[:200],
        )

    async def _userinfo(self, provider: Provider, access_token: str, sub: str) -> dict[str, Any]:
        """The e-mail claims of userinfo, for the ID token's subject only."""
        info = await _get_json(
            self._http,
            provider.userinfo_endpoint,
            headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
        )
        if info.get("sub") != sub:
            raise SignInRefused("bad_token", "userinfo is about another subject")
        return {k: info[k] for k in ("email", "email_verified", "xms_edov", "name") if k in info}

    async def _keyset(self, *, refresh: bool = False) -> KeySet:
        provider = await self.provider()
        now = time.monotonic()
        stale = now - self._keys_at > DISCOVERY_TTL_S
        if self._keys is None or stale or (refresh and now - self._keys_at > JWKS_REFETCH_MIN_S):
            doc = await _get_json(self._http, provider.jwks_uri)
            try:
                self._keys = KeySet.import_key_set(doc)  # type: ignore[arg-type]
            except (JoseError, ValueError, TypeError, KeyError) as exc:
                raise SignInRefused("provider_error", f"the provider's JWKS: {exc}") from None
            self._keys_at = now
        return self._keys

    async def verify(self, id_token: str, nonce: str) -> dict[str, Any]:
        """The ID token's claims, once every check in the module's docstring passed."""
        provider = await self.provider()
        try:
            header = _header(id_token)
        except ValueError as exc:
            raise SignInRefused("bad_token", str(exc)) from None
        if header.get("alg") not in provider.algorithms:
            raise SignInRefused("bad_signature", f"algorithm {header.get('alg')!r} not accepted")
        kid = header.get("kid")
        keys = await self._keyset()
        if kid is not None and not _has_kid(keys, str(kid)):
            keys = await self._keyset(refresh=True)
        try:
            token = jwt.decode(id_token, keys, algorithms=list(provider.algorithms))
        except JoseError as exc:
            raise SignInRefused("bad_signature", f"signature not verified: {exc.error}") from None
        claims = dict(token.claims)
        now = time.time()
        leeway = self.config.leeway_s
        if claims.get("iss") != provider.issuer:
            raise SignInRefused("wrong_issuer", f"issued by {claims.get('iss')!r}")
        aud = claims.get("aud")
        audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        if self.config.client_id not in audiences:
            raise SignInRefused("wrong_audience", "the ID token is for another client")
        if len(audiences) > 1 and claims.get("azp") != self.config.client_id:
            raise SignInRefused("wrong_audience", "azp is not this client")
        exp, iat = claims.get("exp"), claims.get("iat")
        if not isinstance(exp, int | float) or exp + leeway <= now:
            raise SignInRefused("expired", "the ID token has expired")
        if not isinstance(iat, int | float) or iat - leeway > now:
            raise SignInRefused("bad_token", "the ID token is issued in the future")
        given = claims.get("nonce")
        if not isinstance(given, str) or not secrets.compare_digest(given, nonce):
            raise SignInRefused("bad_nonce", "the ID token's nonce is not this sign-in's")
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise SignInRefused("bad_token", "the ID token has no subject")
        return claims


def _header(id_token: str) -> dict[str, Any]:
    head = id_token.split(".")[0]
    try:
        data = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    except (ValueError, TypeError) as exc:
        raise ValueError(f"not a JWT: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError("not a JWT header")
    return data


def _has_kid(keys: KeySet, kid: str) -> bool:
    return any(getattr(k, "kid", None) == kid for k in keys.keys)
