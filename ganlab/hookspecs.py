"""The pluggy hook specifications a ganlab plugin may implement (all prefixed ``ganlab_``)."""

from __future__ import annotations

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
