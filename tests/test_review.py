import pytest
from sqlalchemy import func, select

from contentgen import db
from contentgen.drafts import DraftFilter, matching_versions, selection_digest
from contentgen.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from contentgen.i18n import translate_error
from contentgen.models import Brand, Draft, DraftStatus, ReviewEvent
from contentgen.review import AlreadyDecided, Decision, decide, decide_many, history

from .seeding import draft_ids, make_user, seed_batch


@pytest.fixture
def batch(synced):
    return seed_batch(synced)


@pytest.fixture
def reviewer(synced):
    return make_user("rita", "reviewer")


def status_of(draft_id: int) -> str:
    with db.session_scope() as session:
        return session.get(Draft, draft_id).status.value


def event_count() -> int:
    with db.session_scope() as session:
        return session.scalar(select(func.count()).select_from(ReviewEvent))


def test_review_approve_records_event(batch, reviewer):
    draft_id = draft_ids(batch)[0]
    with db.session_scope() as session:
        decide(session, reviewer, draft_id, Decision("approve"))
    with db.session_scope() as session:
        events = history(session, draft_id)
    assert status_of(draft_id) == "approved"
    assert events == [
        {
            "action": "approve", "actor": "rita", "status_before": "pending_review",
            "status_after": "approved", "note": None, "created_at": events[0]["created_at"],
        }
    ]  # fmt: skip


def test_review_reject_keeps_reason(batch, reviewer):
    draft_id = draft_ids(batch)[0]
    with db.session_scope() as session:
        decide(session, reviewer, draft_id, Decision("reject", note="  Off brand  "))
    with db.session_scope() as session:
        [event] = history(session, draft_id)
    assert status_of(draft_id) == "rejected"
    assert event["note"] == "Off brand"


def test_review_reject_without_reason_is_invalid(batch, reviewer):
    with pytest.raises(InvalidInput, match="a rejection needs a reason"):
        Decision("reject", note="   ")


def test_review_long_reason_names_reason():
    with pytest.raises(InvalidInput) as raised:
        Decision("reject", note="x" * 5000)
    assert str(raised.value) == "the reason has 5000 characters; keep it to 2000"
    assert translate_error(raised.value, "zh-CN") == "驳回理由有 5000 个字符；请控制在 2000 个以内"


def test_review_overlong_edit_names_both_limits():
    with pytest.raises(InvalidInput) as raised:
        Decision("edit", text="x" * 20_001)
    assert str(raised.value) == (
        "the edited text has 20001 characters, and no edit may have more than 20000; shorten it "
        "to its channel's limit"
    )
    assert translate_error(raised.value, "zh-CN") == (
        "修改后的文案有 20001 个字符，而任何修改都不能超过 20000 个字符；请删减到该渠道的上限以内"
    )


def test_review_long_edit_note_names_note():
    with pytest.raises(InvalidInput) as raised:
        Decision("edit", note="x" * 2001, text="New copy")
    assert str(raised.value) == "the note has 2001 characters; keep it to 2000"


def test_review_edit_keeps_original_text(batch, reviewer):
    draft_id = draft_ids(batch)[0]
    with db.session_scope() as session:
        original = session.get(Draft, draft_id).text
        decide(session, reviewer, draft_id, Decision("edit", text="Boots for wet trails"))
    with db.session_scope() as session:
        decide(session, reviewer, draft_id, Decision("edit", text="Boots for every trail"))
    with db.session_scope() as session:
        draft = session.get(Draft, draft_id)
        assert (draft.text, draft.original_text) == ("Boots for every trail", original)
        assert draft.status == DraftStatus.APPROVED


@pytest.mark.parametrize("action", ["approve", "edit"])
def test_review_decision_adds_one_version(batch, reviewer, action):
    draft_id = draft_ids(batch)[0]
    text = "Boots for wet trails" if action == "edit" else None
    with db.session_scope() as session:
        before = session.get(Draft, draft_id).version
    with db.session_scope() as session:
        decide(session, reviewer, draft_id, Decision(action, text=text))
    with db.session_scope() as session:
        assert session.get(Draft, draft_id).version == before + 1


