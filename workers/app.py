"""The Celery application, configured from contentgen's settings."""

from __future__ import annotations

from celery import Celery

from contentgen.settings import Settings, get_settings

GENERATE_CHUNK = "contentgen.generate_chunk"
SWEEP_STALLED = "contentgen.sweep_stalled_batches"
DISPATCH_DUE_SCHEDULES = "contentgen.dispatch_due_schedules"
# Seconds to wait for the broker to accept a connection or reply to a command.
BROKER_SOCKET_TIMEOUT = 30
# Seconds between two sweeps for batches whose chunks were lost.
SWEEP_INTERVAL_SECONDS = 60.0


def create_app(settings: Settings | None = None) -> Celery:
    """Create a Celery app for ``settings`` (default: the settings from the environment)."""
    settings = settings or get_settings()
    app = Celery(
        "contentgen",
        broker=settings.broker_url or "redis://127.0.0.1:6379/0",
        include=["workers.tasks"],
    )
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        task_default_queue=settings.queue,
        task_routes={
            GENERATE_CHUNK: {"queue": settings.queue},
            SWEEP_STALLED: {"queue": settings.queue},
            DISPATCH_DUE_SCHEDULES: {"queue": settings.schedule_queue},
        },
        # `celery -A workers beat` sends these. A sweep or dispatch that no worker took
        # before the next one was sent expires unrun: the next one does the same work, so a
        # backlog (while no worker runs) would only repeat it.
        beat_schedule={
            "sweep-stalled-batches": {
                "task": SWEEP_STALLED,
                "schedule": SWEEP_INTERVAL_SECONDS,
                "options": {"expires": SWEEP_INTERVAL_SECONDS},
            },
            "dispatch-due-schedules": {
                "task": DISPATCH_DUE_SCHEDULES,
                "schedule": settings.schedule_interval_seconds,
                "options": {
                    "queue": settings.schedule_queue,
                    "expires": settings.schedule_interval_seconds,
                },
            },
        },
        # A chunk is acknowledged only after its drafts are committed, and put back on the
        # queue if its worker process dies, so a crash loses no work.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        # Each worker takes one chunk at a time; a prefetched chunk would wait behind a
        # long generate call while an idle worker could run it.
        worker_prefetch_multiplier=1,
        broker_connection_timeout=5,
        broker_transport_options={
            "visibility_timeout": settings.broker_visibility_timeout,
            # A Redis server that accepts the connection but never replies (hung, or
            # behind a proxy that lost its backend) would otherwise block a command or a
            # worker forever. Workers poll with BRPOP for at most 1 s, well within this.
            "socket_connect_timeout": BROKER_SOCKET_TIMEOUT,
            "socket_timeout": BROKER_SOCKET_TIMEOUT,
            **settings.broker_transport_options,
        },
        broker_connection_retry_on_startup=True,
    )
    return app


app = create_app()
