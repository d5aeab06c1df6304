"""Compliance checker: logs (+ observed activities) -> findings -> reports."""
