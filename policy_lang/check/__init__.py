"""Check parsed modules into a resolved, typed ``Pack`` model, or report every error.

A package of stages, run in order by ``check`` (the table ``STAGES`` in
``checker.py``): ``declarations`` (sources, codes, sets, derived values, and the
closing ``unused``), ``timeline`` (retirements, then every rule version's final
window), ``rules`` (rules and suggestions), ``pack_tests``; ``expressions`` types every
expression, calls from the table of built-ins (``policy_lang.builtins``). No stage
reads a file: a test's facts file comes through ``PackConfig.read_file``.
"""

from rulecite.policy_lang.check.checker import (
    DEFAULT_MAX_DEPTH, FUNCTION_NAMES, FUNCTIONS, STAGES, Checker, PackConfig, Stage, check,
)
from rulecite.policy_lang.check.expressions import RESERVED, nesting
from rulecite.policy_lang.check.rules import BUILTIN_RULES

__all__ = ["BUILTIN_RULES", "DEFAULT_MAX_DEPTH", "FUNCTIONS", "FUNCTION_NAMES", "RESERVED", "STAGES", "Checker",
           "PackConfig", "Stage", "check", "nesting"]
