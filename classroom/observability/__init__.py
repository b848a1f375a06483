"""Observability: logs, metrics and event-loop health.

A leaf every layer but domain may use: it imports only itself and classroom.tasks
(docs/architecture.md, "Layers").
"""
