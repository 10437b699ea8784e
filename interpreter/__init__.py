"""Evaluate rule packs against records: the API vendors embed.

    from rulecite.interpreter import load_pack, evaluate, explain

    pack = load_pack("cms-care-management")
    for result in evaluate(pack, records):
        print(result.to_json())

Pipeline: ``load_pack`` (parse -> check -> compile, once) then ``evaluate`` (validate
-> group by subject -> decide -> report, per record, lazily).

A ``RulePack`` may be shared by threads (see its docstring); results are immutable.
``PackError`` and ``RuleciteError`` are those of :mod:`rulecite.policy_lang`, exported
here too so that an embedding needs one import.
"""

from rulecite.policy_lang.errors import PackError, RuleciteError

# Load the `explain` submodule before binding the function of the same name: a first
# import of the submodule later (inside api.explain) would rebind the package's
# `explain` attribute to the module, and `from rulecite.interpreter import explain`
# would then give a module instead of the function.
from rulecite.interpreter import explain as _explain_module  # noqa: F401
from rulecite.interpreter.api import LineNotFound, RulePack, evaluate, explain, load_pack
from rulecite.interpreter.engine.decode import Limits
from rulecite.interpreter.engine.results import Finding, LineVerdict, Rejection, Result

__all__ = ["Finding", "Limits", "LineNotFound", "LineVerdict", "PackError", "Rejection", "Result", "RulePack", "RuleciteError",
           "evaluate", "explain", "load_pack"]
