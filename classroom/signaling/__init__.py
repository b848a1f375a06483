"""The signalling layer: participants' connections, breakouts, interactions, recording.

It drives rooms and the store and imports only rooms, store, domain, observability and
tasks, never http (docs/architecture.md, "Layers").
"""
