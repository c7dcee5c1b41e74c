"""``ganlab sweep RECIPE --grid KEY=[...] --seeds N``: a recipe over a grid of settings and seeds."""

from __future__ import annotations

from pathlib import Path

import click

from .options import override_option


@click.command("sweep")
@click.argument("recipe", type=click.Path(path_type=Path))
@click.option("--grid", "grid", multiple=True, metavar="KEY=[V1, V2, ...]",
              help="A recipe key and the values the sweep gives it, as a TOML array (repeatable).")
@click.option("--seeds", type=click.IntRange(min=1), default=1, show_default=True,
              help="Seeds per combination: experiment.seed, experiment.seed + 1, ...")
@override_option
@click.option("--out", type=click.Path(path_type=Path), default=Path("runs"), show_default=True,
              help="Folder that receives the sweep's folder.")
@click.option("--name", default=None, help="The sweep's folder name (default: <experiment.name>-sweep).")
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True,
              help="Runs at a time on this machine (local launcher); the cores are shared out between them.")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="Torch threads of each run (local launcher; default: the cores / --jobs).")
@click.option("--launcher", type=click.Choice(["local", "submitit"]), default="local", show_default=True,
              help="local: ganlab run processes here; submitit: one submitit job per run (Slurm).")
@click.option("--submitit-cluster", type=click.Choice(["auto", "slurm", "local"]), default="auto",
              show_default=True, help="Where submitit runs the jobs; auto: Slurm if it is here, else locally.")
@click.option("--slurm-partition", default=None, help="Slurm partition of the jobs.")
@click.option("--slurm-time", type=click.IntRange(min=1), default=None, help="Time limit of each job, in minutes.")
@click.option("--slurm-gpus", type=click.IntRange(min=0), default=None, help="GPUs per job.")
@click.option("--slurm-cpus", type=click.IntRange(min=1), default=None, help="CPU cores per job.")
@click.option("--slurm-mem", type=click.IntRange(min=1), default=None, help="Memory per job, in GB.")
def sweep(recipe: Path, grid: tuple[str, ...], seeds: int, overrides: tuple[str, ...], out: Path,
          name: str | None, jobs: int, threads: int | None, launcher: str, submitit_cluster: str, slurm_partition: str | None,
          slurm_time: int | None, slurm_gpus: int | None, slurm_cpus: int | None, slurm_mem: int | None) -> None:
    """Run RECIPE for every combination of the --grid values and every seed, each an ordinary run
    directory in OUT/NAME/ beside a sweep.json manifest; prints the sweep's folder as the last line.

    The same command again skips the finished runs and resumes the interrupted and failed ones.
    """
    from ..plugins.manager import load_plugins_or_warn
    from ..sweeps.launchers import SlurmOptions
    from ..sweeps.sweep import SweepRequest, run_sweep

    if launcher == "submitit" and (jobs > 1 or threads):
        raise click.UsageError("--jobs and --threads are for --launcher local; with submitit the scheduler "
                               "decides how many jobs run at once, on how many cores (--slurm-cpus)")
    slurm = SlurmOptions(submitit_cluster, slurm_partition, slurm_time, slurm_gpus, slurm_cpus, slurm_mem)
    request = SweepRequest(recipe, grid, seeds, overrides, out, name, jobs, threads, launcher, slurm)
    folder = run_sweep(request, load_plugins_or_warn(), click.echo)
    click.echo(str(folder))
