"""Make the plugin manager: built-in plugins first, then every entry point of group ``ganlab``, and fill
the registry with each plugin's components (those a plugin module declares with ``@ganlab.component``, then
those its ``ganlab_register`` hook adds), in the plugin's name.

A broken third-party plugin (fails to import, its hook raises, it registers a duplicate name) is
reported by name and skipped so the rest of ganlab keeps working; a component class that lacks a method
ganlab calls, or has one ganlab never calls (a misspelt ``on_step_ned``), is reported the same way, its
plugin kept (see :mod:`ganlab.contracts.kinds`).
``GANLAB_STRICT_PLUGINS=1`` turns the first such problem into an error. ``GANLAB_DISABLE_PLUGINS=a,b``
skips the named plugins (built-in ones too) and
``GANLAB_TRACE_PLUGINS=1`` prints every hook call to standard error. Plugins add components and
``ganlab`` sub-commands the same way: built-ins first, the first to take a name keeps it.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.metadata
import os
import sys
import types
from collections.abc import Callable

import click
import pluggy

from ..common.errors import PluginError, warn
from ..common.hints import did_you_mean
from ..contracts.kinds import BY_BASE, BY_KIND, Interface, class_notes
from ..registry import hookspecs
from ..registry.registry import Registry, declared_components

ENTRY_POINT_GROUP = "ganlab"

BUILTIN_PLUGINS: tuple[str, ...] = (
    "ganlab.components.dcgan",
    "ganlab.components.conditional",
    "ganlab.components.losses",
    "ganlab.components.optimizers",
    "ganlab.components.inits",
    "ganlab.components.schedules",
    "ganlab.components.csv_logger",
    "ganlab.data.synthetic",
    "ganlab.data.folder",
    "ganlab.data.celeba",
    "ganlab.evaluators.loss_curves",
    "ganlab.evaluators.d_distributions",
    "ganlab.evaluators.samples",
    "ganlab.evaluators.training_health",
    "ganlab.evaluators.fidelity",
    "ganlab.evaluators.density_coverage",
    "ganlab.evaluators.memorisation",
    "ganlab.evaluators.weightfree",
    "ganlab.evaluators.attribute_control",
    "ganlab.tuning.trial_logger",
)


BUILTIN_COMMANDS: tuple[str, ...] = (
    "run",
    "validate",
    "list",
    "plugins",
    "generate",
    "data",
    "report",
    "compare",
    "evaluate",
    "sweep",
    "tune",
    "score",
    "metrics",
    "export",
    "import",
)
"""ganlab's own sub-commands, which no plugin may take: known here, below the command line, so that a plugin
taking one is reported whenever plugins load (``ganlab plugins``, ``ganlab.load_plugins_or_warn()``, the
test fixtures), not only when the command line is built. A test holds it to the ``ganlab`` group."""


@dataclasses.dataclass(frozen=True)
class PluginFailure:
    plugin: str
    stage: str  # "import" or "register" (the plugin is skipped), or "check" (it is loaded)
    error: str

    def problem(self) -> str:
        if self.stage == "check":
            return f"plugin {self.plugin!r}: {self.error}"
        return f"plugin {self.plugin!r} failed to {self.stage}: {self.error}"

    def message(self) -> str:
        return self.problem() if self.stage == "check" else f"{self.problem()} (skipped)"


@dataclasses.dataclass(frozen=True)
class PluginInfo:
    name: str
    version: str | None
    distribution: str | None
    builtin: bool
    hooks: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class PluginCommand:
    """A ``ganlab`` sub-command that a plugin added with ``ganlab_register_commands``."""

    name: str
    plugin: str
    command: click.Command


@dataclasses.dataclass
class Plugins:
    """The loaded plugin manager, the registry and commands it filled, and what went wrong on the way."""

    manager: pluggy.PluginManager
    registry: Registry
    failures: list[PluginFailure]
    infos: list[PluginInfo]
    commands: dict[str, PluginCommand] = dataclasses.field(default_factory=dict)


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


def _disabled() -> set[str]:
    return {n.strip() for n in os.environ.get("GANLAB_DISABLE_PLUGINS", "").split(",") if n.strip()}


def _check_hook_names(pm: pluggy.PluginManager, plugin: object) -> None:
    """Refuse the two mistakes pluggy lets pass silently: a misspelt hook, and a hook without @hookimpl.

    Either way the plugin would load, contribute nothing, and leave its author guessing why.
    """
    specs = [name for name in vars(hookspecs) if name.startswith("ganlab_")]
    for caller in pm.get_hookcallers(plugin) or ():
        if not caller.has_spec():
            hint = did_you_mean(caller.name, specs) or f"; ganlab hooks are: {', '.join(specs)}"
            raise PluginError(f"{caller.name!r} is not a ganlab hook{hint}")
    implemented = {caller.name for caller in pm.get_hookcallers(plugin) or ()}
    for spec in specs:
        if spec not in implemented and callable(getattr(plugin, spec, None)):
            raise PluginError(f"{spec} is not marked with @ganlab.hookimpl, so ganlab cannot see it")


def _check_hashable(plugin: object) -> None:
    """pluggy keeps plugins in sets; an unhashable one (a ``SimpleNamespace``) would crash every command."""
    try:
        hash(plugin)
    except TypeError:
        raise PluginError(
            f"a plugin must be hashable (a module, or an instance of an ordinary class), not a {type(plugin).__name__}"
        ) from None


def _classes_of(plugin: object, base: type) -> list[type]:
    """The subclasses of ``base`` a plugin defines: those of its module or package (for a plugin object
    that is not a module, of the module its class comes from)."""
    home = plugin.__name__ if isinstance(plugin, types.ModuleType) else getattr(plugin, "__module__", None)
    if not isinstance(home, str):
        return []
    found, pending = [], list(base.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if cls.__module__ == home or cls.__module__.startswith(home + "."):
            found.append(cls)
    return sorted(set(found), key=lambda c: (c.__module__, c.__qualname__))


def _component_classes(plugin: object, name: str, registry: Registry) -> dict[type, tuple[Interface, bool]]:
    """Each component class of plugin ``name``, with its interface and whether it must be complete: those
    it defines that extend a base class of ganlab's (complete where nothing extends them: an abstract
    base of the plugin's own may leave methods to its subclasses), and those it registers as factories
    (complete: ganlab builds them), a data set's too."""
    found = {
        cls: (contract, not cls.__subclasses__()) for contract in BY_BASE for cls in _classes_of(plugin, contract.base)
    }
    for entry in registry.entries():
        if entry.plugin == name and isinstance(entry.factory, type) and entry.kind in BY_KIND:
            found[entry.factory] = (BY_KIND[entry.kind], True)
    return found


