"""The always-on agent: its loop, status snapshot, service files, Claude Code setup and status line."""
