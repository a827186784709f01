"""Headless output: JSON lines for scripts and tests."""
