"""The package version (one place, read by the commands and the build)."""

__version__ = "0.1.0"
