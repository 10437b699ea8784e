"""Evaluate rule packs against records: the API vendors embed.

    from rulecite.interpreter import load_pack, evaluate, explain

    pack = load_pack("cms-care-management")
    for result in evaluate(pack, records):
        print(result.to_json())

Pipeline: ``load_pack`` (parse -> check -> compile, once) then ``evaluate`` (validate
-> group by subject -> decide -> report, per record, lazily).
"""

from rulecite.policy_lang.errors import PackError

from .api import RulePack, evaluate, explain, load_pack
from .engine import Limits
from .results import Finding, LineVerdict, Rejection, Result

__all__ = ["Finding", "Limits", "LineVerdict", "PackError", "Rejection", "Result", "RulePack", "evaluate",
           "explain", "load_pack"]
