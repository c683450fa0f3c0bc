"""Dramatiq actors, one module per downstream system, and the broker they share."""
