"""Fixtures and helpers that more than one test module uses.

Test modules never import each other. What several of them share lives here, once:
fixtures reach every test through `pytest_plugins` in tests/conftest.py (a test names them as
arguments, nothing to import), and plain helpers are imported from `support.<module>`.
"""
