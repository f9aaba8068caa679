"""Domain errors as HTTP statuses: the call aggregate knows no HTTP, the intake's edge says it here."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from fastapi import HTTPException

from services.domain.aggregate import CallNotFound, DomainError, InvalidTransition, NotDispatchedToYou

# A refusal the table does not name is a bad request.
STATUS_OF: Mapping[type[DomainError], int] = MappingProxyType(
    {
        CallNotFound: 404,
        NotDispatchedToYou: 403,
        InvalidTransition: 409,
    }
)


def http_status(exc: DomainError) -> int:
    for cls in type(exc).__mro__:
        status = STATUS_OF.get(cls)
        if status is not None:
            return status
    return 400


def http_error(exc: DomainError) -> HTTPException:
    """The HTTP answer to a refused command: its status, and the refusal as the detail."""
    return HTTPException(http_status(exc), str(exc))
