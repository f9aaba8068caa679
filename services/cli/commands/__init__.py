"""One module per ``dispatch1310`` sub-command; each exposes ``register(subparsers)``.

A module's ``register`` adds its parser and sets ``func`` (args -> exit code). Commands
that talk to a running system use ``services.cli.http_client``.
"""

# The order here is the order of `dispatch1310 --help`.
COMMAND_MODULES: tuple[str, ...] = (
    "services.cli.commands.up",
    "services.cli.commands.service",
    "services.cli.commands.calls",
    "services.cli.commands.roster",
    "services.cli.commands.duty",
    "services.cli.commands.audit",
    "services.cli.commands.verify",
    "services.cli.commands.simulate",
    "services.cli.commands.bench",
)
