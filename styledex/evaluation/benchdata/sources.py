"""The public sources on this machine: :mod:`styledex.train.sources`, shared with the trainers (the benchmark and
the heads' training set resolve the same ``"<where>:<name>"`` strings, and training may not import evaluation)."""

from styledex.train.sources import (
    OPENCV_DATA,
    UNKNOWN_ARTISTS,
    artist_label,
    load_museum_objects,
    resolve_source,
    source_stem,
)

__all__ = ["OPENCV_DATA", "UNKNOWN_ARTISTS", "artist_label", "load_museum_objects", "resolve_source", "source_stem"]
