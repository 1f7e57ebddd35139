"""Every use of a third-party library's private API, one module per library.

Each module names what it touches and why the public API does not do; tests/unit/test_compat.py
fails loudly when a new release moves any of it, and pyproject.toml caps those libraries' versions.
"""
