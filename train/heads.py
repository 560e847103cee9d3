"""What ``styledex train style-head`` and ``content-head`` share (:mod:`.style_head`, :mod:`.content_head`): the
learned heads' training task, trained contrastively.

Data: :mod:`styledex.train.head_data` (training contents × training looks and framings, embedded once and cached).
Loss: supervised contrastive (Khosla et al. 2020) at temperature ``temperature``: for each item of a batch, the
other items with its label are positives and every other item a negative,
L = mean over anchors i of −1/|P(i)| Σ_{p∈P(i)} log( exp(zᵢ·z_p/τ) / Σ_{a≠i} exp(zᵢ·z_a/τ) ).
The style head's label is the look (or the artist, for crops of paintings), the content head's the content.

Batches hold both kinds of hard negative on purpose: ``contents_per_batch`` contents with up to ``looks_per_item``
of their looks each, then, for every look drawn, ``extra_per_look`` items of that look on other contents. So the
same content in another look is in the batch (a negative the style head must push away, a positive for the
content head) and the same look on another content too (the reverse).

Validation: ``val_fraction`` of the training contents are kept out of the batches; at the end P@5 of both
questions and the leakage (the share of a style query's top 5 that is its own content in another look; for a
content query, its look on another content) are measured on them and written to the record.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from pydantic import Field

from styledex.embed.heads import ContentHead, StyleHead
from styledex.train.head_data import DataRecipe, HeadData, build
from styledex.train.loop import Task, TrainConfig


class HeadConfig(TrainConfig):
    data: DataRecipe = DataRecipe()
    dim: int = Field(128, ge=8)
    hidden: int = Field(512, ge=8)
    temperature: float = Field(0.1, gt=0)
    contents_per_batch: int = Field(12, ge=2)
    looks_per_item: int = Field(3, ge=1)
    extra_per_look: int = Field(2, ge=0)
    val_fraction: float = Field(0.15, ge=0, lt=1)
    map_crop: float = Field(
        0.7,
        gt=0,
        le=1,
        description="content head: random crops of the input map keep at "
        "least this fraction of each side (and flip half of them)",
    )
    dropout: float = Field(0.1, ge=0, lt=1, description="style head: dropout after its hidden layer")
    members: int = Field(1, ge=1, description="style head: bagged MLPs, concatenated (embed/heads.py StyleHead)")
    reduced: int = Field(256, ge=8, le=1024, description="content head: principal directions kept")


def supcon_loss(z: torch.Tensor, labels: torch.Tensor, temperature: float) -> torch.Tensor:
    """Supervised contrastive loss of unit vectors z [B, D] with integer labels [B]; anchors without a positive
    are skipped. 0 is unreachable (it needs every negative at −∞); log(B−1) is what orthogonal vectors give."""
    sims = z @ z.T / temperature
    eye = torch.eye(len(z), dtype=torch.bool, device=z.device)
    sims = sims.masked_fill(eye, float("-inf"))
    log_prob = sims - torch.logsumexp(sims, dim=1, keepdim=True)
    positive = (labels[:, None] == labels[None, :]) & ~eye
    counts = positive.sum(1)
    has = counts > 0
    per_anchor = -(log_prob.masked_fill(~positive, 0.0).sum(1)[has] / counts[has])
    return per_anchor.mean()


class BatchSampler:
    """Index batches over the training rows, with both kinds of hard negative (module docstring)."""

    def __init__(self, data: HeadData, rows: np.ndarray, cfg: HeadConfig, generator: torch.Generator) -> None:
        self.cfg = cfg
        self.generator = generator
        self.by_content: dict[str, list[int]] = {}
        self.by_style: dict[str, list[int]] = {}
        for i in rows:
            self.by_content.setdefault(data.content_labels[i], []).append(int(i))
            self.by_style.setdefault(data.style_labels[i], []).append(int(i))
        self.contents = sorted(self.by_content)
        self.data = data

    def _pick(self, n: int, k: int) -> list[int]:
        return torch.randperm(n, generator=self.generator)[:k].tolist()

    def sample(self) -> list[int]:
        cfg = self.cfg
        chosen: list[int] = []
        for c in self._pick(len(self.contents), cfg.contents_per_batch):
            rows = self.by_content[self.contents[c]]
            chosen.extend(rows[j] for j in self._pick(len(rows), cfg.looks_per_item))
        for i in list(chosen):
            same_look = [r for r in self.by_style[self.data.style_labels[i]] if r not in chosen]
            chosen.extend(same_look[j] for j in self._pick(len(same_look), cfg.extra_per_look))
        return chosen


def split_rows(data: HeadData, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(training rows, validation rows): whole contents held out, chosen by a seeded permutation."""
    contents = sorted(set(data.content_labels))
    rng = np.random.default_rng(seed)
    held = set(rng.permutation(contents)[: round(len(contents) * val_fraction)].tolist())
    is_val = np.array([label in held for label in data.content_labels])
    return np.flatnonzero(~is_val), np.flatnonzero(is_val)


