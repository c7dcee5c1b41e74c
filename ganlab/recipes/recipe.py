"""TOML recipe -> validated, typed :class:`Recipe`; ``--set`` overrides; every problem reported at once.

A component section names its registry entry with ``name``; every other key is checked against that
entry's config dataclass. ``[experiment]`` and ``[train]`` are checked against the dataclasses below.
Errors read ``FILE: dotted.key: what is wrong (did you mean ...?)`` and are all collected before raising.
"""

from __future__ import annotations

import copy
import dataclasses
import re
import sys
import tomllib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Literal

from ..common import tomlwrite
from ..common.config import build_config, config_to_dict, param, seed_param
from ..common.errors import RecipeError, warn
from ..common.files import read_at_most, unusual
from ..common.hints import did_you_mean
from ..common.whole_numbers import FORM, parse_whole_number, shown
from ..registry.known import package_providing
from ..registry.registry import Entry, Registry
from ..rundir.checkpoints import CheckpointConfig


@dataclasses.dataclass
class ExperimentConfig:
    name: str = param("experiment", "run name prefix; the run directory is NAME-<timestamp>")
    seed: int = seed_param(0, "seed for torch, numpy, random, data order and the fixed noise")
    device: Literal["auto", "cpu", "cuda", "mps"] = param("auto", "auto picks cuda, then mps, then cpu")


@dataclasses.dataclass
class TrainConfig:
    epochs: int = param(5, "passes over the data set", min=1)
    max_steps: int = param(0, "stop after this many generator updates; 0 means no limit", min=0)
    batch_size: int = param(128, "images per step, in total over all processes (split evenly with --nproc)", min=1)
    d_steps: int = param(1, "discriminator (critic) updates per generator update, each on a new batch", min=1)
    num_workers: int = param(2, "data-loading worker processes for data sets decoded on the fly", min=0, max=256)
    threads: int = param(
        0,
        "threads torch computes with on the CPU; 0 chooses: the launcher's OMP_NUM_THREADS, "
        "else one per core other processes leave free when the run starts",
        min=0,
        max=4096,
    )
    data_on_device: Literal["auto", "always", "never"] = param(
        "auto", "copy the whole data set to the device once: auto does it on a GPU when it fits"
    )
    log_every: int = param(10, "steps between flushes of the per-step metrics (every step is logged)", min=1)
    grid_size: int = param(64, "images in the fixed-noise progress grid", min=1)
    grid_every: int = param(
        1,
        "epochs between progress grids; the run's last epoch always has one. Each grid "
        "costs the generator's standing statistics (17 forward passes): raise it where "
        "epochs are a few steps long",
        min=1,
    )
    precision: Literal["fp32", "bf16", "fp16"] = param(
        "fp32", "autocast precision of the forward passes; fp16 adds a gradient scaler per network"
    )
    ema: float = param(
        0.0,
        "decay of the generator's exponential moving average (e.g. 0.999); 0 is off; "
        "when on, samples and metrics use the EMA weights",
        min=0.0,
        max=0.999999,
    )
    channels_last: bool = param(False, "channels-last memory format (faster convolutions on recent GPUs)")
    compile: bool = param(False, "torch.compile both networks (slow start, faster steps)")
    sync_batchnorm: bool = param(False, "synchronise batch-norm statistics across processes (CUDA only)")
    generator_labels: Literal["data", "balanced"] = param(
        "data",
        "a conditional generator's labels in training: drawn like the data's (a random image's), or "
        "balanced (each attribute's values equally often, independently: a rare one is learnt too)",
    )


@dataclasses.dataclass(frozen=True)
class Component:
    """One resolved component section: which registry entry, with which validated config."""

    section: str  # dotted recipe path, e.g. "optimizer.generator" or "evaluators[1]"
    entry: Entry
    config: Any

    @property
    def name(self) -> str:
        return self.entry.name

    def to_table(self) -> dict[str, Any]:
        return {"name": self.entry.name, **config_to_dict(self.config)}


