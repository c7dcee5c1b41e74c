"""Self-contained HTML reports: page building and escaping (:mod:`.html`), figures as embedded PNGs
(:mod:`.figures`), the report's own sections (:mod:`.core_sections`) and the assembly of one run's report
from its run directory alone (:mod:`.build`).

``ganlab compare`` builds on the same pieces: which runs (:mod:`.run_set`), each read from its directory
(:mod:`.compared_run`), their recipe differences (:mod:`.recipe_diff`), whether their metrics were measured
alike (:mod:`.metric_protocols`), the table (:mod:`.compare_summary`), final samples from shared noise
(:mod:`.compare_samples`), the sections (:mod:`.compare_sections`) and the page (:mod:`.compare_page`).
Runs that differ only in their seed are compared as groups: the grouping and its tables
(:mod:`.seed_groups`), the seed-spread statistics (:mod:`.seed_spread`) and the group sections
(:mod:`.compare_groups`).

May import: errors, protocols, recipes, plugins, rundir, evaluation and metrics (what their files
mean), training (samples from a checkpoint for ``compare``). Never the command line.
"""
