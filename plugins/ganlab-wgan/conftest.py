pytest_plugins = ["ganlab.testing"]
