"""Settings: ``configs/default.yaml`` → validated pydantic models → CLI overrides (``model_copy(update=...)``)."""

from __future__ import annotations

import importlib.resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EmbedConfig(_Strict):
    spaces: list[str] = ["content", "gram", "adain", "predictor", "style_head"]
    image_size: int = Field(256, ge=32, le=2048)
    batch_size: int = Field(8, ge=1, le=1024)
    device: str = "auto"
    threads: int | None = Field(None, ge=1)
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    aspect: Literal["keep", "squash"] = "keep"


class MediaConfig(_Strict):
    frames: int = Field(8, ge=1, le=256)
    sampling: Literal["uniform", "scene"] = "uniform"
    max_pixels: int = Field(64_000_000, ge=1)
    max_side: int | None = Field(512, ge=32)


class CatalogConfig(_Strict):
    default_dir: str = "catalog"
    index_save_seconds: float = Field(60.0, gt=0)
    items_per_batch: int = Field(16, ge=1)


class CollapseConfig(_Strict):
    """Near-duplicate thresholds of ``search --collapse`` / ``collapse=true``: two items fold when their cosine
    reaches ``style`` in the style space *and* ``content`` in the content space (styledex.search.Collapse; how they
    were measured: configs/default.yaml)."""

    style: float = Field(0.99, gt=0, le=1)
    content: float = Field(0.5, gt=0, le=1)


class SubjectConfig(_Strict):
    """A search in style spaces (one, or a mix of them) lowers each candidate by ``weight`` · max(0, its content
    cosine with the query − ``above``): the query's own subject in other looks (styledex.lowering; weight 0 turns it
    off). A candidate whose style score reaches ``same_look`` is the same picture and is not lowered."""

    weight: float = Field(2.0, ge=0)
    above: float = Field(0.5, ge=-1, le=1)
    same_look: float = Field(0.99, gt=0, le=1)


class LookConfig(_Strict):
    """A search in content spaces lowers each candidate by ``weight`` · max(0, its ``style_head`` cosine with the
    query − ``above``): the query's own look on other subjects (styledex.lowering; weight 0 turns it off). A
    candidate whose content score reaches ``same_subject`` is the query's subject and is not lowered."""

    weight: float = Field(1.0, ge=0)
    above: float = Field(0.7, ge=-1, le=1)
    same_subject: float = Field(0.5, gt=0, le=1)


class SearchConfig(_Strict):
    k: int = Field(10, ge=1, le=1000)
    collapse: CollapseConfig = CollapseConfig()
    subject: SubjectConfig = SubjectConfig()
    look: LookConfig = LookConfig()
    reframe: bool = True  # content queries also ask with their mirror, corners and centre (embed/content_views.py)


# The tunable parameters of each index type (styledex.index.INDEX_TYPE_DEFAULTS, repeated here so that reading the
# config needs no FAISS import; tests/unit/test_policy.py checks that the two agree).
INDEX_PARAM_NAMES: dict[str, frozenset[str]] = {
    "flat": frozenset(),
    "hnsw": frozenset({"m", "ef_construction", "ef_search", "sq8", "pca", "rerank"}),
    "ivfpq": frozenset({"nlist", "m", "nbits", "nprobe", "opq", "rerank"}),
}


class IndexConfig(_Strict):
    """How each space's index is chosen when the catalog builds or rebuilds it (styledex.index.policy)."""

    backend: Literal["faiss", "milvus"] = "faiss"  # where the indexes live (index/milvus_collection.py for milvus)
    milvus_uri: str = "milvus.db"  # milvus: a file relative to the catalog (Milvus Lite) or http://host:19530
    policy: Literal["auto", "flat", "hnsw", "ivfpq"] = "auto"
    memory_budget_mb: float = Field(2048.0, gt=0)  # per space index, MiB
    flat_max_items: int = Field(5_000, ge=0)
    ivfpq_min_items: int = Field(200_000, ge=1)
    hnsw: dict[str, int] = {}
    ivfpq: dict[str, int] = {}

    @field_validator("hnsw", "ivfpq")
    @classmethod
    def _known_params(cls, value: dict[str, int], info: ValidationInfo) -> dict[str, int]:
        unknown = sorted(set(value) - INDEX_PARAM_NAMES[str(info.field_name)])
        if unknown:
            expected = ", ".join(sorted(INDEX_PARAM_NAMES[str(info.field_name)]))
            raise ValueError(f"unknown parameter(s) {', '.join(unknown)}; expected some of {expected}")
        return value

    @property
    def memory_budget_bytes(self) -> int:
        return int(self.memory_budget_mb * 2**20)

    def overrides(self) -> dict[str, dict[str, int]]:
        """Per-type parameter overrides, as styledex.index.policy.choose_index takes them."""
        return {"hnsw": dict(self.hnsw), "ivfpq": dict(self.ivfpq)}


class ServeConfig(_Strict):
    """``styledex serve``: cross-origin access, how long an explanation may render, which server folders
    ``POST /items {"paths"}`` may read, and how many model-bound requests run at once."""

    cors_origins: list[str] = []  # origins allowed to call the API from a browser; empty = CORS off
    explain_timeout_s: float = Field(30.0, gt=0)  # a slower explanation answers 504
    # Absolute folders whose files POST /items {"paths": [...]} may add (checked after resolving symlinks and
    # ".."); empty = server-side paths are refused (403) and only uploads are added.
    ingest_roots: list[str] = []
    # POST /search, GET and POST /explain (a VGG forward or a rendering each) running at once; one more waits up
    # to heavy_queue_timeout_s for a slot, then answers 503 with Retry-After (styledex.serve.overload).
    max_heavy_requests: int = Field(4, ge=1, le=1024)
    heavy_queue_timeout_s: float = Field(1.0, ge=0, le=600)

    @field_validator("ingest_roots")
    @classmethod
    def _absolute_roots(cls, value: list[str]) -> list[str]:
        # A relative root would depend on the server's working directory: say so rather than guess.
        for root in value:
            if not Path(root).expanduser().is_absolute():
                raise ValueError(f"expected absolute folder paths, got {root!r}")
        return value


class Config(_Strict):
    embed: EmbedConfig = EmbedConfig()
    media: MediaConfig = MediaConfig()
    catalog: CatalogConfig = CatalogConfig()
    search: SearchConfig = SearchConfig()
    index: IndexConfig = IndexConfig()
    serve: ServeConfig = ServeConfig()


class ConfigError(Exception):
    """A config file that is missing or invalid; str() is one line."""


def default_config_text() -> str:
    return (importlib.resources.files("styledex.configs") / "default.yaml").read_text(encoding="utf-8")


def load_config(path: str | Path | None = None) -> Config:
    """The packaged defaults, updated section by section with the YAML file at ``path`` if given."""
    data = yaml.safe_load(default_config_text()) or {}
    if path is not None:
        try:
            override = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"cannot read config {path}: {str(exc).splitlines()[0]}") from None
        if not isinstance(override, dict):
            raise ConfigError(f"config {path}: expected a mapping of sections, got {type(override).__name__}")
        for section, values in override.items():
            if isinstance(values, dict) and isinstance(data.get(section), dict):
                data[section] = {**data[section], **values}
            else:
                data[section] = values
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"config {path or 'defaults'}: {where}: {first['msg']}") from None
