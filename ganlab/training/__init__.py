"""The engine, one job per module, in the order a run goes through them:

- assemble.py: build every component of a recipe and run every cross-check (the one check pass of
  validate, run, resume, data, evaluate and generate), before anything is created;
- returns.py: what that pass receives from a component, checked where it receives it: the component its
  factory builds, and what its methods return;
- step.py: one training step, D update(s) then G update, with all it calls of the engine: the one way
  the discriminator is called (:class:`~ganlab.training.step.Discriminate`) and the levers as the step
  pulls them;
- loop.py: :class:`~ganlab.training.loop.Trainer`, the loop over steps and epochs (logging, evaluators, grids,
  the checkpoint schedule), and what evaluators see of a live run;
- state.py: what a checkpoint holds of a run and putting a run back from one, random states included;
- stopping.py: stop requests from signals, and the errors that end a run early;
- lifecycle.py: a run from start to end: run directory, meta.json, the end-of-run evaluators and report;
- resume.py: continuing a run from its latest usable checkpoint;
- networks.py: the wrappers networks train through (DDP, synchronised batch norm, compile, EMA,
  mixed precision);
- sampling.py: the one rule every generated image is drawn by;
- generate.py: a generator rebuilt from a run's checkpoint, and the image files ``ganlab generate``
  writes; here because it is sampling from trained weights, which the report's comparisons use too.

The layer above evaluators and report: imports every folder below it (common ... report), and
report.build to write a run's report when it ends.
"""
