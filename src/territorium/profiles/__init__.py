"""Packaged YAML profiles."""
