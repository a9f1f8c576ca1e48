"""Log output of the command line: each logged error on one line, and tracebacks only with
--verbose.

A chunk that runs in this process (``batch submit --wait`` without a broker) logs every
failed attempt of a request with its traceback, which Celery workers keep in their logs.
On a terminal a few failing requests would print hundreds of traceback lines before the
summary, so the command line shows each such record as one line.
"""

from __future__ import annotations

import logging

from contentgen.errors import describe_error

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class OneLineFormatter(logging.Formatter):
    """Formats each record without its traceback and stack.

    A record with an error ends with the error's "Type: message", unless its message
    contains that already.
    """

    def format(self, record: logging.LogRecord) -> str:
        error = record.exc_info[1] if record.exc_info else None
        # The record is shared with any other handler, so its fields are put back.
        saved = (record.exc_info, record.exc_text, record.stack_info)
        record.exc_info = record.exc_text = record.stack_info = None
        try:
            line = super().format(record)
        finally:
            record.exc_info, record.exc_text, record.stack_info = saved
        if error is None:
            return line
        summary = describe_error(error)
        return line if summary in line else f"{line}: {summary}"


def configure_logging(verbose: bool) -> None:
    """Send log records to standard error.

    Without ``verbose``, only WARNING and above are logged, each error on one line. With
    it, INFO and above are logged with full tracebacks. Like ``logging.basicConfig``, it
    changes nothing when the root logger already has a handler.
    """
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(LOG_FORMAT) if verbose else OneLineFormatter(LOG_FORMAT))
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, handlers=[handler])
