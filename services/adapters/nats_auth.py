"""NATS users per service: each may publish only the event types it owns.

The embedded server gets a generated ``authorization`` block; passwords are random per data
dir (kept in ``nats-users.json``, mode 0600) and handed to each service in its ``NATS_URL``.
A service trying to append an event type it does not own is refused by the server.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from events.subjects import AUDIT_QUERY_SUBJECTS, PUSH_SUBSCRIPTIONS_BUCKET, RESTART_BUCKET, SECRETS_BUCKET
from services.runtime.private_files import private_dir, write_private
from services.runtime.settings import Settings

ADMIN = "admin"

# The event types each service appends (calls.<id>.<Type>), beyond the JetStream plumbing.
OWNED_EVENTS: dict[str, tuple[str, ...]] = {
    "intake": (
        "CallRaised",
        "ResponderAssigned",
        "ContactShared",
        "DispatchAccepted",
        "DispatchDeclined",
        "ResponderEnRoute",
        "ResponderArrived",
        "CallResolved",
        "CallCancelled",
        "EscalationRaised",
        "NoteAdded",
        "DeviceAlertReceived",
        "CallHeld",
        "CallReleased",
    ),
    "dispatcher": (
        "ResponderAssigned",
        "ContactShared",
        "EscalationRaised",
        "CallMerged",
        "CallJoined",
        "CallUnmerged",
        "CallResolved",  # a merged call resolved with the call it joined
        "DispatchDeclined",  # going away while paged counts as a decline
    ),
    "deadlines": ("DeadlineMissed", "EscalationRaised", "DispatchTimedOut"),
    "notifier": ("NotificationSent", "NotificationFailed"),
    "audit": (),
}

OTHER_PUBLISH: dict[str, tuple[str, ...]] = {
    "intake": (
        "responders.*.AvailabilityChanged",
        "duty.DutyOverrideSet",
        "$KV.roster.>",
        "$KV.devices.>",
        f"$KV.{SECRETS_BUCKET}.>",
        f"$KV.{PUSH_SUBSCRIPTIONS_BUCKET}.>",  # a person's browsers subscribe and unsubscribe
        AUDIT_QUERY_SUBJECTS,
        f"$KV.{RESTART_BUCKET}.board",  # where the live board resumes (restart_point.py)
    ),
    "dispatcher": (f"$KV.{RESTART_BUCKET}.dispatcher",),
    "deadlines": (f"$KV.{RESTART_BUCKET}.deadlines",),
    "notifier": (
        "$KV.notifier.>",
        "$JS.API.STREAM.CREATE.KV_notifier",
        f"$KV.{PUSH_SUBSCRIPTIONS_BUCKET}.>",  # forgets a subscription the push service says is gone
    ),
    "audit": ("$O.audit.>", "$JS.API.STREAM.CREATE.OBJ_audit", "$JS.API.STREAM.PURGE.OBJ_audit"),
}

# The services that read the Web Push subscriptions bucket.
PUSH_SUBSCRIBERS = ("intake", "notifier")

# Services that answer requests (the audit answers the intake's report queries).
ANSWERS_REQUESTS = ("audit",)

# Reading streams, consumers, acks, direct get: everything a service needs but creating streams.
JETSTREAM_PLUMBING = (
    "$JS.API.INFO",
    "$JS.API.STREAM.INFO.>",
    "$JS.API.STREAM.NAMES",
    "$JS.API.STREAM.LIST",
    "$JS.API.STREAM.MSG.GET.>",
    "$JS.API.DIRECT.GET.>",
    "$JS.API.CONSUMER.>",
    "$JS.ACK.>",
    "$JS.FC.>",
)


# The durable consumers on CALLS and the service that owns each: the JetStream plumbing above
# lets a service manage consumers, but never another service's durable (delete it, pull from
# it, ack its messages).
DURABLES: dict[str, str] = {"dispatcher": "dispatcher", "notifier": "notifier"}


# Every way to read a stream's messages through the JetStream API (the plumbing allows them).
def _reads_of(stream: str) -> list[str]:
    return [
        f"$JS.API.DIRECT.GET.{stream}",
        f"$JS.API.DIRECT.GET.{stream}.>",
        f"$JS.API.STREAM.MSG.GET.{stream}",
        f"$JS.API.CONSUMER.*.{stream}",
        f"$JS.API.CONSUMER.*.{stream}.>",
        f"$JS.API.CONSUMER.*.*.{stream}.>",
    ]


def publish_denied(service: str) -> list[str]:
    # The token key and device secrets: the intake's alone (a device secret signs alerts).
    denied: list[str] = [] if service == "intake" else _reads_of(f"KV_{SECRETS_BUCKET}")
    # Push subscriptions (an endpoint and its keys let anyone push to that person's browser):
    # the intake, which takes them, and the notifier, which pushes, only.
    if service not in PUSH_SUBSCRIBERS:
        denied += _reads_of(f"KV_{PUSH_SUBSCRIPTIONS_BUCKET}")
    for durable, owner in DURABLES.items():
        if owner == service:
            continue
        denied += [
            f"$JS.API.CONSUMER.*.CALLS.{durable}",  # INFO, DELETE, CREATE
            f"$JS.API.CONSUMER.*.CALLS.{durable}.>",  # CREATE with a filter
            f"$JS.API.CONSUMER.*.*.CALLS.{durable}",  # MSG.NEXT, DURABLE.CREATE
            f"$JS.ACK.CALLS.{durable}.>",
            f"$JS.ACK.*.*.CALLS.{durable}.>",
        ]
    return denied


def publish_allowed(service: str) -> list[str]:
    events = [f"calls.*.{event_type}" for event_type in OWNED_EVENTS[service]]
    return [*events, *OTHER_PUBLISH[service], *JETSTREAM_PLUMBING, f"deadletter.{service}"]


def subscribe_allowed(service: str) -> list[str]:
    # Its own reply inbox only (streams.inbox_prefix): no reading another service's replies.
    allowed = [f"_INBOX_{service}.>"]
    if service == "audit":
        allowed.append(AUDIT_QUERY_SUBJECTS)
    return allowed


def load_passwords(data_dir: Path) -> dict[str, str]:
    """Passwords for admin and every service, created once per data dir."""
    path = data_dir / "nats-users.json"
    private_dir(data_dir)
    if path.exists():
        path.chmod(0o600)
        stored: dict[str, str] = json.loads(path.read_text())
        if set(stored) >= {ADMIN, *OWNED_EVENTS}:
            return stored
    passwords = {name: secrets.token_urlsafe(24) for name in (ADMIN, *OWNED_EVENTS)}
    write_private(path, json.dumps(passwords))
    return passwords


def authorization_block(passwords: dict[str, str]) -> str:
    users = [f"    {{user: {ADMIN}, password: {json.dumps(passwords[ADMIN])}}}"]
    for service in OWNED_EVENTS:
        permissions: dict[str, object] = {
            "publish": {"allow": publish_allowed(service), "deny": publish_denied(service)},
            "subscribe": {"allow": subscribe_allowed(service)},
        }
        if service in ANSWERS_REQUESTS:  # a reply only to a request it received, once
            permissions["allow_responses"] = True
        users.append(
            f"    {{user: {service}, password: {json.dumps(passwords[service])}, permissions: {json.dumps(permissions)}}}"
        )
    return "authorization {\n  users = [\n" + "\n".join(users) + "\n  ]\n}\n"


def url_with_user(url: str, user: str, password: str) -> str:
    """The URL (or comma-separated cluster URLs) with ``user``'s credentials."""
    if "," in url:
        return ",".join(url_with_user(part.strip(), user, password) for part in url.split(","))
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    netloc = f"{quote(user)}:{quote(password)}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def embedded_listens(data_dir: Path) -> list[str]:
    """The ``host:port`` each embedded server of ``up`` listens on (one, or a cluster's nodes),
    from the configs it keeps in the data dir."""
    nats_dir = Path(data_dir) / "nats"
    configs = [nats_dir / "nats-server.conf", *sorted(nats_dir.glob("n*/nats-server.conf"))]
    listens = []
    for config in configs:
        if not config.is_file():
            continue
        for line in config.read_text().splitlines():
            if line.startswith("listen:"):
                listens.append(line.split(":", 1)[1].strip())
                break
    return listens


