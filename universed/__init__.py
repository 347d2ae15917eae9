"""universed: a daemon hosting a persistent, deterministic universe played by agents."""

__version__ = "0.1.0"
