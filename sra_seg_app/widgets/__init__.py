"""Reusable widgets of the Studio: layout and binding to a model only."""
