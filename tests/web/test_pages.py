import json
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from html import unescape

import pytest
import yaml
from fastapi.testclient import TestClient
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from limits import parse
from sqlalchemy import func, select

from contentgen import batches, db
from contentgen.dispatch import submit
from contentgen.models import (
    Batch,
    BatchStatus,
    Draft,
    DraftStatus,
    GenerationRequest,
    PromptTemplate,
    RequestStatus,
    User,
)
from contentgen.review import Decision, decide, history
from contentgen.templates import sync_templates
from contentgen.users import Actor, Role, authenticate
from contentgen.web import _login_limit, pages
from contentgen.web._login_limit import LoginThrottle

from ..conftest import apply_settings
from ..seeding import draft_ids, seed_batch, write_campaign_file
from .conftest import PASSWORD, SECRET_KEY, alert_of, csrf_of, snapshot, status_of, version_of


def bulk_fields(html: str) -> dict[str, str]:
    """Return the hidden fields of a queue page's bulk form that identify the drafts it showed."""
    return {
        name: re.search(rf'name="{name}" value="([^"]*)"', html).group(1)
        for name in ("expected_count", "expected_digest")
    }


@pytest.fixture
def reviewer(client_for):
    return client_for("reviewer")


def test_pages_login_wrong_password_is_401(app):
    client = TestClient(app)
    token = csrf_of(client.get("/login").text)
    response = client.post("/login", data={"username": "rita", "password": "nope", "csrf_token": token})
    assert response.status_code == 401
    assert "Wrong username or password" in response.text


def test_pages_login_without_csrf_is_403(app):
    client = TestClient(app)
    client.get("/login")
    response = client.post("/login", data={"username": "rita", "password": "x"})
    assert response.status_code == 403
    assert "security token is missing or does not match" in response.text


def test_pages_login_redirects_back_to_next(app):
    client = TestClient(app)
    first = client.get("/queue?channel=email_subject", follow_redirects=False)
    assert first.headers["location"] == "/login?next=%2Fqueue%3Fchannel%3Demail_subject"
    token = csrf_of(client.get(first.headers["location"]).text)
    response = client.post("/login", data={"username": "rita", "password": "correct horse battery",
                                           "csrf_token": token, "next": "/queue?channel=email_subject"},
                           follow_redirects=False)  # fmt: skip
    assert response.headers["location"] == "/queue?channel=email_subject"


def test_pages_login_ignores_next_to_other_site(app):
    client = TestClient(app)
    token = csrf_of(client.get("/login").text)
    response = client.post("/login", data={"username": "rita", "password": "correct horse battery",
                                           "csrf_token": token, "next": "//evil.example/"},
                           follow_redirects=False)  # fmt: skip
    assert response.headers["location"] == "/batches"


def test_pages_session_cookie_flags(app):
    client = TestClient(app)
    response = client.get("/login")
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie or "samesite=lax" in cookie.lower()


@pytest.mark.parametrize("token", ["forged-token", ""], ids=["forged", "missing"])
def test_pages_bad_csrf_changes_nothing(reviewer, seeded, token):
    client, _ = reviewer
    draft_id = seeded.draft_ids[0]
    before = snapshot()
    response = client.post(f"/drafts/{draft_id}/approve", data={"csrf_token": token})
    assert response.status_code == 403
    assert "security token is missing or does not match" in response.text
    assert snapshot() == before