def test_review_edit_over_hard_limit_changes_nothing(batch, reviewer):
    draft_id = draft_ids(batch, "google_ads_headline")[0]
    with pytest.raises(InvalidInput, match=r"31 Google Ads units .* hard limit of 30 .* shorten it to 30 or fewer \(1 too many\)"):
        with db.session_scope() as session:
            decide(session, reviewer, draft_id, Decision("edit", text="x" * 31))
    assert status_of(draft_id) == "pending_review"
    assert event_count() == 0


def test_review_edit_counts_chinese_as_double_width(batch, reviewer):
    draft_id = draft_ids(batch, "google_ads_headline")[0]
    with pytest.raises(InvalidInput, match="32 Google Ads units"), db.session_scope() as session:
        decide(session, reviewer, draft_id, Decision("edit", text="防水登山靴" * 3 + "好"))


def test_review_approve_rejected_draft_is_conflict(batch, reviewer):
    draft_id = draft_ids(batch)[0]
    with db.session_scope() as session:
        decide(session, reviewer, draft_id, Decision("reject", note="no"))
    with pytest.raises(Conflict) as caught, db.session_scope() as session:
        decide(session, make_user("otto", "reviewer"), draft_id, Decision("approve"))
    assert str(caught.value) == (
        f"draft {draft_id} was rejected by rita, and a rejected draft is final, so it cannot be approved. "
        "Nothing was changed."
    )
    assert translate_error(caught.value, "zh-CN").startswith(f"草稿 {draft_id} 已由 rita 驳回")
    assert status_of(draft_id) == "rejected"
    assert event_count() == 1


@pytest.mark.parametrize(
    ("action", "english", "chinese"),
    [
        (Decision("approve"), "you already approved draft {draft_id}, so this second approval changed nothing",
         "您已经通过了草稿 {draft_id}，这次重复的通过没有做任何更改"),
        (Decision("reject", note="no"), "you already rejected draft {draft_id}, so this second rejection changed nothing",
         "您已经驳回了草稿 {draft_id}，这次重复的驳回没有做任何更改"),
    ],
    ids=["approve", "reject"],
)  # fmt: skip
def test_review_same_decision_again_is_already_decided(batch, reviewer, action, english, chinese):
    draft_id = draft_ids(batch)[0]
    with db.session_scope() as session:
        decide(session, reviewer, draft_id, action)

    with pytest.raises(AlreadyDecided) as raised, db.session_scope() as session:
        decide(session, reviewer, draft_id, action)

    assert str(raised.value) == english.format(draft_id=draft_id)
    assert translate_error(raised.value, "zh-CN") == chinese.format(draft_id=draft_id)
    assert raised.value.action == action.action
    assert event_count() == 1


@pytest.mark.parametrize(
    ("first", "then", "english", "chinese"),
    [
        (Decision("approve"), Decision("approve"),
         "draft {draft_id} is already approved (by otto). Nothing was changed.",
         "草稿 {draft_id} 已经由 otto 通过。未做任何更改。"),
        (Decision("reject", note="no"), Decision("reject", note="no"),
         "draft {draft_id} is already rejected (by otto). Nothing was changed.",
         "草稿 {draft_id} 已经被 otto 驳回。未做任何更改。"),
        (Decision("edit", text="Dry feet on every trail"), Decision("approve"),
         "draft {draft_id} is already approved (edited and approved by otto). Nothing was changed.",
         "草稿 {draft_id} 已经由 otto 修改并通过。未做任何更改。"),
    ],
    ids=["approve", "reject", "edit"],
)  # fmt: skip
def test_review_already_in_status_names_reviewer(batch, reviewer, first, then, english, chinese):
    other = make_user("otto", "reviewer")
    draft_id = draft_ids(batch)[0]
    with db.session_scope() as session:
        decide(session, other, draft_id, first)

    with pytest.raises(Conflict) as raised, db.session_scope() as session:
        decide(session, reviewer, draft_id, then)

    assert not isinstance(raised.value, AlreadyDecided)
    assert str(raised.value) == english.format(draft_id=draft_id)
    assert translate_error(raised.value, "zh-CN") == chinese.format(draft_id=draft_id)
    assert event_count() == 1


