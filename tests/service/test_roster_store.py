"""The roster in the KV bucket: a restart keeps a roster loaded since; a changed file wins."""

from __future__ import annotations

from nats.aio.client import Client

from services.common.roster import load_roster_file, parse_roster
from services.common.roster_store import publish_configured_roster, publish_roster, read_roster

OTHER = (
    '{"community": {"id": "c", "name": "C"}, "supervisors": [{"id": "s1", "name": "S", "token": "t"}],'
    ' "districts": [{"id": "d9", "name": "D9", "buildings": [{"id": "b99", "name": "B99",'
    ' "members": [{"id": "n1", "name": "新网格员", "phone": "1"}]}]}]}'
)


async def test_a_restart_keeps_the_loaded_roster_and_a_changed_file_replaces_it(nc: Client) -> None:
    demo = load_roster_file(None)
    await publish_configured_roster(nc, demo)  # first start: the configured roster
    loaded = parse_roster(OTHER.encode(), "roster load")
    await publish_roster(nc, loaded)  # `dispatch1310 roster load` while running

    await publish_configured_roster(nc, demo)  # a service restarts with the same file
    current = await read_roster(nc)
    assert current is not None and current.version == loaded.version

    edited = parse_roster(OTHER.replace("新网格员", "另一位").encode(), "edited file")
    await publish_configured_roster(nc, edited)  # restarted with an edited file
    current = await read_roster(nc)
    assert current is not None and current.version == edited.version
