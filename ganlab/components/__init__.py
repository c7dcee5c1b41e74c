"""Built-in components. Each module is a plugin that declares its components with ``@component``, like
any other."""
