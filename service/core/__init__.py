"""What every part of the service stands on: settings, database sessions, tables, errors, logs,
the broker connection, pagination. Nothing here knows about a job, a dataset or a model's
behaviour; it imports only the engine among the service's own packages."""
