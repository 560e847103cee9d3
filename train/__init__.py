"""Trainers for models whose weights no package ships (issue 4: not built yet)."""