def test_review_approve_own_edit_is_conflict(batch, reviewer):
    draft_id = draft_ids(batch)[0]
    with db.session_scope() as session:
        decide(session, reviewer, draft_id, Decision("edit", text="Dry feet on every trail"))

    with pytest.raises(Conflict) as raised, db.session_scope() as session:
        decide(session, reviewer, draft_id, Decision("approve"))

    assert not isinstance(raised.value, AlreadyDecided)
    assert str(raised.value) == (
        f"draft {draft_id} is already approved (edited and approved by you). Nothing was changed."
    )
    assert event_count() == 1


def test_review_reject_again_other_reason_not_saved(batch, reviewer):
    draft_id = draft_ids(batch)[0]
    with db.session_scope() as session:
        decide(session, reviewer, draft_id, Decision("reject", note="Off brand"))

    with pytest.raises(Conflict) as raised, db.session_scope() as session:
        decide(session, reviewer, draft_id, Decision("reject", note="Too long"))

    assert not isinstance(raised.value, AlreadyDecided)
    assert str(raised.value) == (
        f'you already rejected draft {draft_id} with the reason "Off brand", and a rejected '
        "draft is final, so the new reason was not saved"
    )
    assert event_count() == 1


def test_review_already_in_status_username_not_translated(batch, reviewer):
    # A username that is also a status word, which translate_error would otherwise translate.
    other = make_user("approved", "reviewer")
    draft_id = draft_ids(batch)[0]
    with db.session_scope() as session:
        decide(session, other, draft_id, Decision("approve"))

    with pytest.raises(Conflict) as raised, db.session_scope() as session:
        decide(session, reviewer, draft_id, Decision("approve"))

    assert translate_error(raised.value, "zh-CN") == f"草稿 {draft_id} 已经由 approved 通过。未做任何更改。"


def test_review_already_in_status_without_event(batch, reviewer):
    draft_id = draft_ids(batch)[0]
    # A status set without a review event leaves no reviewer to name.
    with db.session_scope() as session:
        session.get(Draft, draft_id).status = DraftStatus.APPROVED

    with pytest.raises(Conflict) as raised, db.session_scope() as session:
        decide(session, reviewer, draft_id, Decision("approve"))

    assert not isinstance(raised.value, AlreadyDecided)
    assert str(raised.value) == f"draft {draft_id} is already approved. Nothing was changed."


def test_review_edit_rejected_draft_is_conflict(batch, reviewer):
    draft_id = draft_ids(batch)[0]
    with db.session_scope() as session:
        decide(session, reviewer, draft_id, Decision("reject", note="no"))

    with pytest.raises(Conflict, match=f"draft {draft_id} was rejected by you, and a rejected draft is final, "
                                       "so it cannot be edited"):
        with db.session_scope() as session:
            decide(session, reviewer, draft_id, Decision("edit", text="New text"))


def test_review_stale_version_is_conflict(batch, reviewer, synced):
    other = make_user("otto", "reviewer")
    draft_id = draft_ids(batch)[0]
    with db.session_scope() as session:
        seen = session.get(Draft, draft_id).version
    with db.session_scope() as session:
        decide(session, other, draft_id, Decision("approve"), expected_version=seen)

    with pytest.raises(Conflict) as caught, db.session_scope() as session:
        decide(session, reviewer, draft_id, Decision("reject", note="bad"), expected_version=seen)

    assert str(caught.value) == (
        f"draft {draft_id} was approved by otto after you opened it (version {seen}, now "
        f"{seen + 1}); nothing was saved. Reload the draft and decide again."
    )
    assert translate_error(caught.value, "zh-CN") == (
        f"您打开草稿 {draft_id} 后，它已由 otto 通过（版本 {seen}，现为 {seen + 1}）；"
        "您的操作未保存。请重新加载草稿后再决定。"
    )
    assert not isinstance(caught.value, AlreadyDecided)
    assert status_of(draft_id) == "approved"
    assert event_count() == 1


def version_of(draft_id: int) -> int:
    with db.session_scope() as session:
        return session.get(Draft, draft_id).version


def decide_seen(reviewer, draft_id: int, decision: Decision, seen: int) -> None:
    with db.session_scope() as session:
        decide(session, reviewer, draft_id, decision, expected_version=seen)


