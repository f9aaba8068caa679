"""The roster in the KV bucket: a restart keeps a roster loaded since; a changed file wins."""

from __future__ import annotations

import json

from nats.aio.client import Client

from services.adapters.jetstream_store import read_messages
from services.adapters.roster_store import publish_configured_roster, publish_roster, read_roster
from services.domain.roster import load_roster_file, parse_roster

OTHER = (
    '{"community": {"id": "c", "name": "C"}, "supervisors": [{"id": "s1", "name": "S", "token": "t"}],'
    ' "districts": [{"id": "d9", "name": "D9", "buildings": [{"id": "b99", "name": "B99",'
    ' "members": [{"id": "n1", "name": "新网格员", "phone": "1"}]}]}]}'
)


async def test_a_restart_keeps_the_loaded_roster_and_a_changed_file_replaces_it(nc: Client) -> None:
    demo = load_roster_file(None)
    await publish_configured_roster(nc, demo)  # first start: the configured roster
    loaded = await publish_roster(nc, parse_roster(OTHER.encode(), "roster load"))  # `roster load`

    assert (await publish_configured_roster(nc, demo)).version == loaded.version  # a restart, same file
    current = await read_roster(nc)
    assert current is not None and current.version == loaded.version

    edited = parse_roster(OTHER.replace("新网格员", "另一位").encode(), "edited file")
    now = await publish_configured_roster(nc, edited)  # restarted with an edited file
    current = await read_roster(nc)
    assert current is not None and current.version == now.version != loaded.version
    assert current.people["n1"].name == "另一位"


async def test_a_roster_stored_unsealed_by_an_older_version_leaves_no_revision(nc: Client) -> None:
    demo = load_roster_file(None)
    old_form = demo.model_dump(mode="json", exclude_defaults=True)  # tokens and secrets as they were
    bucket = await nc.jetstream().key_value("roster")
    await bucket.put("current", json.dumps(old_form).encode())

    await publish_configured_roster(nc, demo)  # the upgraded intake starts

    stored = b"".join([m.data async for m in read_messages(nc, "KV_roster", "$KV.roster.>")])
    assert b"demo-bracelet-secret-7" not in stored and b"demo-g1" not in stored
    current = await read_roster(nc)
    assert current is not None and current.is_sealed
