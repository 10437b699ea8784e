"""Write the TextMate grammar of ``.policy`` files from the language's one word table.

Run ``python editors/generate.py`` after changing ``rulecite.policy_lang.keywords``;
``--check`` changes nothing and exits 1 when a grammar file differs from what would be
written (a test runs it). The grammar is written twice, byte for byte the same: at
``editors/policy.tmLanguage.json`` (for any editor that reads TextMate grammars) and
inside the VS Code extension, ``editors/vscode/syntaxes/policy.tmLanguage.json``.

Only the word lists come from the table; the patterns around them are written here.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from rulecite.policy_lang import BUILTIN_FUNCTIONS, KEYWORDS

HERE = Path(__file__).resolve().parent
OUTPUTS = (HERE / "policy.tmLanguage.json", HERE / "vscode" / "syntaxes" / "policy.tmLanguage.json")
RULE_ID = r"[A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_][A-Za-z0-9_-]*)*"
IDENT = r"[A-Za-z_][A-Za-z0-9_]*"


def _words(words) -> str:
    return "|".join(dict.fromkeys(words))


def grammar() -> dict:
    """The grammar as a JSON value."""
    k = KEYWORDS
    words = set(k["clause"]) | set(k["operator"]) | set(k["declaration"]) - {"suggest", "code"}
    others = [w for w in (*k["field"], *k["qualifier"]) if w not in words and w not in ("cite", "per", "supersedes",
                                                                                          "override")]
    named = ("rule", "retire", "suggest")
    return {
        "$schema": "https://raw.githubusercontent.com/martinring/tmlanguage/master/tmlanguage.json",
        "name": "Rulecite policy",
        "scopeName": "source.rulecite-policy",
        "fileTypes": ["policy"],
        "patterns": [
            {"include": "#comment"},
            {"match": rf"\b(override)\s+(rule)\s+({RULE_ID})",
             "captures": {"1": {"name": "storage.modifier.policy"}, "2": {"name": "storage.type.policy"},
                          "3": {"name": "entity.name.function.policy"}}},
            {"match": rf"\b({_words((*named, 'supersedes'))})\s+({RULE_ID})",
             "captures": {"1": {"name": "storage.type.policy"}, "2": {"name": "entity.name.function.policy"}}},
            {"match": rf"\b(source|set|let)\s+({IDENT})",
             "captures": {"1": {"name": "storage.type.policy"}, "2": {"name": "entity.name.type.policy"}}},
            {"match": r"^\s*(code)\s+([0-9A-Za-z_]+)(?=\s*\")",
             "captures": {"1": {"name": "storage.type.policy"}, "2": {"name": "constant.other.code.policy"}}},
            {"match": rf"\b(cite|per)\s+({IDENT})",
             "captures": {"1": {"name": "keyword.other.policy"}, "2": {"name": "entity.name.tag.source.policy"}}},
            {"match": "\\b(test)\\b(?=\\s*\")", "name": "storage.type.policy"},
            {"include": "#expression"},
        ],
        "repository": {
            "comment": {"match": "#.*$", "name": "comment.line.number-sign.policy"},
            "string": {
                "begin": "\"", "end": "\"|$", "name": "string.quoted.double.policy",
                "patterns": [
                    {"match": "\\\\([\"\\\\/bfnrt]|u[0-9a-fA-F]{4})", "name": "constant.character.escape.policy"},
                    {"match": "\\{\\{|\\}\\}", "name": "constant.character.escape.policy"},
                    {"match": "\\{[^{}\"]*\\}", "name": "meta.interpolation.policy variable.other.placeholder.policy"},
                ],
            },
            "expression": {
                "patterns": [
                    {"include": "#comment"},
                    {"include": "#string"},
                    {"match": "\\b[0-9]{4}-[0-9]{2}(-[0-9]{2})?\\b", "name": "constant.other.date.policy"},
                    {"match": rf"(\.)({IDENT})", "captures": {"2": {"name": "variable.other.member.policy"}}},
                    {"match": rf"\b({_words(k['severity'])})\b", "name": "keyword.control.verdict.policy"},
                    {"match": rf"\b({_words((*k['clause'], *k['operator']))})\b",
                     "name": "keyword.operator.word.policy"},
                    {"match": rf"\b({_words(others)})\b", "name": "keyword.other.policy"},
                    {"match": rf"\b({_words(k['constant'])})\b", "name": "constant.language.policy"},
                    {"match": rf"\b({_words(BUILTIN_FUNCTIONS)})(?=\s*\()", "name": "support.function.builtin.policy"},
                    {"match": rf"\b({_words(k['special'])})\b", "name": "variable.language.policy"},
                    {"match": "\\b[0-9]+[A-Za-z][0-9A-Za-z]*\\b|\\b[A-Z][A-Z0-9]*[0-9][A-Z0-9]*\\b",
                     "name": "constant.other.code.policy"},
                    {"match": "\\b[0-9]+(\\.[0-9]+)?\\b", "name": "constant.numeric.policy"},
                    {"match": "==|!=|<=|>=|<|>|\\+|-|\\*|/|=", "name": "keyword.operator.policy"},
                ]
            },
        },
    }


def render() -> str:
    return json.dumps(grammar(), indent=2, ensure_ascii=False) + "\n"


def stale_outputs(text: str | None = None) -> list:
    """The grammar files that differ from what ``render`` writes (a value: nothing printed)."""
    text = render() if text is None else text
    return [p for p in OUTPUTS if not p.is_file() or p.read_text(encoding="utf-8") != text]


def write_outputs() -> list:
    """Write every stale grammar file; return the ones written."""
    text = render()
    stale = stale_outputs(text)
    for p in stale:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8", newline="\n")
    return stale


def main(argv=None) -> int:
    """The script's one edge: run the functions above, then say what happened."""
    argv = sys.argv[1:] if argv is None else argv
    if "--check" in argv:
        stale = stale_outputs()
        for p in stale:
            print(f"{p.relative_to(HERE.parent)} is out of date: run python editors/generate.py", file=sys.stderr)
        return 1 if stale else 0
    for p in write_outputs():
        print(f"wrote {p.relative_to(HERE.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
