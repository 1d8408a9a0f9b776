"""CLI sub-commands. Each module exposes ``register(subparsers)`` and sets ``func``."""
