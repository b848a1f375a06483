"""The HTTP layer: the aiohttp app, its API, pages and reports.

It may import every layer and the settings (classroom.config); only the entry points
(cli, demo, __main__) import it (docs/architecture.md, "Layers").
"""
