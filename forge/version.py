"""The version of forge, read by setup.cfg and `forge --version`."""

__version__ = "0.1.0"
