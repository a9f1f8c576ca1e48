from pathlib import Path

import pytest
import yaml
from sqlalchemy import event, func, select, update

from contentgen import db
from contentgen.batches import RequestGroup, batch_progress, pending_chunks, request_groups
from contentgen.campaigns import InvalidCampaignFile
from contentgen.channels import CHANNELS
from contentgen.chunks import complete_finished_batches
from contentgen.cleared_fields import batch_warnings
from contentgen.dispatch import dry_run_submit, should_send, submit
from contentgen.errors import InvalidInput, NotFound, NotSetUp
from contentgen.i18n import translate_error
from contentgen.models import (
    Batch,
    BatchStatus,
    Campaign,
    Draft,
    DraftStatus,
    GenerationRequest,
    RequestStatus,
)
from contentgen.templates import sync_templates

from .conftest import all_rows, apply_settings


def campaign_file(folder: Path, **changes) -> Path:
    campaign = {
        "key": "boot-launch",
        "brand": "trailpeak",
        "product": {"name": "Ridgeline GTX", "description": "A waterproof boot."},
        "segments": [{"key": "weekend", "name": "Weekend hikers"}, {"key": "thru", "name": "Thru-hikers"}],
        "channels": ["google_ads_headline", "google_ads_description", "email_subject"],
        "variants": 4,
        "generation": {"seed": 11},
    }
    campaign.update(changes)
    path = folder / "campaign.yaml"
    data = {"brands": [{"key": "trailpeak", "name": "TrailPeak"}], "campaigns": [campaign]}
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def count_rows(model) -> int:
    with db.session_scope() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_submit_expands_every_slot(synced):
    submission = submit([campaign_file(synced)])

    assert submission.request_count == 2 * 3 * 4
    with db.session_scope() as session:
        requests = session.scalars(select(GenerationRequest)).all()
    slots = {(request.segment, request.channel, request.variant) for request in requests}
    assert len(requests) == 24
    assert len(slots) == 24
    assert {request.variant for request in requests} == {1, 2, 3, 4}


def test_submit_stores_rendered_prompt_and_params(synced):
    submit([campaign_file(synced)])
    with db.session_scope() as session:
        request = session.scalars(
            select(GenerationRequest).where(GenerationRequest.channel == "google_ads_headline")
        ).first()
        template_name = request.template.name

    assert "Ridgeline GTX" in request.prompt
    assert "{{" not in request.prompt
    assert template_name == "google_ads_headline.j2"
    assert request.params["max_new_tokens"] == 24
    assert request.params["temperature"] == 0.3


def test_submit_token_budget_follows_locale(synced):
    submit([campaign_file(synced, locale="zh-CN")])
    with db.session_scope() as session:
        budgets = {request.channel: request.params["max_new_tokens"]
                   for request in session.scalars(select(GenerationRequest))}  # fmt: skip
    assert budgets["google_ads_headline"] == CHANNELS["google_ads_headline"].token_budget("zh-CN")
    assert budgets["google_ads_headline"] > CHANNELS["google_ads_headline"].default_max_new_tokens


def test_submit_gives_variants_distinct_seeds(synced):
    submit([campaign_file(synced)])
    with db.session_scope() as session:
        seeds = [request.params["seed"] for request in session.scalars(select(GenerationRequest))]
    assert len(set(seeds)) == len(seeds)


def test_submit_same_idempotency_key_same_batch(synced):
    path = campaign_file(synced)
    first = submit([path], idempotency_key="spring-2027")
    second = submit([path], idempotency_key="spring-2027")

    assert first.created is True
    assert second.created is False
    assert second.batch_id == first.batch_id
    assert count_rows(Batch) == 1
    assert count_rows(GenerationRequest) == 24


def test_submit_key_other_layout_same_batch(synced):
    first = submit([campaign_file(synced)], idempotency_key="spring-2027")
    # The same definitions, with other key order and flow style, under another name.
    data = yaml.safe_load(campaign_file(synced).read_text(encoding="utf-8"))
    other = synced / "renamed.yml"
    other.write_text(yaml.safe_dump(data, sort_keys=False, default_flow_style=True), encoding="utf-8")

    second = submit([other], idempotency_key="spring-2027")

    assert (second.batch_id, second.created) == (first.batch_id, False)