@pytest.mark.parametrize(
    ("first", "again", "english", "chinese"),
    [
        (Decision("approve"), Decision("approve"),
         "you already approved draft {draft}, so this second approval changed nothing",
         "您已经通过了草稿 {draft}，这次重复的通过没有做任何更改"),
        (Decision("reject", note="Off brand"), Decision("reject", note=" Off brand "),
         "you already rejected draft {draft}, so this second rejection changed nothing",
         "您已经驳回了草稿 {draft}，这次重复的驳回没有做任何更改"),
        (Decision("edit", text="Dry feet on every trail"), Decision("edit", text=" Dry feet on every trail\n"),
         "you already saved this text for draft {draft} and approved it, so this second edit changed nothing",
         "您已经为草稿 {draft} 保存了这段文案并通过，这次重复的修改没有做任何更改"),
    ],
    ids=["approve", "reject", "edit"],
)
def test_review_same_decision_twice_is_already_decided(batch, reviewer, first, again, english, chinese):
    draft_id = draft_ids(batch, "google_ads_headline")[0]
    seen = version_of(draft_id)
    decide_seen(reviewer, draft_id, first, seen)

    with pytest.raises(AlreadyDecided) as caught:
        decide_seen(reviewer, draft_id, again, seen)

    assert str(caught.value) == english.format(draft=draft_id)
    assert translate_error(caught.value, "zh-CN") == chinese.format(draft=draft_id)
    assert caught.value.action == first.action
    assert event_count() == 1
    assert version_of(draft_id) == seen + 1


def test_review_second_reason_not_saved(batch, reviewer):
    draft_id = draft_ids(batch, "google_ads_headline")[0]
    seen = version_of(draft_id)
    decide_seen(reviewer, draft_id, Decision("reject", note="Off brand"), seen)

    with pytest.raises(Conflict) as caught:
        decide_seen(reviewer, draft_id, Decision("reject", note="Too long"), seen)

    assert not isinstance(caught.value, AlreadyDecided)
    assert str(caught.value) == (
        f'you already rejected draft {draft_id} with the reason "Off brand", and a rejected '
        "draft is final, so the new reason was not saved"
    )
    assert translate_error(caught.value, "zh-CN") == (
        f"您已经以“Off brand”为由驳回了草稿 {draft_id}；驳回是最终决定，新的理由没有保存"
    )
    assert event_count() == 1
    with db.session_scope() as session:
        assert [event["note"] for event in history(session, draft_id)] == ["Off brand"]


def test_review_unchanged_edit_twice_is_already_approved(batch, reviewer):
    draft_id = draft_ids(batch, "google_ads_headline")[0]
    seen = version_of(draft_id)
    with db.session_scope() as session:
        text = session.get(Draft, draft_id).text
    # An edit that leaves the text as it is is recorded as an approval.
    decide_seen(reviewer, draft_id, Decision("edit", text=text), seen)

    with pytest.raises(AlreadyDecided, match=f"you already approved draft {draft_id}") as caught:
        decide_seen(reviewer, draft_id, Decision("edit", text=text), seen)

    assert caught.value.action == "approve"
    assert event_count() == 1


@pytest.mark.parametrize(
    ("first", "then", "english", "chinese"),
    [
        (Decision("edit", text="Dry feet on every trail"), Decision("approve"),
         "was edited and approved by you after you opened it", "它已由您修改并通过"),
        (Decision("approve"), Decision("edit", text="Dry feet on every trail"),
         "was approved by you after you opened it", "它已由您通过"),
        (Decision("edit", text="Dry feet on every trail"), Decision("edit", text="Other words for trails"),
         "was edited and approved by you after you opened it", "它已由您修改并通过"),
        (Decision("approve"), Decision("reject", note="Off brand"),
         "was approved by you after you opened it", "它已由您通过"),
    ],
    ids=["edit-then-approve", "approve-then-edit", "other-text", "approve-then-reject"],
)
def test_review_own_other_decision_is_conflict(batch, reviewer, first, then, english, chinese):
    draft_id = draft_ids(batch, "google_ads_headline")[0]
    seen = version_of(draft_id)
    decide_seen(reviewer, draft_id, first, seen)

    with pytest.raises(Conflict) as caught:
        decide_seen(reviewer, draft_id, then, seen)

    assert not isinstance(caught.value, AlreadyDecided)
    assert f"draft {draft_id} {english} (version {seen}, now {seen + 1})" in str(caught.value)
    assert "rita" not in str(caught.value)
    assert chinese in translate_error(caught.value, "zh-CN")
    assert event_count() == 1


