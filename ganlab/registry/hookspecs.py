"""The pluggy hook specifications a ganlab plugin may implement (all prefixed ``ganlab_``)."""

from __future__ import annotations

import click
import pluggy

from .registry import Registrar

hookspec = pluggy.HookspecMarker("ganlab")
hookimpl = pluggy.HookimplMarker("ganlab")


@hookspec
def ganlab_register(registry: Registrar) -> None:
    """Add components by calling ``registry.add(kind, name, factory, config, help="")`` once per component.

    For components a plugin cannot declare with ``@ganlab.component`` (made at load time, say); a plugin
    module's declared components are added without it. Called once per process, when the plugin manager
    is made, for the built-in plugins first and then for installed plugins, after the plugin's declared
    components. ``registry`` is bound to the calling plugin, so its entries are attributed to it; should
    the hook raise, everything the plugin registered is dropped and the plugin is skipped.
    """


@hookspec
def ganlab_register_commands(cli: click.Group) -> None:
    """Add ``ganlab`` sub-commands: define them on ``cli`` as on any click group, with ``@cli.command()``
    (or ``@cli.group()``, or ``cli.add_command(command, name)`` for a click command made elsewhere).

    Called whenever ganlab's plugins are loaded (once per ``ganlab`` command line, before ``ganlab --help``
    lists the commands or a plugin's command runs), right after the plugin's ``ganlab_register``.
    ``cli`` is a click group of the plugin's own, standing in for ``ganlab``: every command on it becomes a
    ``ganlab`` command, run under ganlab's error handling (a ``GanlabError`` becomes its message and exit
    code, Ctrl-C and SIGTERM exit 130 and 143). A name that ganlab or an earlier plugin already has, or an
    exception from this hook, is reported as a plugin failure and the plugin is skipped: ganlab's own
    commands cannot be replaced. Returns nothing.
    """