@dataclasses.dataclass(frozen=True)
class ComponentSlot:
    """Where a component section lives in a recipe, its kind, and its name when the section is absent."""

    path: tuple[str, ...]
    kind: str
    default: str | None


SLOTS: tuple[ComponentSlot, ...] = (
    ComponentSlot(("data",), "dataset", None),
    ComponentSlot(("generator",), "generator", "dcgan"),
    ComponentSlot(("discriminator",), "discriminator", "dcgan"),
    ComponentSlot(("loss",), "loss", "bce"),
    ComponentSlot(("optimizer", "generator"), "optimizer", "adam"),
    ComponentSlot(("optimizer", "discriminator"), "optimizer", "adam"),
    ComponentSlot(("init",), "init", "dcgan-normal"),
    ComponentSlot(("schedule", "generator"), "schedule", "constant"),
    ComponentSlot(("schedule", "discriminator"), "schedule", "constant"),
)
ROLE_TABLES = ("optimizer", "schedule")
"""Sections set per network, as ``[SECTION.generator]`` and ``[SECTION.discriminator]``."""
OPTIONAL_SLOTS: tuple[ComponentSlot, ...] = (ComponentSlot(("augment",), "augment", None),)
"""Component sections that may be left out: the recipe then has no such component."""
ARRAYS: dict[str, str] = {"regularizers": "regularizer", "loggers": "logger", "evaluators": "evaluator"}
"""Arrays of tables (``[[regularizers]]``) and the kind of component each element names."""
PLAIN_SECTIONS: dict[str, type] = {"experiment": ExperimentConfig, "train": TrainConfig, "checkpoint": CheckpointConfig}
TOP_LEVEL = (
    "experiment",
    "data",
    "generator",
    "discriminator",
    "loss",
    "optimizer",
    "init",
    "augment",
    "regularizers",
    "schedule",
    "train",
    "checkpoint",
    "loggers",
    "evaluators",
)
OLD_SECTIONS: dict[str, str] = {"hooks": "evaluators"}  # until 0.6
"""Sections renamed since ganlab 0.4, by their old name: a recipe (or a ``--set`` key, or a recorded recipe)
that still uses one is read as if it named the new one, with a warning, until 0.6."""
SWEEP_SECTION = "sweep"
"""The table that makes a recipe file a sweep of runs (read by :mod:`ganlab.sweeps.table`), never part of
one run's recipe."""
TUNE_SECTION = "tune"
"""The table that makes a recipe file a hyper-parameter study (read by :mod:`ganlab.tuning.settings`),
never part of one run's recipe."""
STUDY_SECTIONS = {SWEEP_SECTION: "sweep", TUNE_SECTION: "tune"}
"""The tables that make a recipe file many runs, and the command that runs each."""


@dataclasses.dataclass(frozen=True)
class Recipe:
    source: str
    experiment: ExperimentConfig
    train: TrainConfig
    components: dict[str, Component]  # keyed by dotted section: "data", "optimizer.generator", ...
    evaluators: tuple[Component, ...]
    overrides: tuple[str, ...] = ()
    checkpoint: CheckpointConfig = dataclasses.field(default_factory=CheckpointConfig)
    augment: Component | None = None
    regularizers: tuple[Component, ...] = ()
    loggers: tuple[Component, ...] = ()

    def component(self, section: str) -> Component:
        return self.components[section]

    def to_dict(self) -> dict[str, Any]:
        """The fully resolved recipe (every default filled in) as plain TOML values."""
        doc: dict[str, Any] = {"experiment": config_to_dict(self.experiment)}
        for slot in SLOTS:
            table = doc
            for part in slot.path[:-1]:
                table = table.setdefault(part, {})
            table[slot.path[-1]] = self.components[".".join(slot.path)].to_table()
        doc["train"] = config_to_dict(self.train)
        doc["checkpoint"] = config_to_dict(self.checkpoint)
        if self.augment is not None:
            doc["augment"] = self.augment.to_table()
        for key in ARRAYS:
            if getattr(self, key):
                doc[key] = [c.to_table() for c in getattr(self, key)]
        return doc

    def to_toml(self) -> str:
        header = f"# resolved by ganlab from {self.source}"
        if self.overrides:
            header += "\n# overrides: " + " ".join(self.overrides)
        return header + "\n\n" + tomlwrite.dumps(self.to_dict())


