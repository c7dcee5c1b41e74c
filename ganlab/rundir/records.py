"""The shape of each kind of record a run directory holds, checked as it is read.

A run directory outlives the process that wrote it: people edit its files by hand, and older versions of
ganlab or of a plugin wrote them differently. So every reader keeps the records of the right shape and
passes over the rest, and the reader says which ones it passed over and why (see ``RunDir.read_jsonl`` and
``RunDir.read_checked_meta``); code that draws a report or a comparison from what is kept can then rely
on every field it uses having the type it expects.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

from ..common.arguments import describe


@dataclasses.dataclass(frozen=True)
class Check:
    """What one field must be: ``label`` says it in words, for the warning about a record that is not."""

    label: str
    accepts: Callable[[Any], bool]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_finite(value: Any) -> bool:
    return _is_number(value) and math.isfinite(value)


INTEGER = Check("an integer", lambda v: isinstance(v, int) and not isinstance(v, bool))
NUMBER = Check("a number", _is_number)
NUMBER_OR_NULL = Check("a number or null", lambda v: v is None or _is_number(v))
FINITE_OR_NULL = Check("a finite number or null", lambda v: v is None or _is_finite(v))
TEXT = Check("a string", lambda v: isinstance(v, str))
TEXT_OR_NULL = Check("a string or null", lambda v: v is None or isinstance(v, str))
TRUE_OR_FALSE = Check("true or false", lambda v: isinstance(v, bool))
NUMBERS = Check("a list of numbers", lambda v: isinstance(v, list) and all(map(_is_number, v)))
TEXTS = Check("a list of strings", lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v))
LIST = Check("a list", lambda v: isinstance(v, list))
OBJECT = Check("an object", lambda v: isinstance(v, dict))
OBJECTS = Check("a list of objects", lambda v: isinstance(v, list) and all(isinstance(x, dict) for x in v))
VERSIONS = Check(
    "an object of version strings (plugins: an object of them)",
    lambda v: (
        isinstance(v, dict)
        and all(
            isinstance(x, str)
            or (k == "plugins" and isinstance(x, dict) and all(isinstance(y, str) for y in x.values()))
            for k, x in v.items()
        )
    ),
)


@dataclasses.dataclass(frozen=True)
class Shape:
    """The fields a record of one kind must have (``required``) or may have (``optional``), each with its
    :class:`Check`; any other field must pass ``others`` (a plugin's extra numbers), or is free where that
    is None (an evaluation's protocol)."""

    required: dict[str, Check] = dataclasses.field(default_factory=dict)
    optional: dict[str, Check] = dataclasses.field(default_factory=dict)
    others: Check | None = None

    def problem(self, record: Any) -> str | None:
        """Why ``record`` is not of this shape, in words; None if it is."""
        if not isinstance(record, dict):
            return f"is {describe(record)}, not a JSON object"
        missing = [name for name in self.required if name not in record]
        if missing:
            return "has no " + " or ".join(map(repr, missing))
        return next(
            (
                f"has {name!r} as {describe(value)}, not {check.label}"
                for name, value in record.items()
                if (check := self.check_of(name)) is not None and not check.accepts(value)
            ),
            None,
        )

    def check_of(self, name: str) -> Check | None:
        """What field ``name`` must be; None if it may be anything."""
        return self.required.get(name) or self.optional.get(name) or self.others

    def wrong_fields(self, record: dict[str, Any]) -> dict[str, str]:
        """Each field of ``record`` whose value has the wrong type, and what it should be."""
        checks = {**self.required, **self.optional}
        return {
            name: f"{describe(value)}, not {checks[name].label}"
            for name, value in record.items()
            if name in checks and not checks[name].accepts(value)
        }


ANY_RECORD = Shape()
"""A log record nothing more is known about (a plugin's own log): any JSON object."""

LOSS_KEYS = ("loss_d", "loss_g", "d_real", "d_fake")
"""The numbers the engine logs at every step (its METRIC_KEYS); NaN or infinite where training diverged.
``d_real`` and ``d_fake`` are the loss's scores, of the kind meta.json's ``scores`` describes."""

METRIC_LABELS = {"loss_d": "loss D", "loss_g": "loss G", "d_real": "D(x)", "d_fake": "D(G(z))"}
"""How the report and compare name the per-step numbers of metrics.jsonl (the engine's METRIC_KEYS)."""

STEP_KEYS = ("step", "epoch", "time", *LOSS_KEYS)
"""The fields every line of metrics.jsonl has; any other is a number a lever or plugin logged (``lr_g``,
``augment_p``, ``reg_r1``), which the report draws without knowing what it is."""

METRIC_RECORD = Shape(
    required={"step": INTEGER},
    optional={"epoch": INTEGER, "time": NUMBER_OR_NULL, **{key: NUMBER_OR_NULL for key in LOSS_KEYS}},
    others=NUMBER_OR_NULL,
)
"""A line of metrics.jsonl (a log from before 0.2 may lack the epoch)."""

EVALUATION_RECORD = Shape(
    required={"metric": TEXT, "value": NUMBER},
    optional={"step": NUMBER, "epoch": NUMBER, "higher_is_better": TRUE_OR_FALSE},
)
"""A line of evaluations.jsonl; every field beyond these is the protocol that produced the value."""

META = Shape(
    optional={
        "name": TEXT,
        "experiment": TEXT,
        "status": TEXT,
        "recipe_source": TEXT,
        "overrides": TEXTS,
        "created": TEXT_OR_NULL,
        "started": TEXT_OR_NULL,
        "ended": TEXT_OR_NULL,
        "seed": INTEGER,
        "device": TEXT,
        "device_name": TEXT_OR_NULL,
        "batch_size": INTEGER,
        "d_steps": INTEGER,
        "steps": INTEGER,
        "total_steps": INTEGER,
        "epochs_completed": INTEGER,
        "epochs": INTEGER,
        "versions": VERSIONS,
        "plugin_failures": LIST,
        "evaluator_errors": LIST,
        "error": TEXT_OR_NULL,
        "stop_reason": TEXT_OR_NULL,
        "report_error": TEXT_OR_NULL,
        "elapsed_s": FINITE_OR_NULL,
        "images_per_s": NUMBER_OR_NULL,
        "resumed": OBJECTS,
        "imported": OBJECT,
        "scores": OBJECT,
        "label_space": OBJECT,
        "labels": OBJECT,
        "threads": INTEGER,
        "hook_errors": LIST,  # until 0.6: the old name of evaluator_errors, in the meta.json of a ganlab 0.4 run
    }
)
"""The fields of meta.json that ganlab reads back."""
