"""Celery tasks and worker start-up.

The model is loaded once per worker process, after any fork: CUDA cannot be used in a
child of a process that initialised it, so nothing touches the device in the parent.
"""

from __future__ import annotations

import logging

from celery import signals
from sqlalchemy.exc import OperationalError

from contentgen import db
from contentgen.chunks import run_chunk
from contentgen.errors import ContentgenError, InfrastructureError
from contentgen.generation import get_generator
from contentgen.settings import get_settings
from workers.app import GENERATE_CHUNK, SWEEP_STALLED, app

logger = logging.getLogger(__name__)


def _load_model_or_exit() -> None:
    # A worker without a model would take chunks only to fail them, so it stops instead.
    # SystemExit passes through Celery's signal dispatch, which logs other exceptions.
    try:
        get_generator(get_settings())
    except ContentgenError as error:
        logger.critical("worker cannot start: %s", error)
        raise SystemExit(1) from None


@signals.worker_process_init.connect
def load_model_in_child(**_kwargs) -> None:
    """Prefork pool: open fresh database connections and load the model in each child."""
    db.reset_engine()
    _load_model_or_exit()


@signals.worker_init.connect
def check_settings_before_start(sender=None, **_kwargs) -> None:
    """Check settings and the model's location before any chunk is taken.

    Solo and thread pools never fork, so the main process loads the model here. Prefork
    parents only resolve the model's location: CUDA must not be initialised before a fork.
    """
    try:
        settings = get_settings()
        if settings.generator == "transformers":
            from contentgen.generation.transformers import resolve_model

            resolve_model(settings.model)
    except ContentgenError as error:
        logger.critical("worker cannot start: %s", error)
        raise SystemExit(1) from None

    pool = str(getattr(sender, "pool_cls", "")).lower()
    if "solo" in pool or "thread" in pool:
        _load_model_or_exit()


@app.task(
    name=GENERATE_CHUNK,
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    # A lost database connection (server restart, failover) is worth retrying: the chunk's
    # transaction rolled back, so running it again is safe.
    autoretry_for=(OperationalError, InfrastructureError),
    retry_backoff=2,
    retry_backoff_max=60,
    max_retries=10,
)
def generate_chunk(self, request_ids: list[int]) -> dict[str, int]:
    """Generate drafts for one chunk of request ids."""
    result = run_chunk(request_ids, get_generator(get_settings()))
    return {"drafts": result.drafts, "failed": result.failed, "skipped": result.skipped}


@app.task(name=SWEEP_STALLED, ignore_result=True)
def sweep_stalled_batches() -> list[int]:
    """Send stalled batches' pending requests again (see dispatch.sweep_stalled_batches)."""
    from contentgen.dispatch import sweep_stalled_batches as sweep

    return sweep()