MAX_RECIPE_BYTES = 1 << 20
"""A recipe is a few kilobytes of TOML; anything over a mebibyte is something else given by mistake."""

MAX_NESTING = 32
"""Tables and arrays nested deeper than this are refused: recipes nest four deep, and a value nested
thousands deep would overflow the stack of every function that walks it."""


def read_toml(path: Path) -> dict[str, Any]:
    """Parse ``path``; every way it can fail becomes a RecipeError that names the file.

    Only a regular file of sane size is read: a named pipe or a device is refused unopened.
    """
    source = str(path)
    problem = unusual(path)
    if problem is not None:
        raise RecipeError(source, [f"{problem}; a recipe is a TOML file"])
    if not path.exists():
        raise RecipeError(source, ["no such file"])
    if path.is_dir():
        hint = (
            " (it looks like a run directory; use --resume or its recipe.toml)" if (path / "meta.json").exists() else ""
        )
        raise RecipeError(source, [f"is a directory, not a TOML recipe{hint}"])
    try:
        text = read_at_most(path, MAX_RECIPE_BYTES).decode("utf-8")
    except PermissionError:
        raise RecipeError(source, ["cannot be read (permission denied)"]) from None
    except UnicodeDecodeError as e:
        raise RecipeError(source, [f"is not UTF-8 text (byte {e.start}); is it really a TOML recipe?"]) from None
    except ValueError as e:
        raise RecipeError(source, [f"{e}; a recipe is a small TOML text file"]) from None
    except OSError as e:
        raise RecipeError(source, [f"cannot be read: {e.strerror or e}"]) from None
    try:
        document = parse_toml(text)
    except ValueError as e:
        raise RecipeError(source, [f"invalid TOML: {e}"]) from None
    return current_sections(document, source)


def current_sections(document: dict[str, Any], source: str, quiet: bool = False) -> dict[str, Any]:
    """``document`` with each section of :data:`OLD_SECTIONS` under its new name, and a warning naming
    ``source`` unless ``quiet`` (a recipe ganlab recorded itself: a run directory's checkpoint or sweep
    manifest, which the user did not write). Both names at once is a RecipeError: which one is meant?"""
    old = [key for key in OLD_SECTIONS if key in document]
    if not old:
        return document
    both = [key for key in old if OLD_SECTIONS[key] in document]
    if both:
        raise RecipeError(
            source,
            [
                f"{key}: the old name of [[{OLD_SECTIONS[key]}]], given beside it; keep one ([[{OLD_SECTIONS[key]}]])"
                for key in both
            ],
        )
    for key in old:
        if not quiet:
            _warn_once(
                f"{source}: [[{key}]] is read as [[{OLD_SECTIONS[key]}]], its name since ganlab 0.5; the old "
                "name is read until 0.6"
            )
    return {OLD_SECTIONS.get(key, key): value for key, value in document.items()}


_WARNED: set[str] = set()


def _warn_once(message: str) -> None:
    """A deprecation told once per process: a resume reads a run's recipe from its file and its checkpoint."""
    if message not in _WARNED:
        _WARNED.add(message)
        warn(message)


