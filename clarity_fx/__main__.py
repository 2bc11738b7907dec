"""``python -m clarity_fx`` runs the ``clarity`` command."""

from .cli import entry

entry()
