"""Loading plugins: the plugin manager (manager.py) makes a registry from ganlab's built-in plugins, then
every installed package's entry point of group ``ganlab``, checking each component class against its kind's
contract (:mod:`ganlab.contracts.kinds`). Built-ins are loaded by module name exactly like third-party
plugins, never through an import here. Imports common, registry, contracts.
"""
