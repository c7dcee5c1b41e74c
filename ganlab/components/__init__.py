"""Built-in components. Each module is a plugin registered through ``ganlab_register``, like any other."""