def test_review_other_reviewer_same_decision_is_conflict(batch, reviewer, synced):
    other = make_user("otto", "reviewer")
    draft_id = draft_ids(batch)[0]
    seen = version_of(draft_id)
    decide_seen(other, draft_id, Decision("reject", note="Off brand"), seen)

    with pytest.raises(Conflict) as caught:
        decide_seen(reviewer, draft_id, Decision("reject", note="Off brand"), seen)

    assert not isinstance(caught.value, AlreadyDecided)
    assert str(caught.value) == (
        f"draft {draft_id} was rejected by otto after you opened it (version {seen}, now {seen + 1}); "
        "nothing was saved, and a rejected draft is final"
    )
    assert translate_error(caught.value, "zh-CN") == (
        f"您打开草稿 {draft_id} 后，它已由 otto 驳回（版本 {seen}，现为 {seen + 1}）；您的操作未保存，驳回是最终决定"
    )


def test_review_unknown_draft_not_found(batch, reviewer):
    with pytest.raises(NotFound, match="draft 999 not found"), db.session_scope() as session:
        decide(session, reviewer, 999, Decision("approve"))


def test_review_marketer_may_not_review(batch, synced):
    marketer = make_user("mia", "marketer")
    with pytest.raises(PermissionDenied), db.session_scope() as session:
        decide(session, marketer, draft_ids(batch)[0], Decision("approve"))
    assert event_count() == 0


def test_review_bulk_filter_covers_every_page(batch, reviewer):
    headline = DraftFilter(channel="google_ads_headline")
    with db.session_scope() as session:
        result = decide_many(session, reviewer, Decision("approve"), draft_filter=headline)
    with db.session_scope() as session:
        statuses = dict(
            session.execute(
                select(Draft.id, Draft.status).where(Draft.batch_id == batch)
            ).all()
        )
    assert len(result.changed) == 4
    assert {statuses[draft_id] for draft_id in result.changed} == {DraftStatus.APPROVED}
    assert sum(status == DraftStatus.APPROVED for status in statuses.values()) == 4
    assert event_count() == 4


def test_review_bulk_skips_drafts_that_cannot_take_action(batch, reviewer):
    first, second, third = draft_ids(batch)[:3]
    with db.session_scope() as session:
        decide(session, reviewer, first, Decision("reject", note="no"))
    with db.session_scope() as session:
        result = decide_many(session, reviewer, Decision("approve"), draft_ids=[first, second, third])
    assert result.changed == [second, third]
    assert result.skipped == {"rejected": 1}


def test_review_bulk_count_changed_is_conflict(batch, reviewer):
    with pytest.raises(Conflict, match="the filter now matches 12 drafts, not the 10 you saw"):
        with db.session_scope() as session:
            decide_many(
                session, reviewer, Decision("approve"),
                draft_filter=DraftFilter(batch_id=batch), expected_count=10,
            )  # fmt: skip
    assert event_count() == 0


def test_review_bulk_digest_changed_is_conflict(batch, reviewer):
    headline = DraftFilter(channel="google_ads_headline", status="all")
    with db.session_scope() as session:
        seen = selection_digest(matching_versions(session, headline))
    with db.session_scope() as session:
        decide(session, reviewer, draft_ids(batch, "google_ads_headline")[0], Decision("approve"))

    with pytest.raises(Conflict, match="the drafts that match the filter are not the ones you saw"):
        with db.session_scope() as session:
            decide_many(session, reviewer, Decision("reject", note="No"), draft_filter=headline,
                        expected_count=4, expected_digest=seen)  # fmt: skip
    assert event_count() == 1


def bulk_on_filter(actor, decision, draft_filter, seen):
    with db.session_scope() as session:
        return decide_many(session, actor, decision, draft_filter=draft_filter,
                           expected_count=len(seen), expected_digest=selection_digest(seen))  # fmt: skip


@pytest.mark.parametrize(
    "decision", [Decision("approve"), Decision("reject", note="Off brand")], ids=["approve", "reject"]
)
def test_review_bulk_filter_sent_twice_is_already(batch, reviewer, decision):
    pending_headlines = DraftFilter(channel="google_ads_headline")
    with db.session_scope() as session:
        seen = matching_versions(session, pending_headlines)
    first = bulk_on_filter(reviewer, decision, pending_headlines, seen)

    again = bulk_on_filter(reviewer, decision, pending_headlines, seen)

    assert len(first.changed) == 4
    assert again.changed == []
    assert again.already == sorted(seen)
    assert event_count() == 4


