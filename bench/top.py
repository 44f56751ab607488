"""Summarize a py-spy collapsed-stack profile: where the samples are, by self and total."""

from __future__ import annotations

import sys
from collections import Counter

from bench.harness import RESULTS_DIR


def main(name: str, top: int = 25) -> None:
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in (RESULTS_DIR / f"{name}.folded").read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        frames = stack.split(";")
        samples += n
        own[frames[-1]] += n
        for frame in set(frames):
            total[frame] += n
    print(f"{samples} samples\n-- self")
    for frame, n in own.most_common(top):
        print(f"{n / samples:6.1%}  {frame}")
    print("-- total")
    for frame, n in total.most_common(top):
        print(f"{n / samples:6.1%}  {frame}")


if __name__ == "__main__":
    main(sys.argv[1])