def test_submit_same_key_other_content_is_refused(synced):
    first = submit([campaign_file(synced)], idempotency_key="spring-2027")
    changed = campaign_file(synced, variants=2)

    with pytest.raises(InvalidInput) as caught:
        submit([changed], idempotency_key="spring-2027")

    assert str(caught.value) == (
        f'idempotency key "spring-2027" already made batch {first.batch_id} from other campaign '
        "content; use a new key for this submission, or submit the same content to get batch "
        f"{first.batch_id}"
    )
    assert count_rows(Batch) == 1
    with db.session_scope() as session:
        # The changed file was not imported either.
        assert session.scalar(select(Campaign.spec))["variants"] == 4


def test_submit_key_reused_for_campaign_keys(synced):
    submit([campaign_file(synced)], idempotency_key="k")
    with pytest.raises(InvalidInput, match='idempotency key "k" already made batch 1'):
        submit(campaign_keys=["boot-launch"], idempotency_key="k")
    again = submit(campaign_keys=["boot-launch"], idempotency_key="k2")
    same = submit(campaign_keys=["boot-launch", "boot-launch"], idempotency_key="k2")
    assert (same.batch_id, same.created) == (again.batch_id, False)


def test_submit_key_reused_csv_other_columns(synced):
    # Without a seed column, a CSV row keeps the stored campaign's seed; with one, it sets it.
    submit([campaign_file(synced)])
    header = "key,brand,product_name,product_description,features,price,url,segments,channels,variants,locale"
    row = "boot-launch,trailpeak,Ridgeline GTX,A waterproof boot.,,,,Weekend hikers,email_subject,1,en-US"
    plain = synced / "plain.csv"
    plain.write_text(f"{header}\n{row}\n", encoding="utf-8")
    seeded = synced / "seeded.csv"
    seeded.write_text(f"{header},seed\n{row},0\n", encoding="utf-8")

    submit([plain], idempotency_key="csv")
    with pytest.raises(InvalidInput, match='idempotency key "csv" already made batch 2 from other campaign content'):
        submit([seeded], idempotency_key="csv")


def test_submit_key_of_batch_without_digest_returns_it(synced):
    first = submit([campaign_file(synced)], idempotency_key="old")
    with db.session_scope() as session:
        session.get(Batch, first.batch_id).submission_digest = None

    second = submit([campaign_file(synced, variants=2)], idempotency_key="old")

    assert (second.batch_id, second.created) == (first.batch_id, False)


def test_submit_different_keys_make_two_batches(synced):
    path = campaign_file(synced)
    first = submit([path], idempotency_key="a")
    second = submit([path], idempotency_key="b")
    assert first.batch_id != second.batch_id
    assert count_rows(GenerationRequest) == 48


def test_submit_over_limit_writes_nothing(synced, monkeypatch):
    apply_settings(monkeypatch, max_requests_per_batch="10")
    with pytest.raises(InvalidInput, match="24 requests, more than the limit of 10"):
        submit([campaign_file(synced)])
    assert count_rows(Batch) == 0
    assert count_rows(GenerationRequest) == 0


def test_submit_files_defining_key_differently_write_nothing(synced):
    first = campaign_file(synced).rename(synced / "first.yaml")
    second = campaign_file(synced, variants=2)

    with pytest.raises(InvalidInput) as raised:
        submit([first, second])

    assert f'campaign "boot-launch" differs between "{first}" and "{second}"' in str(raised.value)
    assert count_rows(Batch) == 0


def test_submit_files_defining_key_alike_make_one_batch(synced):
    first = campaign_file(synced).rename(synced / "first.yaml")
    submission = submit([first, campaign_file(synced)])
    assert submission.request_count == 24


