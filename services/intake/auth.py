"""Who is asking: bearer tokens from the roster (compared by keyed hash), roles, per-call secrets.

Roles: ``supervisor`` (roster ``supervisors``), ``responder`` (anyone else in the roster). In a
county, a community's supervisors act on its calls only (``communities``); county supervisors
(the top-level ``supervisors``) everywhere.
With ``DISPATCH1310_AUTH=off`` (local demos only) requests without a token act as whoever
the body names, and supervisor endpoints are open.
"""

from __future__ import annotations

import hmac
import logging
import re
from dataclasses import dataclass
from typing import Literal

from fastapi import Depends, HTTPException, Request

from services.domain.roster import keyed_hash, sha256_hex

Role = Literal["supervisor", "responder", "anonymous"]


@dataclass(frozen=True)
class Principal:
    id: str
    role: Role
    name: str = ""
    communities: frozenset[str] | None = None  # a supervisor's communities; None: everywhere

    @property
    def is_supervisor(self) -> bool:
        return self.role == "supervisor"


ANONYMOUS = Principal("anonymous", "anonymous")


def secret_matches(secret: str | None, expected_sha256: str | None) -> bool:
    if not secret or not expected_sha256:
        return False
    return hmac.compare_digest(sha256_hex(secret), expected_sha256)


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    # EventSource cannot send headers: the SSE streams (GET …/stream) alone take the token as a
    # query parameter. Anywhere else a token in the URL counts for nothing.
    if request.method == "GET" and getattr(request.scope.get("route"), "path", "").endswith("/stream"):
        return request.query_params.get("access_token") or None
    return None


class RedactQueryTokens(logging.Filter):
    """uvicorn's access log prints the query string: ``access_token=<redacted>`` instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _QUERY_TOKEN.sub(r"\1<redacted>", arg) if isinstance(arg, str) else arg for arg in record.args
            )
        return True


_QUERY_TOKEN = re.compile(r"(access(?:_|%5F)token=)[^&\s]*", re.IGNORECASE)


def redact_access_log() -> None:
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactQueryTokens) for f in access.filters):
        access.addFilter(RedactQueryTokens())


async def principal(request: Request) -> Principal:
    """The caller, or ANONYMOUS; a token that matches nobody is 401."""
    token = _bearer(request)
    if token is None:
        return ANONYMOUS
    deps = request.app.state.deps
    roster = deps.roster
    person = roster.person_by_token_hmac(keyed_hash(deps.token_key, sha256_hex(token)))
    if person is None:
        raise HTTPException(401, "unknown token", headers={"WWW-Authenticate": "Bearer"})
    if person.id in roster.supervisor_ids:
        return Principal(person.id, "supervisor", person.name, roster.supervisor_scopes[person.id])
    return Principal(person.id, "responder", person.name)


def auth_on(request: Request) -> bool:
    return bool(request.app.state.deps.settings.auth)


async def require_user(request: Request, who: Principal = Depends(principal)) -> Principal:
    if who is ANONYMOUS and auth_on(request):
        raise HTTPException(401, "a bearer token is required", headers={"WWW-Authenticate": "Bearer"})
    return who


async def require_supervisor(request: Request, who: Principal = Depends(principal)) -> Principal:
    if not auth_on(request) and who is ANONYMOUS:
        return Principal("supervisor", "supervisor", "demo supervisor")
    if who is ANONYMOUS:
        raise HTTPException(401, "a supervisor token is required", headers={"WWW-Authenticate": "Bearer"})
    if not who.is_supervisor:
        raise HTTPException(403, "supervisors only")
    return who


def acting_responder(request: Request, who: Principal, named: str | None) -> str:
    """The responder a request acts for: the token's owner; with auth off, the named one."""
    if who is ANONYMOUS:
        if auth_on(request):
            raise HTTPException(401, "a bearer token is required", headers={"WWW-Authenticate": "Bearer"})
        if not named:
            raise HTTPException(422, "responder_id is required")
        return named
    if named and named != who.id and not who.is_supervisor:
        raise HTTPException(403, "your token is not the responder named in the request")
    return named or who.id
