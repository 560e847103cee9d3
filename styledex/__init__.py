"""styledex: find images and short videos by style or by content."""

__version__ = "0.1.0"