def test_submit_unknown_campaign_key(synced):
    with pytest.raises(NotFound, match='campaign "nope" not found; list the imported campaigns with'):
        submit(campaign_keys=["nope"])


def test_submit_misspelt_campaign_key(synced):
    submit([campaign_file(synced)])
    with pytest.raises(NotFound, match='campaign "boot-lanch" not found; did you mean "boot-launch"?'):
        submit(campaign_keys=["boot-lanch"])


def test_submit_campaign_key_in_capitals(synced):
    submit([campaign_file(synced)])
    with pytest.raises(NotFound, match='campaign "BOOT-LAUNCH" not found; did you mean "boot-launch"?'):
        submit(campaign_keys=["BOOT-LAUNCH"])


def test_submit_campaign_name_for_key(synced):
    submit([campaign_file(synced, name="春季新品")])
    with pytest.raises(NotFound, match='"春季新品" is the name of campaign "boot-launch", and commands take its key'):
        submit(campaign_keys=["春季新品"])


def test_submit_by_campaign_key_after_import(synced):
    submit([campaign_file(synced)])
    submission = submit(campaign_keys=["boot-launch"])
    assert submission.request_count == 24
    assert count_rows(Batch) == 2


def test_submit_returns_cleared_fields(synced):
    submit([campaign_file(synced, goal="Pre-orders", schedule={"cron": "@daily"})])
    path = campaign_file(synced)

    submission = submit([path])

    assert [str(warning) for warning in submission.warnings] == [
        f'{path}: campaign "boot-launch": this import clears goal, schedule, which the file leaves out',
    ]
    with db.session_scope() as session:
        stored = session.scalars(select(Campaign)).one()
        assert (stored.spec["goal"], stored.spec["schedule"]) == (None, None)


def test_submit_stores_cleared_fields_with_batch(synced):
    first = submit([campaign_file(synced, goal="Pre-orders")], idempotency_key="first")
    second = submit([campaign_file(synced)], idempotency_key="second")
    replay = submit([campaign_file(synced)], idempotency_key="second")
    by_key = submit(campaign_keys=["boot-launch"])

    with db.session_scope() as session:
        stored = {batch.id: batch_warnings(batch) for batch in session.scalars(select(Batch))}
        raw = session.get(Batch, second.batch_id).import_warnings
    assert stored[first.batch_id] == []
    assert [str(warning) for warning in stored[second.batch_id]] == [
        'campaign "boot-launch": the import cleared goal, which the file left out',
    ]
    assert raw == [{
        "kind": "campaign",
        "key": "boot-launch",
        "message": {"t": "this import clears {fields}, which the file leaves out", "p": {"fields": "goal"}},
    }]  # fmt: skip
    assert stored[second.batch_id][0].text.render("zh-CN") == "文件中没有写 goal，导入已将其清空"
    # A repeated key imports nothing, so it clears nothing. The batch keeps its warnings.
    assert (replay.batch_id, replay.warnings) == (second.batch_id, ())
    assert stored[by_key.batch_id] == []


def test_submit_without_templates_says_sync(database):
    with pytest.raises(NotSetUp, match="run: contentgen templates sync"):
        submit([campaign_file(database)])
    assert count_rows(Batch) == 0


# Renders for the sample campaign of templates sync, whose product name "Sample product" has
# 14 characters, but divides by zero for "Ridgeline GTX", which has 13.
FAILS_FOR_RIDGELINE = "Only {{ 100 // (product.name | length - 13) }}"


def test_submit_render_error_writes_nothing(synced, tmp_path):
    folder = tmp_path / "custom"
    folder.mkdir()
    (folder / "google_ads_headline.j2").write_text(FAILS_FOR_RIDGELINE)
    from contentgen.templates import sync_templates

    with db.session_scope() as session:
        sync_templates(session, folder)

    with pytest.raises(InvalidInput) as raised:
        submit([campaign_file(synced)])

    assert 'campaign "boot-launch", channel "google_ads_headline"' in str(raised.value)
    assert "line 1" in str(raised.value)
    assert count_rows(Batch) == 0
    assert count_rows(GenerationRequest) == 0


