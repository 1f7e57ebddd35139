"""Log readers: usage that tools already write to disk, imported into the ledger.

One module per source: ``claude_code`` (Claude Code transcripts), ``jsonl`` (teamcost's own
export), ``sqlite`` (another ledger or an ``llm_calls`` table); ``base`` holds what they share.
"""
