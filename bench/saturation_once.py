"""One worker at rounds 4, 32 clients back to back for 8 s: prints creations/s. For
comparing two checkouts in turns (run it from each tree alternately)."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from bench.ab import Variant, saturation
from bench.harness import kill_leftovers


async def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        try:
            print(f"{await saturation(Path(tmp), Variant('this checkout')):.1f}")
        finally:
            kill_leftovers()


if __name__ == "__main__":
    asyncio.run(main())
