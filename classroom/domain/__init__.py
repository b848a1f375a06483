"""The domain layer, innermost: pure rules and records, no I/O, no clock.

It imports nothing of classroom's outside domain/ (docs/architecture.md, "Layers").
"""
