"""Built-in evaluation hooks: loss curves, D(x)/D(G(z)) distributions, samples and training health.

Each module is a plugin registered through ``ganlab_register``, like a third-party hook; each writes its
data under ``hooks/<name>/`` in the run directory and draws its report section from those files alone.
"""
