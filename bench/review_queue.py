"""Measure the review queue of a large batch: one page of drafts and the selection digest.

Usage:
    python bench/review_queue.py [--drafts 50000] [--database-url URL] [--repeats 5]

Every page of the queue and every ``GET /api/v1/drafts`` returns the digest of all the
drafts that the filter matches (``selection_digest``), which a bulk action compares before
it acts. The digest reads the id and version of each matching draft, so its cost grows with
the queue, while the page itself reads 50 rows. This prints both side by side for a batch
of ``--drafts`` drafts, with the median of ``--repeats`` runs each:

- "page": ``queue_page`` for the first page, which includes the digest;
- "page by campaign": the same with the campaign filter too, which matches the same drafts
  but joins them with their requests and campaigns, as the campaign, channel and segment
  filters and the campaign sort order must;
- "digest": ``matching_versions`` and ``selection_digest`` alone;
- "api": ``GET /api/v1/drafts?batch_id=ID`` through the FastAPI app, with a bearer token.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

# The campaign file of the submit benchmark, next to this file.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from submit import write_campaign  # noqa: E402


def median_ms(run: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def add_drafts(batch_id: int) -> int:
    """Give every request of the batch a pending draft, with scores spread over the queue."""
    from sqlalchemy import insert, select, text

    from contentgen import db
    from contentgen.models import Draft, DraftStatus, GenerationRequest

    with db.session_scope() as session:
        requests = session.execute(
            select(GenerationRequest.id, GenerationRequest.template_id).where(GenerationRequest.batch_id == batch_id)
        ).all()
        rows = [
            {
                "request_id": request_id, "batch_id": batch_id, "status": DraftStatus.PENDING_REVIEW,
                "text": f"Waterproof boots for every trail, draft {request_id}", "template_id": template_id,
                "model_name": "bench", "model_revision": "none", "params": {}, "seed": request_id,
                "prompt_tokens": 200, "output_tokens": 12, "finish_reason": "stop", "generation_ms": 1,
                "chunk_size": 64, "score": (request_id * 7919 % 1000) / 1000, "regenerations": 0,
            }
            for request_id, template_id in requests
        ]  # fmt: skip
        session.execute(insert(Draft), rows)
    # A running PostgreSQL's autovacuum updates the planner's statistics after such an
    # insert. Without them the planner expects one row and joins 50,000 by index lookups.
    with db.session_scope() as session:
        session.execute(text("ANALYZE"))
    return len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drafts", type=int, default=50_000)
    parser.add_argument("--database-url", help="default: a new SQLite file in a temporary folder")
    parser.add_argument("--repeats", type=int, default=5)
    arguments = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="contentgen-bench-"))
    os.environ["CONTENTGEN_DATABASE_URL"] = arguments.database_url or f"sqlite:///{folder}/bench.db"
    os.environ.pop("CONTENTGEN_BROKER_URL", None)
    os.environ["CONTENTGEN_MAX_REQUESTS_PER_BATCH"] = str(max(arguments.drafts * 2, 50_000))

    from fastapi.testclient import TestClient

    from contentgen import db
    from contentgen.dispatch import submit
    from contentgen.drafts import DraftFilter, matching_versions, queue_page, selection_digest
    from contentgen.templates import sync_templates
    from contentgen.users import Role, create_api_token, create_user
    from contentgen.web.app import create_app

    db.upgrade()
    with db.session_scope() as session:
        sync_templates(session)
        create_user(session, "bench", "bench-password-1234", Role.REVIEWER)
    with db.session_scope() as session:
        token = create_api_token(session, "bench", "bench")
    path, _ = write_campaign(folder, arguments.drafts)
    batch_id = submit([path]).batch_id
    drafts = add_drafts(batch_id)
    draft_filter = DraftFilter(batch_id=batch_id)

    def page() -> None:
        with db.session_scope() as session:
            queue_page(session, draft_filter)

    by_campaign = DraftFilter(batch_id=batch_id, campaign="bench-campaign")

    def page_by_campaign() -> None:
        with db.session_scope() as session:
            queue_page(session, by_campaign)

    def digest() -> None:
        with db.session_scope() as session:
            selection_digest(matching_versions(session, draft_filter))

    client = TestClient(create_app())
    headers = {"Authorization": f"Bearer {token}"}

    def api() -> None:
        response = client.get(f"/api/v1/drafts?batch_id={batch_id}", headers=headers)
        response.raise_for_status()

    # One untimed run of each, so that caches are warm as in a running server.
    runs = {"page": page, "page by campaign": page_by_campaign, "digest": digest, "api": api}
    for run in runs.values():
        run()
    timings = {name: median_ms(run, arguments.repeats) for name, run in runs.items()}
    print(f"database: {db.display_url(os.environ['CONTENTGEN_DATABASE_URL'])}")
    print(f"drafts in the batch: {drafts}, median of {arguments.repeats} runs")
    for name, milliseconds in timings.items():
        print(f"{name:>16}: {milliseconds:8.1f} ms")
    print(f"digest share of the page: {timings['digest'] / timings['page']:.0%}")


if __name__ == "__main__":
    main()
