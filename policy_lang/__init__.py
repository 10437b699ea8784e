"""The Rulecite policy language: parse, check, format and load rule packs.

Pipeline (one module, one public function per stage)::

    text --parse--> ast.Module --check--> model.Pack
    folder --packs.load--> LoadedPack(pack, diagnostics)
    ast.Module --format_module--> canonical text
    editors: workspace.load_edited (unsaved texts), declarations and references (names)

Nothing here knows any business domain: the facts schema and the rules come from packs.

Data (read-only; the tables the checker, the formatter and the editors read):

``BUILTIN_FUNCTIONS``: the names of the language's built-in functions, sorted (``add_days``, ``count``, ...).

``CODES``: every diagnostic code, ``{code: (name, meaning)}`` (``E100``... and ``W7xx``); codes never change meaning.

``DECLARATION_KINDS``: the kinds of top-level declaration an editor lists, each with its syntax node and how its name is read.

``KEYWORDS``: the language's keywords by role (``declaration``, ``field``, ``qualifier``, ...), for highlighters and completion.

``LANGUAGE_VERSION``: the version of the policy language this build reads (a pack's ``language`` must match).

Thread safety: the values these functions return (``Module``, ``Pack``, ``LoadedPack``,
``Diagnostic``, ``Span``) are frozen attrs classes, never changed once made, and may be
shared between threads.
"""

from rulecite.policy_lang.syntax.nodes import Module, Span
from rulecite.policy_lang.check import check
from rulecite.policy_lang.errors import CODES, Diagnostic, PackError, RuleciteError, did_you_mean, render_text
from rulecite.policy_lang.syntax.formatter import format_expr, format_module, format_text
from rulecite.policy_lang.keywords import BUILTIN_FUNCTIONS, KEYWORDS
from rulecite.policy_lang.model import Pack
from rulecite.policy_lang.load import LANGUAGE_VERSION, LoadedPack, bundled_names, load, resolve_pack_path
from rulecite.policy_lang.workspace import DECLARATION_KINDS, Reference, Symbol, declarations, load_edited, references



def __getattr__(name):
    """``parse`` and ``parse_expr``, imported on first use: the parser needs Lark, which a
    pack loaded from the checked-pack cache never does."""
    if name in ("parse", "parse_expr"):
        from rulecite.policy_lang.syntax import parser

        return getattr(parser, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BUILTIN_FUNCTIONS", "CODES", "DECLARATION_KINDS", "Diagnostic", "KEYWORDS", "LANGUAGE_VERSION", "LoadedPack",
    "Module", "Pack", "PackError", "Reference", "RuleciteError", "Span", "Symbol", "bundled_names", "check",
    "declarations", "did_you_mean", "format_expr", "format_module", "format_text", "load", "load_edited", "parse",
    "parse_expr", "references", "render_text", "resolve_pack_path",
]