def augment_map(x: torch.Tensor, min_fraction: float, generator: torch.Generator) -> torch.Tensor:
    """A random crop keeping ≥ ``min_fraction`` of each side of a map [C, h, w], flipped left-right half the time:
    the framings (crop, zoom, mirror) again, cheaply, in feature space."""
    _, h, w = x.shape
    rand = torch.rand(4, generator=generator).tolist()
    ch = max(1, round(h * (min_fraction + (1 - min_fraction) * rand[0])))
    cw = max(1, round(w * (min_fraction + (1 - min_fraction) * rand[1])))
    top, left = int(rand[2] * (h - ch + 1)), int(rand[3] * (w - cw + 1))
    out = x[:, top : top + ch, left : left + cw]
    if torch.rand(1, generator=generator).item() < 0.5:
        out = out.flip(-1)
    return out


def label_ids(labels: list[str]) -> torch.Tensor:
    index = {label: i for i, label in enumerate(sorted(set(labels)))}
    return torch.tensor([index[label] for label in labels])


def embed_rows(
    head: torch.nn.Module, data: HeadData, rows: np.ndarray, kind: str, member: int | None = None
) -> torch.Tensor:
    """The trained head's unit vectors of ``rows`` [n, dim] (eval mode, no augmentation); ``member``: only that
    member of a style head."""
    head.eval()
    with torch.inference_mode():
        if kind == "style":
            inputs = data.style_inputs[rows]
            out = head(inputs) if member is None else head.member(member, inputs)
        else:
            out = torch.cat([head(data.content_maps[i].float()[None]) for i in rows])
    head.train()
    return out


def retrieval_report(vectors: torch.Tensor, content: list[str], style: list[str], k: int = 5) -> dict[str, float]:
    """P@k of both questions and both leakages over ``vectors`` [n, d] (every row a query against the others).

    A style hit shares the style label and not the content; a content hit the reverse; items sharing both are left
    out of the ranking. Both are counted in the top min(k, relevant items), so a perfect space scores P@k 1 and
    leakage 0. Style leakage: the share of those top results of a style query that are its content under another
    style; content leakage: the share of a content query's that are its style on another content."""
    sims = (vectors @ vectors.T).numpy()
    content_arr, style_arr = np.array(content), np.array(style)
    out: dict[str, list[float]] = {"style_p5": [], "content_p5": [], "style_leak": [], "content_leak": []}
    for q in range(len(vectors)):
        same_c, same_s = content_arr == content_arr[q], style_arr == style_arr[q]
        keep = ~(same_c & same_s)
        order = np.flatnonzero(keep)[np.argsort(-sims[q][keep], kind="stable")][:k]
        for question, hit, leak in (("style", same_s & ~same_c, same_c & ~same_s),
                                    ("content", same_c & ~same_s, same_s & ~same_c)):  # fmt: skip
            relevant = int(hit[keep].sum())
            if relevant:
                top = order[: min(k, relevant)]
                out[f"{question}_p5"].append(hit[top].sum() / len(top))
                out[f"{question}_leak"].append(leak[top].mean())
    return {key: round(float(np.mean(values)), 4) if values else 0.0 for key, values in out.items()}


