"""Files that hold secrets (NATS passwords, the server config naming them): the owner's only.

A directory holding them is 0700 and each file 0600, also when an older version left them
readable by others (modes are set again, not only at creation).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def private_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.chmod(0o700)
    return path


def write_private(path: Path, text: str) -> None:
    private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an existing file keeps its mode through O_CREAT: set it
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def create_private_once(path: Path, content: bytes) -> bytes:
    """The file's content, made with ``content`` if it does not exist yet (owner-only).

    Two services starting together may both try: each writes a whole file aside and links it
    into place, which only the first does (the other reads the winner's). No reader ever sees
    a file half written."""
    private_dir(path.parent)
    fd, aside = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:  # mkstemp makes it 0600
            handle.write(content)
        with contextlib.suppress(FileExistsError):
            os.link(aside, path)
    finally:
        os.unlink(aside)
    path.chmod(0o600)
    return path.read_bytes()
