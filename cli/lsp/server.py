"""The language server: ``workspace.py``'s answers over the Language Server Protocol.

Built on pygls (the server, JSON-RPC on stdio) and lsprotocol (the message types).
Each open document belongs to the pack whose folder holds it (the nearest pack.toml
above it); an edit checks that whole pack again with every open document's unsaved
text, a moment after the typing stops, and publishes diagnostics for each of its
files. Requests (hover, definition, ...) answer from the names of the texts as they
are now and from the last model of the pack that checked without errors.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from lsprotocol import types as T
from pygls.lsp.server import LanguageServer
from pygls.uris import from_fs_path, to_fs_path
from rulecite import __version__
from rulecite.policy_lang import CODES

from rulecite.cli.lsp.workspace import PackWorkspace, diagnostic_message, format_document, pack_root

DEBOUNCE_SECONDS = 0.25

# Declaration kinds as the editor's outline shows them; a kind missing here is an Object.
SYMBOL_KINDS = {
    "rule": T.SymbolKind.Function,
    "code": T.SymbolKind.Constant,
    "source": T.SymbolKind.Module,
    "set": T.SymbolKind.Enum,
    "let": T.SymbolKind.Variable,
}
COMPLETION_KINDS = {
    "keyword": T.CompletionItemKind.Keyword,
    "function": T.CompletionItemKind.Function,
    "field": T.CompletionItemKind.Field,
    "code": T.CompletionItemKind.Constant,
    "source": T.CompletionItemKind.Reference,
    "set": T.CompletionItemKind.Enum,
    "let": T.CompletionItemKind.Variable,
    "rule": T.CompletionItemKind.Function,
    "special": T.CompletionItemKind.Variable,
}


class PolicyServer(LanguageServer):
    def __init__(self):
        super().__init__("rulecite", __version__, text_document_sync_kind=T.TextDocumentSyncKind.Full)
        self.packs: dict = {}  # pack root (or None for loose files) -> PackWorkspace
        self.pending: dict = {}  # pack root -> the task checking it
        self.published: dict = {}  # pack root -> uris given diagnostics

    # ------------------------------------------------------------ documents
    def pack_of(self, path: Path) -> PackWorkspace:
        root = pack_root(path)
        key = root.resolve() if root else None
        if key not in self.packs:
            self.packs[key] = PackWorkspace(key)
        return self.packs[key]

    def open_texts(self, ws: PackWorkspace) -> dict:
        out = {}
        for uri, doc in list(self.workspace.text_documents.items()):
            path = to_fs_path(uri)
            if path and path.endswith(".policy") or (path and Path(path).name in ("pack.toml", "facts.schema.json")):
                p = Path(path).resolve()
                if (ws.root is None and pack_root(p) is None) or (ws.root is not None and p.is_relative_to(ws.root)):
                    out[str(p)] = doc.source
        return out

    def document(self, uri: str):
        """(workspace, file index, text document) of an open .policy document."""
        doc = self.workspace.get_text_document(uri)
        path = Path(to_fs_path(uri) or uri).resolve()
        ws = self.pack_of(path)
        return ws, ws.index(str(path), doc.source), doc

    def schedule_check(self, uri: str, delay: float = DEBOUNCE_SECONDS):
        path = to_fs_path(uri)
        if not path:
            return
        ws = self.pack_of(Path(path).resolve())
        task = self.pending.get(ws.root)
        if task is not None and not task.done():
            task.cancel()
        self.pending[ws.root] = asyncio.ensure_future(self._check(ws, delay))

    async def _check(self, ws: PackWorkspace, delay: float):
        await asyncio.sleep(delay)
        texts = self.open_texts(ws)
        loop = asyncio.get_running_loop()
        try:
            by_file = await loop.run_in_executor(None, ws.check, texts)
        except Exception as e:  # noqa: BLE001 - a bug must not stop the server
            self.window_log_message(T.LogMessageParams(T.MessageType.Error, f"rulecite: check failed: {e!r}"))
            return
        for path, diags in sorted(by_file.items()):
            if not (path.endswith(".policy") or Path(path).name in ("pack.toml", "facts.schema.json")):
                continue
            uri = from_fs_path(path)
            idx = ws.files.get(path)
            lines = idx.lines if idx else _lines_of(path, texts)
            self.text_document_publish_diagnostics(T.PublishDiagnosticsParams(
                uri=uri, diagnostics=[self.to_diagnostic(d, lines) for d in diags]))

    # ------------------------------------------------------------ positions
    def _units(self, line: str, col: int) -> int:
        enc = str(self.workspace.position_encoding or "utf-16")
        s = line[:col]
        if enc.endswith("8"):
            return len(s.encode("utf-8"))
        if enc.endswith("32"):
            return len(s)
        return len(s.encode("utf-16-le")) // 2

    def from_client(self, lines: list, pos: T.Position) -> tuple:
        line = min(pos.line, max(len(lines) - 1, 0))
        text = lines[line] if lines else ""
        col = 0
        while col < len(text) and self._units(text, col + 1) <= pos.character:
            col += 1
        return line, col

    def to_range(self, span, lines: list) -> T.Range:
        def pos(line, col):
            if line < 1:
                return T.Position(0, 0)
            text = lines[line - 1].removesuffix("\r") if line - 1 < len(lines) else ""
            return T.Position(line - 1, self._units(text, max(col - 1, 0)))

        start = pos(span.line, span.column)
        end = pos(span.end_line, span.end_column) if span.end_line >= 1 else start
        if (end.line, end.character) < (start.line, start.character):
            end = start
        return T.Range(start, end)

    def location(self, ws: PackWorkspace, span) -> T.Location:
        idx = ws.files.get(span.file)
        return T.Location(uri=from_fs_path(span.file), range=self.to_range(span, idx.lines if idx else []))

    def to_diagnostic(self, d, lines: list) -> T.Diagnostic:
        span = d.span
        rng = self.to_range(span, lines)
        if rng.start == rng.end and span.line >= 1:  # a caret of width one, as the terminal shows
            rng = T.Range(rng.start, T.Position(rng.start.line, rng.start.character + 1))
        name = CODES.get(d.code, ("", ""))[0]
        return T.Diagnostic(
            range=rng, message=diagnostic_message(d), code=d.code, source="rulecite",
            severity=T.DiagnosticSeverity.Error if d.severity == "error" else T.DiagnosticSeverity.Warning,
            data={"name": name, "hints": list(d.hints), **({"label": d.label} if d.label else {})},
        )


def _lines_of(path: str, texts: dict) -> list:
    text = texts.get(path)
    if text is None:
        try:
            text = Path(path).read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError):
            text = ""
    return text.split("\n")


def build() -> PolicyServer:
    """A server with every feature registered."""
    server = PolicyServer()

    @server.feature(T.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: PolicyServer, params: T.DidOpenTextDocumentParams):
        ls.schedule_check(params.text_document.uri, 0)

    @server.feature(T.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: PolicyServer, params: T.DidChangeTextDocumentParams):
        ls.schedule_check(params.text_document.uri)

    @server.feature(T.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: PolicyServer, params: T.DidSaveTextDocumentParams):
        ls.schedule_check(params.text_document.uri, 0)

    @server.feature(T.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: PolicyServer, params: T.DidCloseTextDocumentParams):
        ls.schedule_check(params.text_document.uri, 0)  # the file on disk counts again

    @server.feature(T.TEXT_DOCUMENT_HOVER)
    def hover(ls: PolicyServer, params: T.HoverParams):
        ws, idx, _ = ls.document(params.text_document.uri)
        line, col = ls.from_client(idx.lines, params.position)
        found = ws.hover(idx, line, col)
        if found is None:
            return None
        text, span = found
        return T.Hover(contents=T.MarkupContent(kind=T.MarkupKind.Markdown, value=text),
                       range=ls.to_range(span, idx.lines))

    @server.feature(T.TEXT_DOCUMENT_DEFINITION)
    def definition(ls: PolicyServer, params: T.DefinitionParams):
        ws, idx, _ = ls.document(params.text_document.uri)
        targets, _ = ws.at(idx, *ls.from_client(idx.lines, params.position))
        return [ls.location(ws, s.span) for s in targets] or None

    @server.feature(T.TEXT_DOCUMENT_REFERENCES)
    def references(ls: PolicyServer, params: T.ReferenceParams):
        ws, idx, _ = ls.document(params.text_document.uri)
        targets, _ = ws.at(idx, *ls.from_client(idx.lines, params.position))
        out = []
        for target in targets:
            if params.context.include_declaration:
                out.append(ls.location(ws, target.span))
            out += [ls.location(ws, r.span) for r in ws.uses(target)]
        return out or None

    @server.feature(T.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
    def document_symbols(ls: PolicyServer, params: T.DocumentSymbolParams):
        ws, idx, _ = ls.document(params.text_document.uri)
        out, by_rule = [], {}
        for s in idx.symbols:
            sym = T.DocumentSymbol(
                name=s.name, kind=SYMBOL_KINDS.get(s.kind, T.SymbolKind.Object), detail=ws._detail(s),
                range=ls.to_range(s.extent, idx.lines), selection_range=ls.to_range(s.span, idx.lines), children=[])
            if s.container is not None and s.container in by_rule:
                by_rule[s.container].children.append(sym)
                continue
            if s.kind == "rule":
                by_rule[s.name] = sym
            out.append(sym)
        return out

    @server.feature(T.TEXT_DOCUMENT_COMPLETION, T.CompletionOptions(trigger_characters=[".", " ", '"']))
    def completion(ls: PolicyServer, params: T.CompletionParams):
        ws, idx, _ = ls.document(params.text_document.uri)
        line, col = ls.from_client(idx.lines, params.position)
        items = [T.CompletionItem(label=label, kind=COMPLETION_KINDS.get(kind, T.CompletionItemKind.Text),
                                  detail=detail) for label, kind, detail in ws.completions(idx, line, col)]
        return T.CompletionList(is_incomplete=False, items=items)

    @server.feature(T.TEXT_DOCUMENT_FORMATTING)
    def formatting(ls: PolicyServer, params: T.DocumentFormattingParams):
        doc = ls.workspace.get_text_document(params.text_document.uri)
        text = doc.source
        formatted = format_document(text, to_fs_path(params.text_document.uri) or params.text_document.uri)
        if formatted is None or formatted == text:
            return [] if formatted is not None else None
        lines = text.split("\n")
        end = T.Position(len(lines) - 1, ls._units(lines[-1], len(lines[-1])))
        return [T.TextEdit(range=T.Range(T.Position(0, 0), end), new_text=formatted)]

    return server


def serve() -> None:
    """Serve on stdin and stdout until the client says exit."""
    build().start_io()
