"""Log readers: usage that tools already write to disk, imported into the ledger.

One module per source: ``claude_code`` (Claude Code transcripts), ``codex`` (OpenAI Codex CLI
rollouts), ``gemini_cli`` (Gemini CLI chat recordings), ``jsonl`` (teamcost's own export),
``sqlite`` (another ledger or an ``llm_calls`` table). ``base`` holds the batching into the
ledger and the bad-line reporting they share, ``tail`` the per-file progress that makes a
second import (and the agent's tailing) read only what is new, ``importing`` the driver for
the coding agents' log sources, ``parsing`` their small shared parsers.

A coding agent's log source is a module with ``SOURCE``, ``MODE``, ``ACCEPTED``,
``default_roots()``, ``list_files(root)``, ``check_file(path, head)``, a resumable ``Reader``
(``feed(line, lineno)`` and a JSON-serialisable ``state()``) and, for files that are one
JSON document rewritten in place, ``file_mode(path)`` / ``read_whole(path, root, build)``.
"""
