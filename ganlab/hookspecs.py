"""The pluggy hook specifications a ganlab plugin may implement (all prefixed ``ganlab_``)."""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("ganlab")
hookimpl = pluggy.HookimplMarker("ganlab")


@hookspec
def ganlab_register(registry):
    """Add components: call ``registry.add(kind, name, factory, config, help)`` once per component.

    Called once per process, when the plugin manager is made, for the built-in plugins first and then
    for installed plugins. ``registry`` is bound to the calling plugin, so entries are attributed to it.
    Returns nothing.
    """