def test_submit_rejects_prompt_over_length_limit(synced, tmp_path):
    # 5 × 18 characters for the sample campaign of templates sync, 5 × 4,500 for this one.
    sync_headline_template(tmp_path / "custom", "Describe: {% for i in range(5) %}{{ product.description }}{% endfor %}")
    path = campaign_file(synced, product={"name": "Ridgeline GTX", "description": "d" * 4500})

    with pytest.raises(InvalidInput) as raised:
        submit([path])

    assert str(raised.value) == (
        'campaign "boot-launch", channel "google_ads_headline": template "google_ads_headline.j2" '
        "version 2: renders more than 20,000 characters, the maximum length of a prompt; shorten "
        "the template's text or loops, or the campaign's values"
    )
    assert translate_error(raised.value, "zh-CN") == (
        "活动“boot-launch”，渠道“google_ads_headline”：模板“google_ads_headline.j2”第 2 版："
        "渲染出的内容超过 20,000 个字符，这是提示词的长度上限；请缩短模板的文字或循环，或缩短活动的字段值"
    )
    assert count_rows(Batch) == 0
    assert count_rows(GenerationRequest) == 0


def sync_headline_template(folder: Path, text: str) -> None:
    """Store ``text`` as a new version of the google_ads_headline template."""
    folder.mkdir(exist_ok=True)
    (folder / "google_ads_headline.j2").write_text(text)
    with db.session_scope() as session:
        sync_templates(session, folder)


def test_dry_run_writes_nothing(synced):
    submit([campaign_file(synced, goal="Pre-orders")], idempotency_key="first")
    data = yaml.safe_load(campaign_file(synced).read_text())
    data["brands"][0]["voice"] = "Short words."
    data["campaigns"].append({**data["campaigns"][0], "key": "socks", "variants": 1})
    path = synced / "changed.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    before = all_rows()

    plan = dry_run_submit([path], idempotency_key="second")

    # The import updated the brand, replaced a campaign, added one and created a batch,
    # and all of it was rolled back.
    assert plan.request_count == 24 + 6
    assert len(plan.warnings) == 1
    assert all_rows() == before
    assert len(before["batches"]) == 1
    assert len(before["generation_requests"]) == 24


def test_dry_run_counts_match_real_submit(synced):
    path = campaign_file(synced, locale="zh-CN", segments=[{"key": "weekend", "name": "Weekend"}])

    plan = dry_run_submit([path])
    submission = submit([path])

    with db.session_scope() as session:
        created = request_groups(session, submission.batch_id)
    assert plan.request_count == submission.request_count == 12
    assert plan.requests == tuple(created)
    assert [(group.channel, group.requests) for group in plan.requests] == [
        ("google_ads_headline", 4), ("google_ads_description", 4), ("email_subject", 4),
    ]  # fmt: skip
    headline = CHANNELS["google_ads_headline"].token_budget("zh-CN")
    assert plan.requests[0] == RequestGroup("boot-launch", "google_ads_headline", headline, 4)


def test_dry_run_surfaces_render_error(synced, tmp_path):
    sync_headline_template(tmp_path / "custom", FAILS_FOR_RIDGELINE)

    with pytest.raises(InvalidInput) as raised:
        dry_run_submit([campaign_file(synced)])

    assert 'campaign "boot-launch", channel "google_ads_headline"' in str(raised.value)
    assert "line 1" in str(raised.value)
    assert count_rows(Campaign) == 0


def test_dry_run_renders_stored_campaigns(synced, tmp_path):
    submit([campaign_file(synced)])
    sync_headline_template(tmp_path / "custom", FAILS_FOR_RIDGELINE)

    with pytest.raises(InvalidInput, match='campaign "boot-launch", channel "google_ads_headline"'):
        dry_run_submit(campaign_keys=["boot-launch"])
    sync_headline_template(tmp_path / "custom", "Write about {{ product.name }}")
    plan = dry_run_submit(campaign_keys=["boot-launch"])

    assert (plan.request_count, plan.warnings, plan.matched_batch_id) == (24, (), None)
    assert count_rows(Batch) == 1


