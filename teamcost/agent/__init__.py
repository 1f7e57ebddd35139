"""The always-on agent: one process per TEAMCOST_HOME that tails coding-agent logs, receives
OTLP telemetry, pushes, pulls and checks the budget on a schedule, and writes a status snapshot."""
