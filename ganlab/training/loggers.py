"""The run's loggers, called so that none of them can stop a run: a logger that raises is warned about
once, by name, and left out from then on, while training goes on (as a broken report section is shown
as broken and the report is still written). A live view of a multi-hour run is worth less than the run.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import torch

from ..common.errors import warn
from ..contracts.engine import RunView
from ..contracts.loggers import Logger
from ..recipes.recipe import Component


class Loggers:
    """Every ``[[loggers]]`` entry of a run, in the main process (the others get none)."""

    def __init__(self, loggers: list[tuple[Component, Logger]]):
        self.loggers = loggers
        self.broken: set[str] = set()

    def start(self, run: RunView) -> None:
        self._each("start", lambda logger: logger.start(run))

    def log_steps(self, records: list[dict[str, float]]) -> None:
        self._each("log_steps", lambda logger: logger.log_steps(records))

    def log_evaluation(self, record: dict[str, Any]) -> None:
        self._each("log_evaluation", lambda logger: logger.log_evaluation(record))

    def log_image(self, tag: str, image: torch.Tensor, step: int) -> None:
        self._each("log_image", lambda logger: logger.log_image(tag, image, step))

    @contextlib.contextmanager
    def started(self, run: RunView) -> Iterator[None]:
        """Every logger started for ``run`` inside the block and finished after it, with how the block
        ended (``finished``, ``interrupted`` by Ctrl-C or SIGTERM, or ``failed``): the lifecycle a logger is
        promised, for a command that logs to a run without training it (``ganlab evaluate``)."""
        self.start(run)
        status = "failed"
        try:
            yield
            status = "finished"
        except KeyboardInterrupt:
            status = "interrupted"
            raise
        finally:
            self.finish(status)

    def finish(self, status: str) -> None:
        """Every logger's ``finish``, a broken one's too: it may still hold files to close."""
        self._each("finish", lambda logger: logger.finish(status), even_broken=True)

    def _each(self, method: str, call: Callable[[Logger], None], even_broken: bool = False) -> None:
        for component, logger in self.loggers:
            if component.section in self.broken and not even_broken:
                continue
            try:
                call(logger)
            except Exception as e:
                if component.section not in self.broken:
                    self.broken.add(component.section)
                    warn(
                        f"logger {component.section} ({component.name}) failed in {method}: "
                        f"{type(e).__name__}: {e}; the run goes on without it"
                    )