def test_dry_run_returns_cleared_fields(synced):
    submit([campaign_file(synced, goal="Pre-orders", schedule={"cron": "@daily"})])
    path = campaign_file(synced)

    plan = dry_run_submit([path])

    assert [str(warning) for warning in plan.warnings] == [
        f'{path}: campaign "boot-launch": this import clears goal, schedule, which the file leaves out',
    ]
    with db.session_scope() as session:
        assert session.scalars(select(Campaign)).one().spec["goal"] == "Pre-orders"


def test_dry_run_key_of_earlier_batch_names_it(synced):
    path = campaign_file(synced)
    first = submit([path], idempotency_key="spring-2027")
    before = all_rows()

    plan = dry_run_submit([path], idempotency_key="spring-2027")

    assert plan.matched_batch_id == first.batch_id
    assert plan.request_count == 24
    assert sum(group.requests for group in plan.requests) == 24
    assert plan.warnings == ()
    assert all_rows() == before


def test_dry_run_matched_batch_warnings(synced):
    submit([campaign_file(synced, goal="Pre-orders")])
    path = campaign_file(synced)
    submit([path], idempotency_key="spring-2027")

    plan = dry_run_submit([path], idempotency_key="spring-2027")

    # The warnings of the import that made the matched batch, which is done.
    assert [warning.message for warning in plan.warnings] == [
        "the import cleared goal, which the file left out",
    ]


def test_dry_run_key_other_content_rejected(synced):
    submit([campaign_file(synced)], idempotency_key="spring-2027")
    changed = campaign_file(synced, variants=2)

    with pytest.raises(InvalidInput) as from_submit:
        submit([changed], idempotency_key="spring-2027")
    with pytest.raises(InvalidInput) as from_dry_run:
        dry_run_submit([changed], idempotency_key="spring-2027")

    assert str(from_dry_run.value) == str(from_submit.value)
    assert "already made batch 1 from other campaign content" in str(from_dry_run.value)


def test_dry_run_invalid_file_raises_as_submit(synced):
    path = campaign_file(synced, channels=["tiktok"], variants=0)

    with pytest.raises(InvalidCampaignFile) as from_submit:
        submit([path])
    with pytest.raises(InvalidCampaignFile) as from_dry_run:
        dry_run_submit([path])

    assert str(from_dry_run.value) == str(from_submit.value)
    assert len(from_dry_run.value.details) == 2


def test_submit_needs_upgraded_database(sqlite_settings):
    from contentgen.errors import InfrastructureError

    with pytest.raises(InfrastructureError, match="run: contentgen db upgrade"):
        submit([campaign_file(sqlite_settings)])


def test_pending_chunks_group_by_channel(synced):
    submission = submit([campaign_file(synced)])
    with db.session_scope() as session:
        chunks = pending_chunks(session, submission.batch_id, chunk_size=3)
        channel_of = {
            request.id: request.channel for request in session.scalars(select(GenerationRequest))
        }

    assert sorted(id_ for chunk in chunks for id_ in chunk) == sorted(channel_of)
    assert all(len(chunk) <= 3 for chunk in chunks)
    assert all(len({channel_of[id_] for id_ in chunk}) == 1 for chunk in chunks)
    assert len(chunks) == 9


def test_batch_progress_counts_pending(synced):
    submission = submit([campaign_file(synced)])
    with db.session_scope() as session:
        progress = batch_progress(session, submission.batch_id)
    assert progress.requests == {"pending": 24, "done": 0, "failed": 0, "cancelled": 0}
    assert progress.drafts == {"pending_review": 0, "flagged": 0, "approved": 0, "rejected": 0}


