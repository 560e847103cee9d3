"""The HTTP service and its web page (issue 3: not built yet)."""
