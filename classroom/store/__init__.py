"""The store layer: the Redis/Valkey control plane.

It imports only domain, observability and tasks, and it is the only layer that imports
redis (docs/architecture.md, "Layers").
"""