def test_batch_progress_batch_finished_between_reads(synced):
    # A worker commits the last requests' states and the batch's final status together,
    # here right after batch_progress's first SELECT, as it can while `--wait` polls.
    batch_id = submit([campaign_file(synced)]).batch_id
    with db.session_scope() as session:
        session.execute(update(Batch).values(status=BatchStatus.RUNNING))

    def fail_every_request() -> None:
        with db.session_scope() as session:
            session.execute(update(GenerationRequest).values(status=RequestStatus.FAILED, error="simulated"))
            complete_finished_batches(session, {batch_id})

    finished = []

    def finish_after_first_statement(*_args) -> None:
        if not finished:
            finished.append(True)
            fail_every_request()

    engine = db.get_engine()
    with db.session_scope() as session:
        event.listen(engine, "after_cursor_execute", finish_after_first_statement)
        try:
            progress = batch_progress(session, batch_id)
        finally:
            event.remove(engine, "after_cursor_execute", finish_after_first_statement)

    assert finished == [True]
    assert progress.batch.status is BatchStatus.COMPLETED


def test_batch_progress_unknown_batch(database):
    with pytest.raises(NotFound, match="batch 99 not found"), db.session_scope() as session:
        batch_progress(session, 99)


def zh_campaign_file(folder: Path, brand: dict) -> Path:
    campaign = {
        "key": "tea-gift",
        "brand": "shanlan",
        "product": {"name": "山岚四季茶礼盒", "description": "四种中国茶"},
        "segments": [{"key": "parents", "name": "给父母送礼的年轻人"}],
        "channels": ["google_ads_headline"],
        "locale": "zh-CN",
    }
    path = folder / "tea.yaml"
    data = {"brands": [{"key": "shanlan", "name": "山岚茶舍", **brand}], "campaigns": [campaign]}
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_submit_prompt_lists_rule_pack_terms(synced):
    submit([zh_campaign_file(synced, {"banned_terms": ["便宜"]})])
    with db.session_scope() as session:
        prompt = session.scalars(select(GenerationRequest.prompt)).one()
    assert "便宜, 最, 最佳" in prompt


def test_submit_prompt_omits_switched_off_pack(synced):
    submit([zh_campaign_file(synced, {"disabled_rule_packs": ["zh-cn-absolute-terms"]})])
    with db.session_scope() as session:
        prompt = session.scalars(select(GenerationRequest.prompt)).one()
    assert "Never use" not in prompt


def test_submit_prompt_halves_google_limit_for_chinese(synced):
    submit([zh_campaign_file(synced, {})])
    with db.session_scope() as session:
        prompt = session.scalars(select(GenerationRequest.prompt)).one()
    assert "At most 15 characters" in prompt


def test_submit_prompt_uses_brand_channel_limit(synced, tmp_path):
    path = campaign_file(synced, channels=["google_ads_headline"])
    data = yaml.safe_load(path.read_text())
    data["brands"][0]["channel_limits"] = {"google_ads_headline": 25}
    path.write_text(yaml.safe_dump(data))
    submit([path])
    with db.session_scope() as session:
        prompts = set(session.scalars(select(GenerationRequest.prompt)))
    assert all("At most 25 characters" in prompt for prompt in prompts)


def test_batch_progress_counts_checks(synced):
    from contentgen.chunks import run_chunk
    from contentgen.generation.null import NullGenerator

    batch_id = submit([campaign_file(synced, channels=["email_subject"], variants=2)]).batch_id
    with db.session_scope() as session:
        ids = session.scalars(select(GenerationRequest.id)).all()
    run_chunk(ids, NullGenerator())

    with db.session_scope() as session:
        checks = batch_progress(session, batch_id).checks
    # Variant 2 of each segment repeats variant 1's fixed text, twice regenerated.
    assert checks.drafts == 4
    assert checks.passed == 2
    assert checks.passed_first_try == 2
    assert checks.regenerations == 4
    assert checks.pass_rate == 0.5
    assert checks.failures == {"near_duplicate": 2}