def test_review_bulk_filter_resent_other_reason_is_conflict(batch, reviewer):
    pending_headlines = DraftFilter(channel="google_ads_headline")
    with db.session_scope() as session:
        seen = matching_versions(session, pending_headlines)
    bulk_on_filter(reviewer, Decision("reject", note="Off brand"), pending_headlines, seen)

    with pytest.raises(Conflict, match="the filter now matches 0 drafts, not the 4 you saw"):
        bulk_on_filter(reviewer, Decision("reject", note="Too long"), pending_headlines, seen)
    assert event_count() == 4


def test_review_bulk_filter_resent_by_other_is_conflict(batch, reviewer):
    pending_headlines = DraftFilter(channel="google_ads_headline")
    with db.session_scope() as session:
        seen = matching_versions(session, pending_headlines)
    bulk_on_filter(reviewer, Decision("approve"), pending_headlines, seen)

    with pytest.raises(Conflict, match="the filter now matches 0 drafts"):
        bulk_on_filter(make_user("otto", "reviewer"), Decision("approve"), pending_headlines, seen)
    assert event_count() == 4


def test_review_bulk_filter_resent_after_change_is_conflict(batch, reviewer):
    pending_headlines = DraftFilter(channel="google_ads_headline")
    with db.session_scope() as session:
        seen = matching_versions(session, pending_headlines)
    bulk_on_filter(reviewer, Decision("approve"), pending_headlines, seen)
    edited = sorted(seen)[0]
    with db.session_scope() as session:
        decide(session, reviewer, edited, Decision("edit", text="Dry feet on every trail"))

    with pytest.raises(Conflict, match="the filter now matches 0 drafts"):
        bulk_on_filter(reviewer, Decision("approve"), pending_headlines, seen)
    assert event_count() == 5


def test_review_bulk_unknown_id_changes_nothing(batch, reviewer):
    with pytest.raises(NotFound, match="drafts not found: 999"), db.session_scope() as session:
        decide_many(session, reviewer, Decision("approve"), draft_ids=[draft_ids(batch)[0], 999])
    assert event_count() == 0
    assert status_of(draft_ids(batch)[0]) == "pending_review"


def test_review_bulk_stale_version_changes_nothing(batch, reviewer):
    first, second = draft_ids(batch)[:2]
    with pytest.raises(Conflict) as caught, db.session_scope() as session:
        decide_many(
            session, reviewer, Decision("approve"), draft_ids=[first, second], versions={second: 7}
        )
    assert str(caught.value).endswith("Nothing was changed. Reload the queue and try again.")
    assert event_count() == 0


@pytest.mark.parametrize(
    ("actor", "decision", "english", "chinese"),
    [("rita", Decision("edit", text="Dry feet on every trail"), "was edited and approved by you", "已由您修改并通过"),
     ("otto", Decision("approve"), "was approved by otto", "已由 otto 通过")],
    ids=["own", "other"],
)
def test_review_bulk_changed_draft_names_queue(batch, reviewer, actor, decision, english, chinese):
    deciding = reviewer if actor == "rita" else make_user(actor, "reviewer")
    first, second = draft_ids(batch)[:2]
    seen = {first: version_of(first), second: version_of(second)}
    decide_seen(deciding, first, decision, seen[first])

    with pytest.raises(Conflict) as caught, db.session_scope() as session:
        decide_many(session, reviewer, Decision("approve"), draft_ids=[first, second], versions=seen)

    assert str(caught.value) == (
        f"draft {first} {english} after you loaded the queue (version {seen[first]}, now "
        f"{seen[first] + 1}); nothing was changed. Reload the queue and try again."
    )
    assert translate_error(caught.value, "zh-CN") == (
        f"您加载队列后，草稿 {first} {chinese}（版本 {seen[first]}，现为 {seen[first] + 1}）；"
        "未做任何更改。请重新加载队列后再试。"
    )
    assert event_count() == 1


