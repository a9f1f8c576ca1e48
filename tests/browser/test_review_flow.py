"""The review pages in real headless Chromium, against `contentgen serve`."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from contentgen import db
from contentgen.dispatch import run_inline, submit
from contentgen.models import (
    Batch,
    BatchStatus,
    Draft,
    DraftStatus,
    GenerationRequest,
    RequestStatus,
    Trigger,
)
from contentgen.review import history

from ..seeding import (
    NEW_CUSTOMERS,
    OLD_CUSTOMERS,
    PASSWORD,
    draft_ids,
    make_user,
    seed_batch,
    seed_chinese_segments,
    write_campaign_file,
)

pytestmark = pytest.mark.browser

HOSTILE_TEXT = '<script>window.hacked = 1</script><img src=x onerror="window.hacked = 2">'


def log_in(page, url: str, username: str) -> None:
    page.goto(f"{url}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation():
        page.click("form[action='/login'] button[type=submit]")


def status_counts(batch_id: int) -> dict[str, int]:
    with db.session_scope() as session:
        rows = session.execute(
            select(Draft.status, func.count()).where(Draft.batch_id == batch_id).group_by(Draft.status)
        ).all()
    return {status.value: count for status, count in rows}


def draft_row(draft_id: int) -> Draft:
    with db.session_scope() as session:
        return session.get(Draft, draft_id)


@pytest.fixture
def review_batch(database_ready, tmp_path):
    batch_id = seed_batch(tmp_path, variants=3)
    make_user("rita", "reviewer")
    hostile = draft_ids(batch_id, "email_subject")[-1]
    with db.session_scope() as session:
        session.get(Draft, hostile).text = HOSTILE_TEXT
    return batch_id, hostile


def test_browser_reviewer_flow(review_batch, server, page, screenshot_dir):
    batch_id, hostile = review_batch
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    log_in(page, server.url, "rita")

    # Filter the queue through the form.
    page.goto(f"{server.url}/queue")
    page.select_option("select[name=channel]", "email_subject")
    page.select_option("select[name=sort]", "oldest")
    with page.expect_navigation():
        page.click("#filters button[type=submit]")
    rows = page.locator("tr[data-draft]")
    assert rows.count() == 6
    assert "channel=email_subject" in page.url

    # Approve one draft from its page; the next one in the filtered queue opens.
    subjects = draft_ids(batch_id, "email_subject")
    page.click(f"tr[data-draft='{subjects[0]}'] a")
    with page.expect_navigation():
        page.click("#approve-button")
    assert f"/drafts/{subjects[1]}?" in page.url
    assert page.locator(".notice[role=status]").inner_text() == f"Draft {subjects[0]} approved."
    assert draft_row(subjects[0]).status == DraftStatus.APPROVED

    # Bulk-approve everything that matches a filter.
    page.goto(f"{server.url}/queue?channel=google_ads_description")
    with page.expect_navigation():
        page.click("#approve-all")
    assert page.locator(".notice[role=status]").inner_text() == "6 drafts approved."
    assert all(draft_row(draft_id).status == DraftStatus.APPROVED
               for draft_id in draft_ids(batch_id, "google_ads_description"))  # fmt: skip

    # Edit a headline, then approve it; the page shows the original beside the edit.
    headline = draft_ids(batch_id, "google_ads_headline")[0]
    original = draft_row(headline).text
    page.goto(f"{server.url}/drafts/{headline}?channel=google_ads_headline")
    page.fill("#edit-text", "Dry feet on every trail")
    with page.expect_navigation():
        page.click("#edit-form button[type=submit]")
    edited = draft_row(headline)
    assert (edited.status, edited.text, edited.original_text) == (
        DraftStatus.APPROVED, "Dry feet on every trail", original,
    )  # fmt: skip

    # Hostile text shows as text: no script runs, no element is created.
    page.goto(f"{server.url}/drafts/{hostile}")
    assert page.locator("#draft-text").inner_text() == HOSTILE_TEXT
    assert page.locator("#draft-text img, #draft-text script").count() == 0
    assert page.evaluate("window.hacked") is None
    page.goto(f"{server.url}/queue?channel=email_subject&status=all")
    assert page.locator(f"tr[data-draft='{hostile}'] td.text").inner_text() == HOSTILE_TEXT
    assert page.evaluate("window.hacked") is None
    assert dialogs == []

    # Export the approved copy as CSV from the batch page.
    page.goto(f"{server.url}/batches/{batch_id}")
    with page.expect_download() as download_info:
        page.click("#export-csv")
    exported = download_info.value.path().read_bytes()
    rows = list(csv.DictReader(io.StringIO(exported.decode("utf-8-sig"))))
    assert exported.startswith(b"\xef\xbb\xbf")
    assert {int(row["draft_id"]) for row in rows} == (
        {subjects[0], headline} | set(draft_ids(batch_id, "google_ads_description"))
    )
    assert {row["approved_by"] for row in rows} == {"rita"}

    # Screenshots of the real pages for the README.
    page.goto(f"{server.url}/queue?batch_id={batch_id}&status=all&sort=oldest")
    page.screenshot(path=str(screenshot_dir / "review-queue.png"), full_page=False)
    page.goto(f"{server.url}/drafts/{headline}?batch_id={batch_id}&status=all&sort=oldest")
    page.screenshot(path=str(screenshot_dir / "draft-page.png"), full_page=True)
    assert (screenshot_dir / "review-queue.png").stat().st_size > 10_000
    assert (screenshot_dir / "draft-page.png").stat().st_size > 10_000


def test_browser_keyboard_clears_200_drafts(database_ready, tmp_path, server, page):
    channels = ("google_ads_headline", "google_ads_description", "email_subject", "social_post")
    batch_id = seed_batch(tmp_path, channels=channels, segments=("hikers",), variants=50)
    make_user("rita", "reviewer")
    assert sum(status_counts(batch_id).values()) == 200
    log_in(page, server.url, "rita")

    page.goto(f"{server.url}/queue?batch_id={batch_id}")
    page.click("#start-review")
    page.wait_for_selector("#approve-form")

    # The first draft is rejected from the keyboard: r, the reason, Ctrl+Enter.
    page.keyboard.press("r")
    page.keyboard.type("Says nothing about the product")
    with page.expect_navigation():
        page.keyboard.press("Control+Enter")
    # n skips a draft and p comes back to it.
    skipped_from = page.url
    with page.expect_navigation():
        page.keyboard.press("n")
    with page.expect_navigation():
        page.keyboard.press("p")
    assert page.url.split("?")[0] == skipped_from.split("?")[0]

    # Then a approves each draft and opens the next, until the queue is clear.
    presses = 0
    while "/drafts/" in page.url:
        with page.expect_navigation():
            page.keyboard.press("a")
        presses += 1
        assert presses <= 199, "the queue did not clear after 199 approvals"

    assert presses == 199
    assert "The queue is clear" in page.locator(".notice[role=status]").inner_text()
    assert status_counts(batch_id) == {"approved": 199, "rejected": 1}


def test_browser_queue_segment_options_by_name(database_ready, tmp_path, server, page):
    seed_chinese_segments(tmp_path)
    make_user("rita", "reviewer")
    log_in(page, server.url, "rita")
    page.goto(f"{server.url}/queue")

    options = page.locator("select[name=segment] option")
    labels = [label.replace("\u2068", "").replace("\u2069", "") for label in options.all_inner_texts()]
    page.select_option("select[name=campaign]", label="\u2068春季上新\u2069 (spring)")
    page.select_option("select[name=segment]", label=f"\u2068老客户\u2069 ({OLD_CUSTOMERS})")
    with page.expect_navigation():
        page.click("#filters button[type=submit]")

    assert labels == ["Any", f"新客户 ({NEW_CUSTOMERS})", "老客户 (loyal)", f"老客户 ({OLD_CUSTOMERS})"]
    assert f"segment={OLD_CUSTOMERS}" in page.url
    assert page.locator("tr[data-draft] td bdi").all_inner_texts() == ["春季上新", "老客户"]


def test_browser_batch_counts_update_while_running(database_ready, tmp_path, server, page):
    from playwright.sync_api import expect

    submission = submit([write_campaign_file(tmp_path)])
    make_user("mia", "marketer")
    log_in(page, server.url, "mia")
    page.goto(f"{server.url}/batches")
    row = page.locator(f"tr[data-batch='{submission.batch_id}']")
    expect(row.locator("[data-field='requests.done']")).to_have_text("0")

    # The batch runs outside the page, as a worker would run it; the page is not reloaded.
    progress = run_inline(submission.batch_id)

    expect(row.locator("[data-field='requests.done']")).to_have_text("12", timeout=20_000)
    # The checks flag some of the null generator's drafts; the page shows what the batch has.
    pending_review = progress.drafts.get("pending_review", 0)
    expect(row.locator("[data-field='drafts.pending_review']")).to_have_text(str(pending_review))
    expect(row.locator("[data-field='status']")).to_have_text("Completed")


def test_browser_old_batch_page_updates_hint(database_ready, tmp_path, server, page):
    from playwright.sync_api import expect

    submission = submit([write_campaign_file(tmp_path)])
    # 100 newer batches leave this one out of the list that the batches page fetches.
    with db.session_scope() as session:
        session.add_all(
            Batch(trigger=Trigger.MANUAL, status=BatchStatus.COMPLETED, request_count=0) for _ in range(100)
        )
    make_user("mia", "marketer")
    log_in(page, server.url, "mia")
    page.goto(f"{server.url}/batches/{submission.batch_id}")
    hint = page.locator("[data-run-hint='no_broker']")
    expect(hint).to_be_visible()
    expect(hint).to_contain_text(f"contentgen batch resume {submission.batch_id} --wait")
    expect(page.locator("[data-run-hint='not_sent']")).to_be_hidden()

    # The command in the hint runs the batch outside the page; the page is not reloaded.
    run_inline(submission.batch_id)

    expect(page.locator("[data-field='status']")).to_have_text("Completed", timeout=20_000)
    expect(hint).to_be_hidden()


def test_browser_batch_page_live_sections(database_ready, tmp_path, server, page):
    from playwright.sync_api import expect

    submission = submit([write_campaign_file(tmp_path)])
    make_user("mia", "marketer")
    log_in(page, server.url, "mia")
    page.goto(f"{server.url}/batches/{submission.batch_id}")
    cancel = page.locator(f"form[action='/batches/{submission.batch_id}/cancel']")
    failed_since = page.locator("[data-failed-at-load]")
    expect(cancel).to_be_visible()
    expect(failed_since).to_be_hidden()

    # Outside the page, as workers would: two requests fail and the others run.
    with db.session_scope() as session:
        for request in session.scalars(
            select(GenerationRequest).where(GenerationRequest.batch_id == submission.batch_id).limit(2)
        ):
            request.status, request.error = RequestStatus.FAILED, "generation failed 3 times"
    run_inline(submission.batch_id)

    expect(page.locator("[data-field='requests.failed']")).to_have_text("2", timeout=20_000)
    expect(cancel).to_be_hidden()
    expect(failed_since).to_be_visible()
    page.reload()
    expect(page.locator("#failed-requests")).to_contain_text("generation failed 3 times")
    expect(failed_since).to_be_hidden()


def test_browser_upload_check_without_submitting(database_ready, tmp_path, server, page):
    from playwright.sync_api import expect

    path = write_campaign_file(tmp_path, key="fresh")
    make_user("mia", "marketer")
    log_in(page, server.url, "mia")
    page.goto(f"{server.url}/batches/new")
    page.set_input_files("input[name=file]", str(path))

    with page.expect_navigation():
        page.get_by_role("button", name="Check without submitting").click()

    expect(page.locator("#dry-run [role=status]")).to_contain_text("create a batch with 12 requests")
    expect(page.locator("#planned-requests tbody tr")).to_have_count(3)
    with db.session_scope() as session:
        assert session.scalar(select(func.count()).select_from(Batch)) == 0
    # The page comes back with an empty file field, so submitting needs the file again.
    page.set_input_files("input[name=file]", str(path))
    with page.expect_navigation():
        page.get_by_role("button", name="Check and submit").click()
    expect(page.locator("h1")).to_have_text("Batch #1")


def test_browser_enter_in_bulk_reason_rejects(review_batch, server, page):
    batch_id, _ = review_batch
    first = draft_ids(batch_id, "google_ads_headline")[0]
    log_in(page, server.url, "rita")
    page.goto(f"{server.url}/queue?batch_id={batch_id}&sort=oldest")
    page.check(f"input[name=draft][value^='{first}:']")
    page.fill("input[name=reason]", "Too generic, rewrite")
    with page.expect_navigation():
        page.press("input[name=reason]", "Enter")

    assert draft_row(first).status == DraftStatus.REJECTED
    with db.session_scope() as session:
        [event] = history(session, first)
    assert event["note"] == "Too generic, rewrite"


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
def test_browser_times_in_reader_time_zone(review_batch, server, browser, locale):
    batch_id, _ = review_batch
    draft_id = draft_ids(batch_id)[0]
    with db.session_scope() as session:
        session.get(Draft, draft_id).created_at = datetime(2026, 12, 5, 7, 12, 44, tzinfo=UTC)
    context = browser.new_context(locale=locale, timezone_id="Asia/Shanghai")
    page = context.new_page()
    try:
        log_in(page, server.url, "rita")
        page.goto(f"{server.url}/drafts/{draft_id}")
        created = page.locator("time").first

        assert created.get_attribute("datetime").startswith("2026-12-05T07:12:44")
        assert created.get_attribute("title") == "2026-12-05 07:12:44 UTC"
        # 07:12 UTC is 15:12 in Shanghai, which is UTC+8 all year.
        assert "15:12:44" in created.inner_text()
        # The zone's name follows the time in every language.
        assert created.inner_text().endswith("15:12:44 GMT+8")
    finally:
        context.close()


def test_browser_queue_fits_phone_screen(review_batch, server, browser):
    context = browser.new_context(locale="en-US", viewport={"width": 390, "height": 844})
    page = context.new_page()
    try:
        log_in(page, server.url, "rita")
        page.goto(f"{server.url}/queue")

        page_width = page.evaluate("document.documentElement.scrollWidth")
        text_width = page.locator("td.text").first.bounding_box()["width"]

        assert page_width <= 390
        # About 14rem: wide enough for a few words per line.
        assert text_width >= 200
    finally:
        context.close()


def test_browser_a_key_over_limit(review_batch, server, page):
    batch_id, _ = review_batch
    headline = draft_ids(batch_id, "google_ads_headline")[0]
    with db.session_scope() as session:
        session.get(Draft, headline).text = "x" * 31
    log_in(page, server.url, "rita")

    page.goto(f"{server.url}/drafts/{headline}")
    page.keyboard.press("a")

    assert page.locator("#approve-form").count() == 0
    assert page.locator("#approve-blocked").is_visible()
    assert page.evaluate("document.activeElement.id") == "edit-text"
    assert draft_row(headline).status == DraftStatus.PENDING_REVIEW


def test_browser_typed_text_survives_login(review_batch, server, page):
    batch_id, _ = review_batch
    headline = draft_ids(batch_id, "google_ads_headline")[0]
    log_in(page, server.url, "rita")
    page.goto(f"{server.url}/drafts/{headline}?batch_id={batch_id}")
    page.fill("#edit-text", "Boots for every trail")
    page.fill("#reject-reason", "unused reason")

    # The login expires while the reviewer types, so the save goes to the login page.
    page.context.clear_cookies()
    with page.expect_navigation():
        page.click("#edit-form button[type=submit]")
    assert "/login?" in page.url
    assert draft_row(headline).status == DraftStatus.PENDING_REVIEW
    page.fill("input[name=username]", "rita")
    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation():
        page.click("form[action='/login'] button[type=submit]")

    assert f"/drafts/{headline}?batch_id={batch_id}" in page.url
    assert page.input_value("#edit-text") == "Boots for every trail"
    assert page.input_value("#reject-reason") == "unused reason"
    assert page.locator("#restored-text").is_visible()
    with page.expect_navigation():
        page.click("#edit-form button[type=submit]")
    saved = draft_row(headline)
    assert (saved.status, saved.text) == (DraftStatus.APPROVED, "Boots for every trail")

    # The decision raised the draft's version, so the saved text is not restored.
    page.goto(f"{server.url}/drafts/{headline}")
    assert page.input_value("#edit-text") == "Boots for every trail"
    assert page.input_value("#reject-reason") == ""
    assert page.locator("#restored-text").is_hidden()


def test_browser_discard_restored_text(review_batch, server, page):
    batch_id, _ = review_batch
    headline = draft_ids(batch_id, "google_ads_headline")[0]
    original = draft_row(headline).text
    log_in(page, server.url, "rita")
    page.goto(f"{server.url}/drafts/{headline}")
    page.fill("#edit-text", "Typed and left")
    page.reload()
    assert page.input_value("#edit-text") == "Typed and left"

    page.click("#discard-restored")

    assert page.input_value("#edit-text") == original
    assert page.locator("#restored-text").is_hidden()
    page.reload()
    assert page.input_value("#edit-text") == original


def test_browser_typed_text_stays_with_its_user(review_batch, server, page):
    batch_id, _ = review_batch
    make_user("rob", "reviewer")
    headline = draft_ids(batch_id, "google_ads_headline")[0]
    log_in(page, server.url, "rita")
    page.goto(f"{server.url}/drafts/{headline}")
    page.fill("#reject-reason", "Rita's reason")
    with page.expect_navigation():
        page.click("form[action='/logout'] button")

    log_in(page, server.url, "rob")
    page.goto(f"{server.url}/drafts/{headline}")

    assert page.input_value("#reject-reason") == ""
    assert page.locator("#restored-text").is_hidden()
    stored_keys = page.evaluate("Object.keys(window.sessionStorage)")
    assert stored_keys == []
