"""Readers for coding agents' own usage logs (Codex CLI, Gemini CLI).

Each reader module exposes the same small interface, so ``teamcost import`` and an
always-on tailer drive them alike: ``SOURCE``, ``MODE``, ``default_roots()``,
``list_files(root)``, a resumable ``Reader`` (line by line, with a JSON-serialisable
``state()``) and an ``import_*`` function that streams a whole tree into the ledger.
"""
