import logging
from collections.abc import Sequence
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError

from contentgen import chunks, db
from contentgen.batches import cancel_batch
from contentgen.chunks import (
    REGENERATION_MIN_TEMPERATURE,
    clean_output,
    is_cut_off,
    regeneration_seed,
    run_chunk,
)
from contentgen.dispatch import submit
from contentgen.errors import InfrastructureError
from contentgen.generation import GenerationInput, GenerationOutput, OutOfMemory
from contentgen.generation.null import NullGenerator
from contentgen.i18n import Message
from contentgen.models import (
    Batch,
    BatchStatus,
    Draft,
    DraftCheck,
    DraftStatus,
    GenerationRequest,
    RequestStatus,
)

from .conftest import apply_settings

WORDS = ("trail", "summit", "river", "canyon", "meadow", "ridge", "forest", "valley", "glacier", "harbor")


def text_for_seed(seed: int) -> str:
    """A short English text that differs clearly from seed to seed."""
    return "Walk the " + " ".join(WORDS[int(digit)] for digit in str(seed)[:4])


class RecordingGenerator:
    """Writes a text derived from each seed and records the size of every call."""

    model_name = "recording"
    model_revision = "1"

    def __init__(
        self,
        max_batch: int | None = None,
        texts: dict[int, str] | None = None,
        finish_reasons: dict[int, str] | None = None,
    ):
        self.max_batch = max_batch
        self.calls: list[int] = []
        self.inputs: list[list[GenerationInput]] = []
        self.texts = texts or {}
        self.finish_reasons = finish_reasons or {}

    def generate(self, inputs: Sequence[GenerationInput]) -> list[GenerationOutput]:
        self.calls.append(len(inputs))
        self.inputs.append(list(inputs))
        if self.max_batch is not None and len(inputs) > self.max_batch:
            raise OutOfMemory(f"batch of {len(inputs)} does not fit")
        return [
            GenerationOutput(
                text=self.texts.get(index, text_for_seed(item.seed)),
                prompt_tokens=5,
                output_tokens=2,
                finish_reason=self.finish_reasons.get(index, "stop"),
                mean_logprob=-0.5,
            )
            for index, item in enumerate(inputs)
        ]


def submit_small(
    folder: Path, variants: int = 4, brand: dict | None = None, temperature: float = 0.3
) -> tuple[int, list[int]]:
    data = {
        "brands": [{"key": "acme", "name": "Acme", **(brand or {})}],
        "campaigns": [
            {
                "key": "launch",
                "brand": "acme",
                "product": {"name": "Widget"},
                "segments": [{"key": "all", "name": "Everyone"}],
                "channels": ["email_subject"],
                "variants": variants,
                "generation": {"temperature": temperature},
            }
        ],
    }
    path = folder / "small.yaml"
    path.write_text(yaml.safe_dump(data))
    batch_id = submit([path]).batch_id
    with db.session_scope() as session:
        ids = session.scalars(select(GenerationRequest.id).order_by(GenerationRequest.id)).all()
    return batch_id, list(ids)


def drafts_by_request() -> dict[int, list[Draft]]:
    with db.session_scope() as session:
        result: dict[int, list[Draft]] = {}
        for draft in session.scalars(select(Draft)):
            result.setdefault(draft.request_id, []).append(draft)
        return result


def batch_status(batch_id: int) -> BatchStatus:
    with db.session_scope() as session:
        return session.get(Batch, batch_id).status


def test_run_chunk_writes_one_draft_per_request(synced):
    batch_id, ids = submit_small(synced)
    result = run_chunk(ids, NullGenerator())

    drafts = drafts_by_request()
    assert result.drafts == 4
    assert sorted(drafts) == ids
    assert all(len(found) == 1 for found in drafts.values())
    assert batch_status(batch_id) == BatchStatus.COMPLETED


def test_run_chunk_twice_adds_nothing(synced):
    _, ids = submit_small(synced)
    run_chunk(ids, NullGenerator())
    again = run_chunk(ids, NullGenerator())

    assert again.drafts == 0
    assert again.skipped == 4
    assert sum(len(found) for found in drafts_by_request().values()) == 4


