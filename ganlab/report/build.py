"""Assemble one run's report from its run directory alone, and write it.

The evaluators are rebuilt from the run's resolved ``recipe.toml`` through the registry, exactly as
a training run builds them, and each is asked for its sections; so an evaluator from a third-party plugin
contributes the same way as a built-in one, and ``ganlab report`` long after the run gives the same page
as the one written when it ended. An evaluator that is not installed, or whose section fails to render, costs
only its own section: the page says what is missing and why.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from ..common.atomic import atomic_write_text
from ..common.errors import RecipeError, warn
from ..contracts.engine import BuildContext, Evaluator
from ..page import html as h
from ..page.html import ReportSection, section_problem
from ..recipes.recipe import read_toml, resolve_component
from ..registry.registry import Registry
from ..rundir.records import describe
from ..rundir.rundir import RunDir
from .core_sections import environment_section, evaluations_section, recipe_section, summary_section


@dataclasses.dataclass(frozen=True)
class RebuiltEvaluator:
    section: str  # "evaluators[2]"
    name: str
    evaluator: Evaluator


def rebuild_evaluators(document: dict, registry: Registry, seed: int) -> tuple[list[RebuiltEvaluator], list[str]]:
    """The recipe's evaluators, built on the CPU, and a note for each one that cannot be built."""
    evaluators, problems = [], []
    context = BuildContext(seed=seed, device=torch.device("cpu"))
    tables = document.get("evaluators", [])
    for i, table in enumerate(tables if isinstance(tables, list) else []):
        section = f"evaluators[{i}]"
        try:
            component = resolve_component(table, "evaluator", section, registry, "recipe.toml")
        except RecipeError as e:
            problems.extend(f"{problem}; so its section is missing" for problem in e.problems)
            continue
        try:
            built = component.entry.factory(component.config, context)
            evaluators.append(RebuiltEvaluator(section, component.name, built))
        except Exception as e:  # a plugin's factory is not ours to trust with the whole report
            problems.append(f"{section} ({component.name}): could not be built: {type(e).__name__}: {e}")
    return evaluators, problems


def evaluator_sections(evaluators: list[RebuiltEvaluator], run_dir: RunDir) -> tuple[list[ReportSection], list[str]]:
    """Every evaluator's sections, and a note for each one left out: whatever a plugin's ``report_sections``
    does wrong (raises, returns something else than sections, a section with a field of the wrong type)
    costs only the sections concerned, so the user still gets the report."""
    sections, problems = [], []
    for rebuilt in evaluators:
        label = f"{rebuilt.section} ({rebuilt.name})"
        try:
            returned = rebuilt.evaluator.report_sections(run_dir)
        except Exception as e:  # one broken section must not cost the user the whole report
            problems.append(f"{label}: its report section failed: {type(e).__name__}: {e}")
            continue
        if not isinstance(returned, (list, tuple)):
            problems.append(
                f"{label}: report_sections returned {describe(returned)}, not a list of "
                "ganlab.ReportSection, so its sections are missing"
            )
            continue
        for section in returned:
            problem = section_problem(section)
            if problem is None:
                sections.append(section)
            else:
                problems.append(f"{label}: a report section it returned is left out: {problem}")
    return sections, problems


def skipped_records_section(run_dir: RunDir) -> ReportSection:
    """What the report passed over in the run's files (a line edited by hand, a field of the wrong type)."""
    rows = "\n".join(f"{name}: {why}" for name, why in run_dir.read_problems.items())
    return ReportSection(
        "Skipped records",
        h.paragraph(
            "These records of the run directory are not of the shape ganlab reads, so the report leaves them out:",
            "note",
        )
        + h.preformatted(rows),
        order=1,
    )


def build_report(run_dir: RunDir, registry: Registry) -> str:
    """The complete, self-contained HTML report of the run in ``run_dir``."""
    meta = run_dir.read_checked_meta()
    try:
        document = read_toml(run_dir.recipe_path)
    except RecipeError as e:
        raise RecipeError(str(run_dir.recipe_path), [f"cannot rebuild the report: {p}" for p in e.problems]) from None
    evaluators, problems = rebuild_evaluators(document, registry, int(meta.get("seed") or 0))
    sections, section_problems = evaluator_sections(evaluators, run_dir)
    problems += section_problems
    for problem in problems:
        warn(f"{run_dir.path}: report: {problem}")
    summary_rows = [row for section in sections for row in section.summary]
    if problems:
        summary_rows.append(("missing sections", h.preformatted("\n".join(problems))))
    sections += [
        summary_section(run_dir, meta, summary_rows),
        recipe_section(run_dir, document, list(meta.get("overrides") or [])),
        evaluations_section(run_dir),
        environment_section(meta),
    ]
    if run_dir.read_problems:
        sections.append(skipped_records_section(run_dir))
    experiment = str(meta.get("experiment") or "")
    status = str(meta.get("status", "unknown"))
    subtitle = (
        f"experiment {h.escape(experiment)} · {h.escape(status)} · "
        f"{h.escape(meta.get('ended') or meta.get('started') or '')}"
    )
    return h.page(f"ganlab run {run_dir.name}", subtitle, sections)


def write_report(run_dir: RunDir, registry: Registry, out: Path | None = None) -> Path:
    """Build the report and write it atomically (to the run's report.html unless ``out`` is given)."""
    path = Path(out) if out is not None else run_dir.report_path
    atomic_write_text(path, build_report(run_dir, registry))
    return path