def _added_commands(add: Callable[..., object], plugin: str, owners: dict[str, str]) -> dict[str, click.Command]:
    """The commands a plugin's ``ganlab_register_commands`` (called through ``add``) defines, refused whole
    if one takes a name that is already someone's (``owners``: command name -> who has it).

    Each plugin fills a click group of its own, so a plugin that fails leaves no command behind.
    """
    group = click.Group("ganlab")
    add(cli=group)
    for name in group.commands:
        if name in owners:
            raise PluginError(f"command {name!r} is added twice: by {owners[name]} and by plugin {plugin!r}")
    return dict(group.commands)


def load_plugins(
    extra: list[tuple[str, object]] = (), *, entry_points: bool = True, strict: bool | None = None
) -> Plugins:
    """Build a fresh plugin manager, registry and set of plugin commands.

    ``extra`` are (name, plugin object) pairs registered after the built-ins, the way a test registers a
    plugin without installing it. ``strict`` defaults to the ``GANLAB_STRICT_PLUGINS`` variable.
    """
    strict = _env_flag("GANLAB_STRICT_PLUGINS") if strict is None else strict
    pm = pluggy.PluginManager("ganlab")
    pm.add_hookspecs(hookspecs)
    if _env_flag("GANLAB_TRACE_PLUGINS"):
        pm.trace.root.setwriter(
            lambda message: sys.stderr.write("".join(f"ganlab trace: {line}\n" for line in message.splitlines()))
        )
        pm.enable_tracing()
    disabled = _disabled()
    failures: list[PluginFailure] = []
    infos: dict[str, PluginInfo] = {}

    def fail(name: str, stage: str, error: str, cause: BaseException | None = None) -> None:
        failure = PluginFailure(name, stage, error)
        if strict:
            raise PluginError(f"{failure.problem()} (GANLAB_STRICT_PLUGINS is set)") from cause
        failures.append(failure)

    def fail_on(name: str, stage: str, exc: BaseException) -> None:
        fail(name, stage, f"{type(exc).__name__}: {exc}", exc)

    def add(name: str, plugin: object, builtin: bool, dist: importlib.metadata.Distribution | None) -> None:
        try:
            _check_hashable(plugin)
            pm.register(plugin, name=name)
            _check_hook_names(pm, plugin)
        except Exception as exc:  # pluggy validates signatures here, _check_hook_names the names
            if pm.is_registered(plugin):
                pm.unregister(plugin)
            fail_on(name, "register", exc)
            return
        hooks = tuple(sorted(h.name for h in pm.get_hookcallers(plugin) or ()))
        infos[name] = PluginInfo(
            name, dist.version if dist else None, dist.metadata["Name"] if dist else None, builtin, hooks
        )

    for module_name in BUILTIN_PLUGINS:
        if module_name not in disabled:
            add(module_name, importlib.import_module(module_name), True, None)
    for name, plugin in extra:
        if name not in disabled:
            add(name, plugin, False, None)
    if entry_points:
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            if ep.name in disabled or pm.has_plugin(ep.name):
                continue
            try:
                plugin = ep.load()
            except Exception as exc:
                fail_on(ep.name, "import", exc)
                continue
            add(ep.name, plugin, False, ep.dist)

    registry = Registry()
    commands: dict[str, PluginCommand] = {}
    owners = {name: "ganlab (built-in)" for name in BUILTIN_COMMANDS}
    for name, plugin in list(pm.list_name_plugin()):
        others = [p for p in pm.get_plugins() if p is not plugin]
        adds_commands = name in infos and "ganlab_register_commands" in infos[name].hooks
        registrar = registry.for_plugin(name)
        try:
            if isinstance(plugin, types.ModuleType):
                for factory, declared in declared_components(plugin):
                    registrar.add(declared.kind, declared.name, factory, declared.config, declared.help)
            pm.subset_hook_caller("ganlab_register", remove_plugins=others)(registry=registrar)
            added = (
                _added_commands(pm.subset_hook_caller("ganlab_register_commands", remove_plugins=others), name, owners)
                if adds_commands
                else {}
            )
        except Exception as exc:
            registry.discard_plugin(name)
            pm.unregister(plugin)
            infos.pop(name, None)
            fail_on(name, "register", exc)
            continue
        for command_name, command in added.items():
            commands[command_name] = PluginCommand(command_name, name, command)
            owners[command_name] = f"plugin {name!r}"
        for cls, (contract, complete) in _component_classes(plugin, name, registry).items():
            for note in class_notes(cls, contract, complete):
                fail(name, "check", note)
    return Plugins(pm, registry, failures, list(infos.values()), commands)


_LOADED = "ganlab.registry"
"""Where a command line's click context keeps the plugins it loaded."""


def load_plugins_or_warn() -> Plugins:
    """The plugins a ``ganlab`` command works with, each failure printed as a warning on standard error.

    Loaded once per command line and kept in its click context: finding a plugin's command (or listing
    the commands for ``ganlab --help``) needs them before the command runs, the command needs them again,
    and loading imports every plugin. A plugin's own command may call it for the plugins too. Outside a
    ``ganlab`` command line it loads afresh each time.
    """
    context = click.get_current_context(silent=True)
    root = context.find_root() if context is not None else None
    if root is not None and _LOADED in root.meta:
        return root.meta[_LOADED]
    plugins = load_plugins()
    for failure in plugins.failures:
        warn(failure.message())
    if root is not None:
        root.meta[_LOADED] = plugins
    return plugins