@pytest.mark.parametrize(
    "decision", [Decision("approve"), Decision("reject", note="Off brand")], ids=["approve", "reject"]
)
def test_review_bulk_sent_twice_counts_already(batch, reviewer, decision):
    first, second, third = draft_ids(batch)[:3]
    seen = {draft_id: version_of(draft_id) for draft_id in (first, second, third)}
    with db.session_scope() as session:
        decide_many(session, reviewer, decision, draft_ids=[first, second], versions=seen)

    # The same form again, with the third draft added, as from a second tab.
    with db.session_scope() as session:
        result = decide_many(session, reviewer, decision, draft_ids=[first, second, third], versions=seen)

    assert result.changed == [third]
    assert result.already == [first, second]
    assert result.as_dict()["already_ids"] == [first, second]
    assert event_count() == 3
    assert version_of(first) == seen[first] + 1


def test_review_bulk_second_reason_is_conflict(batch, reviewer):
    first, second = draft_ids(batch)[:2]
    seen = {first: version_of(first), second: version_of(second)}
    with db.session_scope() as session:
        decide_many(session, reviewer, Decision("reject", note="Off brand"), draft_ids=[first], versions=seen)

    with pytest.raises(Conflict, match=f"draft {first} was rejected by you after you loaded the queue .*A rejected "
                                       "draft is final, so leave it out of the selection"):
        with db.session_scope() as session:
            decide_many(session, reviewer, Decision("reject", note="Too long"), draft_ids=[first, second],
                        versions=seen)  # fmt: skip

    assert event_count() == 1
    assert status_of(second) == "pending_review"


def set_draft_text(draft_id: int, text: str) -> None:
    with db.session_scope() as session:
        session.get(Draft, draft_id).text = text


def ban_term(term: str) -> None:
    with db.session_scope() as session:
        brand = session.scalars(select(Brand).where(Brand.key == "trailpeak")).one()
        brand.banned_terms = [*brand.banned_terms, term]


def test_review_edit_reruns_checks(batch, reviewer):
    draft_id = draft_ids(batch, "google_ads_headline")[0]
    with db.session_scope() as session:
        assert [check.name for check in session.get(Draft, draft_id).checks] == ["length"]
        decide(session, reviewer, draft_id, Decision("edit", text="Ridgeline GTX stays dry"))
    with db.session_scope() as session:
        draft = session.get(Draft, draft_id)
        checks = {check.name: check for check in draft.checks}
        score = draft.score
    assert {"empty", "length", "banned_terms", "language", "near_duplicate"} <= set(checks)
    assert checks["length"].passed
    assert checks["length"].detail.startswith("23 of 30")
    assert 0 < score < 1


def test_review_edit_with_banned_term_changes_nothing(batch, reviewer):
    draft_id = draft_ids(batch, "google_ads_headline")[0]
    ban_term("cheap")
    with pytest.raises(InvalidInput, match=f'draft {draft_id} contains banned terms: "cheap"; remove them'):
        with db.session_scope() as session:
            decide(session, reviewer, draft_id, Decision("edit", text="Cheap boots for trails"))
    assert status_of(draft_id) == "pending_review"
    assert event_count() == 0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("x" * 31, "has 31 Google Ads units .* over the hard limit of 30 .* cannot be approved"),
        ("Cheap boots for trails", 'contains banned terms: "cheap", so it cannot be approved'),
        ("Ch\u0435ap boots for trails", 'contains banned terms: "cheap", so it cannot be approved'),
    ],
    ids=["over-limit", "banned-term", "banned-term-lookalike"],
)
def test_review_approve_breaking_rule_changes_nothing(batch, reviewer, text, message):
    draft_id = draft_ids(batch, "google_ads_headline")[0]
    ban_term("cheap")
    set_draft_text(draft_id, text)
    with pytest.raises(InvalidInput, match=message):
        with db.session_scope() as session:
            decide(session, reviewer, draft_id, Decision("approve"))
    assert status_of(draft_id) == "pending_review"
    assert event_count() == 0


