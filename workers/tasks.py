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
from contentgen.errors import ContentgenError, InfrastructureError, InvalidInput
from contentgen.generation import get_generator
from contentgen.language import load_identifier
from contentgen.models import ScheduleRunStatus, utcnow
from contentgen.schedule_runs import run_due, send_created_runs
from contentgen.settings import get_settings
from workers.app import DISPATCH_DUE_SCHEDULES, GENERATE_CHUNK, SWEEP_STALLED, app

logger = logging.getLogger(__name__)


def _load_model_or_exit() -> None:
    # A worker without a model would take chunks only to fail them, so it stops instead.
    # SystemExit passes through Celery's signal dispatch, which logs other exceptions.
    settings = get_settings()
    if settings.generator == "transformers":
        logger.info("loading model %s on device %s", settings.model, settings.device)
    else:
        logger.info("loading generator %s", settings.generator)
    try:
        get_generator(settings)
    except ContentgenError as error:
        logger.critical("worker cannot start: %s", error)
        raise SystemExit(1) from None
    # Loading the draft checks' language model here (about 0.8 s) keeps that wait out of
    # the first chunk.
    load_identifier()


def consumes_chunks() -> bool:
    """Return whether this worker consumes the chunk queue, and so needs the model.

    A worker started with only the schedule queue (``-Q contentgen-schedules``) runs the
    dispatcher alone and loads no model.
    """
    return get_settings().queue in app.amqp.queues.consume_from


@signals.worker_process_init.connect
def load_model_in_child(**_kwargs) -> None:
    """Prefork pool: open fresh database connections and load the model in each child."""
    db.reset_engine()
    if consumes_chunks():
        _load_model_or_exit()


@signals.worker_init.connect
def check_settings_before_start(sender=None, **_kwargs) -> None:
    """Check settings, the database and the model's location before any task is taken.

    A worker that cannot reach its database, or finds its schema out of date, would take
    chunks only to retry them and give them up, so it stops instead. Solo and thread pools
    never fork, so the main process loads the model here. Prefork parents only resolve the
    model's location: CUDA must not be initialised before a fork.
    """
    try:
        settings = get_settings()
        _check_broker_and_queues(settings)
        db.check_schema()
        if settings.generator == "transformers" and consumes_chunks():
            from contentgen.generation.transformers import resolve_model

            resolve_model(settings.model)
    except ContentgenError as error:
        logger.critical("worker cannot start: %s", error)
        raise SystemExit(1) from None

    pool = str(getattr(sender, "pool_cls", "")).lower()
    if ("solo" in pool or "thread" in pool) and consumes_chunks():
        _load_model_or_exit()


@signals.beat_init.connect
def check_beat_settings(**_kwargs) -> None:
    """Refuse to run beat without a broker setting: its tasks would go to a default Redis
    that no worker reads."""
    try:
        if not get_settings().broker_url:
            raise InvalidInput(
                "CONTENTGEN_BROKER_URL is not set, so beat would send its tasks where no worker "
                "reads them; set it to the workers' broker, e.g. redis://127.0.0.1:6379/0"
            )
    except ContentgenError as error:
        logger.critical("beat cannot start: %s", error)
        raise SystemExit(1) from None


def _check_broker_and_queues(settings) -> None:
    """Refuse a worker without a broker setting, or one that consumes neither contentgen
    queue: it would wait for tasks that never come.

    Raises:
        InvalidInput: naming the setting or the queues to use.
    """
    if not settings.broker_url:
        raise InvalidInput(
            "CONTENTGEN_BROKER_URL is not set, so no task would reach this worker; set it to "
            "the broker that contentgen batch submit sends to, e.g. redis://127.0.0.1:6379/0"
        )
    consumed = sorted(app.amqp.queues.consume_from)
    if not {settings.queue, settings.schedule_queue} & set(consumed):
        raise InvalidInput(
            f"this worker consumes {', '.join(consumed) or 'no queue'}, but contentgen sends chunks to "
            f'"{settings.queue}" (CONTENTGEN_QUEUE) and schedule tasks to '
            f'"{settings.schedule_queue}" (CONTENTGEN_SCHEDULE_QUEUE); start it with '
            f"-Q {settings.queue}, or set those settings to the queues you mean"
        )


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
def generate_chunk(self, request_ids: list[int], batch_id: int | None = None) -> dict[str, int]:
    """Generate drafts for one chunk of request ids.

    ``batch_id`` only names the batch in log lines; messages sent before it existed lack it.
    """
    try:
        result = run_chunk(request_ids, get_generator(get_settings()))
    except (OperationalError, InfrastructureError) as error:
        _log_retry(self, request_ids, batch_id, error)
        raise
    return {"drafts": result.drafts, "failed": result.failed, "skipped": result.skipped}


def _log_retry(task, request_ids: list[int], batch_id: int | None, error: Exception) -> None:
    # Celery logs its own retry line at INFO, below a worker's default WARNING level, so a
    # worker that cannot reach its database would otherwise retry in silence.
    retries = task.request.retries
    if retries >= task.max_retries:
        return  # Celery logs the final failure as an error.
    reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
    ids = f"ids {min(request_ids)} to {max(request_ids)}" if request_ids else "no ids"
    logger.warning(
        "chunk of %d requests (%s, batch %s, task %s) failed, retry %d of %d: %s",
        len(request_ids), ids, batch_id or "unknown", task.request.id, retries + 1,
        task.max_retries, reason,
    )  # fmt: skip


@app.task(name=SWEEP_STALLED, ignore_result=True)
def sweep_stalled_batches() -> list[int]:
    """Send stalled batches' pending requests again (see dispatch.sweep_stalled_batches)."""
    from contentgen.dispatch import sweep_stalled_batches as sweep

    return sweep()


@app.task(name=DISPATCH_DUE_SCHEDULES, ignore_result=True)
def dispatch_due_schedules() -> dict[str, int]:
    """Create a batch for every due schedule slot and send the chunks of new batches.

    Running it twice at once, or again after a failure, is harmless: see
    ``contentgen.schedule_runs``. It is not retried, because beat sends it again within a
    minute and that run picks up whatever this one left.
    """
    outcomes = run_due(utcnow())
    try:
        sent = send_created_runs()
    except InfrastructureError:
        # The new runs stay `created`, and the next dispatch sends their chunks.
        logger.warning("could not send the chunks of new schedule batches", exc_info=True)
        sent = []
    counts = {status.value: 0 for status in ScheduleRunStatus}
    for outcome in outcomes:
        counts[outcome.status.value] += 1
    return {**counts, "sent": len(sent)}