def test_run_chunk_records_provenance(synced):
    _, ids = submit_small(synced, variants=1)
    run_chunk(ids, RecordingGenerator())
    with db.session_scope() as session:
        draft = session.scalars(select(Draft)).one()
        request = session.get(GenerationRequest, draft.request_id)
        assert draft.model_name == "recording"
        assert draft.model_revision == "1"
        assert draft.template_id == request.template_id
        assert draft.seed == request.params["seed"]
        assert draft.params == request.params
        assert draft.chunk_size == 1
        assert draft.status.value == "pending_review"


class CancellingGenerator(RecordingGenerator):
    """Cancels the batch from another session while the chunk generates, as
    ``contentgen batch cancel`` does on SQLite, where the chunk holds no row locks."""

    def __init__(self, batch_id: int):
        super().__init__()
        self.batch_id = batch_id

    def generate(self, inputs: Sequence[GenerationInput]) -> list[GenerationOutput]:
        if len(self.calls) == 0:
            with db.session_scope() as session:
                cancel_batch(session, self.batch_id)
        return super().generate(inputs)


def test_run_chunk_cancelled_meanwhile_no_draft(synced, caplog):
    batch_id, ids = submit_small(synced, variants=3)

    with caplog.at_level(logging.WARNING, logger="contentgen.chunks"):
        result = run_chunk(ids, CancellingGenerator(batch_id))

    assert (result.drafts, result.skipped) == (0, 3)
    assert "their new drafts are dropped" in caplog.text
    with db.session_scope() as session:
        assert session.scalars(select(Draft.id)).all() == []
        states = session.scalars(select(GenerationRequest.status)).all()
        assert session.get(Batch, batch_id).status == BatchStatus.CANCELLED
    assert states == [RequestStatus.CANCELLED] * 3


def test_run_chunk_repairs_request_with_draft(synced):
    _, ids = submit_small(synced, variants=2)
    run_chunk(ids, NullGenerator())
    # A crash between a draft's commit and its request's update cannot happen (one
    # transaction), but a hand-edited database can look like that.
    with db.session_scope() as session:
        session.execute(update(GenerationRequest).values(status=RequestStatus.PENDING))

    result = run_chunk(ids, NullGenerator())

    assert result.drafts == 0
    with db.session_scope() as session:
        states = set(session.scalars(select(GenerationRequest.status)))
    assert states == {RequestStatus.DONE}


def test_run_chunk_splits_on_out_of_memory(synced):
    batch_id, ids = submit_small(synced, variants=8)
    generator = RecordingGenerator(max_batch=2)

    result = run_chunk(ids, generator)

    assert result.drafts == 8
    assert result.failed == 0
    assert generator.calls[0] == 8
    assert max(size for size in generator.calls if size <= 2) == 2
    assert batch_status(batch_id) == BatchStatus.COMPLETED


def test_run_chunk_single_request_out_of_memory_fails_it(synced):
    _, ids = submit_small(synced, variants=2)
    result = run_chunk(ids, RecordingGenerator(max_batch=0))
    assert result.failed == 2
    with db.session_scope() as session:
        errors = set(session.scalars(select(GenerationRequest.error)))
    assert all("out of memory" in error for error in errors)


class PartlyFailingGenerator(RecordingGenerator):
    """Fails the second input of the first call, and returns whitespace for the third."""

    def generate(self, inputs):
        first_call = not self.calls
        outputs = super().generate(inputs)
        if first_call:
            outputs[1] = GenerationOutput(prompt_tokens=9000, error="prompt too long: 9000 tokens")
            outputs[2] = GenerationOutput(text="   ", prompt_tokens=5)
        return outputs


def test_run_chunk_failed_rows_do_not_stop_others(synced):
    batch_id, ids = submit_small(synced, variants=4)
    result = run_chunk(ids, PartlyFailingGenerator())

    assert result.drafts == 3
    assert result.failed == 1
    with db.session_scope() as session:
        failed = {
            request.id: request.error
            for request in session.scalars(
                select(GenerationRequest).where(GenerationRequest.status == RequestStatus.FAILED)
            )
        }
    assert failed == {ids[1]: "prompt too long: 9000 tokens"}
    assert ids[1] not in drafts_by_request()
    assert batch_status(batch_id) == BatchStatus.COMPLETED


def test_run_chunk_regenerates_empty_output(synced):
    _, ids = submit_small(synced, variants=4)
    run_chunk(ids, PartlyFailingGenerator())

    draft = drafts_by_request()[ids[2]][0]
    assert draft.text
    assert draft.regenerations == 1
    assert draft.status == DraftStatus.PENDING_REVIEW


