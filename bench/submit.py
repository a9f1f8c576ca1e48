"""Measure `batch submit` for a large batch: wall time and peak memory of the process.

Usage:
    python bench/submit.py [--requests 50000] [--database-url URL]

The campaign file has one campaign with enough segments x channels x variants to reach the
requested count (rounded up to a whole number of segments). It runs the same code as
`contentgen batch submit FILE` without a broker (so nothing is sent): validation, import,
prompt rendering and the insert of every request in one transaction.
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import yaml

CHANNELS = ["google_ads_headline", "google_ads_description", "meta_primary_text", "email_subject"]
VARIANTS = 50


def write_campaign(folder: Path, requests: int) -> tuple[Path, int]:
    segments = math.ceil(requests / (len(CHANNELS) * VARIANTS))
    data = {
        "brands": [{"key": "bench", "name": "Bench Brand", "banned_terms": ["cheap"]}],
        "campaigns": [
            {
                "key": "bench-campaign",
                "brand": "bench",
                "product": {
                    "name": "Ridgeline GTX",
                    "description": "A waterproof mid-height hiking boot",
                    "features": ["Breathable membrane", "Grippy outsole", "Recycled laces"],
                    "price": "$149",
                },
                "segments": [
                    {"key": f"segment-{index}", "name": f"Segment {index}"}
                    for index in range(segments)
                ],
                "channels": CHANNELS,
                "variants": VARIANTS,
            }
        ],
    }
    path = folder / "bench.yaml"
    path.write_text(yaml.safe_dump(data))
    return path, segments * len(CHANNELS) * VARIANTS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=50_000)
    parser.add_argument("--database-url", help="default: a new SQLite file in a temporary folder")
    arguments = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="contentgen-bench-"))
    os.environ["CONTENTGEN_DATABASE_URL"] = arguments.database_url or f"sqlite:///{folder}/bench.db"
    os.environ.pop("CONTENTGEN_BROKER_URL", None)
    os.environ["CONTENTGEN_MAX_REQUESTS_PER_BATCH"] = str(max(arguments.requests * 2, 50_000))

    from contentgen import db
    from contentgen.dispatch import submit
    from contentgen.templates import sync_templates

    db.upgrade()
    with db.session_scope() as session:
        sync_templates(session)
    path, expected = write_campaign(folder, arguments.requests)
    baseline_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    started = time.perf_counter()
    submission = submit([path])
    elapsed = time.perf_counter() - started

    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if submission.request_count != expected:
        sys.exit(f"expected {expected} requests, the batch has {submission.request_count}")
    print(f"database: {db.display_url(os.environ['CONTENTGEN_DATABASE_URL'])}")
    print(f"requests: {submission.request_count}")
    print(f"submit: {elapsed:.1f} s ({submission.request_count / elapsed:,.0f} requests/s)")
    print(f"peak memory of the process: {peak_mib:,.0f} MiB (before submit: {baseline_kib / 1024:,.0f} MiB)")


if __name__ == "__main__":
    main()
