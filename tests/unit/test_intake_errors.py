"""The intake says a refused command as HTTP: the statuses clients have always had."""

from __future__ import annotations

import pytest

from services.domain.aggregate import CallNotFound, DomainError, InvalidTransition, NotDispatchedToYou
from services.intake.errors import http_error


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (CallNotFound("no call c1"), 404),
        (NotDispatchedToYou("call c1 was not dispatched to g2"), 403),
        (InvalidTransition("cannot accept a call that is resolved"), 409),
        (DomainError("something else"), 400),
    ],
)
def test_a_refusal_keeps_its_status_and_says_why(error: DomainError, status: int) -> None:
    answer = http_error(error)
    assert (answer.status_code, answer.detail) == (status, str(error))
