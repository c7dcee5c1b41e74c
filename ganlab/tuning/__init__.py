"""Hyper-parameter studies (``ganlab tune``): a recipe's ``[tune]`` space searched with Optuna (TPE, a
pruner on a real score), each trial an ordinary run directory launched by the sweeps' launchers, the best
settings re-checked over fresh seeds as a sweep, and a study report.

- space.py: ``[tune.space]``, one distribution per recipe key, and its refusals;
- settings.py: a study's settings, one dataclass for ``ganlab tune``'s options and the ``[tune]`` table;
- plan.py: everything checked before the first trial (values against the recipe, the objective against
  the evaluators, the pruner's first value before a trial ends);
- study.py: the study folder's layout and ``study.json``; folder.py: the folder held, continued or refused;
- storage.py: the Optuna study in its SQLite database, with its sampler and pruner;
- trial_logger.py: the ``tune-trial`` logger that reports a trial's objective and ends a pruned run;
- search.py: the search, trials resumed and asked for, each told to the study as it ends;
- recheck.py: the winner's-curse guard, a sweep of the best settings over fresh seeds, and its verdict;
- results.py: the trials and the budget as tables; report.py: the study report; api.py: ``ganlab.tune``.

Imports every folder below it (common ... sweeps, compare); above sweeps and compare, below the top-level
api module and the CLI.
"""