def build_head_task(
    cfg: HeadConfig, device: torch.device, generator: torch.Generator, kind: str, *, progress: bool = True
) -> Task:
    """The training task of the ``kind`` ("style" or "content") head: data built or loaded from its cache.

    The style head's members (:class:`~styledex.embed.heads.StyleHead`) are bagged: member m holds out its own
    contents (split seed ``seed + m``) and draws its own batches; the loss is the mean of the members' losses."""
    data = build(cfg.data, device=str(device), progress=progress)
    members = cfg.members if kind == "style" else 1
    splits = [split_rows(data, cfg.val_fraction, cfg.seed + m) for m in range(members)]
    samplers = [BatchSampler(data, train, cfg, generator) for train, _ in splits]
    seen = np.unique(np.concatenate([train for train, _ in splits]))  # rows some member trains on
    labels = label_ids(data.style_labels if kind == "style" else data.content_labels)
    head: torch.nn.Module
    reduced: list[torch.Tensor] = []  # the content head's training maps after its fixed part
    if kind == "style":
        head = StyleHead(cfg.dim, cfg.hidden, cfg.dropout, members)
        head.fit_standardization(data.style_inputs[seen])  # label-free: mean and std of the inputs
    else:
        head = ContentHead(cfg.dim, cfg.hidden, cfg.reduced)
        head.fit_reduction([data.content_maps[i] for i in seen], seed=cfg.seed)
        # The fixed part runs once: the training maps, pooled and projected, are what the learned part sees.
        with torch.no_grad():
            reduced = [head.reduce(m.float()[None])[0] for m in data.content_maps]
    head.to(device)

    def step(i: int) -> dict[str, torch.Tensor]:
        losses = []
        for m, sampler in enumerate(samplers):
            rows = sampler.sample()
            if kind == "style":
                z = head.member(m, data.style_inputs[rows].to(device))
            else:
                maps = (augment_map(reduced[r], cfg.map_crop, generator)[None].to(device) for r in rows)
                z = torch.cat([head.head(x) for x in maps])
            losses.append(supcon_loss(z, labels[rows].to(device), cfg.temperature))
        return {"total": torch.stack(losses).mean()}

    def export() -> dict[str, Any]:
        return {"head": head.state_dict()}

    meta: dict[str, Any] = {
        "dim": cfg.dim,
        "hidden": cfg.hidden,
        **({"reduced": cfg.reduced} if kind == "content" else {"members": members}),
        "data": data.recipe,
        "train_items": [len(train) for train, _ in splits],
        "val_items": [len(val) for _, val in splits],
        "train_contents": [len({data.content_labels[i] for i in train}) for train, _ in splits],
        "looks": {k: int(sum(1 for x in data.kinds if x == k)) for k in sorted(set(data.kinds))},
    }

    def validate() -> dict[str, Any]:
        """Each member on its own held-out contents, and their mean (a member is what one seed would ship)."""
        reports = []
        for m, (_, val) in enumerate(splits):
            vectors = embed_rows(head, data, val, kind, member=m if kind == "style" else None)
            reports.append(retrieval_report(vectors, [data.content_labels[i] for i in val],
                                            [data.style_labels[i] for i in val]))  # fmt: skip
        mean = {key: round(float(np.mean([r[key] for r in reports])), 4) for key in reports[0]}
        return {"validation": mean, **({"validation_members": reports} if len(reports) > 1 else {})}

    return Task(cfg.name, {"head": head}, step, meta=meta, export=export, validate=validate)
