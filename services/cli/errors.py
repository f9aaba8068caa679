"""What the CLI says when something fails: one line, the reason first."""

from __future__ import annotations

from services.cli.http_client import ApiError
from services.cli.localtime import TimeInputError
from services.cli.nats_client import NatsUnreachable

# Failures whose message is already written for a person.
EXPECTED: tuple[type[Exception], ...] = (ApiError, NatsUnreachable, TimeInputError)
# Nothing was checked or done (no stream to read, a time not understood): exit code 2, as for
# a bad setting, apart from 1 (a violation, a difference, a refusal).
UNUSABLE: tuple[type[Exception], ...] = (NatsUnreachable, TimeInputError)


def one_line(exc: BaseException) -> str:
    if isinstance(exc, EXPECTED):
        text = str(exc)
    else:  # unforeseen: say what it was; DISPATCH1310_DEBUG=1 shows the traceback
        text = f"{type(exc).__name__}: {exc} (DISPATCH1310_DEBUG=1 shows where)"
    return " ".join(text.split())