def parse_toml(text: str) -> dict[str, Any]:
    """``tomllib.loads``, with nesting deeper than :data:`MAX_NESTING` refused as a ValueError (the
    parser itself recurses, so a document nested thousands deep exhausts its stack), and so is an integer
    longer than Python converts (tomllib lets ``int``'s own ValueError through, which names neither)."""
    try:
        document = tomllib.loads(text)
    except RecursionError:
        document = None
    except tomllib.TOMLDecodeError:
        raise
    except ValueError:
        raise ValueError(f"integer is longer than {sys.get_int_max_str_digits()} digits") from None
    if document is None or nesting_depth(document) > MAX_NESTING:
        raise ValueError(f"tables or arrays are nested more than {MAX_NESTING} deep")
    return document


def nesting_depth(value: Any) -> int:
    """How many tables and arrays deep ``value`` goes, counted without recursion."""
    deepest, pending = 0, [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, depth + 1)
            pending.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


_INDEX = re.compile(r"\[([0-9]+)\]")
APPEND = "[+]"
"""``ARRAY[+]={...}`` appends the inline table to an array of tables: ``regularizers[+]={name="r1"}``."""


def parse_key(key: str) -> list[str | int]:
    """The path a dotted recipe key names: ``evaluators[1].every`` and ``evaluators.1.every`` both name
    ``["evaluators", 1, "every"]``, so two spellings of one setting compare equal; a key ending in :data:`APPEND`
    ends in it. The one parser of keys: what ``--set`` sets and what a sweep's grid sweeps."""
    key = key.strip()
    appends = key.endswith(APPEND)
    key = key.removesuffix(APPEND) if appends else key
    if APPEND in key:
        raise ValueError(
            f'[+] appends a whole table and must end the key, as in {key.split(APPEND)[0]}[+]={{name="..."}}'
        )
    key = _INDEX.sub(r".\1", key)
    parts = [_key_part(p) for p in key.split(".")]
    if not key or any(p == "" for p in parts):
        raise ValueError(f"{shown(key)} is not a dotted key")
    parts[0] = OLD_SECTIONS.get(parts[0], parts[0]) if isinstance(parts[0], str) else parts[0]
    return [*parts, APPEND] if appends else parts


def parse_override(text: str) -> tuple[list[str | int], Any]:
    """``a.b=value`` -> (["a", "b"], value), the key read by :func:`parse_key`. The value is read as TOML,
    falling back to a plain string; ``evaluators[+]={name="fid"}`` is the one form whose value must be a table,
    the table it appends."""
    if "=" not in text:
        raise ValueError(f"--set {shown(text)}: expected KEY=VALUE, e.g. train.epochs=3")
    key, raw = text.split("=", 1)
    try:
        parts = parse_key(key)
    except ValueError as e:
        raise ValueError(f"--set {shown(text)}: {e}") from None
    try:
        value = parse_toml(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    except ValueError as e:
        raise ValueError(f"--set {key.strip()}: the value's {e}") from None
    if parts[-1] == APPEND and not isinstance(value, dict):
        raise ValueError(
            f"--set {shown(text)}: [+] appends a table, written as a TOML inline table, as in "
            f'{_dotted(parts[:-1])}[+]={{name="..."}}'
        )
    return parts, value


def _key_part(part: str) -> str | int:
    """A part of a dotted key: an array index when it is all digits, else a table's key."""
    index = parse_whole_number(part)
    if index is not None:
        return index
    if part and not part.strip("0123456789"):
        raise ValueError(f"{shown(part)} is too long for an array index ({FORM})")
    return part


def apply_overrides(document: dict[str, Any], overrides: list[str]) -> tuple[dict[str, Any], list[str]]:
    """A copy of ``document`` with each ``KEY=VALUE`` set; returns (document, problems)."""
    doc = copy.deepcopy(document)
    problems = []
    for text in overrides:
        try:
            parts, value = parse_override(text)
        except ValueError as e:
            problems.append(str(e))
            continue
        old = re.match(r"\s*([^.\[=]*)", text).group(1).strip()
        if old in OLD_SECTIONS:
            _warn_once(
                f"--set {text}: {old} is read as {OLD_SECTIONS[old]}, its name since ganlab 0.5; the old "
                "name is read until 0.6"
            )
        node: Any = doc
        for i, part in enumerate(parts[:-1]):
            nxt = parts[i + 1]
            if isinstance(part, int):
                if not isinstance(node, list) or part >= len(node):
                    problems.append(f"--set {text!r}: there is no {_dotted(parts[: i + 1])} in the recipe")
                    break
                node = node[part]
            else:
                if not isinstance(node, dict):
                    index = (
                        f"; address its items by index, as in {_dotted([*parts[:i], 0])}"
                        if isinstance(node, list)
                        else ""
                    )
                    problems.append(f"--set {text!r}: {_dotted(parts[:i])} is not a table{index}")
                    break
                node = node.setdefault(part, [] if isinstance(nxt, int) or nxt == APPEND else {})
        else:
            last = parts[-1]
            if last == APPEND:
                if isinstance(node, list) and all(isinstance(item, dict) for item in node):
                    node.append(value)
                else:
                    problems.append(f"--set {text!r}: {_dotted(parts[:-1])} is not an array of tables")
            elif isinstance(last, int) or not isinstance(node, dict):
                problems.append(f"--set {text!r}: can only set keys of tables")
            else:
                node[last] = value
    return doc, problems


def _dotted(parts: list[str | int]) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else p)
    return out