def test_review_bulk_approve_leaves_rule_breakers(batch, reviewer):
    first, second, third = draft_ids(batch, "google_ads_headline")[:3]
    set_draft_text(first, "x" * 31)
    with db.session_scope() as session:
        result = decide_many(session, reviewer, Decision("approve"), draft_ids=[first, second, third])
    assert result.breaking_rules == [first]
    assert result.changed == [second, third]
    assert status_of(first) == "pending_review"
    assert result.as_dict()["breaking_rules_ids"] == [first]
    assert result.as_dict()["breaking_rules"][str(first)].startswith(
        f"draft {first} has 31 Google Ads units as the platform counts them, over the hard limit of 30"
    )
    assert "超过 google_ads_headline 的硬性上限 30" in result.as_dict("zh-CN")["breaking_rules"][str(first)]


@pytest.mark.parametrize(
    ("decision", "message"),
    [
        ({"action": "reject", "note": "bad\x00"}, "the reason contains the control character U\\+0000"),
        ({"action": "edit", "text": "Dry feet", "note": "ok\x1b"}, "the note contains the control character U\\+001B"),
        ({"action": "edit", "text": "Dry \u202efeet"}, "the edited text contains the control character U\\+202E"),
        ({"action": "edit", "text": "Dry\x1bfeet"}, "the edited text contains the control character U\\+001B"),
        ({"action": "edit", "text": "Dry\ufefffeet"}, "the edited text contains the control character U\\+FEFF"),
    ],
    ids=["nul-reason", "escape-note", "bidi-text", "escape-text", "byte-order-mark"],
)
def test_review_control_characters_are_invalid(decision, message):
    with pytest.raises(InvalidInput, match=message):
        Decision(**decision)


@pytest.mark.parametrize(
    "text", [" \u00a0\u3000", "\u200b\u200b", "\u2060\ufeff", "\u2800\u3164"],
    ids=["spaces", "zero-width-spaces", "word-joiners", "blank-letters"],
)
def test_review_edit_without_visible_text_is_invalid(text):
    with pytest.raises(InvalidInput, match="the edited text is empty"):
        Decision("edit", text=text)


@pytest.mark.parametrize("separator", ["\r\n", "\u2028", "\u2029"], ids=["crlf", "line", "paragraph"])
def test_review_multiline_edit_of_headline_changes_nothing(batch, reviewer, separator):
    draft_id = draft_ids(batch, "google_ads_headline")[0]
    with pytest.raises(InvalidInput, match="has more than one line, but google_ads_headline copy is one line"):
        with db.session_scope() as session:
            decide(session, reviewer, draft_id, Decision("edit", text=f"Trail boots{separator}Pre-order now"))
    assert status_of(draft_id) == "pending_review"
    assert event_count() == 0


def test_review_multiline_edit_of_social_post_is_kept(synced, reviewer):
    batch_id = seed_batch(synced, channels=("social_post",), segments=("hikers",), variants=1)
    [draft_id] = draft_ids(batch_id)
    with db.session_scope() as session:
        decide(session, reviewer, draft_id, Decision("edit", text="Dry feet\r\nall day\u2029Pre-order"))
    with db.session_scope() as session:
        assert session.get(Draft, draft_id).text == "Dry feet\nall day\nPre-order"


@pytest.mark.parametrize(
    "typed", ["{text}", "  {text}\r\n"], ids=["same", "same-after-normalising"]
)  # fmt: skip
def test_review_edit_to_same_text_is_approval(batch, reviewer, typed):
    draft_id = draft_ids(batch)[0]
    with db.session_scope() as session:
        text = session.get(Draft, draft_id).text
        decide(session, reviewer, draft_id, Decision("edit", text=typed.format(text=text), note="Fine"))
    with db.session_scope() as session:
        draft = session.get(Draft, draft_id)
        [event] = history(session, draft_id)
        assert (draft.text, draft.original_text, draft.status) == (text, None, DraftStatus.APPROVED)
    assert (event["action"], event["note"]) == ("approve", "Fine")


def test_review_same_text_on_approved_changes_nothing(batch, reviewer):
    draft_id = draft_ids(batch)[0]
    with db.session_scope() as session:
        decide(session, reviewer, draft_id, Decision("edit", text="Boots for wet trails"))
    with pytest.raises(InvalidInput) as raised, db.session_scope() as session:
        decide(session, reviewer, draft_id, Decision("edit", text="Boots for wet trails "))
    assert str(raised.value) == (
        f"the edited text of draft {draft_id} is the same as its current text, and the draft is "
        "already approved; change the text, or leave the draft as it is. Nothing was changed."
    )
    assert event_count() == 1