class ScriptedGenerator(RecordingGenerator):
    """Writes ``first`` for a request's own seed and ``later`` for any regeneration seed."""

    def __init__(self, first_seeds: set[int], first: str, later: str | None = None):
        super().__init__()
        self.first_seeds = first_seeds
        self.first = first
        self.later = later

    def generate(self, inputs):
        super().generate(inputs)
        return [
            GenerationOutput(
                text=self.first if item.seed in self.first_seeds or self.later is None else self.later,
                prompt_tokens=5,
                output_tokens=3,
            )
            for item in inputs
        ]


def request_seeds(ids: list[int]) -> dict[int, int]:
    with db.session_scope() as session:
        return {
            request.id: request.params["seed"]
            for request in session.scalars(select(GenerationRequest).where(GenerationRequest.id.in_(ids)))
        }


def test_run_chunk_regenerates_with_derived_seed(synced):
    _, ids = submit_small(synced, variants=1, brand={"banned_terms": ["cheap"]})
    seed = request_seeds(ids)[ids[0]]
    generator = ScriptedGenerator({seed}, "Cheap widgets for everyone", "Widgets that last for years")

    result = run_chunk(ids, generator)

    draft = drafts_by_request()[ids[0]][0]
    assert result.regenerations == 1
    assert draft.status == DraftStatus.PENDING_REVIEW
    assert draft.text == "Widgets that last for years"
    assert draft.regenerations == 1
    assert draft.seed == regeneration_seed(seed, 1)
    assert draft.params["seed"] == draft.seed
    assert generator.inputs[1][0].seed == regeneration_seed(seed, 1)


def test_run_chunk_flags_after_max_regenerations(synced):
    _, ids = submit_small(synced, variants=2, brand={"banned_terms": ["cheap"]})
    generator = ScriptedGenerator(set(), "So C.H.E.A.P, so good")

    result = run_chunk(ids, generator)

    assert generator.calls == [2, 2, 2]
    assert result.flagged == 2
    for draft in (found[0] for found in drafts_by_request().values()):
        assert draft.status == DraftStatus.FLAGGED
        assert draft.regenerations == 2
        assert draft.score is not None


def test_run_chunk_flagged_draft_names_its_reasons(synced):
    _, ids = submit_small(synced, variants=1, brand={"banned_terms": ["cheap"]})
    run_chunk(ids, ScriptedGenerator(set(), "So C.H.E.A.P, so good"))

    with db.session_scope() as session:
        failed = session.scalars(
            select(DraftCheck).where(DraftCheck.passed.is_(False), DraftCheck.blocking.is_(True))
        ).all()
        assert [check.name for check in failed] == ["banned_terms"]
        assert '"cheap"' in failed[0].detail
        assert "c.h.e.a.p" in failed[0].detail
        message = Message.from_json(failed[0].detail_message)
        assert message.render("zh-CN") == "含禁用词：“cheap”，写作“c.h.e.a.p”（品牌）"


def test_run_chunk_regenerates_only_failing_rows(synced):
    _, ids = submit_small(synced, variants=4, brand={"banned_terms": ["cheap"]})
    seeds = request_seeds(ids)
    generator = RecordingGenerator()
    generator.texts = {2: "Cheap widgets for everyone"}

    run_chunk(ids, generator)

    assert generator.calls == [4, 1]
    assert [item.seed for item in generator.inputs[1]] == [regeneration_seed(seeds[ids[2]], 1)]


def test_run_chunk_greedy_request_samples_when_regenerated(synced):
    _, ids = submit_small(synced, variants=1, brand={"banned_terms": ["cheap"]}, temperature=0)
    seed = request_seeds(ids)[ids[0]]
    generator = ScriptedGenerator({seed}, "Cheap widgets for everyone", "Widgets that last for years")

    run_chunk(ids, generator)

    assert generator.inputs[0][0].temperature == 0
    assert generator.inputs[1][0].temperature == REGENERATION_MIN_TEMPERATURE
    draft = drafts_by_request()[ids[0]][0]
    assert draft.params["temperature"] == REGENERATION_MIN_TEMPERATURE


def test_run_chunk_without_regenerations_flags_at_once(synced, monkeypatch):
    apply_settings(monkeypatch, max_regenerations="0")
    _, ids = submit_small(synced, variants=1, brand={"banned_terms": ["cheap"]})
    generator = ScriptedGenerator(set(), "Cheap widgets for everyone")

    run_chunk(ids, generator)

    assert generator.calls == [1]
    assert drafts_by_request()[ids[0]][0].status == DraftStatus.FLAGGED