def test_batch_check_counts_leave_out_edited_drafts(synced):
    from contentgen.chunks import run_chunk
    from contentgen.generation.null import NullGenerator
    from contentgen.review import Decision, decide

    from .seeding import make_user

    batch_id = submit([campaign_file(synced, channels=["email_subject"], variants=2)]).batch_id
    with db.session_scope() as session:
        ids = session.scalars(select(GenerationRequest.id)).all()
    run_chunk(ids, NullGenerator())
    rita = make_user("rita", "reviewer")
    with db.session_scope() as session:
        flagged = session.scalars(select(Draft.id).where(Draft.status == DraftStatus.FLAGGED)).all()
        for draft_id in flagged:
            decide(session, rita, draft_id,
                   Decision("edit", text=f"Walk farther, version {draft_id}"))  # fmt: skip

    with db.session_scope() as session:
        checks = batch_progress(session, batch_id).checks
    # The two near-duplicates were edited: the model's other two drafts passed.
    assert (checks.drafts, checks.edited) == (2, 2)
    assert (checks.passed, checks.passed_first_try, checks.failures) == (2, 2, {})
    assert checks.regenerations == 0


def test_should_send_new_batch_and_unstarted_replay_only(synced):
    first = submit([campaign_file(synced)], idempotency_key="k")
    replay = submit([campaign_file(synced)], idempotency_key="k")
    unstarted = should_send(replay)
    with db.session_scope() as session:
        session.get(Batch, first.batch_id).status = BatchStatus.RUNNING

    assert should_send(first) is True
    # The first submit may have found the broker down, so a replay sends the chunks again.
    assert unstarted is True
    assert should_send(replay) is False


def test_stalled_batches_wait_for_the_last_send(synced):
    from datetime import UTC, datetime, timedelta

    from contentgen.batches import stalled_batches

    batch_id = submit([campaign_file(synced)]).batch_id
    hour_ago = datetime.now(UTC) - timedelta(hours=1)

    def stalled(sent_at):
        with db.session_scope() as session:
            batch = session.get(Batch, batch_id)
            batch.created_at, batch.sent_at = hour_ago, sent_at
        with db.session_scope() as session:
            return stalled_batches(session, stalled_after=600)

    # Sent a minute ago (by the last sweep, say): not stalled yet, though nothing finished.
    assert stalled(datetime.now(UTC) - timedelta(minutes=1)) == []
    assert stalled(hour_ago) == [batch_id]
    assert stalled(None) == [batch_id]


def test_submit_lists_every_files_problems_in_one_round(synced):
    ghost = synced / "ghost.yaml"
    ghost.write_text(yaml.safe_dump({"campaigns": [{
        "key": "ghost-launch", "brand": "ghost", "product": {"name": "Boot"},
        "segments": [{"key": "a", "name": "A"}], "channels": ["email_subject"],
    }]}), encoding="utf-8")  # fmt: skip
    brands = synced / "brands.yaml"
    brands.write_text(yaml.safe_dump({
        "brands": [{"key": "trailpeak", "name": "TrailPeak"}],
        "campaigns": [{"key": "bad", "brand": "trailpeak", "product": {"name": "Boot"},
                       "segments": [{"key": "a", "name": "A"}], "channels": ["bogus"]}],
    }), encoding="utf-8")  # fmt: skip
    uses_brand = synced / "uses.yaml"
    uses_brand.write_text(yaml.safe_dump({"campaigns": [{
        "key": "uses", "brand": "trailpeak", "product": {"name": "Boot"},
        "segments": [{"key": "a", "name": "A"}], "channels": ["email_subject"], "variants": 0,
    }]}), encoding="utf-8")  # fmt: skip

    with pytest.raises(InvalidCampaignFile) as raised:
        submit([ghost, brands, uses_brand])

    found = {(Path(problem.path).name, problem.key, problem.field) for problem in raised.value.details}
    # The brand that brands.yaml defines is not reported as undefined in uses.yaml.
    assert found == {("brands.yaml", "bad", "channels[0]"), ("uses.yaml", "uses", "variants"),
                     ("ghost.yaml", "ghost-launch", "brand")}  # fmt: skip
    assert str(raised.value).startswith("3 campaign files are invalid; nothing was imported:")
    assert count_rows(Batch) == 0
