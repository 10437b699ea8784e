// Starts `rulecite lsp` for .policy files. No build step: plain CommonJS.
"use strict";

const vscode = require("vscode");
const { LanguageClient, TransportKind } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const command = vscode.workspace.getConfiguration("rulecite").get("path") || "rulecite";
  const run = { command, args: ["lsp"], transport: TransportKind.stdio };
  client = new LanguageClient(
    "rulecite",
    "Rulecite",
    { run, debug: run },
    {
      documentSelector: [{ scheme: "file", language: "policy" }],
      synchronize: {
        fileEvents: vscode.workspace.createFileSystemWatcher("**/{*.policy,pack.toml,facts.schema.json}"),
      },
    }
  );
  context.subscriptions.push(client);
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