def test_run_chunk_near_duplicate_within_chunk(synced):
    _, ids = submit_small(synced, variants=2)
    run_chunk(ids, ScriptedGenerator(set(), "Widgets that last for years"))

    drafts = drafts_by_request()
    assert drafts[ids[0]][0].status == DraftStatus.PENDING_REVIEW
    assert drafts[ids[1]][0].status == DraftStatus.FLAGGED


class SeedTextGenerator(RecordingGenerator):
    """Writes the text mapped to each input's seed."""

    def __init__(self, texts_by_seed: dict[int, str]):
        super().__init__()
        self.texts_by_seed = texts_by_seed

    def generate(self, inputs):
        super().generate(inputs)
        return [
            GenerationOutput(text=self.texts_by_seed[item.seed], prompt_tokens=5, output_tokens=4)
            for item in inputs
        ]


def test_run_chunk_rechecks_unchanged_near_duplicate(synced):
    # Variant 1 is regenerated into variant 2's unchanged text, which must then fail the
    # near-duplicate check and be regenerated in the next round.
    _, ids = submit_small(synced, variants=2, brand={"banned_terms": ["cheap"]})
    seeds = request_seeds(ids)
    first, second = seeds[ids[0]], seeds[ids[1]]
    generator = SeedTextGenerator({
        first: "Cheap widgets for everyone",
        regeneration_seed(first, 1): "Widgets that last for years",
        second: "Widgets that last for years",
        regeneration_seed(second, 2): "Boots for every trail",
    })  # fmt: skip

    result = run_chunk(ids, generator)

    drafts = drafts_by_request()
    assert generator.calls == [2, 1, 1]
    assert result.regenerations == 2
    assert drafts[ids[0]][0].text == "Widgets that last for years"
    assert drafts[ids[1]][0].text == "Boots for every trail"
    assert drafts[ids[1]][0].regenerations == 1
    assert {found[0].status for found in drafts.values()} == {DraftStatus.PENDING_REVIEW}


def test_run_chunk_near_duplicate_of_stored_variant(synced):
    _, ids = submit_small(synced, variants=2)
    run_chunk(ids[:1], ScriptedGenerator(set(), "Widgets that last for years"))
    run_chunk(ids[1:], ScriptedGenerator(set(), "Widgets that last for years!"))

    with db.session_scope() as session:
        check = session.scalars(
            select(DraftCheck).join(Draft).where(Draft.request_id == ids[1], DraftCheck.name == "near_duplicate")
        ).one()
        assert not check.passed
        assert "variant 1" in check.detail


def test_run_chunk_stores_every_check_and_score(synced):
    _, ids = submit_small(synced, variants=1)
    run_chunk(ids, RecordingGenerator())

    draft = drafts_by_request()[ids[0]][0]
    with db.session_scope() as session:
        names = session.scalars(select(DraftCheck.name).where(DraftCheck.passed.is_(True))).all()
    assert draft.status == DraftStatus.PENDING_REVIEW
    assert draft.mean_logprob == -0.5
    assert 0 < draft.score <= 1
    assert set(names) >= {"empty", "length", "banned_terms", "repetition", "language", "personal_data"}


def test_run_chunk_marks_text_cut_at_token_limit(synced):
    _, ids = submit_small(synced, variants=2)
    generator = RecordingGenerator(
        texts={0: "Walk the trail and the", 1: "Walk the river\nWalk the ridge"},
        finish_reasons={0: "length", 1: "length"},
    )
    run_chunk(ids, generator)

    with db.session_scope() as session:
        checks = {
            draft.request_id: next(check for check in draft.checks if check.name == "cut_off")
            for draft in session.scalars(select(Draft))
        }
        statuses = set(session.scalars(select(Draft.status)))
    limit = generator.inputs[0][0].max_new_tokens
    # Advisory: the cut text waits for review like any other, with the check failed.
    assert statuses == {DraftStatus.PENDING_REVIEW}
    assert (checks[ids[0]].passed, checks[ids[0]].blocking) == (False, False)
    assert checks[ids[0]].detail.startswith(f"the model reached its limit of {limit} new tokens")
    # The subject line is the first line, which the second line shows is whole.
    assert checks[ids[1]].passed


