"""The ``ganlab`` command. User errors become one short message and a documented exit code.

Exit codes: 0 ok, 1 other user error, 2 bad recipe, 3 data, 4 plugin (strict mode, or a component that
breaks its contract), 5 run directory, 6 checkpoint, 7 diverged, 130 interrupted (Ctrl-C, SIGINT), 143 stopped by
SIGTERM.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from ..common.errors import GanlabError
from ..common.version import __version__
from ..loading.manager import load_plugins_or_warn
from ..machine import signals
from ..machine.memory import out_of_memory
from ..registry.registry import KINDS
from .listing import listed
from .options import WholeNumber, out_option, override_option


@contextlib.contextmanager
def _exit_codes(ctx: click.Context) -> Iterator[None]:
    """Turns a GanlabError raised inside into a clean message and its exit code, an allocation that failed
    (a size no estimate caught) into one line naming the command and exit code 1, and SIGINT or SIGTERM into
    130 or 143 (click would print ``Aborted!`` and exit 1)."""
    with signals.stopping_commands():
        try:
            yield
            signals.raise_if_stopped()  # a stop whose exception Python discarded on the way
            return
        except GanlabError as e:
            code, message = e.exit_code, f"ganlab: error: {e}"
        except KeyboardInterrupt as e:  # the cleanup on the way here has run: the command just stops
            signum = signals.signal_of(e)
            code, message = signals.exit_code(signum), f"ganlab: interrupted by {signals.describe(signum)}"
        except Exception as e:
            if not out_of_memory(e):
                raise
            command = " ".join(filter(None, ("ganlab", ctx.invoked_subcommand)))
            said = (str(e).splitlines() or [type(e).__name__])[0]
            code, message = (
                1,
                (
                    f"ganlab: error: {command} ran out of memory ({said}); give it smaller sizes "
                    "(images, batches, samples) or free memory"
                ),
            )
        with signals.handled_by(signal.SIG_IGN):  # a repeated signal must not cut the message short
            click.echo(message, err=True)
    ctx.exit(code)


class GanlabGroup(click.Group):
    """ganlab's commands, then the plugins' (which cannot replace one of ganlab's), every one of them run
    under :func:`_exit_codes`, in any phase."""

    def invoke(self, ctx: click.Context) -> Any:
        with _exit_codes(ctx):
            return super().invoke(ctx)

    def list_commands(self, ctx: click.Context) -> list[str]:
        with _exit_codes(ctx):  # ``ganlab --help`` loads the plugins before any command runs
            plugin_commands = sorted(load_plugins_or_warn().commands)
        return [*super().list_commands(ctx), *plugin_commands]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        builtin = super().get_command(ctx, cmd_name)
        if builtin is not None:
            return builtin
        added = load_plugins_or_warn().commands.get(cmd_name)
        return added.command if added is not None else None


@click.group(cls=GanlabGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ganlab")
def main() -> None:
    """GAN experiments from TOML recipes."""


@main.command()
@click.argument("recipe", type=click.Path(path_type=Path), required=False)
@override_option
@out_option("the run directory")
@click.option("--name", default=None, help="Run name prefix (default: experiment.name).")
@click.option(
    "--exact-name", is_flag=True, help="Name the run directory --name exactly, without the time; refused if it exists."
)
@click.option("--no-progress", is_flag=True, help="Do not show the progress bar.")
@click.option(
    "--nproc",
    type=WholeNumber(min=1),
    default=1,
    show_default=True,
    help="Train with this many processes on this machine (torchrun + DistributedDataParallel).",
)
@click.option(
    "--resume",
    type=click.Path(path_type=Path),
    default=None,
    metavar="RUN_DIR",
    help="Continue RUN_DIR from its newest valid checkpoint instead of starting a new run.",
)
def run(
    recipe: Path | None,
    overrides: tuple[str, ...],
    out: Path,
    name: str | None,
    exact_name: bool,
    no_progress: bool,
    nproc: int,
    resume: Path | None,
) -> None:
    """Train the recipe RECIPE (or --resume a run); prints the run directory as the last line."""
    from ..recipes.recipe import load_recipe
    from ..training.lifecycle import run_recipe
    from ..training.resume import resume_run

    if (recipe is None) == (resume is None):
        raise click.UsageError("give a RECIPE to start a run, or --resume RUN_DIR to continue one")
    if exact_name and not name:
        raise click.UsageError("--exact-name needs --name NAME")
    plugins = load_plugins_or_warn()
    resolved = load_recipe(recipe, plugins.registry, list(overrides)) if recipe is not None else None
    if nproc > 1 and "WORLD_SIZE" not in os.environ:
        from ..machine.distributed import launch

        target = [str(recipe), "--out", str(out)] if recipe is not None else ["--resume", str(resume)]
        argv = [
            "run",
            *target,
            *[a for o in overrides for a in ("--set", o)],
            *(["--name", name] if name else []),
            *(["--exact-name"] if exact_name else []),
            *(["--no-progress"] if no_progress else []),
        ]
        sys.exit(launch(nproc, argv))
    if resume is not None:
        _print_run_dir(resume_run(resume, plugins, list(overrides), progress=not no_progress).path)
        return
    run_dir = run_recipe(resolved, plugins, out, name, progress=not no_progress, stamped=not exact_name)
    _print_run_dir(run_dir.path)


def _print_run_dir(path: Path) -> None:
    """The run directory as the last line of standard output, once even under torchrun."""
    from ..machine.distributed import world_from_env

    if world_from_env().is_main:
        click.echo(str(path))


@main.command()
@click.argument("recipe", type=click.Path(path_type=Path))
@override_option
def validate(recipe: Path, overrides: tuple[str, ...]) -> None:
    """Resolve and build RECIPE, print what it resolves to; trains nothing. A recipe with a [sweep] table
    is checked as `ganlab sweep` checks it, one with a [tune] table as `ganlab tune` checks it (before its
    first trial), its base recipe built."""
    from ..recipes.recipe import TUNE_SECTION, read_toml
    from ..sweeps.sweep import SweepRequest, plan_sweep
    from ..training.assemble import build
    from ..training.networks import warn_if_slow
    from ..tuning.plan import TuneRequest, plan_study

    plugins = load_plugins_or_warn()
    study = None
    if TUNE_SECTION in read_toml(recipe):
        study = plan_study(TuneRequest(recipe, overrides=overrides), plugins)
        plan, resolved = None, study.base
    else:
        plan = plan_sweep(SweepRequest(recipe, overrides=overrides), plugins)
        resolved = plan.base
    built = build(resolved)
    warn_if_slow(resolved.train.precision, built.device)
    click.echo(resolved.to_toml())
    n_g = sum(p.numel() for p in built.generator.parameters())
    n_d = sum(p.numel() for p in built.discriminator.parameters())
    click.echo(
        f"# data: {len(built.dataset)} images of {built.dataset.channels}x{built.dataset.image_size}"
        f"x{built.dataset.image_size}"
    )
    click.echo(f"# generator: {n_g:,} parameters; discriminator: {n_d:,} parameters; device: {built.device}")
    if study is not None:
        space = ", ".join(f"{d.key} ({d.kind})" for d in study.dimensions)
        budget = " and ".join(
            [f"{study.settings.trials} trials"] * bool(study.settings.trials)
            + [f"{study.settings.timeout} s"] * bool(study.settings.timeout)
        )
        click.echo(f"# study: {space}; objective {study.settings.objective} ({study.direction}); {budget}")
        click.echo(f"{recipe}: ok, a study: run it with `ganlab tune {recipe}`")
    elif plan.file.table is None:
        click.echo(f"{recipe}: ok")
    else:
        grid = " x ".join(f"{axis.key} ({len(axis.values)})" for axis in plan.axes) or "no grid"
        click.echo(f"# sweep: {grid} x {len(plan.seeds)} seeds")
        click.echo(f"{recipe}: ok, a sweep of {len(plan.runs)} runs: run it with `ganlab sweep {recipe}`")


@main.command("list")
@click.argument("kind", required=False, type=click.Choice(KINDS))
def list_components(kind: str | None) -> None:
    """List components (of KIND), the plugin that gives each, and their config fields."""
    plugins = load_plugins_or_warn()
    for k in [kind] if kind else KINDS:
        click.secho(f"{k}", bold=True)
        components = listed(plugins, k)
        if not components:
            click.echo("  (none)")
        for component in components:
            click.echo("\n".join(component.lines()))
        click.echo()


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def plugins(as_json: bool) -> None:
    """Installed plugins: version, hooks, and the components and commands each provides."""
    loaded = load_plugins_or_warn()
    rows = []
    for info in loaded.infos:
        components = [f"{e.kind}:{e.name}" for e in loaded.registry.entries() if e.plugin == info.name]
        commands = sorted(c.name for c in loaded.commands.values() if c.plugin == info.name)
        rows.append(
            {
                "name": info.name,
                "distribution": info.distribution,
                "version": info.version,
                "builtin": info.builtin,
                "hooks": list(info.hooks),
                "components": components,
                "commands": commands,
            }
        )
    failures = [{"name": f.plugin, "stage": f.stage, "error": f.error} for f in loaded.failures]
    if as_json:
        click.echo(json.dumps({"plugins": rows, "failures": failures}, indent=2))
        return
    for row in rows:
        label = "built-in" if row["builtin"] else f"{row['distribution'] or ''} {row['version'] or ''}".strip()
        click.secho(f"{row['name']}  ({label})", bold=True)
        click.echo(f"  hooks: {', '.join(row['hooks']) or '-'}")
        click.echo(f"  components: {', '.join(row['components']) or '-'}")
        if row["commands"]:
            click.echo(f"  commands: {', '.join(row['commands'])}")
    for f in failures:
        outcome = "WARNING" if f["stage"] == "check" else f"FAILED to {f['stage']}"
        click.echo(f"{f['name']}  {outcome}: {f['error']}")


from .compare import compare  # noqa: E402
from .data import data  # noqa: E402
from .evaluate import evaluate  # noqa: E402
from .export import export  # noqa: E402
from .generate import generate  # noqa: E402
from .import_weights import import_weights  # noqa: E402  (commands of their own modules, attached to the group)
from .report import report  # noqa: E402
from .score import metrics, score  # noqa: E402
from .sweep import sweep  # noqa: E402
from .tune import tune  # noqa: E402

main.add_command(generate)
main.add_command(data)
main.add_command(report)
main.add_command(compare)
main.add_command(evaluate)
main.add_command(sweep)
main.add_command(tune)
main.add_command(score)
main.add_command(metrics)
main.add_command(export)
main.add_command(import_weights)
