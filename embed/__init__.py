"""Embedding: the VGG19 encoder, style and content statistics, and the registry of embedding spaces.

This package knows nothing of the catalog, the index or the service: it takes tensors and settings as arguments.
"""