def resolve_component(
    table: Any, kind: str, section: str, registry: Registry, source: str, default: str | None = None
) -> Component:
    """The component a table of ``section`` describes: its ``name`` (``default`` when the table or the key
    is absent) looked up among the registry's ``kind`` components, its other keys checked against that
    component's config. Every command that turns a table into a component comes through here, so a wrong
    name or key reads the same from all of them. Raises RecipeError(source, every problem found)."""
    problems: list[str] = []
    if table is None and default is None:
        problems.append(
            f"{section}: section is missing; it must name a {kind} (one of: {', '.join(registry.names(kind))})"
        )
    elif table is not None and not isinstance(table, dict):
        problems.append(f"{section}: expected a table, got {type(table).__name__}")
    else:
        settings = dict(table or {})
        name = settings.pop("name", default)
        entry = registry.get(kind, name) if isinstance(name, str) else None
        name_key = section if section.startswith("--") else f"{section}.name"  # an option names it directly
        if name is None:
            problems.append(f"{name_key}: required; one of: {', '.join(registry.names(kind))}")
        elif not isinstance(name, str):
            problems.append(f"{name_key}: expected a string, got {name!r}")
        elif entry is None:
            problems.append(f"{name_key}: unknown {kind} {name!r}" + _suggest(registry, kind, name))
        else:
            config, problems = build_config(entry.config, settings, section)
            if config is not None:
                return Component(section, entry, config)
    raise RecipeError(source, problems)


def _suggest(registry: Registry, kind: str, name: str) -> str:
    package = package_providing(kind, name)
    if package:
        return f"; it is provided by the plugin package {package!r}: pip install {package}"
    return did_you_mean(name, registry.names(kind)) or f"; known: {', '.join(registry.names(kind)) or 'none'}"


def _resolved(
    problems: list[str],
    table: Any,
    kind: str,
    section: str,
    registry: Registry,
    source: str,
    default: str | None = None,
) -> Component | None:
    """:func:`resolve_component`, its problems added to ``problems`` so that a recipe's are reported together."""
    try:
        return resolve_component(table, kind, section, registry, source, default)
    except RecipeError as e:
        problems.extend(e.problems)
        return None


