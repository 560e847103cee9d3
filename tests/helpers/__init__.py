"""Helpers shared by the tests, imported as ``helpers`` (pyproject.toml puts ``tests/`` on the path): plain functions
and classes, no fixtures (those live in the conftest.py files).

- ``cli``: ``Run``, ``run_inprocess``, ``run_subprocess``, ``cli_command``, ``one_line_error``, ``PROGRESS_LINE``
- ``media``: writers of tiny generated images and videos (good, odd and broken), ``make_shapes``, ``restyle``
- ``hostile_corpus``: the corpus of hostile and broken inputs (``write_corpus``)
- ``catalogs``: the session catalog (``TINY_CONFIG``, ``TinyCatalog``, ``build_tiny_catalog``), catalogs of random
  vectors (``build_vector_catalog``), the facts every catalog keeps after a crash (``check_consistent``)
- ``fake_embedder``: ``FakeEmbedder``, the embedder interface without a network (vectors from pixel statistics)
- ``http``: ``ok_json``, ``error_detail`` for the service's answers
- ``vgg``: ``vgg_features``, the gatys encoder's features of an image
"""
