"""The HTTP service (FastAPI) and its web page: routes over one catalog, reusing the core's search composition."""