def test_pages_expired_session_redirects_to_login(app, seeded):
    class OldSigner(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - 13 * 3600

    serializer = URLSafeTimedSerializer(SECRET_KEY, salt="contentgen.page-session", signer=OldSigner)
    cookie = serializer.dumps({"csrf_token": "t", "user_id": 2, "login_at": 0})
    client = TestClient(app, cookies={"contentgen_session": cookie})
    before = snapshot()

    response = client.post(f"/drafts/{seeded.draft_ids[0]}/approve", data={"csrf_token": "t"},
                           follow_redirects=False)  # fmt: skip
    login_page = client.get(response.headers["location"])

    assert response.status_code == 303
    assert "expired=1" in response.headers["location"]
    assert "Your session expired; log in again." in login_page.text
    assert snapshot() == before


def test_pages_old_login_expires_despite_new_cookie(app, seeded):
    # Signed just now, as the login page signs every cookie again, but logged in 13 hours ago.
    serializer = URLSafeTimedSerializer(SECRET_KEY, salt="contentgen.page-session")
    cookie = serializer.dumps({"csrf_token": "t", "user_id": 2, "login_at": time.time() - 13 * 3600})
    client = TestClient(app, cookies={"contentgen_session": cookie})

    response = client.get("/queue", follow_redirects=False)

    assert response.status_code == 303
    assert "expired=1" in response.headers["location"]


def test_pages_logout_ends_copied_cookie(client_for):
    client, token = client_for("reviewer")
    copied = client.cookies["contentgen_session"]

    logged_out = client.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    replay = TestClient(client.app, cookies={"contentgen_session": copied})
    response = replay.get("/queue", follow_redirects=False)

    assert logged_out.status_code == 303
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")


def test_pages_cookie_signed_with_other_key_is_anonymous(app):
    serializer = URLSafeTimedSerializer("another key", salt="contentgen.page-session")
    client = TestClient(app, cookies={"contentgen_session": serializer.dumps({"csrf_token": "t", "user_id": 3})})
    response = client.get("/users", follow_redirects=False)
    assert response.status_code == 303


def test_pages_wrong_role_names_role(client_for, seeded):
    client, token = client_for("marketer")
    response = client.post(f"/drafts/{seeded.draft_ids[0]}/approve", data={"csrf_token": token})
    assert response.status_code == 403
    assert "has the role marketer, which may not review" in alert_of(response.text)


@pytest.mark.parametrize("value", ["yes", "", "2", "on"])
def test_pages_active_value_must_be_0_or_1(client_for, value):
    admin, token = client_for("admin")
    before = snapshot()

    response = admin.post("/users/rita/active", data={"csrf_token": token, "active": value})

    assert response.status_code == 422
    assert alert_of(response.text) == (
        f'active "{value}" is not valid; send 1 or true to enable the user, 0 or false to '
        "disable them. Nothing was changed."
    )
    assert snapshot() == before


@pytest.mark.parametrize(("value", "active"), [("0", False), ("false", False), ("1", True), ("True", True)])
def test_pages_active_accepts_0_1_true_false(client_for, value, active):
    admin, token = client_for("admin")
    admin.post("/users/rita/active", data={"csrf_token": token, "active": "0"})

    response = admin.post("/users/rita/active", data={"csrf_token": token, "active": value},
                          follow_redirects=False)  # fmt: skip

    assert response.status_code == 303
    with db.session_scope() as session:
        assert session.scalars(select(User.is_active).where(User.username == "rita")).one() is active


def test_pages_disabled_user_is_logged_out(client_for, seeded):
    client, _ = client_for("reviewer")
    admin, token = client_for("admin")
    admin.post("/users/rita/active", data={"csrf_token": token, "active": "0"})
    response = client.get("/queue", follow_redirects=False)
    assert response.status_code == 303


def test_pages_reenabled_user_needs_new_login(client_for, app):
    client, _ = client_for("reviewer")
    old_cookie = client.cookies["contentgen_session"]
    admin, token = client_for("admin")
    admin.post("/users/rita/active", data={"csrf_token": token, "active": "0"})
    admin.post("/users/rita/active", data={"csrf_token": token, "active": "1"})

    old_session = TestClient(app, cookies={"contentgen_session": old_cookie})
    response = old_session.get("/batches", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")

    new_client, _ = client_for("reviewer")
    assert new_client.get("/batches", follow_redirects=False).status_code == 200


@pytest.mark.parametrize(
    ("path", "form", "message"),
    [
        ("/users/adam/active", {"active": "0"},
         'user "adam" is the only active admin, so they cannot be disabled; give another user '
         "the role admin first. Nothing was changed."),
        ("/users/adam/role", {"role": "reviewer"},
         'user "adam" is the only active admin, so their role cannot change to reviewer; give '
         "another user the role admin first. Nothing was changed."),
    ],
    ids=["disable", "demote"],
)  # fmt: skip
def test_pages_last_admin_is_kept(client_for, path, form, message):
    admin, token = client_for("admin")
    before = snapshot()

    response = admin.post(path, data={"csrf_token": token, **form})

    assert response.status_code == 409
    assert alert_of(response.text) == message
    assert snapshot() == before
    assert admin.get("/users", follow_redirects=False).status_code == 200


def test_pages_unknown_draft_is_404(reviewer):
    client, token = reviewer
    assert client.get("/drafts/9999").status_code == 404
    response = client.post("/drafts/9999/approve", data={"csrf_token": token})
    assert response.status_code == 404
    assert "draft 9999 not found" in response.text


def test_pages_approve_goes_to_next_draft_in_filter(reviewer, seeded):
    client, token = reviewer
    headlines = draft_ids(seeded.batch_id, "google_ads_headline")
    query = "channel=google_ads_headline&sort=oldest"
    response = client.post(f"/drafts/{headlines[0]}/approve?{query}",
                           data={"csrf_token": token, "version": version_of(headlines[0])},
                           follow_redirects=False)  # fmt: skip
    assert response.status_code == 303
    assert response.headers["location"].startswith(f"/drafts/{headlines[1]}?{query}&notice=approved")
    assert status_of(headlines[0]) == DraftStatus.APPROVED
    assert f"Draft {headlines[0]} approved." in client.get(response.headers["location"]).text


def test_pages_last_draft_goes_to_clear_queue(reviewer, seeded):
    client, token = reviewer
    headlines = draft_ids(seeded.batch_id, "google_ads_headline")
    query = "channel=google_ads_headline&sort=oldest"
    for draft_id in headlines[1:]:
        response = client.post(f"/drafts/{draft_id}/approve?{query}", data={"csrf_token": token})
    # The first headline was skipped, so it still matches.
    assert notice_on(response.text) == "That was the last draft in this order; the drafts below still match the filter."

    response = client.post(f"/drafts/{headlines[0]}/approve?{query}", data={"csrf_token": token})
    assert notice_on(response.text) == "The queue is clear: no more drafts match this filter."


@pytest.mark.parametrize("action", ["approve", "reject", "edit"])
def test_pages_get_on_form_address_redirects(reviewer, seeded, action):
    client, token = reviewer
    draft_id = draft_ids(seeded.batch_id, "google_ads_headline")[0]
    query = "channel=google_ads_headline&sort=oldest"
    # A rejection without a reason fails with 422 and leaves the browser at the form's address.
    failed = client.post(f"/drafts/{draft_id}/reject?{query}", data={"csrf_token": token, "reason": ""})
    assert failed.status_code == 422
    before = snapshot()

    response = client.get(f"/drafts/{draft_id}/{action}?{query}", follow_redirects=False)
    page = client.get(response.headers["location"])

    assert response.status_code == 303
    assert response.headers["location"] == f"/drafts/{draft_id}?{query}"
    assert page.status_code == 200
    assert snapshot() == before


def test_pages_get_on_form_address_without_query(reviewer, seeded):
    client, _ = reviewer
    draft_id = seeded.draft_ids[0]
    response = client.get(f"/drafts/{draft_id}/edit", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == f"/drafts/{draft_id}"


def test_pages_approve_rejected_draft_is_409(reviewer, seeded):
    client, token = reviewer
    draft_id = seeded.draft_ids[0]
    client.post(f"/drafts/{draft_id}/reject", data={"csrf_token": token, "reason": "Off brand"})
    before = snapshot()
    response = client.post(f"/drafts/{draft_id}/approve", data={"csrf_token": token})
    assert response.status_code == 409
    assert f"draft {draft_id} was rejected by you, and a rejected draft is final" in alert_of(response.text)
    assert snapshot() == before


def test_pages_second_reviewer_gets_conflict(client_for, seeded):
    first, first_token = client_for("reviewer")
    second, second_token = client_for("admin")
    draft_id = seeded.draft_ids[0]
    seen = version_of(draft_id)
    first.post(f"/drafts/{draft_id}/approve", data={"csrf_token": first_token, "version": seen})
    before = snapshot()

    response = second.post(f"/drafts/{draft_id}/reject",
                           data={"csrf_token": second_token, "version": seen, "reason": "No"})  # fmt: skip

    assert response.status_code == 409
    assert f"draft {draft_id} was approved by rita after you opened it" in alert_of(response.text)
    assert status_of(draft_id) == DraftStatus.APPROVED
    assert snapshot() == before


@pytest.mark.parametrize(
    ("action", "form", "notice"),
    [
        ("approve", {}, "Draft {draft} approved."),
        ("reject", {"reason": "Off brand"}, "Draft {draft} rejected."),
        ("edit", {"text": "Dry feet on every trail"}, "Draft {draft} edited and approved."),
    ],
    ids=["approve", "reject", "edit"],
)
def test_pages_form_sent_twice_goes_on(reviewer, seeded, action, form, notice):
    client, token = reviewer
    headlines = draft_ids(seeded.batch_id, "google_ads_headline")
    query = "channel=google_ads_headline&sort=oldest"
    fields = {"csrf_token": token, "version": version_of(headlines[0]), **form}
    client.post(f"/drafts/{headlines[0]}/{action}?{query}", data=fields, follow_redirects=False)
    before = snapshot()

    # The same form again, as a double click or a second tab sends it.
    response = client.post(f"/drafts/{headlines[0]}/{action}?{query}", data=fields, follow_redirects=False)

    assert response.status_code == 303
    assert response.headers["location"].startswith(f"/drafts/{headlines[1]}?{query}&notice=")
    assert notice.format(draft=headlines[0]) in client.get(response.headers["location"]).text
    assert snapshot() == before


def test_pages_second_reason_is_conflict(reviewer, seeded):
    client, token = reviewer
    draft_id = draft_ids(seeded.batch_id, "google_ads_headline")[0]
    seen = version_of(draft_id)
    client.post(f"/drafts/{draft_id}/reject", data={"csrf_token": token, "version": seen,
                                                    "reason": "Off brand"})  # fmt: skip
    before = snapshot()

    # A second tab, opened before the rejection, rejects with another reason.
    response = client.post(f"/drafts/{draft_id}/reject", data={"csrf_token": token, "version": seen,
                                                               "reason": "Too long"})  # fmt: skip

    assert response.status_code == 409
    assert alert_of(response.text) == (
        f'you already rejected draft {draft_id} with the reason "Off brand", and a rejected draft '
        "is final, so the new reason was not saved"
    )
    assert snapshot() == before


def test_pages_own_other_decision_is_conflict(reviewer, seeded):
    client, token = reviewer
    draft_id = draft_ids(seeded.batch_id, "google_ads_headline")[0]
    seen = version_of(draft_id)
    client.post(f"/drafts/{draft_id}/edit", data={"csrf_token": token, "version": seen,
                                                  "text": "Dry feet on every trail"})  # fmt: skip
    before = snapshot()

    # A second tab, opened before the edit, approves the model's text.
    response = client.post(f"/drafts/{draft_id}/approve", data={"csrf_token": token, "version": seen})

    assert response.status_code == 409
    assert alert_of(response.text) == (
        f"draft {draft_id} was edited and approved by you after you opened it (version {seen}, "
        f"now {seen + 1}); nothing was saved. Reload the draft and decide again."
    )
    assert snapshot() == before


def test_pages_bulk_changed_draft_says_reload_queue(client_for, seeded):
    client, token = client_for("reviewer")
    first, second = seeded.draft_ids[:2]
    selection = [f"{first}:{version_of(first)}", f"{second}:{version_of(second)}"]
    with db.session_scope() as session:
        decide(session, Actor(3, "adam", Role.ADMIN, None), first, Decision("approve"))
    before = snapshot()

    response = client.post("/queue/bulk", data={"csrf_token": token, "op": "reject:selected",
                                                 "reason": "x", "draft": selection})  # fmt: skip

    assert response.status_code == 409
    message = alert_of(response.text)
    assert message.startswith(f"draft {first} was approved by adam after you loaded the queue")
    assert message.endswith("nothing was changed. Reload the queue and try again.")
    assert snapshot() == before


def test_pages_edit_over_hard_limit_is_422(reviewer, seeded):
    client, token = reviewer
    draft_id = draft_ids(seeded.batch_id, "google_ads_headline")[0]
    before = snapshot()
    response = client.post(f"/drafts/{draft_id}/edit", data={"csrf_token": token, "text": "y" * 35})
    assert response.status_code == 422
    assert "35 Google Ads units" in alert_of(response.text)
    assert "hard limit of 30" in alert_of(response.text)
    # The reviewer's text stays in the form to be shortened.
    assert "y" * 35 in response.text
    assert snapshot() == before


def test_pages_edit_keeps_original_beside_edited(reviewer, seeded):
    client, token = reviewer
    draft_id = seeded.draft_ids[0]
    with db.session_scope() as session:
        original = session.get(Draft, draft_id).text
    client.post(f"/drafts/{draft_id}/edit", data={"csrf_token": token, "text": "Dry feet, all day"})
    page = client.get(f"/drafts/{draft_id}").text
    assert re.search(r'id="original-text" dir="auto">' + re.escape(original) + "<", page)
    assert 'id="draft-text" dir="auto">Dry feet, all day<' in page


def test_pages_edit_keeps_next_draft(reviewer, seeded):
    client, token = reviewer
    headlines = draft_ids(seeded.batch_id, "google_ads_headline")
    query = "channel=google_ads_headline&status=all&sort=score"
    # The edit rescores the draft from 1000 - id to below 1, the end of this queue.
    response = client.post(f"/drafts/{headlines[0]}/edit?{query}",
                           data={"csrf_token": token, "text": "Dry feet, all day"},
                           follow_redirects=False)  # fmt: skip
    assert response.status_code == 303
    assert response.headers["location"].startswith(f"/drafts/{headlines[1]}?")


@pytest.mark.parametrize(
    "content_type",
    ["application/x-www-form-urlencoded", "application/x-www-form-urlencoded; charset=UTF-8"],
    ids=["no-charset", "utf-8"],
)
def test_pages_form_raw_utf8_read_as_utf8(reviewer, seeded, content_type):
    client, token = reviewer
    draft_id = seeded.draft_ids[0]
    # As curl -d sends it: the UTF-8 bytes of the reason, not percent-encoded.
    body = f"csrf_token={token}&reason=".encode() + "不好, café".encode()

    response = client.post(f"/drafts/{draft_id}/reject", content=body, headers={"Content-Type": content_type},
                           follow_redirects=False)  # fmt: skip

    assert response.status_code == 303
    with db.session_scope() as session:
        assert [event["note"] for event in history(session, draft_id)] == ["不好, café"]


@pytest.mark.parametrize("text", [b"Good\xff boots", b"Good%FF boots", b"caf\xe9"], ids=["raw", "escaped", "latin-1"])
def test_pages_form_not_utf8_is_400(reviewer, seeded, text):
    client, token = reviewer
    draft_id = draft_ids(seeded.batch_id, "google_ads_headline")[0]
    before = snapshot()
    body = f"csrf_token={token}&text=".encode() + text

    response = client.post(f"/drafts/{draft_id}/edit", content=body,
                           headers={"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip

    assert response.status_code == 400
    assert "the form data is not UTF-8 text" in response.text
    assert snapshot() == before


def test_pages_reject_without_reason_is_422(reviewer, seeded):
    client, token = reviewer
    response = client.post(f"/drafts/{seeded.draft_ids[0]}/reject", data={"csrf_token": token, "reason": " "})
    assert response.status_code == 422
    assert "a rejection needs a reason" in alert_of(response.text)


def test_pages_bulk_filter_acts_beyond_visible_page(reviewer, seeded):
    client, token = reviewer
    seen_fields = bulk_fields(client.get("/queue?channel=email_subject").text)
    response = client.post("/queue/bulk?channel=email_subject",
                           data={"csrf_token": token, "op": "approve:filter", **seen_fields},
                           follow_redirects=False)  # fmt: skip
    assert response.status_code == 303
    with db.session_scope() as session:
        approved = session.scalar(select(func.count()).select_from(Draft).where(Draft.status == DraftStatus.APPROVED))
    assert approved == 4


def test_pages_bulk_count_changed_is_409(reviewer):
    client, token = reviewer
    seen_fields = bulk_fields(client.get("/queue").text)
    before = snapshot()
    response = client.post("/queue/bulk", data={"csrf_token": token, "op": "approve:filter",
                                                **seen_fields, "expected_count": 3})  # fmt: skip
    assert response.status_code == 409
    assert "the filter now matches 12 drafts, not the 3 you saw" in alert_of(response.text)
    assert snapshot() == before


def test_pages_bulk_filter_unknown_batch_is_404(reviewer):
    client, token = reviewer
    before = snapshot()
    response = client.post("/queue/bulk?batch_id=99999",
                           data={"csrf_token": token, "op": "approve:filter", "expected_count": 0,
                                 "expected_digest": "0" * 64},
                           follow_redirects=False)  # fmt: skip
    assert response.status_code == 404
    assert "batch 99999 not found" in alert_of(response.text)
    assert snapshot() == before


@pytest.mark.parametrize("left_out", ["expected_count", "expected_digest"], ids=["count", "digest"])
def test_pages_bulk_filter_without_seen_drafts_changes_nothing(reviewer, left_out):
    client, token = reviewer
    seen_fields = bulk_fields(client.get("/queue").text)
    del seen_fields[left_out]
    before = snapshot()
    response = client.post("/queue/bulk", data={"csrf_token": token, "op": "reject:filter", "reason": "x", **seen_fields},
                           follow_redirects=False)  # fmt: skip
    assert response.status_code == 422
    assert "the form does not say which matching drafts you saw" in alert_of(response.text)
    assert snapshot() == before


def test_pages_bulk_same_count_other_drafts_is_409(client_for, seeded, tmp_path):
    client, token = client_for("reviewer")
    other, other_token = client_for("admin")
    seen_fields = bulk_fields(client.get("/queue?channel=email_subject").text)
    # Another reviewer rejects one draft of the filter, and a new batch brings one that the
    # reviewer never saw, so the number of matching drafts is the same as before.
    rejected = draft_ids(seeded.batch_id, "email_subject")[0]
    other.post(f"/drafts/{rejected}/reject", data={"csrf_token": other_token, "reason": "Off brand"})
    new_batch = seed_batch(tmp_path, key="autumn", channels=("email_subject",), segments=("hikers",), variants=1)
    [unseen] = draft_ids(new_batch)
    before = snapshot()

    response = client.post("/queue/bulk?channel=email_subject",
                           data={"csrf_token": token, "op": "approve:filter", **seen_fields},
                           follow_redirects=False)  # fmt: skip

    assert bulk_fields(client.get("/queue?channel=email_subject").text)["expected_count"] == seen_fields["expected_count"]
    assert response.status_code == 409
    assert alert_of(response.text) == (
        "the drafts that match the filter are not the ones you saw: drafts were added, decided or "
        "changed since, and 4 match now; nothing was changed. Reload the queue and try again."
    )
    assert snapshot() == before
    assert status_of(unseen) == DraftStatus.PENDING_REVIEW


def test_pages_bulk_filter_refuses_changed_version(client_for, seeded):
    client, token = client_for("reviewer")
    seen_fields = bulk_fields(client.get("/queue?channel=email_subject&status=all").text)
    first = draft_ids(seeded.batch_id, "email_subject")[0]
    with db.session_scope() as session:
        decide(session, Actor(3, "adam", Role.ADMIN, None), first, Decision("approve"))
    before = snapshot()

    response = client.post("/queue/bulk?channel=email_subject&status=all",
                           data={"csrf_token": token, "op": "reject:filter", "reason": "x", **seen_fields},
                           follow_redirects=False)  # fmt: skip

    assert response.status_code == 409
    assert "the drafts that match the filter are not the ones you saw" in alert_of(response.text)
    assert snapshot() == before


@pytest.mark.parametrize(
    ("op", "drafts", "message"),
    [
        ("approve:everything", ["{first}:1"], 'bulk action "approve:everything" is not known'),
        ("approve", ["{first}:1"], 'bulk action "approve" is not known'),
        ("approve:selected", ["{first}:1", "{first}:5"], "is selected twice, with versions 1 and 5"),
    ],
    ids=["unknown-scope", "no-scope", "selected-twice"],
)
def test_pages_bulk_invalid_form_changes_nothing(reviewer, seeded, op, drafts, message):
    client, token = reviewer
    before = snapshot()
    selection = [value.format(first=seeded.draft_ids[0]) for value in drafts]
    response = client.post("/queue/bulk", data={"csrf_token": token, "op": op, "draft": selection},
                           follow_redirects=False)  # fmt: skip
    assert response.status_code == 422
    assert message in alert_of(response.text)
    assert snapshot() == before


def test_pages_bulk_selection_rejects_with_reason(reviewer, seeded):
    client, token = reviewer
    first, second = seeded.draft_ids[:2]
    selection = [f"{first}:{version_of(first)}", f"{second}:{version_of(second)}"]
    client.post("/queue/bulk", data={"csrf_token": token, "op": "reject:selected",
                                     "reason": "Too pushy", "draft": selection})  # fmt: skip
    assert status_of(first) == status_of(second) == DraftStatus.REJECTED


@pytest.mark.parametrize(
    ("op", "notice", "zh_notice"),
    [("approve:selected", "0 drafts approved. 2 were already approved by you.",
      "已通过 0 条草稿。2 条此前已由您通过。"),
     ("reject:selected", "0 drafts rejected. 2 were already rejected by you with this reason.",
      "已驳回 0 条草稿。2 条此前已由您以同一理由驳回。")],
    ids=["approve", "reject"],
)
def test_pages_bulk_sent_twice_goes_on(client_for, seeded, op, notice, zh_notice):
    client, token = client_for("reviewer")
    first, second = seeded.draft_ids[:2]
    form = {"csrf_token": token, "op": op, "reason": "Too pushy",
            "draft": [f"{first}:{version_of(first)}", f"{second}:{version_of(second)}"]}  # fmt: skip
    client.post("/queue/bulk", data=form)
    before = snapshot()

    response = client.post("/queue/bulk", data=form, follow_redirects=False)

    assert response.status_code == 303
    assert notice in client.get(response.headers["location"]).text
    chinese = client.get(response.headers["location"], headers={"Accept-Language": "zh-CN"}).text
    assert zh_notice in chinese
    assert snapshot() == before


def test_pages_bulk_filter_sent_twice_goes_on(reviewer, seeded):
    client, token = reviewer
    seen_fields = bulk_fields(client.get("/queue?channel=email_subject").text)
    form = {"csrf_token": token, "op": "approve:filter", **seen_fields}
    client.post("/queue/bulk?channel=email_subject", data=form)
    before = snapshot()

    response = client.post("/queue/bulk?channel=email_subject", data=form, follow_redirects=False)

    assert response.status_code == 303
    assert "0 drafts approved. 4 were already approved by you." in client.get(response.headers["location"]).text
    assert snapshot() == before


def test_pages_bulk_approve_names_rule_breakers(reviewer, seeded):
    client, token = reviewer
    first, second = draft_ids(seeded.batch_id, "google_ads_headline")[:2]
    with db.session_scope() as session:
        session.get(Draft, first).text = "x" * 31
    selection = [f"{first}:{version_of(first)}", f"{second}:{version_of(second)}"]
    response = client.post("/queue/bulk", data={"csrf_token": token, "op": "approve:selected",
                                                 "draft": selection})  # fmt: skip
    assert "1 draft approved." in response.text
    assert "0 skipped" not in response.text
    assert "1 not approved because it is over the hard limit" in response.text
    assert status_of(first) == DraftStatus.PENDING_REVIEW
    assert status_of(second) == DraftStatus.APPROVED


def test_pages_draft_text_is_escaped(reviewer, seeded):
    client, _ = reviewer
    draft_id = seeded.draft_ids[0]
    with db.session_scope() as session:
        session.get(Draft, draft_id).text = '<script>alert(1)</script><img src=x onerror="alert(2)">'
    for path in (f"/drafts/{draft_id}", "/queue?status=all"):
        page = client.get(path).text
        assert "<script>alert(1)" not in page
        assert "<img src=x" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=&#34;alert(2)&#34;&gt;" in page


def test_pages_queue_filters_by_check_and_sorts(reviewer, seeded):
    client, _ = reviewer
    page = client.get("/queue?check=failed:length&sort=oldest").text
    shown = [int(value) for value in re.findall(r'data-draft="(\d+)"', page)]
    assert shown == [draft_id for draft_id in seeded.draft_ids if draft_id % 3 == 0]


def test_pages_queue_selection_only_for_reviewers(client_for, seeded):
    marketer, _ = client_for("marketer")
    reviewer, _ = client_for("reviewer")

    viewed = marketer.get("/queue").text
    reviewed = reviewer.get("/queue").text

    assert 'type="checkbox"' not in viewed
    assert 'id="select-all"' not in viewed
    assert 'id="bulk-form"' not in viewed
    assert "Keys: j/k move, o open." in viewed
    assert f'<tr data-draft="{seeded.draft_ids[0]}"' in viewed
    assert 'id="select-all"' in reviewed
    assert f'name="draft" value="{seeded.draft_ids[0]}:' in reviewed
    assert 'id="bulk-form"' in reviewed
    assert "Keys: j/k move, x select, o open." in reviewed


@pytest.mark.parametrize(
    ("sort", "column", "direction"),
    [("score", "Score", "descending"), ("oldest", "#", "ascending"), ("newest", "#", "descending"),
     ("campaign", "Campaign / segment / channel", "ascending"), ("length", "Characters", "ascending")],
)  # fmt: skip
def test_pages_queue_aria_sort_matches_order(reviewer, sort, column, direction):
    client, _ = reviewer
    page = client.get(f"/queue?sort={sort}").text
    sorted_headers = re.findall(r'<th aria-sort="([a-z]+)"><a [^>]*>([^<]*)</a></th>', page)
    assert sorted_headers == [(direction, column)]
    assert "aria-sort" not in page.replace('<th aria-sort="', "")


def test_pages_queue_invalid_filter_is_422(reviewer):
    client, _ = reviewer
    response = client.get("/queue?status=done")
    assert response.status_code == 422
    assert 'status "done" is not known' in unescape(response.text)


@pytest.mark.parametrize("value", ["-1", "0", "abc", "²"])
def test_pages_queue_batch_id_must_be_positive(reviewer, value):
    client, _ = reviewer
    response = client.get("/queue", params={"batch_id": value})
    assert response.status_code == 422
    assert alert_of(response.text) == (
        f'batch id "{value}" is not valid; use a positive whole number, the id of a batch in the '
        "batches list"
    )


def test_pages_upload_shows_problems_by_campaign_and_field(client_for, tmp_path):
    client, token = client_for("marketer")
    path = write_campaign_file(tmp_path, key="broken", channels=("tiktok",))
    content = path.read_text().replace("variants: 2", "variants: 99")
    response = client.post("/batches", data={"csrf_token": token},
                           files={"file": ("broken.yaml", content.encode(), "application/x-yaml")})  # fmt: skip
    assert response.status_code == 422
    group = re.search(r"Campaign <code>broken</code>.*?</table>", response.text, re.DOTALL).group(0)
    assert re.search(r"<code>channels\[0\]</code></td><td>&#34;tiktok&#34; is not a known channel", group)
    assert re.search(r"<code>variants</code></td><td>must be 50 or less \(got 99\)", group)
    # The message above the table does not repeat the problems.
    assert alert_of(response.text) == (
        "The file has the problems listed below, so nothing was imported. Fix them and upload the file again."
    )
    assert "/tmp/" not in response.text
    with db.session_scope() as session:
        assert session.scalar(select(func.count()).select_from(Batch)) == 1


def test_pages_upload_names_keyless_csv_row(client_for, api, tmp_path):
    client, token = client_for("marketer")
    content = ("key,brand,product_name,product_description,segments,channels,locale\n"
               ",trailpeak,Sock,Warm,Hikers,email_subject,en-US\n").encode()  # fmt: skip

    page = client.post("/batches", data={"csrf_token": token},
                       files={"file": ("socks.csv", content, "text/csv")})  # fmt: skip
    response = api("marketer").post("/api/v1/batches", files={"file": ("socks.csv", content)})

    assert page.status_code == 422
    assert re.search(r"Campaign with no key\s*<span class=\"hint\">\(row 2\)</span>", page.text)
    assert response.json()["problems"][0]["key"] is None
    assert response.json()["problems"][0]["row"] == 2


def test_pages_upload_places_keyless_yaml_campaign(client_for, api):
    client, token = client_for("marketer")
    content = yaml.safe_dump({"campaigns": [
        {"brand": "trailpeak", "product": {"name": "Boot"}, "segments": [{"key": "a", "name": "A"}],
         "channels": ["email_subject"]},
        {"brand": "trailpeak", "product": {"name": "Sock"}, "segments": [{"key": "a", "name": "A"}],
         "channels": ["smss"]},
    ]}).encode()  # fmt: skip

    page = client.post("/batches", data={"csrf_token": token},
                       files={"file": ("keyless.yaml", content, "application/x-yaml")})  # fmt: skip
    response = api("marketer").post("/api/v1/batches", files={"file": ("keyless.yaml", content)})

    assert re.search(r"Campaign with no key\s*<span class=\"hint\">\(number 2 in its list\)</span>", page.text)
    fields = [problem["field"] for problem in response.json()["problems"]]
    assert "campaigns[1].channels[0]" in fields
    assert "campaigns[0].key" in fields


def test_pages_upload_repeated_key_under_its_own_row(client_for):
    client, token = client_for("marketer")
    row = "sock,trailpeak,Sock,Warm,Hikers,email_subject,en-US\n"
    content = ("key,brand,product_name,product_description,segments,channels,locale\n" + row + row).encode()

    page = client.post("/batches", data={"csrf_token": token}, files={"file": ("socks.csv", content, "text/csv")})

    group = re.search(r"Campaign <code>sock</code>\s*<span class=\"hint\">\(row 3\)</span>.*?</table>", page.text,
                      re.DOTALL)  # fmt: skip
    assert group is not None
    assert "row 2 has the same key" in group.group(0)


def test_pages_upload_problems_in_chinese(client_for, tmp_path):
    client, token = client_for("marketer")
    path = write_campaign_file(tmp_path, key="broken", channels=("tiktok",))
    content = path.read_text().replace("variants: 2", "variants: 99")
    response = client.post("/batches", data={"csrf_token": token},
                           files={"file": ("broken.yaml", content.encode(), "application/x-yaml")},
                           headers={"Accept-Language": "zh-CN"})  # fmt: skip
    assert response.status_code == 422
    group = re.search(r"活动 <code>broken</code>.*?</table>", response.text, re.DOTALL).group(0)
    assert re.search(r"<code>channels\[0\]</code></td><td>“tiktok”不是已知的渠道；请使用以下之一：", group)
    assert re.search(r"<code>variants</code></td><td>必须小于或等于 50（实际为 99）", group)


def test_pages_upload_syntax_error_in_chinese(client_for):
    client, token = client_for("marketer")
    content = "campaigns:\n  - key: a\n    name: Sale: today\n"
    response = client.post("/batches", data={"csrf_token": token},
                           files={"file": ("sale.yaml", content.encode(), "application/x-yaml")},
                           headers={"Accept-Language": "zh-CN"})  # fmt: skip
    assert response.status_code == 422
    assert alert_of(response.text) == (
        "活动文件“sale.yaml”第 3 行第 15 列：YAML 格式错误：此处不能出现“键: 值”"
        "（通常是值中含有冒号加空格，请给值加上引号）"
    )


def test_pages_upload_rejects_unknown_suffix(client_for):
    client, token = client_for("marketer")
    response = client.post("/batches", data={"csrf_token": token},
                           files={"file": ("notes.txt", b"hello", "text/plain")})  # fmt: skip
    assert response.status_code == 422
    assert 'file "notes.txt" has the type ".txt"' in alert_of(response.text)


def test_pages_upload_workbook_told_to_save_csv(client_for):
    client, token = client_for("marketer")
    response = client.post("/batches", data={"csrf_token": token},
                           files={"file": ("Products.XLSX", b"PK\x03\x04", "application/octet-stream")})  # fmt: skip
    assert response.status_code == 422
    assert 'file "Products.XLSX" is a spreadsheet workbook (.xlsx)' in alert_of(response.text)


def test_pages_upload_without_suffix_says_so(client_for):
    client, token = client_for("marketer")
    response = client.post("/batches", data={"csrf_token": token},
                           files={"file": ("campaigns", b"hello", "text/plain")})  # fmt: skip
    assert response.status_code == 422
    assert 'file "campaigns" has no file name extension' in alert_of(response.text)


def test_pages_bulk_unknown_action_names_bulk_actions(client_for):
    client, token = client_for("reviewer")
    response = client.post("/queue/bulk", data={"csrf_token": token, "op": "edit:selected"})
    assert response.status_code == 422
    assert alert_of(response.text) == (
        'bulk action "edit" is not known; use approve or reject (edits are made one draft at a time)'
    )


def test_pages_upload_without_broker_says_how_to_run(client_for, tmp_path):
    client, token = client_for("marketer")
    content = write_campaign_file(tmp_path, key="fresh").read_bytes()
    response = client.post("/batches", data={"csrf_token": token, "idempotency_key": "abc"},
                           files={"file": ("fresh.yaml", content, "application/x-yaml")})  # fmt: skip
    assert response.status_code == 200
    assert "contentgen batch resume 2 --wait" in response.text


def import_warnings_of(html: str) -> list[tuple[str, str]]:
    """Return the (brand or campaign, warning) rows of a batch page's import warnings, as
    text without tags."""
    section = re.search(r'<section class="warning" id="import-warnings">.*?</section>', html, re.DOTALL)
    assert section, "the page shows no import warnings"
    rows = re.findall(r"<tr><td>(.*?)</td><td>(.*?)</td></tr>", section.group(0))
    return [tuple(unescape(re.sub(r"<[^>]+>", "", cell)) for cell in row) for row in rows]


def upload_without_banned_terms(client: TestClient, token: str, tmp_path, headers=None):
    """Upload a file that gives the brand "trailpeak" banned terms, then one that leaves
    them out, and return the response to the second upload, after its redirect."""
    path = write_campaign_file(tmp_path, key="fresh")
    data = yaml.safe_load(path.read_text())
    data["brands"][0]["banned_terms"] = ["cheap"]
    with_terms = yaml.safe_dump(data).encode()
    first = client.post("/batches", data={"csrf_token": token},
                        files={"file": ("fresh.yaml", with_terms, "application/x-yaml")})  # fmt: skip
    assert first.status_code == 200
    assert "import-warnings" not in first.text
    return client.post("/batches", data={"csrf_token": token}, headers=headers,
                       files={"file": ("fresh.yaml", path.read_bytes(), "application/x-yaml")})  # fmt: skip


def test_pages_upload_shows_cleared_fields(client_for, tmp_path):
    client, token = client_for("marketer")

    response = upload_without_banned_terms(client, token, tmp_path)

    assert response.status_code == 200
    assert str(response.url).endswith("/batches/3?dispatch=queued&created=1")
    assert import_warnings_of(response.text) == [
        ("Brand trailpeak", "the import cleared banned_terms, which the file left out"),
    ]
    assert "<code><bdi>trailpeak</bdi></code>" in response.text
    # The warning is stored with the batch, so the page shows it on every later visit.
    later = client.get("/batches/3")
    assert import_warnings_of(later.text) == import_warnings_of(response.text)
    assert "import-warnings" not in client.get("/batches/2").text


def planned_rows_of(html: str) -> list[tuple[str, ...]]:
    """Return the rows of the upload page's table of planned requests, as text without tags."""
    table = re.search(r'<table class="grid" id="planned-requests">.*?</table>', html, re.DOTALL)
    assert table, "the page shows no planned requests"
    rows = re.findall(r"<tr>(.*?)</tr>", table.group(0), re.DOTALL)
    return [tuple(unescape(re.sub(r"<[^>]+>", "", cell)) for cell in re.findall(r"<t[dh]>(.*?)</t[dh]>", row))
            for row in rows]  # fmt: skip


def post_dry_run(client: TestClient, token: str, name: str, content: bytes, headers=None):
    return client.post("/batches", data={"csrf_token": token, "dry_run": "true"}, headers=headers,
                       files={"file": (name, content, "application/x-yaml")})  # fmt: skip


def test_pages_upload_form_has_dry_run_button(client_for):
    client, _ = client_for("marketer")
    page = client.get("/batches/new").text
    assert '<button type="submit">Check and submit</button>' in page
    assert '<button type="submit" name="dry_run" value="true" class="secondary">Check without submitting</button>' in page


def test_pages_upload_dry_run_shows_plan(client_for, tmp_path):
    client, token = client_for("marketer")
    content = write_campaign_file(tmp_path, key="fresh", channels=("email_subject", "google_ads_headline")).read_bytes()
    before = snapshot()

    response = post_dry_run(client, token, "fresh.yaml", content)

    assert response.status_code == 200
    assert str(response.url).endswith("/batches")
    assert "<h2>Checked &#34;fresh.yaml&#34; without submitting</h2>" in response.text
    assert re.search(r'role="status">\s*Nothing was saved\. The file is valid and every prompt renders, so '
                     r"submitting it would create a batch with 8 requests\.", response.text)  # fmt: skip
    assert planned_rows_of(response.text) == [
        ("Campaign", "Channel", "Max new tokens", "Requests"),
        ("fresh", "Email subject line email_subject", "24", "4"),
        ("fresh", "Google Ads responsive search ad headline google_ads_headline", "24", "4"),
    ]
    assert "plan-warnings" not in response.text
    assert snapshot() == before


def test_pages_upload_dry_run_shows_cleared_fields(client_for, tmp_path):
    client, token = client_for("marketer")
    path = write_campaign_file(tmp_path, key="fresh")
    data = yaml.safe_load(path.read_text())
    data["brands"][0]["banned_terms"] = ["cheap"]
    client.post("/batches", data={"csrf_token": token},
                files={"file": ("fresh.yaml", yaml.safe_dump(data).encode(), "application/x-yaml")})  # fmt: skip
    before = snapshot()

    response = post_dry_run(client, token, "fresh.yaml", path.read_bytes())

    assert response.status_code == 200
    section = re.search(r'<section class="warning" id="plan-warnings">.*?</section>', response.text, re.DOTALL)
    assert section, "the page shows no warnings of the dry run"
    assert "<h2>Stored fields that submitting this file would clear</h2>" in section.group(0)
    rows = re.findall(r"<tr><td>(.*?)</td><td>(.*?)</td></tr>", section.group(0))
    assert [tuple(unescape(re.sub(r"<[^>]+>", "", cell)) for cell in row) for row in rows] == [
        ("Brand trailpeak", "this import clears banned_terms, which the file leaves out"),
    ]
    assert snapshot() == before


def test_pages_upload_dry_run_shows_render_error(client_for, tmp_path):
    client, token = client_for("marketer")
    folder = tmp_path / "custom"
    folder.mkdir()
    # Renders for the sample campaign of templates sync, whose product name "Sample product"
    # has 14 characters, but divides by zero for "Ridgeline GTX", which has 13.
    (folder / "email_subject.j2").write_text("Only {{ 100 // (product.name | length - 13) }}")
    with db.session_scope() as session:
        sync_templates(session, folder)
    content = write_campaign_file(tmp_path, key="fresh").read_bytes()
    before = snapshot()

    response = post_dry_run(client, token, "fresh.yaml", content)

    assert response.status_code == 422
    assert alert_of(response.text).startswith('campaign "fresh", channel "email_subject": ')
    assert "planned-requests" not in response.text
    assert snapshot() == before


def test_pages_upload_dry_run_problems_are_422(client_for, tmp_path):
    client, token = client_for("marketer")
    content = write_campaign_file(tmp_path, key="broken", channels=("tiktok",)).read_bytes()
    before = snapshot()

    response = post_dry_run(client, token, "broken.yaml", content)

    assert response.status_code == 422
    assert re.search(r"<code>channels\[0\]</code></td><td>&#34;tiktok&#34; is not a known channel", response.text)
    assert alert_of(response.text).startswith("The file has the problems listed below, so nothing was imported.")
    assert "planned-requests" not in response.text
    assert snapshot() == before


def test_pages_unknown_export_format_is_422(client_for, seeded):
    client, _ = client_for("marketer")
    response = client.get(f"/batches/{seeded.batch_id}/export?format=xlsx")
    assert response.status_code == 422
    assert 'export format "xlsx" is not known; use one of: csv, json, google-ads' in unescape(response.text)


def fail_requests(batch_id: int, count: int) -> list[int]:
    """Mark the batch's first ``count`` requests failed, as a worker does after the last attempt."""
    with db.session_scope() as session:
        failed = session.scalars(
            select(GenerationRequest).where(GenerationRequest.batch_id == batch_id)
            .order_by(GenerationRequest.id).limit(count)
        ).all()  # fmt: skip
        for request in failed:
            request.status = RequestStatus.FAILED
            request.error = f"generation failed 3 times; last error: prompt {request.id} too long"
        return [request.id for request in failed]


def test_pages_batch_lists_failed_requests(client_for, seeded):
    client, _ = client_for("marketer")
    failed = fail_requests(seeded.batch_id, 2)

    page = client.get(f"/batches/{seeded.batch_id}").text
    chinese = client.get(f"/batches/{seeded.batch_id}", headers={"Accept-Language": "zh-CN"}).text

    assert '<td data-field="requests.failed">2</td>' in page
    assert "2 requests failed after their last attempt." in page
    for request_id in failed:
        assert f"<td>{request_id}</td>" in page
        assert f"prompt {request_id} too long" in page
    # The segment by the name it had when the batch was made, as the queue shows it.
    assert "<td><bdi>Hikers</bdi></td>" in page
    assert f'action="/batches/{seeded.batch_id}/retry-failed"' in page
    assert f"<code>contentgen batch retry-failed {seeded.batch_id}</code>" in page
    assert "2 个请求在最后一次尝试后失败。" in chinese
    assert "重新运行失败的请求" in chinese


def test_pages_batch_lists_first_failures(client_for, seeded, monkeypatch):
    monkeypatch.setattr(batches, "LISTED_FAILURES", 3)
    client, _ = client_for("reviewer")
    fail_requests(seeded.batch_id, 5)

    page = client.get(f"/batches/{seeded.batch_id}").text

    assert "5 requests failed after their last attempt. The first 3 are below" in page
    assert page.count("too long</bdi></td>") == 3


def test_pages_batch_without_failures_has_no_section(client_for, seeded):
    client, _ = client_for("marketer")
    page = client.get(f"/batches/{seeded.batch_id}").text
    assert 'id="failed-requests"' not in page
    assert '<td data-field="requests.done">' in page


def test_pages_reviewer_sees_no_retry_button(client_for, seeded):
    client, _ = client_for("reviewer")
    fail_requests(seeded.batch_id, 1)
    page = client.get(f"/batches/{seeded.batch_id}").text
    assert "1 request failed after its last attempt." in page
    assert "retry-failed\"" not in page
    assert "Run the failed requests again" not in page


def test_pages_retry_failed_makes_them_pending(client_for, seeded):
    client, token = client_for("marketer")
    failed = fail_requests(seeded.batch_id, 2)

    response = client.post(f"/batches/{seeded.batch_id}/retry-failed", data={"csrf_token": token},
                           follow_redirects=False)  # fmt: skip
    page = client.get(response.headers["location"]).text

    assert response.status_code == 303
    assert "2 failed requests will run again." in page
    # No broker is configured here, so the page gives the command that runs them.
    assert f"contentgen batch resume {seeded.batch_id} --wait" in page
    with db.session_scope() as session:
        states = session.execute(
            select(GenerationRequest.status, GenerationRequest.attempts, GenerationRequest.error)
            .where(GenerationRequest.id.in_(failed))
        ).all()  # fmt: skip
    assert states == [(RequestStatus.PENDING, 0, None)] * 2


def test_pages_retry_sent_twice_names_pending(client_for, seeded):
    client, token = client_for("marketer")
    fail_requests(seeded.batch_id, 2)
    client.post(f"/batches/{seeded.batch_id}/retry-failed", data={"csrf_token": token})

    response = client.post(f"/batches/{seeded.batch_id}/retry-failed", data={"csrf_token": token})

    assert "No request of this batch has failed since the last retry." in response.text
    assert "nothing runs again" not in response.text


def test_pages_retry_without_failures_says_so(client_for, seeded):
    client, token = client_for("admin")
    before = snapshot()

    response = client.post(f"/batches/{seeded.batch_id}/retry-failed", data={"csrf_token": token})

    assert "The batch has no failed requests, so nothing runs again." in response.text
    assert snapshot() == before


def test_pages_retry_unknown_batch_is_404(client_for):
    client, token = client_for("marketer")
    response = client.post("/batches/999/retry-failed", data={"csrf_token": token})
    assert response.status_code == 404


def pend_requests(batch_id: int, count: int) -> list[int]:
    """Make the batch's last ``count`` requests pending again and the batch running, as
    while a worker has yet to reach them."""
    with db.session_scope() as session:
        requests = session.scalars(
            select(GenerationRequest).where(GenerationRequest.batch_id == batch_id)
            .order_by(GenerationRequest.id.desc()).limit(count)
        ).all()  # fmt: skip
        for request in requests:
            request.status = RequestStatus.PENDING
        session.get(Batch, batch_id).status = BatchStatus.RUNNING
        return sorted(request.id for request in requests)


def test_pages_cancel_button_while_pending(client_for, seeded):
    client, _ = client_for("marketer")
    reviewer, _ = client_for("reviewer")
    finished = client.get(f"/batches/{seeded.batch_id}").text
    pend_requests(seeded.batch_id, 2)

    pending = client.get(f"/batches/{seeded.batch_id}").text

    assert f'action="/batches/{seeded.batch_id}/cancel"' in pending
    assert "Cancel the pending requests" in pending
    assert "/cancel" not in finished
    assert "/cancel" not in reviewer.get(f"/batches/{seeded.batch_id}").text


def test_pages_status_labels_complete(client_for, seeded):
    client, _ = client_for("marketer")
    page = client.get(f"/batches/{seeded.batch_id}", headers={"Accept-Language": "zh-CN"}).text

    labels = json.loads(unescape(re.search(r'data-status-labels="([^"]*)"', page).group(1)))

    assert set(labels) == {status.value for status in BatchStatus}
    assert labels["cancelled"] == "已取消"


def test_pages_cancelled_batch_no_button(client_for, seeded):
    client, _ = client_for("marketer")
    # A cancel that left a worker's chunk to finish: the batch is cancelled, and the
    # chunk's requests stay pending until it is stored.
    pend_requests(seeded.batch_id, 2)
    with db.session_scope() as session:
        session.get(Batch, seeded.batch_id).status = BatchStatus.CANCELLED

    page = client.get(f"/batches/{seeded.batch_id}").text

    assert '<td data-field="requests.pending">2</td>' in page
    assert "/cancel" not in page


def test_pages_cancel_stops_pending_requests(client_for, seeded):
    client, token = client_for("marketer")
    pending = pend_requests(seeded.batch_id, 3)

    response = client.post(f"/batches/{seeded.batch_id}/cancel", data={"csrf_token": token},
                           follow_redirects=False)  # fmt: skip
    page = client.get(response.headers["location"]).text
    chinese = client.get(response.headers["location"], headers={"Accept-Language": "zh-CN"}).text

    assert response.status_code == 303
    assert "3 pending requests cancelled." in page
    assert '<td data-field="status">Cancelled</td>' in page
    assert "3 requests of this batch were cancelled and cannot run again." in page
    assert "<code>contentgen batch submit --campaign ridgeline</code>" in page
    assert f'action="/batches/{seeded.batch_id}/cancel"' not in page
    assert "已取消 3 个等待中的请求。" in chinese
    with db.session_scope() as session:
        states = session.scalars(
            select(GenerationRequest.status).where(GenerationRequest.id.in_(pending))
        ).all()  # fmt: skip
        assert session.get(Batch, seeded.batch_id).status == BatchStatus.CANCELLED
    assert states == [RequestStatus.CANCELLED] * 3


@pytest.mark.parametrize(
    "query",
    ["notice=batch_cancelled&changed=999&skipped=0", "notice=failed_retried&changed=999", "notice=retry_pending"],
)  # fmt: skip
def test_pages_batch_notice_must_fit_batch(client_for, seeded, query):
    client, _ = client_for("reviewer")
    page = client.get(f"/batches/{seeded.batch_id}?{query}").text
    assert 'role="status"' not in page


def test_pages_cancel_notice_generating_sentence(client_for, seeded, monkeypatch):
    client, _ = client_for("reviewer")
    link = f"/batches/{seeded.batch_id}?notice=batch_cancelled&changed=0&skipped=2"
    finished = client.get(link).text
    pend_requests(seeded.batch_id, 2)
    without_broker = client.get(link).text
    apply_settings(monkeypatch, broker_url="redis://127.0.0.1:6399/0")

    with_broker = client.get(link).text

    assert "nothing was cancelled." in finished
    assert "A worker is generating" not in finished
    assert "A worker is generating" not in without_broker
    assert "A worker is generating 2 requests now; they finish and keep their drafts." in with_broker


def test_pages_cancel_notice_sentences_in_chinese(client_for, seeded, monkeypatch):
    client, token = client_for("marketer")
    pend_requests(seeded.batch_id, 3)
    client.post(f"/batches/{seeded.batch_id}/cancel", data={"csrf_token": token})
    # On PostgreSQL a worker's chunk may still hold one request, which stays pending.
    pend_requests(seeded.batch_id, 1)
    apply_settings(monkeypatch, broker_url="redis://127.0.0.1:6399/0")

    page = client.get(f"/batches/{seeded.batch_id}?notice=batch_cancelled&changed=2&skipped=1",
                      headers={"Accept-Language": "zh-CN"}).text  # fmt: skip

    assert "已取消 2 个等待中的请求。工作进程正在生成 1 个请求" in page


def test_pages_cancel_without_pending_unchanged(client_for, seeded):
    client, token = client_for("admin")
    before = snapshot()

    response = client.post(f"/batches/{seeded.batch_id}/cancel", data={"csrf_token": token})

    assert "No request of this batch was waiting to run, so nothing was cancelled." in response.text
    assert snapshot() == before
    with db.session_scope() as session:
        assert session.get(Batch, seeded.batch_id).status == BatchStatus.COMPLETED


def test_pages_cancel_needs_csrf_token(client_for, seeded):
    client, _ = client_for("marketer")
    pending = pend_requests(seeded.batch_id, 1)

    response = client.post(f"/batches/{seeded.batch_id}/cancel", data={})

    assert response.status_code == 403
    with db.session_scope() as session:
        assert session.get(GenerationRequest, pending[0]).status == RequestStatus.PENDING


def test_pages_cancel_unknown_batch_is_404(client_for):
    client, token = client_for("marketer")
    response = client.post("/batches/999/cancel", data={"csrf_token": token})
    assert response.status_code == 404


def test_pages_progress_counts_follow_reviews(client_for, seeded):
    client, _ = client_for("marketer")
    with db.session_scope() as session:
        decide(session, Actor(3, "adam", Role.ADMIN, None), seeded.draft_ids[0], Decision("approve"))
    [batch] = client.get("/batches/progress").json()
    assert batch["drafts"] == {"pending_review": 11, "flagged": 0, "approved": 1, "rejected": 0}


@pytest.mark.parametrize(
    ("path", "status", "detail"),
    [
        ("/batches/999/progress", 404, "batch 999 not found; check the id, or open the batch from the batches page"),
        ("/batches/abc/progress", 422, 'path parameter "batch_id": not a whole number (got "abc")'),
        ("/batches/progress?limit=0", 422, 'query parameter "limit": must be 1 or more (got "0")'),
    ],
    ids=["unknown-batch", "batch-id-not-number", "limit-zero"],
)  # fmt: skip
def test_pages_progress_errors_are_json(client_for, path, status, detail):
    client, _ = client_for("reviewer")
    response = client.get(path)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert response.json()["detail"] == detail


@pytest.mark.parametrize("path", ["/batches/progress", "/batches/1/progress"])
def test_pages_progress_logged_out_is_401_json(app, path):
    response = TestClient(app).get(path, headers={"Accept-Language": "zh-CN"}, follow_redirects=False)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"detail": "您尚未登录；请登录后重新加载页面。"}


def test_pages_progress_expired_login_is_401_json(app):
    serializer = URLSafeTimedSerializer(SECRET_KEY, salt="contentgen.page-session")
    cookie = serializer.dumps({"csrf_token": "t", "user_id": 2, "login_at": time.time() - 13 * 3600})
    client = TestClient(app, cookies={"contentgen_session": cookie})

    response = client.get("/batches/progress", follow_redirects=False)

    assert response.status_code == 401
    assert response.json() == {"detail": "Your session expired; log in again."}


def test_pages_unknown_batch_page_is_html(client_for):
    client, _ = client_for("reviewer")
    response = client.get("/batches/999")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize(
    ("accept_language", "expected"),
    [("zh-CN,zh;q=0.9", "审核队列"), ("zh", "审核队列"), ("de-DE,en;q=0.5", "Review queue")],
    ids=["zh-CN", "zh", "fallback"],
)
def test_pages_language_from_browser(client_for, accept_language, expected):
    client, _ = client_for("reviewer")
    assert f"<h1>{expected}</h1>" in client.get("/queue", headers={"Accept-Language": accept_language}).text


def test_pages_language_setting_beats_browser(client_for):
    client, token = client_for("reviewer")
    client.post("/settings", data={"csrf_token": token, "locale": "zh-CN"})
    assert "<h1>审核队列</h1>" in client.get("/queue", headers={"Accept-Language": "en"}).text


@pytest.mark.parametrize(("locale", "stored"), [("zh", "zh-CN"), ("zh_CN", "zh-CN"), ("EN-us", "en")])
def test_pages_language_setting_stored_canonical(client_for, locale, stored):
    client, token = client_for("reviewer")

    response = client.post("/settings", data={"csrf_token": token, "locale": locale}, follow_redirects=False)

    assert response.status_code == 303
    with db.session_scope() as session:
        assert session.scalars(select(User.locale).where(User.username == "rita")).one() == stored


def test_pages_error_message_in_chinese(reviewer, seeded):
    client, token = reviewer
    response = client.post(f"/drafts/{seeded.draft_ids[0]}/reject", data={"csrf_token": token, "reason": ""},
                           headers={"Accept-Language": "zh-CN"})  # fmt: skip
    assert response.status_code == 422
    assert "驳回需要理由" in alert_of(response.text)


@pytest.mark.parametrize(
    ("path", "query", "shown"),
    [
        ("/users", "notice=role_changed&user=rita&role=reviewer", "User rita now has the role reviewer."),
        ("/users", "notice=role_changed&user=rita&role=suspended.%20Call%20IT%20at%20555-0100", None),
        ("/users", "notice=user_created&user=a%20b", None),
        ("/queue", "notice=bulk_rejected&changed=3&skipped=1", "3 drafts rejected. 1 skipped because its status does not allow the action."),
        ("/queue", "notice=bulk_approved&changed=9999999999", None),
        ("/login", "notice=role_changed&user=mallory&role=admin", None),
        ("/login", "notice=logged_out", "You are logged out."),
    ],
    ids=["valid-role", "free-text-role", "invalid-user", "count", "count-too-long", "other-page",
         "own-page"],
)
def test_pages_notice_shows_no_free_text(client_for, path, query, shown):
    client, _ = client_for("admin" if path != "/login" else None)
    notice = re.search(r'<p class="notice"[^>]*>([^<]*)<', client.get(f"{path}?{query}").text)
    assert (unescape(notice.group(1)).strip() if notice else None) == shown


def notice_on(html: str) -> str | None:
    notice = re.search(r'<p class="notice" role="status">([^<]*)<', html)
    return unescape(notice.group(1)).strip() if notice else None


def test_pages_role_change_any_case(client_for):
    client, token = client_for("admin")

    response = client.post("/users/MIA/role", data={"csrf_token": token, "role": "Reviewer"})

    assert response.status_code == 200
    assert notice_on(response.text) == "User mia now has the role reviewer."
    with db.session_scope() as session:
        assert session.scalars(select(User.role).where(User.username == "mia")).one() == "reviewer"


def test_pages_draft_notice_needs_real_decision(client_for, seeded):
    client, token = client_for("reviewer")
    approved, rejected, edited, pending = draft_ids(seeded.batch_id, "google_ads_headline")[:4]
    client.post(f"/drafts/{approved}/approve", data={"csrf_token": token})
    client.post(f"/drafts/{rejected}/reject", data={"csrf_token": token, "reason": "Off brand"})
    client.post(f"/drafts/{edited}/edit", data={"csrf_token": token, "text": "Dry feet on every trail"})
    page = f"/drafts/{pending}"
    cases = {
        f"notice=approved&draft={approved}": f"Draft {approved} approved.",
        f"notice=rejected&draft={rejected}": f"Draft {rejected} rejected.",
        f"notice=edited&draft={edited}": f"Draft {edited} edited and approved.",
        "notice=approved&draft=99999": None,
        "notice=approved&draft=0": None,
        "notice=approved&draft=9999999999999": None,
        "notice=approved": None,
        "notice=approved&draft=": None,
        f"notice=approved&draft={pending}": None,
        f"notice=approved&draft={rejected}": None,
        f"notice=rejected&draft={approved}": None,
        f"notice=edited&draft={approved}": None,
    }

    for query, expected in cases.items():
        response = client.get(f"{page}?{query}")
        assert response.status_code == 200, query
        assert notice_on(response.text) == expected, query


def test_pages_queue_clear_notice_needs_empty_queue(client_for, seeded):
    client, _ = client_for("reviewer")
    with_drafts = client.get(f"/queue?batch_id={seeded.batch_id}&notice=queue_clear").text
    assert notice_on(with_drafts) == "That was the last draft in this order; the drafts below still match the filter."
    cleared = client.get("/queue?channel=sms&notice=queue_clear").text
    assert notice_on(cleared) == "The queue is clear: no more drafts match this filter."


def test_pages_logged_out_notice_needs_logout(client_for):
    client, _ = client_for("reviewer")
    assert notice_on(client.get("/login?notice=logged_out").text) is None


def test_pages_user_notice_needs_its_values(client_for):
    client, _ = client_for("admin")
    assert notice_on(client.get("/users?notice=user_created").text) is None
    assert notice_on(client.get("/users?notice=role_changed&user=mia").text) is None
    assert notice_on(client.get("/users?notice=user_created&user=mia").text) == "User mia created."


def test_pages_user_notice_needs_real_change(client_for):
    client, _ = client_for("admin")
    cases = {
        "notice=user_created&user=nobody": None,
        "notice=role_changed&user=rita&role=admin": None,
        "notice=role_changed&user=RITA&role=reviewer": "User RITA now has the role reviewer.",
        "notice=user_disabled&user=mia": None,
        "notice=user_enabled&user=mia": "User mia is enabled.",
    }

    for query, expected in cases.items():
        assert notice_on(client.get(f"/users?{query}").text) == expected, query


def test_pages_login_expired_only_with_flag(client_for):
    client, _ = client_for(None)
    assert "Your session expired" not in client.get("/login?expired=0").text
    assert "Your session expired" in client.get("/login?expired=1").text


@pytest.mark.parametrize(
    ("channel", "sentence"),
    [
        ("google_ads_headline", "The platform rejects longer text."),
        ("email_subject", "contentgen's own limit for this channel; a brand can change it in its channel_limits."),
    ],
    ids=["platform", "contentgen"],
)
def test_pages_draft_names_who_set_limit(client_for, seeded, channel, sentence):
    client, _ = client_for("reviewer")
    html = client.get(f"/drafts/{draft_ids(seeded.batch_id, channel)[0]}").text
    count = re.search(r'id="char-count">(.*?)</p>', html, re.S)
    assert count, "the page shows no character count"
    assert sentence in unescape(count.group(1))


def failed_logins(client: TestClient, token: str, username: str, count: int) -> list[int]:
    return [
        client.post("/login", data={"csrf_token": token, "username": username, "password": "wrong"},
                    follow_redirects=False).status_code  # fmt: skip
        for _ in range(count)
    ]


def test_pages_failed_logins_are_throttled(client_for, caplog):
    client, _ = client_for(None)
    token = csrf_of(client.get("/login").text)

    statuses = failed_logins(client, token, "rita", 10)
    blocked = client.post("/login", data={"csrf_token": token, "username": "Rita", "password": PASSWORD},
                          follow_redirects=False)  # fmt: skip
    other = client.post("/login", data={"csrf_token": token, "username": "adam", "password": PASSWORD},
                        follow_redirects=False)  # fmt: skip

    assert statuses == [401] * 10
    assert blocked.status_code == 429
    assert alert_of(blocked.text) == "Too many failed logins. Try again in 15 minutes."
    assert 0 < int(blocked.headers["retry-after"]) <= 900
    assert other.status_code == 303
    assert "failed login for user 'rita' from testclient" in caplog.text


def test_pages_failed_logins_from_one_address_are_throttled(client_for, monkeypatch):
    monkeypatch.setattr(_login_limit, "FAILED_LOGINS_PER_ADDRESS", parse("3 per 15 minutes"))
    client, _ = client_for(None)
    token = csrf_of(client.get("/login").text)

    statuses = [failed_logins(client, token, f"guess{n}", 1)[0] for n in range(3)]
    blocked = client.post("/login", data={"csrf_token": token, "username": "adam", "password": PASSWORD},
                          follow_redirects=False)  # fmt: skip

    assert statuses == [401] * 3
    assert blocked.status_code == 429


def test_login_throttle_counts_each_address_apart():
    throttle = LoginThrottle()
    for n in range(_login_limit.FAILED_LOGINS_PER_ADDRESS.amount):
        assert throttle.reserve(f"guess{n}", "10.0.0.1") == 0
        throttle.record_failure(f"guess{n}", "10.0.0.1")

    assert throttle.reserve("someone-new", "10.0.0.1") > 0
    assert throttle.reserve("someone-new", "10.0.0.2") == 0


def test_login_throttle_counts_checks_under_way():
    throttle = LoginThrottle()
    for _ in range(_login_limit.FAILED_LOGINS.amount):
        assert throttle.reserve("rita", "10.0.0.1") == 0

    waiting = throttle.reserve("rita", "10.0.0.1")
    throttle.release("rita", "10.0.0.1")
    after_release = throttle.reserve("rita", "10.0.0.1")

    assert 0 < waiting <= 900
    assert after_release == 0


def test_login_throttle_success_spares_address(monkeypatch):
    monkeypatch.setattr(_login_limit, "FAILED_LOGINS_PER_ADDRESS", parse("3 per 15 minutes"))
    throttle = LoginThrottle()
    for n in range(5):
        assert throttle.reserve(f"user{n}", "10.0.0.1") == 0, n
        throttle.record_success(f"user{n}", "10.0.0.1")

    assert throttle.reserve("someone-new", "10.0.0.1") == 0


def test_pages_successful_login_clears_failures(client_for):
    client, _ = client_for(None)
    token = csrf_of(client.get("/login").text)

    failed_logins(client, token, "rita", 9)
    logged_in = client.post("/login", data={"csrf_token": token, "username": "rita", "password": PASSWORD},
                            follow_redirects=False)  # fmt: skip
    # Without the clearing, the second of these would be the eleventh failure.
    fresh = TestClient(client.app)
    again = failed_logins(fresh, csrf_of(fresh.get("/login").text), "rita", 2)

    assert logged_in.status_code == 303
    assert again == [401, 401]


def parallel_failed_logins(client: TestClient, token: str, usernames: list[str],
                           monkeypatch) -> tuple[list[int], int, list[str]]:  # fmt: skip
    """Send one wrong-password login per username, all at once.

    Each password check waits until every request has started its check or received its
    response, so that every request is in flight before the first check ends. Returns the status
    codes, the number of passwords checked and the Retry-After headers of the 429s.
    """
    checked = 0
    responded = 0
    condition = threading.Condition()
    real_authenticate = pages.authenticate

    def counting_authenticate(session, username, password):
        nonlocal checked
        with condition:
            checked += 1
            condition.notify_all()
            # The timeout only keeps a broken throttle from hanging the test.
            condition.wait_for(lambda: checked + responded == len(usernames), timeout=60)
        return real_authenticate(session, username, password)

    def post(username: str):
        nonlocal responded
        response = client.post("/login", data={"csrf_token": token, "username": username, "password": "wrong"},
                               follow_redirects=False)  # fmt: skip
        with condition:
            responded += 1
            condition.notify_all()
        return response

    monkeypatch.setattr(pages, "authenticate", counting_authenticate)
    with ThreadPoolExecutor(max_workers=len(usernames)) as pool:
        responses = list(pool.map(post, usernames))
    retry_after = [response.headers["retry-after"] for response in responses if response.status_code == 429]
    return [response.status_code for response in responses], checked, retry_after


def test_pages_parallel_user_logins_throttled(client_for, monkeypatch):
    monkeypatch.setattr(_login_limit, "FAILED_LOGINS", parse("3 per 15 minutes"))
    client, _ = client_for(None)
    token = csrf_of(client.get("/login").text)

    statuses, checked, retry_after = parallel_failed_logins(client, token, ["rita"] * 12, monkeypatch)
    later = failed_logins(client, token, "rita", 1)

    assert checked == 3
    assert sorted(statuses) == [401] * 3 + [429] * 9
    assert all(0 < int(seconds) <= 900 for seconds in retry_after), retry_after
    assert later == [429]


def test_pages_parallel_address_logins_throttled(client_for, monkeypatch):
    monkeypatch.setattr(_login_limit, "FAILED_LOGINS_PER_ADDRESS", parse("4 per 15 minutes"))
    client, _ = client_for(None)
    token = csrf_of(client.get("/login").text)

    usernames = [f"guess{n}" for n in range(12)]
    statuses, checked, _ = parallel_failed_logins(client, token, usernames, monkeypatch)
    later = failed_logins(client, token, "someone-new", 1)

    assert checked == 4
    assert sorted(statuses) == [401] * 4 + [429] * 8
    assert later == [429]


def test_pages_successful_login_spares_address(client_for, monkeypatch):
    monkeypatch.setattr(_login_limit, "FAILED_LOGINS_PER_ADDRESS", parse("3 per 15 minutes"))
    client, _ = client_for(None)

    logins = []
    for _ in range(4):
        # A login starts a new session with a new CSRF token, so each login has its own client.
        browser = TestClient(client.app)
        token = csrf_of(browser.get("/login").text)
        logins.append(browser.post("/login", data={"csrf_token": token, "username": "rita", "password": PASSWORD},
                                   follow_redirects=False).status_code)  # fmt: skip
    fresh = TestClient(client.app)
    failures = failed_logins(fresh, csrf_of(fresh.get("/login").text), "adam", 3)

    assert logins == [303] * 4
    assert failures == [401] * 3


def test_pages_login_error_releases_check(client_for, monkeypatch):
    monkeypatch.setattr(_login_limit, "FAILED_LOGINS", parse("1 per 15 minutes"))
    client, _ = client_for(None)
    token = csrf_of(client.get("/login").text)

    def failing_authenticate(session, username, password):
        raise RuntimeError("database unavailable")

    with monkeypatch.context() as patch:
        patch.setattr(pages, "authenticate", failing_authenticate)
        with pytest.raises(RuntimeError):
            failed_logins(client, token, "rita", 1)
    after = failed_logins(client, token, "rita", 2)

    assert after == [401, 429]


def test_pages_cookie_outlives_login_to_say_expired(client_for):
    client, _ = client_for(None)
    token = csrf_of(client.get("/login").text)
    response = client.post("/login", data={"csrf_token": token, "username": "rita", "password": PASSWORD},
                           follow_redirects=False)  # fmt: skip
    max_age = int(re.search(r"Max-Age=(\d+)", response.headers["set-cookie"]).group(1))
    lifetime = client.app.state.session_minutes * 60
    assert lifetime + 12 * 3600 - 5 <= max_age <= lifetime + 12 * 3600


def test_pages_times_name_utc(reviewer, seeded):
    client, _ = reviewer
    page = client.get(f"/drafts/{seeded.draft_ids[0]}").text
    assert re.search(r'<time datetime="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[^"]*\+00:00">'
                     r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC</time>", page)  # fmt: skip


def test_pages_draft_names_invisible_characters(reviewer, seeded):
    client, token = reviewer
    draft_id = seeded.draft_ids[0]
    scotland = "\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f"
    client.post(f"/drafts/{draft_id}/edit",
                data={"csrf_token": token, "text": f"Dry\u200b feet\u200b 👩\u200d💻 {scotland}"})  # fmt: skip

    page = unescape(client.get(f"/drafts/{draft_id}").text)
    plain = unescape(client.get(f"/drafts/{seeded.draft_ids[1]}").text)

    assert "The text contains invisible characters: U+200B×2. They do not show" in page
    # The joiner and the flag's tag characters belong to the emoji and are not listed.
    assert "U+200D" not in page
    assert "U+E0067" not in page
    assert 'id="invisible-characters"' not in plain


@pytest.mark.parametrize(
    ("method", "path"), [("get", "/queue?batch=2&status=flagged"), ("get", "/drafts/{draft}?stauts=flagged"),
                         ("post", "/queue/bulk?batch=2")],
    ids=["queue", "draft", "bulk"],
)  # fmt: skip
def test_pages_unknown_queue_parameter_is_refused(client_for, seeded, method, path):
    client, token = client_for("reviewer")
    url = path.format(draft=seeded.draft_ids[0])
    before = snapshot()

    data = {"csrf_token": token, "op": "approve", "expected_count": "0"} if method == "post" else None
    response = client.request(method.upper(), url, data=data)

    assert response.status_code == 422
    assert alert_of(response.text).startswith(
        "This address has parameters that the review queue and its draft pages do not take: "
    )
    assert "their filters are batch_id, campaign, channel, segment, status, check, sort." in alert_of(response.text)
    assert snapshot() == before


@pytest.mark.parametrize(
    ("query", "message"),
    [("batch_id=1&batch_id=2", "This address gives batch_id more than once; give each parameter once."),
     ("=x", 'This address has parameters that the review queue and its draft pages do not take: ""; ')],
    ids=["repeated", "empty-name"],
)  # fmt: skip
def test_pages_queue_repeated_or_empty_parameter_is_refused(client_for, query, message):
    client, _ = client_for("reviewer")
    response = client.get(f"/queue?{query}")
    assert response.status_code == 422
    assert alert_of(response.text).startswith(message)


def test_pages_rejected_draft_not_in_queue(client_for, seeded):
    client, token = client_for("reviewer")
    draft_id = seeded.draft_ids[0]
    client.post(f"/drafts/{draft_id}/reject",
                data={"csrf_token": token, "version": str(version_of(draft_id)), "reason": "Off brand"})  # fmt: skip
    open_drafts = len(seeded.draft_ids) - 1

    html = client.get(f"/drafts/{draft_id}").text

    assert f"Not in this queue, which has {open_drafts} drafts" in html
    assert "in this queue</span>" not in html


@pytest.mark.parametrize(
    ("method", "path", "form", "start"),
    [
        ("get", "/queue?check=" + "x" * 3000, None, 'check filter "' + "x" * 49 + '…" is not valid'),
        ("get", "/queue?check=failed:" + "x" * 3000, None, 'check filter "failed:' + "x" * 42 + '…" names no check'),
        ("get", "/queue?status=" + "x" * 3000, None, 'status "' + "x" * 49 + '…" is not known'),
        ("get", "/queue?batch_id=" + "9" * 3000, None, "batch " + "9" * 49 + "… not found"),
        ("get", "/drafts/" + "9" * 3000, None, "draft " + "9" * 49 + "… not found"),
        ("get", "/queue?segment=" + "x" * 3000, None, 'segment "' + "x" * 49 + '…" not found'),
        ("post", "/settings", {"locale": "y" * 5000}, 'language "' + "y" * 49 + '…" is not supported'),
        ("post", "/queue/bulk", {"op": "x" * 3000 + ":selected"}, 'bulk action "' + "x" * 49 + '…" is not known'),
        ("post", "/users/mia/role", {"role": "r" * 3000}, 'role "' + "r" * 49 + '…" is not known'),
    ],
    ids=["check", "check-name", "status", "batch-id", "draft-id", "segment", "locale", "bulk-action", "role"],
)  # fmt: skip
def test_pages_long_value_is_shortened_in_error(client_for, method, path, form, start):
    client, token = client_for("admin")
    before = snapshot()
    data = {"csrf_token": token, **form} if form is not None else None
    response = client.request(method.upper(), path, data=data)
    assert response.status_code in (404, 422)
    assert alert_of(response.text).startswith(start)
    assert len(alert_of(response.text)) < 300
    assert snapshot() == before


def test_pages_upload_without_campaigns_is_422(client_for, tmp_path):
    client, token = client_for("marketer")
    content = yaml.safe_dump({"brands": [{"key": "trailpeak", "name": "TrailPeak", "voice": "Plain."}]})
    before = snapshot()
    response = client.post("/batches", data={"csrf_token": token},
                           files={"file": ("brands.yaml", content.encode(), "application/x-yaml")})  # fmt: skip
    assert response.status_code == 422
    assert alert_of(response.text) == (
        "the file defines no campaigns, so there is nothing to submit; add at least one "
        "campaign to it and upload it again"
    )
    assert snapshot() == before


@pytest.mark.parametrize(
    ("method", "path", "message"),
    [
        ("get", "/batches/999", "batch 999 not found; check the id, or open the batch from the batches page"),
        ("get", "/queue?batch_id=999", "batch 999 not found; check the id, or open the batch from the batches page"),
        ("post", "/users/nobody/role", 'user "nobody" not found; the users page lists every user'),
        ("get", "/queue?campaign=nope",
         'campaign "nope" not found; choose a campaign from the review queue\'s campaign filter'),
    ],
    ids=["batch", "queue-batch", "user", "campaign"],
)  # fmt: skip
def test_pages_not_found_names_no_command(client_for, method, path, message):
    client, token = client_for("admin")
    response = client.request(method.upper(), path, data={"csrf_token": token, "role": "admin"} if method == "post" else None)
    assert response.status_code == 404
    assert alert_of(response.text) == message


def test_pages_edit_to_same_text_approves(reviewer, seeded):
    client, token = reviewer
    first, second = seeded.draft_ids[:2]
    with db.session_scope() as session:
        text = session.get(Draft, first).text

    response = client.post(f"/drafts/{first}/edit?sort=oldest", data={"csrf_token": token, "text": f" {text}\r\n"},
                           follow_redirects=False)  # fmt: skip
    page = client.get(f"/drafts/{first}").text

    assert response.headers["location"] == f"/drafts/{second}?sort=oldest&notice=approved&draft={first}"
    assert status_of(first) == DraftStatus.APPROVED
    assert 'id="original-text"' not in page
    assert re.search(r"<td>approve</td>", page)


def hidden_field(html: str, name: str) -> str:
    return unescape(re.search(rf'name="{name}" value="([^"]*)"', html).group(1))


@pytest.mark.parametrize(
    ("action", "page"),
    [
        ("/drafts/{draft}/edit?batch_id={batch}", "/drafts/{draft}/edit?batch_id={batch}"),
        ("/drafts/{draft}/approve", "/drafts/{draft}/approve"),
        ("/queue/bulk?channel=email_subject", "/queue?channel=email_subject"),
        ("/users/mia/role", "/users"),
        ("/templates/sync", "/templates"),
        ("/settings", "/settings"),
        ("/logout", "/"),
    ],
    ids=["edit", "approve", "bulk", "role", "templates-sync", "settings", "logout"],
)  # fmt: skip
def test_pages_login_after_post_opens_form_page(app, seeded, action, page):
    client = TestClient(app)
    action = action.format(draft=seeded.draft_ids[0], batch=seeded.batch_id)
    page = page.format(draft=seeded.draft_ids[0], batch=seeded.batch_id)
    before = snapshot()

    sent = client.post(action, data={"csrf_token": "t", "text": "Typed copy"}, follow_redirects=False)
    login_page = client.get(sent.headers["location"]).text
    login = client.post("/login", data={"username": "adam", "password": PASSWORD,
                                        "csrf_token": csrf_of(login_page),
                                        "next": hidden_field(login_page, "next")},
                        follow_redirects=False)  # fmt: skip

    assert sent.status_code == 303
    assert login.headers["location"] == page
    assert client.get(page, follow_redirects=False).status_code in (200, 303)
    assert snapshot() == before


@pytest.mark.parametrize(
    ("referer", "page"),
    [("http://testserver/batches/new", "/batches/new"),
     ("http://evil.example/batches/new", "/batches"),
     ("http://testserver/batches/new/nothing", "/batches")],
    ids=["same-site", "other-site", "no-get-route"],
)  # fmt: skip
def test_pages_login_after_post_follows_referer(app, referer, page):
    client = TestClient(app)
    sent = client.post("/batches", headers={"Referer": referer}, follow_redirects=False)
    login_page = client.get(sent.headers["location"]).text
    assert hidden_field(login_page, "next") == page


def test_pages_pending_batch_shows_run_hint(client_for, tmp_path):
    client, token = client_for("marketer")
    content = write_campaign_file(tmp_path, key="fresh").read_bytes()
    client.post("/batches", data={"csrf_token": token},
                files={"file": ("fresh.yaml", content, "application/x-yaml")})  # fmt: skip

    page = client.get("/batches/2").text
    progress = client.get("/batches/2/progress")

    no_broker = re.search(r'<p class="notice" data-run-hint="no_broker" *>(.*?)</p>', page)
    assert no_broker is not None
    assert "<code>contentgen batch resume 2 --wait</code>" in no_broker.group(1)
    assert re.search(r'data-run-hint="not_sent" hidden>', page)
    assert 'data-live="/batches/2/progress"' in page
    assert progress.json()["id"] == 2
    assert progress.json()["run_hint"] == "no_broker"
    assert progress.headers["cache-control"] == "no-store"


def test_pages_unsent_batch_shows_run_hint(client_for, monkeypatch, tmp_path):
    client, _ = client_for("marketer")
    submission = submit([write_campaign_file(tmp_path, key="fresh")])
    apply_settings(monkeypatch, broker_url="redis://127.0.0.1:9/0")

    unsent = client.get(f"/batches/{submission.batch_id}").text
    with db.session_scope() as session:
        session.get(Batch, submission.batch_id).sent_at = datetime.now(UTC)
    sent = client.get(f"/batches/{submission.batch_id}/progress").json()

    hint = re.search(r'<p class="notice" data-run-hint="not_sent" *>(.*?)</p>', unsent)
    assert hint is not None
    assert f"<code>contentgen batch resume {submission.batch_id}</code>" in hint.group(1)
    assert re.search(r'data-run-hint="no_broker" hidden>', unsent)
    assert sent["run_hint"] is None


def test_pages_finished_batch_has_no_run_hint(client_for, seeded):
    client, _ = client_for("marketer")
    page = client.get(f"/batches/{seeded.batch_id}").text
    assert len(re.findall(r'data-run-hint="[a-z_]+" hidden>', page)) == 2
    assert client.get(f"/batches/{seeded.batch_id}/progress").json()["run_hint"] is None


def test_pages_user_content_has_its_own_direction(reviewer, seeded):
    client, _ = reviewer
    draft_id = seeded.draft_ids[0]
    with db.session_scope() as session:
        draft = session.get(Draft, draft_id)
        draft.text = "مرحبا بكم في متجرنا"
        draft.request.campaign.name = "השקת אביב"
    page = client.get(f"/drafts/{draft_id}").text
    queue = client.get("/queue?sort=oldest").text

    assert '<div class="copy" id="draft-text" dir="auto">مرحبا بكم في متجرنا</div>' in page
    assert re.search(r'<textarea name="text" id="edit-text" rows="4" dir="auto" required>مرحبا', page)
    assert re.search(r'<textarea name="reason" id="reject-reason" [^>]*dir="auto"', page)
    assert '<p class="slot"><bdi>השקת אביב</bdi> (<code>ridgeline</code>) / <bdi>Hikers</bdi>' in page
    assert '<td class="text" dir="auto">مرحبا بكم في متجرنا</td>' in queue
    assert "<bdi>השקת אביב</bdi> / <bdi>Hikers</bdi>" in queue


def change_password(client, token, current=PASSWORD, new="a new passphrase", again=None):
    return client.post("/settings/password", data={
        "csrf_token": token, "current_password": current, "new_password": new,
        "new_password_again": new if again is None else again,
    }, follow_redirects=False)  # fmt: skip


def test_pages_password_change_keeps_this_login(client_for):
    client, token = client_for("reviewer")
    other_browser, _ = client_for("reviewer")

    response = change_password(client, token)

    assert response.status_code == 303
    assert "Password changed." in client.get(response.headers["location"]).text
    assert client.get("/queue", follow_redirects=False).status_code == 200
    assert other_browser.get("/queue", follow_redirects=False).status_code == 303
    with db.session_scope() as session:
        assert authenticate(session, "rita", "a new passphrase") is not None


@pytest.mark.parametrize(
    ("fields", "status", "message"),
    [({"current": "wrong password"}, 403, "The current password is wrong. Nothing was changed."),
     ({"again": "another passphrase"}, 422, "The two new passwords differ"),
     ({"new": "short"}, 422, "the password is too short; use at least 8 characters")],
    ids=["wrong-current", "differ", "too-short"],
)  # fmt: skip
def test_pages_password_change_refused(client_for, fields, status, message):
    client, token = client_for("marketer")
    before = snapshot()

    response = change_password(client, token, **fields)

    assert response.status_code == status
    assert message in alert_of(response.text)
    assert snapshot() == before
    assert client.get("/batches", follow_redirects=False).status_code == 200


def test_pages_password_change_in_chinese(client_for):
    client, token = client_for("marketer")
    response = client.post("/settings/password", headers={"Accept-Language": "zh-CN"}, data={
        "csrf_token": token, "current_password": "wrong password", "new_password": "a new passphrase",
        "new_password_again": "a new passphrase",
    })  # fmt: skip
    assert alert_of(response.text) == "当前密码不正确。未做任何更改。"


def broken_template_folder(tmp_path, monkeypatch):
    """Point the sync button at a folder with two templates that fail, and return it."""
    folder = tmp_path / "broken-templates"
    folder.mkdir()
    (folder / "email_subject.j2").write_text("Price: {{ product.price.upper() }}")
    (folder / "sms.j2").write_bytes(b"Text \xe2\x80\xae me")
    monkeypatch.setattr("contentgen.templates.templates_dir", lambda: folder)
    return folder


def template_versions() -> int:
    with db.session_scope() as session:
        return session.scalar(select(func.count()).select_from(PromptTemplate))


def test_pages_sync_error_shows_lines(client_for, tmp_path, monkeypatch):
    folder = broken_template_folder(tmp_path, monkeypatch)
    client, token = client_for("admin")
    before = template_versions()

    response = client.post("/templates/sync", data={"csrf_token": token})

    assert response.status_code == 422
    assert alert_of(response.text).split("\n") == [
        "prompt templates are invalid; nothing was synced:",
        f"  - {folder / 'sms.j2'}, line 1, column 6: contains the invisible control character U+202E; remove it",
        f"  - {folder / 'email_subject.j2'}, line 1: 'None' has no attribute 'upper' when a campaign leaves the "
        "optional field product.price empty; use the field only inside {% if product.price %} … {% endif %}",
    ]
    assert template_versions() == before


def test_pages_error_style_keeps_line_breaks(client_for):
    client, _ = client_for("admin")
    css = client.get("/static/app.css").text
    rule = re.search(r"^\.error \{([^}]*)\}", css, re.MULTILINE)
    assert rule, "app.css has no rule for .error"
    assert "white-space: pre-line" in rule.group(1)


def test_pages_wrong_current_passwords_are_throttled(client_for, monkeypatch):
    monkeypatch.setattr(_login_limit, "FAILED_LOGINS", parse("2 per 15 minutes"))
    client, token = client_for("marketer")
    before = snapshot()

    wrong = [change_password(client, token, current="wrong password").status_code for _ in range(2)]
    throttled = change_password(client, token)

    assert wrong == [403, 403]
    assert throttled.status_code == 429
    assert "Too many failed logins. Try again in 15 minutes." in alert_of(throttled.text)
    assert int(throttled.headers["Retry-After"]) > 0
    assert snapshot() == before


def test_pages_password_change_accepts_both_unicode_forms(client_for):
    client, token = client_for("marketer")
    response = change_password(client, token, new="Passw\u00f6rt-1", again="Passwo\u0308rt-1")
    assert response.status_code == 303
    with db.session_scope() as session:
        assert authenticate(session, "mia", "Passwo\u0308rt-1") is not None
