"""Importers of tools that keep no local usage logs: their team admin APIs (Cursor's Admin
API, GitHub's billing usage reports) read into calls with the vendor's own charged amount."""
