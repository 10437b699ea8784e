"""Rulecite: declarative policy-as-code with citations.

The distribution maps the top-level folders ``policy_lang/``, ``interpreter/``,
``cli/`` and ``packs/`` into this namespace (see ``pyproject.toml``).
"""

__version__ = "0.1.0"
LANGUAGE_VERSION = "1"
