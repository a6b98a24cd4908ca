"""A simulated community driving forge's own gate: does the crowd gate keep bad changes out
at the maintainers' hours where a single maintainer or a plain vote cannot? Run by hand:
`python -m bench.crowd --seed 1` (see bench/README.md); tests/test_crowd.py runs a small one.
"""
