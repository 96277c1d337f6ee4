"""The reliability trials: whole calls run against injected faults, counted write by write.

Each group (crash, backend faults, storage, providers, tools, load, hostile input, security,
configuration) runs real sessions and accounts for every write the outbox acknowledged against
what the backend applied: lost, duplicated, invented. ``python -m trials`` runs them all with a
summary table; ``tests/reliability`` runs each at CI size. What the tests and the benchmarks
share with the trials lives here too: the protocol stubs (``stubs/``), a live session on
scripted providers (``live_session``) and the backend looked into (``support``).
"""
