"""classroom: a virtual-classroom orchestrator for leadership-development programmes."""

__version__ = "0.1.0"
