"""Capture: everything that turns outside events into CallRecords in the ledger.

- ``sdk/``: hooks into provider SDKs (``teamcost.instrument(client)`` for OpenAI and Anthropic,
  the LiteLLM callback), recording each call as it completes.
- ``logs/``: readers of logs other tools write (Claude Code transcripts, teamcost JSONL, SQLite
  cost tables), imported on demand or tailed by the agent.
- ``otlp``: OpenTelemetry export requests (Claude Code's telemetry events, GenAI spans) to
  records; ``otlp_http``: the OTLP/HTTP receiver the agent runs.

Capture depends on the ledger, pricing and the tracker, never on sync, reports or budget.
"""
