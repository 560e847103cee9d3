"""Evaluation and benchmarks: how good and how fast styledex is, measured on public data.

Nothing in the runtime (catalog, media, pipeline, search, operations, embed, index, serve, train) imports this
package; the import contracts in pyproject.toml check it. Only the CLI's measuring commands (``eval``, ``bench``,
``demo``) and the scripts reach it.

- ``benchdata``: the labeled benchmark (photos × looks, restyled clips, museum paintings), built once and cached.
- ``retrieval``: ``styledex eval``, style and content retrieval quality of every space; ``index_eval``: the same
  rankings through an approximate index among distractors.
- ``embed_bench``, ``levers_bench``, ``throughput``: ``styledex bench --part embed|levers``, add throughput against
  a bare VGG19 forward.
- ``search_bench``: ``styledex bench --part search``, index latency, recall and size at scale.
- ``transfer_bench``: ``styledex bench --part transfer``, quality and speed of every transfer method.
- ``demo``: ``styledex demo``, a catalog over the benchmark with one style and one content question.

``benchdata`` and ``search_bench`` are packages of one-job modules; each one's docstring lists them.
"""
