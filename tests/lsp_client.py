"""A small Language Server Protocol client for the tests: JSON-RPC over a subprocess's
standard input and output (``rulecite lsp``), as an editor talks to it."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path


class LspClient:
    def __init__(self, argv=None, cwd=None):
        argv = argv or [sys.executable, "-m", "rulecite.cli.main", "lsp"]
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     cwd=cwd)
        self.next_id = 0
        self.responses: dict = {}
        self.notifications: list = []
        self.cond = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.stderr_lines: list = []
        threading.Thread(target=self._drain_stderr, daemon=True).start()

    # ------------------------------------------------------------ wire
    def _send(self, message: dict) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode("utf-8")
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()

    def _read(self) -> None:
        out = self.proc.stdout
        while True:
            headers = {}
            while True:
                line = out.readline()
                if not line:
                    return
                line = line.decode("ascii").strip()
                if not line:
                    break
                k, _, v = line.partition(":")
                headers[k.strip().lower()] = v.strip()
            body = out.read(int(headers["content-length"]))
            msg = json.loads(body)
            if "id" in msg and "method" in msg:  # a request from the server: answer it
                self._send({"id": msg["id"], "result": None})
                continue
            with self.cond:
                if "id" in msg:
                    self.responses[msg["id"]] = msg
                else:
                    self.notifications.append(msg)
                self.cond.notify_all()

    def _drain_stderr(self) -> None:
        for line in self.proc.stderr:
            self.stderr_lines.append(line.decode("utf-8", "replace"))

    # ------------------------------------------------------------ calls
    def request(self, method: str, params, timeout: float = 30):
        self.next_id += 1
        rid = self.next_id
        self._send({"id": rid, "method": method, "params": params})
        with self.cond:
            if not self.cond.wait_for(lambda: rid in self.responses, timeout):
                raise TimeoutError(f"no answer to {method} in {timeout} s; stderr: {''.join(self.stderr_lines)[-2000:]}")
            msg = self.responses.pop(rid)
        if "error" in msg:
            raise RuntimeError(f"{method}: {msg['error']}")
        return msg["result"]

    def notify(self, method: str, params) -> None:
        self._send({"method": method, "params": params})

    def wait_notification(self, method: str, predicate=lambda p: True, timeout: float = 30, after: int = 0):
        """The first notification ``method`` (at index >= ``after``) whose params pass ``predicate``."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for n in self.notifications[after:]:
                    if n["method"] == method and predicate(n["params"]):
                        return n["params"]
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no {method} in {timeout} s; stderr: {''.join(self.stderr_lines)[-2000:]}")
                self.cond.wait(left)

    def mark(self) -> int:
        with self.cond:
            return len(self.notifications)

    # ------------------------------------------------------------ session
    def initialize(self, root: Path) -> dict:
        result = self.request("initialize", {
            "processId": None, "rootUri": root.as_uri(), "workspaceFolders": [{"uri": root.as_uri(), "name": root.name}],
            "capabilities": {"textDocument": {"hover": {"contentFormat": ["markdown", "plaintext"]},
                                              "documentSymbol": {"hierarchicalDocumentSymbolSupport": True},
                                              "publishDiagnostics": {"relatedInformation": True}}},
        })
        self.notify("initialized", {})
        return result

    def open(self, path: Path, text: str | None = None, version: int = 1) -> str:
        uri = path.resolve().as_uri()
        self.notify("textDocument/didOpen", {"textDocument": {
            "uri": uri, "languageId": "policy", "version": version,
            "text": path.read_text(encoding="utf-8") if text is None else text}})
        return uri

    def change(self, uri: str, text: str, version: int) -> None:
        self.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": version},
                                               "contentChanges": [{"text": text}]})

    def close(self) -> int:
        try:
            self.request("shutdown", None, timeout=10)
            self.notify("exit", None)
            return self.proc.wait(timeout=10)
        except Exception:  # noqa: BLE001
            self.proc.kill()
            return self.proc.wait()