def test_run_chunk_marks_one_line_channels(synced):
    _, ids = submit_small(synced, variants=1)
    generator = RecordingGenerator(texts={0: ""})
    run_chunk(ids, generator)

    # The empty output is generated again, and every call requests one line.
    assert len(generator.inputs) > 1
    assert all(item.single_line for call in generator.inputs for item in call)


def test_run_chunk_cut_off_over_limit(synced):
    _, ids = submit_small(synced, variants=1)
    run_chunk(ids, RecordingGenerator(texts={0: "Walk " * 40}, finish_reasons={0: "length"}))

    with db.session_scope() as session:
        check = session.scalars(select(DraftCheck).where(DraftCheck.name == "cut_off")).one()
    assert not check.passed
    assert "already over the channel's length limit" in check.detail
    assert "raise" not in check.detail


@pytest.mark.parametrize(
    ("text", "finish_reason", "single_line", "expected"),
    [
        ("Boots that keep", "length", False, True),
        ("Boots that keep", "stop", False, False),
        ("Boots that keep up\nSecond", "length", True, False),
        ("Boots that keep up\nSecond", "length", False, True),
        ("Boots that keep\n\n", "length", True, False),
        ("\n\nBoots that keep", "length", True, True),
    ],
    ids=["cut", "stopped", "first-line-whole", "multi-line-cut", "line-ended", "leading-blank-lines"],
)
def test_is_cut_off(text, finish_reason, single_line, expected):
    output = GenerationOutput(text=text, finish_reason=finish_reason)
    assert is_cut_off(output, single_line) is expected


def test_run_chunk_gives_up_after_max_attempts(synced, monkeypatch):
    apply_settings(monkeypatch, max_attempts="2")
    _, ids = submit_small(synced, variants=1)
    with db.session_scope() as session:
        session.execute(update(GenerationRequest).values(attempts=2))

    result = run_chunk(ids, NullGenerator())

    assert result.failed == 1
    with db.session_scope() as session:
        request = session.get(GenerationRequest, ids[0])
        assert request.status == RequestStatus.FAILED
        assert "gave up after 2 attempts" in request.error
        assert request.attempts == 3


def test_run_chunk_partial_leaves_batch_running(synced):
    batch_id, ids = submit_small(synced, variants=4)
    run_chunk(ids[:2], NullGenerator())
    assert batch_status(batch_id) == BatchStatus.RUNNING
    run_chunk(ids[2:], NullGenerator())
    assert batch_status(batch_id) == BatchStatus.COMPLETED


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('  "Boots that keep up"  ', "Boots that keep up"),
        ('Subject: "Closing the books, faster"', "Closing the books, faster"),
        ("Headline：山岚茶舍新春礼盒", "山岚茶舍新春礼盒"),
        ("“Walk further.”", "Walk further."),
        ('"Fast" and "light"', '"Fast" and "light"'),
        ("Subjective comfort, all day", "Subjective comfort, all day"),
        ("", ""),
        ("山岚茶舍\ufffd", "山岚茶舍"),
        ("Trail\x00 ready", "Trail ready"),
    ],
    ids=[
        "quotes", "label-and-quotes", "full-width-colon", "curly", "inner-quotes",
        "label-prefix-word", "empty", "cut-character", "nul",
    ],  # fmt: skip
)
def test_clean_output(raw, expected):
    assert clean_output(raw) == expected


def test_clean_output_single_line_keeps_first_line():
    raw = '\n"Boots that keep up"\n\nRidgeline GTX: Boots that keep up, again'
    assert clean_output(raw, single_line=True) == "Boots that keep up"
    assert clean_output(raw) == raw.strip()


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\r\n"], ids=["line", "paragraph", "crlf"])
def test_clean_output_unicode_line_separators(separator):
    raw = f"Boots that keep up{separator}Second try"
    assert clean_output(raw, single_line=True) == "Boots that keep up"
    assert clean_output(raw) == "Boots that keep up\nSecond try"


def test_run_chunk_after_crash_runs_one_by_one(synced):
    _, ids = submit_small(synced, variants=3)
    with db.session_scope() as session:
        session.execute(update(GenerationRequest).values(attempts=1))
    generator = RecordingGenerator()

    result = run_chunk(ids, generator)

    assert result.drafts == 3
    assert generator.calls == [1, 1, 1]
    with db.session_scope() as session:
        attempts = set(session.scalars(select(GenerationRequest.attempts)))
    assert attempts == {2}