def resolve(document: dict[str, Any], registry: Registry, source: str, overrides: list[str] = ()) -> Recipe:
    """Validate a parsed recipe (after overrides) against the registry; raise RecipeError with all problems."""
    doc, problems = apply_overrides(current_sections(document, source), list(overrides))
    for key in doc:
        if key in STUDY_SECTIONS:
            what = "a sweep of runs" if key == SWEEP_SECTION else "a hyper-parameter study"
            problems.append(
                f"{key}: this file is {what}, not one run's recipe: run it with `ganlab {STUDY_SECTIONS[key]} "
                f"{source}` (`ganlab validate {source}` checks it)"
            )
        elif key not in TOP_LEVEL:
            hint = did_you_mean(key, TOP_LEVEL) or f"; sections are: {', '.join(TOP_LEVEL)}"
            problems.append(f"{key}: unknown section{hint}")
    plain: dict[str, Any] = {}
    for section, cls in PLAIN_SECTIONS.items():
        table = doc.get(section, {})
        if not isinstance(table, dict):
            problems.append(f"{section}: expected a table, got {type(table).__name__}")
            continue
        plain[section], config_problems = build_config(cls, table, section)
        problems.extend(config_problems)
    for key in ROLE_TABLES:
        roles = doc.get(key, {})
        if not isinstance(roles, dict):
            problems.append(f"{key}: expected a table with [{key}.generator] and [{key}.discriminator]")
            continue
        for role in roles:
            if role not in ("generator", "discriminator"):
                problems.append(
                    f"{key}.{role}: unknown section; {key}s are set per network: "
                    f"[{key}.generator] and [{key}.discriminator]"
                )
    components: dict[str, Component] = {}
    for slot in SLOTS + OPTIONAL_SLOTS:
        table = doc
        for part in slot.path:
            table = table.get(part) if isinstance(table, dict) else None
        section = ".".join(slot.path)
        if table is None and slot in OPTIONAL_SLOTS:
            continue
        component = _resolved(problems, table, slot.kind, section, registry, source, slot.default)
        if component is not None:
            components[section] = component
    arrays: dict[str, tuple[Component, ...]] = {}
    for key, kind in ARRAYS.items():
        tables = doc.get(key, [])
        if not isinstance(tables, list):
            problems.append(f"{key}: expected an array of tables ([[{key}]] sections)")
            tables = []
        resolved = [_resolved(problems, table, kind, f"{key}[{i}]", registry, source) for i, table in enumerate(tables)]
        arrays[key] = tuple(c for c in resolved if c is not None)
    if problems:
        raise RecipeError(source, problems)
    optional = {".".join(slot.path): components.pop(".".join(slot.path), None) for slot in OPTIONAL_SLOTS}
    return Recipe(
        source,
        plain["experiment"],
        plain["train"],
        components,
        arrays["evaluators"],
        tuple(overrides),
        plain["checkpoint"],
        optional["augment"],
        arrays["regularizers"],
        arrays["loggers"],
    )


def load_recipe(path: str | Path, registry: Registry, overrides: list[str] = ()) -> Recipe:
    path = Path(path)
    return resolve(read_toml(path), registry, str(path), overrides)


def recipe_tables(document: dict[str, Any]) -> Iterable[tuple[tuple[Any, ...], dict[str, Any]]]:
    """Every section of a resolved recipe as (path, table of plain values), in the file's order."""
    for key, value in document.items():
        if isinstance(value, list) and all(isinstance(v, dict) for v in value):
            for i, item in enumerate(value):
                yield (key, i), item
        elif isinstance(value, dict):
            scalars = {k: v for k, v in value.items() if not isinstance(v, dict)}
            if scalars:
                yield (key,), scalars
            for sub_key, sub in value.items():
                if isinstance(sub, dict):
                    yield (key, sub_key), sub


def section_label(path: tuple[Any, ...]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if i else p) for i, p in enumerate(path))


def dotted_settings(document: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """Every setting of a resolved recipe as (dotted key, value): ``train.epochs``,
    ``optimizer.generator.lr``, ``evaluators[0].every``; the one walk of a recipe's settings besides
    :func:`recipe_tables`, which it is made from."""
    for path, table in recipe_tables(document):
        for key, value in table.items():
            yield f"{section_label(path)}.{key}", value