def _address(host: str | None, port: int | None) -> tuple[str, int | None]:
    loopback = {"localhost", "127.0.0.1", "::1", "0.0.0.0", ""}
    name = (host or "").lower()
    return ("127.0.0.1" if name in loopback else name, port)


def _is_embedded(url: str, listens: list[str]) -> bool:
    """Every server ``url`` names is one ``up`` runs from this data dir."""
    known = {_address(*_split_listen(listen)) for listen in listens}
    parts = [
        urlsplit(part if "://" in part else f"nats://{part}")
        for part in (piece.strip() for piece in url.split(","))
        if part
    ]
    return bool(parts) and all(_address(p.hostname, p.port or 4222) in known for p in parts)


def _split_listen(listen: str) -> tuple[str, int | None]:
    host, _, port = listen.rpartition(":")
    return host, int(port) if port.isdigit() else None


def stream_url(settings: Settings) -> str | None:
    """How a CLI command reaches the stream: ``NATS_URL``, or else the embedded server that
    ``up`` runs from the data dir (its listen port, with the admin credentials kept there).

    ``NATS_URL`` without credentials naming that embedded server (the URL ``up`` prints) gets
    them too: the password never leaves the data dir for another server."""
    nats_dir = Path(settings.data_dir) / "nats"
    users = nats_dir / "nats-users.json"
    listens = embedded_listens(settings.data_dir)
    if settings.nats_url:
        has_user = any(urlsplit(part.strip()).username for part in settings.nats_url.split(","))
        if has_user or not users.is_file() or not _is_embedded(settings.nats_url, listens):
            return settings.nats_url
        passwords: dict[str, str] = json.loads(users.read_text())
        parts = [part.strip() for part in settings.nats_url.split(",") if part.strip()]
        url = ",".join(part if "://" in part else f"nats://{part}" for part in parts)
        return url_with_user(url, ADMIN, passwords[ADMIN])
    if not listens or not users.is_file():
        return None
    passwords = json.loads(users.read_text())
    return url_with_user(",".join(f"nats://{listen}" for listen in listens), ADMIN, passwords[ADMIN])