class LostConnectionGenerator(RecordingGenerator):
    """Raises OperationalError on its first ``failures`` calls, as a dropped connection would."""

    def __init__(self, failures: int):
        super().__init__()
        self.failures = failures

    def generate(self, inputs: Sequence[GenerationInput]) -> list[GenerationOutput]:
        if self.failures:
            self.failures -= 1
            raise OperationalError("SELECT 1", {}, Exception("server closed the connection"))
        return super().generate(inputs)


def test_run_chunk_lost_connection_takes_attempt_back(synced, monkeypatch):
    apply_settings(monkeypatch, max_attempts="2")
    _, ids = submit_small(synced, variants=3)
    generator = LostConnectionGenerator(failures=3)

    for _ in range(3):
        # session_scope reports a lost connection as InfrastructureError.
        with pytest.raises(InfrastructureError, match="server closed the connection"):
            run_chunk(ids, generator)
    result = run_chunk(ids, generator)

    assert result.drafts == 3
    assert result.failed == 0
    # Still one call for the whole chunk: no earlier run counts as a crash.
    assert generator.calls == [3]
    with db.session_scope() as session:
        assert set(session.scalars(select(GenerationRequest.attempts))) == {1}


class RaisingGenerator(RecordingGenerator):
    """Raises RuntimeError for any call that includes the ``poison`` seed, and for its first
    ``failures`` calls, as a generator with a bug or a device error would."""

    def __init__(self, poison: int | None = None, failures: int = 0):
        super().__init__()
        self.poison = poison
        self.failures = failures

    def generate(self, inputs: Sequence[GenerationInput]) -> list[GenerationOutput]:
        if self.failures or any(item.seed == self.poison for item in inputs):
            self.calls.append(len(inputs))
            self.failures = max(0, self.failures - 1)
            raise RuntimeError("device-side assert triggered")
        return super().generate(inputs)


def request_errors() -> dict[int, tuple[RequestStatus, int, str | None]]:
    with db.session_scope() as session:
        return {
            request.id: (request.status, request.attempts, request.error)
            for request in session.scalars(select(GenerationRequest))
        }


def test_run_chunk_error_with_one_attempt_says_once(synced, monkeypatch):
    apply_settings(monkeypatch, max_attempts="1")
    _, ids = submit_small(synced, variants=1)
    generator = RaisingGenerator(poison=request_seeds(ids)[ids[0]])

    run_chunk(ids, generator)

    assert request_errors()[ids[0]][2] == (
        "generation failed once; the last error was RuntimeError: device-side assert triggered"
    )


def test_run_chunk_error_fails_only_its_request(synced, monkeypatch):
    monkeypatch.setattr(chunks, "FAILED_RUN_PAUSE_SECONDS", 0)
    apply_settings(monkeypatch, max_attempts="3")
    batch_id, ids = submit_small(synced, variants=3)
    poison = ids[1]
    generator = RaisingGenerator(poison=request_seeds(ids)[poison])

    result = run_chunk(ids, generator)

    assert result.drafts == 2
    assert result.failed == 1
    # The whole chunk, then each request alone; the poisoned one three times.
    assert generator.calls == [3, 1, 1, 1, 1, 1]
    states = request_errors()
    assert states[poison] == (
        RequestStatus.FAILED, 3,
        "generation failed 3 times; the last error was RuntimeError: device-side assert triggered",
    )  # fmt: skip
    assert states[ids[0]][:2] == (RequestStatus.DONE, 1)
    assert states[ids[2]][:2] == (RequestStatus.DONE, 1)
    assert batch_status(batch_id) == BatchStatus.COMPLETED


def test_run_chunk_logs_each_failed_attempt_once(synced, monkeypatch, caplog):
    monkeypatch.setattr(chunks, "FAILED_RUN_PAUSE_SECONDS", 0)
    apply_settings(monkeypatch, max_attempts="2")
    _, ids = submit_small(synced, variants=3)
    poison = ids[1]
    caplog.set_level(logging.WARNING, logger="contentgen.chunks")

    run_chunk(ids, RaisingGenerator(poison=request_seeds(ids)[poison]))

    error = "RuntimeError: device-side assert triggered"
    assert caplog.messages == [
        f"chunk {ids} failed with {error}; running its requests one by one",
        f"request {poison} failed on attempt 1 of 2 with {error}; trying again in 0 s",
        f"request {poison} failed on attempt 2 of 2 with {error}; no attempts are left, so it is marked failed",
    ]
    # Each record carries its traceback, which worker logs show.
    assert all(record.exc_info for record in caplog.records)


