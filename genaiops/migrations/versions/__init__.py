"""Numbered revisions, written by hand, each idempotent (it inspects before it changes anything)."""
