"""How fast a large manifest is read and split: a million rows, written here, then read_manifest + split.

    python benchmarks/manifest_scale.py [--rows 1000000] [--subjects 5000]

Writes a synthetic manifest (paths need not exist: reading and splitting never open the images),
then times ``read_manifest`` and ``split_manifest(..., "subject")``. Target: under 10 s together.
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
import time
from pathlib import Path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--subjects", type=int, default=5000)
    args = ap.parse_args(argv)
    from spoofguard.data.manifest import read_manifest
    from spoofguard.data.protocols import split_manifest

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "manifest.csv"
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["path", "label", "species", "subject", "session", "device", "video_id", "split"])
            for i in range(args.rows):
                kind = i % 3
                w.writerow([f"images/{i}.png", "bona_fide" if kind == 0 else "attack", ("", "print", "replay")[kind],
                            f"s{i % args.subjects}", "", "", "", ""])
        t0 = time.perf_counter()
        m = read_manifest(path)
        t1 = time.perf_counter()
        split, protocol = split_manifest(m, "subject", seed=0)
        t2 = time.perf_counter()
    print(f"{len(split):,} rows, {args.subjects} subjects: read {t1 - t0:.2f} s, split ({protocol}) {t2 - t1:.2f} s, "
          f"total {t2 - t0:.2f} s (target < 10 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