def test_run_chunk_error_everywhere_keeps_requests_pending(synced, monkeypatch):
    # A generator that fails for every request, as one whose device is broken does.
    monkeypatch.setattr(chunks, "FAILED_RUN_PAUSE_SECONDS", 0)
    batch_id, ids = submit_small(synced, variants=3)
    generator = RaisingGenerator(failures=100)

    with pytest.raises(InfrastructureError, match="every request of chunk .* failed when run alone"):
        run_chunk(ids, generator)

    # The chunk, each request alone, then the one-word prompt that fails as well.
    assert generator.calls == [3, 1, 1, 1, 1]
    states = request_errors()
    assert {states[request_id] for request_id in ids} == {(RequestStatus.PENDING, 0, None)}
    assert batch_status(batch_id) == BatchStatus.RUNNING


class PoisonPromptsGenerator(RecordingGenerator):
    """Raises for every campaign prompt, and answers any other, as a generator with a bug
    that the chunk's prompts all trigger does."""

    def generate(self, inputs: Sequence[GenerationInput]) -> list[GenerationOutput]:
        if any("Widget" in item.prompt for item in inputs):
            self.calls.append(len(inputs))
            raise ValueError("poison prompt")
        return super().generate(inputs)


def test_run_chunk_every_request_poisoned_fails_them(synced, monkeypatch):
    # A working generator that fails on each of the chunk's requests, as after
    # retry-failed gathers the failed requests into one chunk: they fail, not stay pending.
    monkeypatch.setattr(chunks, "FAILED_RUN_PAUSE_SECONDS", 0)
    apply_settings(monkeypatch, max_attempts="2")
    batch_id, ids = submit_small(synced, variants=3)

    result = run_chunk(ids, PoisonPromptsGenerator())

    assert result.failed == 3
    states = request_errors()
    assert {states[request_id][:2] for request_id in ids} == {(RequestStatus.FAILED, 2)}
    assert batch_status(batch_id) == BatchStatus.COMPLETED


def test_run_chunk_error_once_then_succeeds(synced, monkeypatch):
    monkeypatch.setattr(chunks, "FAILED_RUN_PAUSE_SECONDS", 0)
    _, ids = submit_small(synced, variants=1)
    generator = RaisingGenerator(failures=1)

    result = run_chunk(ids, generator)

    assert result.drafts == 1
    assert request_errors()[ids[0]][:2] == (RequestStatus.DONE, 2)


def flaky_session_scope(failures: int):
    """db.session_scope that reports an unreachable database ``failures`` times first."""
    calls = {"count": 0}

    def scope():
        calls["count"] += 1
        if calls["count"] <= failures:
            raise InfrastructureError("database is unreachable")
        return db.session_scope()

    return scope


@pytest.mark.parametrize(("failures", "attempts"), [(2, 0), (5, 1)], ids=["recovers", "stays-down"])
def test_uncount_attempt_retries_unreachable_database(synced, monkeypatch, caplog, failures, attempts):
    _, ids = submit_small(synced, variants=2)
    with db.session_scope() as session:
        session.execute(update(GenerationRequest).values(attempts=1))
    monkeypatch.setattr(chunks, "UNCOUNT_PAUSE_SECONDS", 0)
    monkeypatch.setattr(chunks, "session_scope", flaky_session_scope(failures))

    chunks._uncount_attempt(ids)

    with db.session_scope() as session:
        assert set(session.scalars(select(GenerationRequest.attempts))) == {attempts}
    assert ("could not take back the attempt" in caplog.text) == (attempts == 1)


def test_run_chunk_batch_running_while_generating(synced):
    batch_id, ids = submit_small(synced, variants=2)
    seen = []

    class StatusGenerator(RecordingGenerator):
        def generate(self, inputs):
            seen.append(batch_status(batch_id))
            return super().generate(inputs)

    assert batch_status(batch_id) == BatchStatus.PENDING
    run_chunk(ids, StatusGenerator())

    assert seen == [BatchStatus.RUNNING]
    assert batch_status(batch_id) == BatchStatus.COMPLETED
