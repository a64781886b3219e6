"""The `neuronal` command: server administration (serve, worker, migrate, keys) and the client
commands that talk to a running server over HTTP."""
