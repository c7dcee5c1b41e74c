"""Options shared by several ``ganlab`` commands, in a module of their own so that each command's module
imports them without importing the group that gathers the commands."""

import click

override_option = click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
                               help="Override a recipe key; VALUE is read as TOML (repeatable).")
