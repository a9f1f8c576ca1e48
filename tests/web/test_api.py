import csv
import io
import json

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.exc import ProgrammingError

from contentgen import db
from contentgen.batches import request_groups
from contentgen.channels import CHANNELS
from contentgen.dispatch import run_inline
from contentgen.models import Batch, Draft, DraftStatus, GenerationRequest, RequestStatus
from contentgen.web.api import _next_step, forbid_unexpected_body
from contentgen.web.app import UNAVAILABLE_MESSAGE

from ..seeding import draft_ids, import_changed_campaign, seed_batch, write_campaign_file
from .conftest import csrf_of, snapshot, status_of, version_of
from .test_pages import broken_template_folder, pend_requests, template_versions


def test_api_without_token_is_401_with_challenge(api):
    response = api(None).get("/api/v1/drafts")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert "missing bearer token" in response.json()["detail"]


def test_api_wrong_token_is_401(app):
    response = TestClient(app, headers={"Authorization": "Bearer cg_nope"}).get("/api/v1/me")
    assert response.status_code == 401
    assert "the bearer token is not valid" in response.json()["detail"]


def test_api_wrong_role_is_403_and_names_role(api, seeded):
    before = snapshot()
    response = api("marketer").post(f"/api/v1/drafts/{seeded.draft_ids[0]}/approve", json={})
    assert response.status_code == 403
    assert "has the role marketer, which may not review" in response.json()["detail"]
    assert snapshot() == before


def test_api_schema_declares_bearer_auth(api):
    schema = api(None).get("/api/v1/openapi.json").json()
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert "/api/v1/drafts/bulk" in schema["paths"]
    assert "/queue" not in schema["paths"]


def test_api_schema_declares_idempotency_header(api):
    operation = api(None).get("/api/v1/openapi.json").json()["paths"]["/api/v1/batches"]["post"]
    headers = [parameter["name"] for parameter in operation["parameters"] if parameter["in"] == "header"]
    assert headers == ["Idempotency-Key"]


def test_api_queue_filters_and_pages(api, seeded):
    body = api("reviewer").get("/api/v1/drafts", params={"channel": "google_ads_headline",
                                                        "page_size": 3, "sort": "oldest"}).json()  # fmt: skip
    assert body["total"] == 4
    assert body["pages"] == 2
    assert [item["id"] for item in body["items"]] == draft_ids(seeded.batch_id, "google_ads_headline")[:3]


def test_api_decision_returns_history(api, seeded):
    draft_id = seeded.draft_ids[0]
    body = api("reviewer").post(f"/api/v1/drafts/{draft_id}/reject", json={"reason": "Too long"}).json()
    assert body["status"] == "rejected"
    assert [(event["action"], event["actor"], event["note"]) for event in body["history"]] == [
        ("reject", "rita", "Too long")
    ]


def test_api_stale_version_is_409(api, seeded):
    draft_id = seeded.draft_ids[0]
    version = api("reviewer").get(f"/api/v1/drafts/{draft_id}").json()["version"]
    api("admin").post(f"/api/v1/drafts/{draft_id}/approve", json={"version": version})
    response = api("reviewer").post(f"/api/v1/drafts/{draft_id}/reject",
                                    json={"version": version, "reason": "No"})  # fmt: skip
    assert response.status_code == 409
    assert response.json()["detail"] == (
        f"draft {draft_id} was approved by adam after you read it (version {version}, now {version + 1}); "
        f"nothing was saved. Read it again with GET /api/v1/drafts/{draft_id} and decide again."
    )
    assert status_of(draft_id) == DraftStatus.APPROVED


def test_api_bulk_stale_version_names_list_route(api, seeded):
    first, second = seeded.draft_ids[:2]
    seen = {draft_id: api("reviewer").get(f"/api/v1/drafts/{draft_id}").json()["version"] for draft_id in (first, second)}
    assert api("admin").post(f"/api/v1/drafts/{first}/approve", json={"version": seen[first]}).status_code == 200
    before = snapshot()

    response = api("reviewer").post("/api/v1/drafts/bulk", headers={"Accept-Language": "zh-CN"}, json={
        "action": "approve", "drafts": [{"id": draft_id, "version": version} for draft_id, version in seen.items()],
    })  # fmt: skip

    assert response.status_code == 409
    assert response.json()["detail"] == (
        f"您读取草稿 {first} 后，它已由 adam 通过（版本 {seen[first]}，现为 {seen[first] + 1}）；未做任何更改。"
        "请用 GET /api/v1/drafts 重新列出草稿，并提交它们的当前版本。"
    )
    assert snapshot() == before


def test_api_same_approval_twice_is_409(api, seeded):
    draft_id = seeded.draft_ids[0]
    version = api("reviewer").get(f"/api/v1/drafts/{draft_id}").json()["version"]
    api("reviewer").post(f"/api/v1/drafts/{draft_id}/approve", json={"version": version})
    before = snapshot()

    response = api("reviewer").post(f"/api/v1/drafts/{draft_id}/approve", json={"version": version},
                                    headers={"Accept-Language": "zh-CN"})  # fmt: skip

    assert response.status_code == 409
    assert response.json()["detail"] == f"您已经通过了草稿 {draft_id}，这次重复的通过没有做任何更改"
    assert snapshot() == before


def test_api_bulk_sent_twice_lists_already(api, seeded):
    first, second = seeded.draft_ids[:2]
    drafts = [{"id": draft_id, "version": version_of(draft_id)} for draft_id in (first, second)]
    api("reviewer").post("/api/v1/drafts/bulk", json={"action": "approve", "drafts": drafts})
    before = snapshot()

    response = api("reviewer").post("/api/v1/drafts/bulk", json={"action": "approve", "drafts": drafts})

    assert response.status_code == 200
    assert response.json()["changed_ids"] == []
    assert response.json()["already_ids"] == [first, second]
    assert snapshot() == before


def test_api_bulk_rule_breaker_left_unapproved(api, seeded):
    over, fine = draft_ids(seeded.batch_id, "google_ads_headline")[:2]
    with db.session_scope() as session:
        session.get(Draft, over).text = "x" * 31

    response = api("reviewer").post("/api/v1/drafts/bulk", json={"action": "approve", "drafts": [
        {"id": over, "version": version_of(over)}, {"id": fine, "version": version_of(fine)}]})  # fmt: skip

    assert response.status_code == 200
    assert response.json()["changed_ids"] == [fine]
    assert response.json()["breaking_rules"] == {
        str(over): f"draft {over} has 31 Google Ads units as the platform counts them, over the hard "
        "limit of 30 for google_ads_headline, so it was left unapproved; edit it to 30 Google Ads "
        "units or fewer, which approves it"
    }
    assert status_of(over) == DraftStatus.PENDING_REVIEW
    assert status_of(fine) == DraftStatus.APPROVED


def test_api_bulk_rule_breaker_in_chinese(api, seeded):
    over = draft_ids(seeded.batch_id, "google_ads_headline")[0]
    with db.session_scope() as session:
        session.get(Draft, over).text = "x" * 31

    response = api("reviewer").post("/api/v1/drafts/bulk", json={"action": "approve", "drafts": [{"id": over}]},
                                    headers={"Accept-Language": "zh-CN"})  # fmt: skip

    assert response.status_code == 200
    assert response.json()["breaking_rules"][str(over)] == (
        f"按平台的计数方式，草稿 {over} 有 31 个 Google Ads 计数单位，超过 google_ads_headline 的硬性上限 30，"
        "因此未通过；请编辑，把它缩短到 30 个 Google Ads 计数单位以内，修改后即通过"
    )


def test_api_single_rule_breaker_keeps_wording(api, seeded):
    over = draft_ids(seeded.batch_id, "google_ads_headline")[0]
    with db.session_scope() as session:
        session.get(Draft, over).text = "x" * 31

    response = api("reviewer").post(f"/api/v1/drafts/{over}/approve", json={})

    assert response.status_code == 422
    assert response.json()["detail"] == (
        f"draft {over} has 31 Google Ads units as the platform counts them, over the hard limit of 30 "
        "for google_ads_headline, so it cannot be approved; edit it to 30 Google Ads units or fewer "
        "instead. Nothing was changed."
    )


@pytest.mark.parametrize(
    ("path", "body", "status", "message"),
    [
        ("/api/v1/drafts/9999/approve", {}, 404, "draft 9999 not found"),
        ("/api/v1/drafts/{draft}/reject", {"reason": ""}, 422, "a rejection needs a reason"),
        ("/api/v1/drafts/{headline}/edit", {"text": "z" * 31}, 422, "over the hard limit of 30"),
        ("/api/v1/drafts/bulk", {"action": "approve"}, 422, "no drafts selected"),
        ("/api/v1/drafts/bulk", {"action": "approve", "drafts": [{"id": 9999}]}, 404, "drafts not found: 9999"),
        ("/api/v1/drafts/bulk", {"action": "approve", "filter": {"campain": "x"}}, 422,
         "filter.campain: unknown field; correct its spelling or remove it"),
        ("/api/v1/drafts/bulk", {"action": "reject", "reason": "x", "drafts": [{"id": 1}],
                                 "filter": {"batch_id": 1}, "expected_count": 12}, 422,
         "give either drafts or a filter, not both"),
        ("/api/v1/drafts/bulk", {"action": "approve", "filter": {}}, 422, "a filter needs expected_digest"),
        ("/api/v1/drafts/{draft}/approve", {"verison": 1}, 422, "verison: unknown field; correct its spelling or remove it"),
        ("/api/v1/drafts/{draft}/approve", {"version": "1"}, 422, "version: not a whole number; send a JSON number such as 1 (got \"1\")"),
    ],
    ids=["unknown-draft", "no-reason", "over-limit", "empty-bulk", "bulk-unknown",
         "misspelt-filter-field", "drafts-and-filter", "filter-without-count", "misspelt-field",
         "string-for-integer"],
)
def test_api_bad_input_changes_nothing(api, seeded, path, body, status, message):
    path = path.format(draft=seeded.draft_ids[0],
                       headline=draft_ids(seeded.batch_id, "google_ads_headline")[0])  # fmt: skip
    before = snapshot()
    response = api("reviewer").post(path, json=body)
    assert response.status_code == status
    assert message in response.json()["detail"]
    assert snapshot() == before


def test_api_version_that_never_existed(api, seeded):
    draft_id = seeded.draft_ids[0]
    current = api("reviewer").get(f"/api/v1/drafts/{draft_id}").json()["version"]
    seen = current + 2
    before = snapshot()

    response = api("reviewer").post(f"/api/v1/drafts/{draft_id}/approve", json={"version": seen})

    assert response.status_code == 409
    assert response.json()["detail"] == (
        f"draft {draft_id} has no version {seen}; the current version is {current}. "
        f"Nothing was saved. Read the draft again with GET /api/v1/drafts/{draft_id} and send its version."
    )
    assert snapshot() == before


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/api/v1/drafts/{draft}/approve", {"version": 0}, "version: must be 1 or more (got 0)"),
        ("/api/v1/drafts/{draft}/approve", {"version": 10**30}, "version: must be 2147483647 or less (got 1000000000000000000000000000000)"),
        ("/api/v1/drafts/bulk", {"action": "approve", "drafts": [{"id": 1, "version": -1}]},
         "drafts.0.version: must be 1 or more (got -1)"),
        ("/api/v1/drafts/bulk", {"action": "approve", "filter": {}, "expected_count": -1},
         "expected_count: must be 0 or more (got -1)"),
        ("/api/v1/drafts/bulk", {"action": "approve", "drafts": [{"id": 1, "version": 2}, {"id": 1, "version": 7}]},
         "draft 1 is selected twice, with versions 2 and 7; select each draft once"),
        ("/api/v1/drafts/bulk", {"action": "approve", "drafts": [{"id": 1}, {"id": 1, "version": 1}]},
         "draft 1 is selected twice, once with version 1 and once without a version; select each "
         "draft once. Nothing was changed."),
        ("/api/v1/drafts/bulk", {"action": "approve", "drafts": [{"id": 1}] * 10_001},
         "drafts: has 10001 items, over the maximum of 10000; split them into requests of at most 10000 items each"),
        ("/api/v1/drafts/bulk", {"action": "approve", "filter": {}, "expected_digest": "x" * 3000},
         '"' + "x" * 49 + '…" is not a digest of matching drafts, which has 64 hexadecimal digits'),
        ("/api/v1/drafts/bulk", {"action": "approve", "drafts": [{"id": 1}], "expected_digest": "0" * 64},
         "expected_digest goes with a filter; for listed drafts, give each draft's version instead"),
    ],
    ids=["version-zero", "version-huge", "bulk-version-negative", "count-negative", "listed-twice",
         "listed-with-and-without-version", "too-many", "digest-malformed", "digest-without-filter"],
)  # fmt: skip
def test_api_invalid_numbers_are_422(api, seeded, path, body, message):
    before = snapshot()
    response = api("reviewer").post(path.format(draft=seeded.draft_ids[0]), json=body)
    assert response.status_code == 422
    assert message in response.json()["detail"]
    assert snapshot() == before


def test_api_bulk_names_some_missing_drafts(api):
    response = api("reviewer").post("/api/v1/drafts/bulk",
                                    json={"action": "approve", "drafts": [{"id": n} for n in range(9000, 9100)]})  # fmt: skip
    assert response.status_code == 404
    assert response.json()["detail"] == (
        "100 drafts not found, such as " + ", ".join(str(n) for n in range(9000, 9020)) + "; nothing was changed"
    )


@pytest.mark.parametrize(
    ("params", "status", "message"),
    [
        ({"stauts": "flagged"}, 422, 'query parameter "stauts": unknown parameter; correct its spelling'),
        ({"page": "0"}, 422, 'query parameter "page": must be 1 or more (got "0")'),
        ({"segment": "climbers"}, 404, 'segment "climbers" not found in any campaign, as a key or as a name; the segments are: Hikers'),
    ],
    ids=["misspelt-parameter", "page-zero", "unknown-segment"],
)
def test_api_drafts_rejects_bad_query(api, params, status, message):
    response = api("reviewer").get("/api/v1/drafts", params=params)
    assert response.status_code == status
    assert response.json()["detail"].startswith(message)


@pytest.mark.parametrize(
    ("path", "params", "body", "message"),
    [
        ("/api/v1/drafts/bulk", None, {"action": "delete", "drafts": [{"id": 1}]},
         'action: must be one of: approve, reject (got "delete")'),
        ("/api/v1/drafts/bulk", None, {"action": "approve", "drafts": [{"id": 1}], "reason": 5},
         "reason: not text; send a JSON string (got 5)"),
        ("/api/v1/drafts", {"page": "x" * 80}, None,
         'query parameter "page": not a whole number (got "' + "x" * 49 + '…")'),
    ],
    ids=["unknown-action", "number-for-text", "long-value"],
)  # fmt: skip
def test_api_validation_error_shows_value(api, path, params, body, message):
    before = snapshot()
    if body is None:
        response = api("reviewer").get(path, params=params)
    else:
        response = api("reviewer").post(path, json=body)
    assert response.status_code == 422
    assert response.json()["detail"] == message
    assert snapshot() == before


@pytest.mark.parametrize(
    ("method", "path", "query", "body"),
    [
        ("post", "/api/v1/drafts/{draft}/reject", "version=1", {"reason": "Off brand"}),
        ("get", "/api/v1/batches/{batch}/export", "fromat=json", None),
        ("get", "/api/v1/batches", "limt=5", None),
        ("get", "/api/v1/me", "x=1", None),
    ],
    ids=["reject-version-in-query", "export-misspelt-format", "batches-misspelt-limit", "me"],
)
def test_api_unknown_query_parameter_is_422(api, seeded, method, path, query, body):
    url = path.format(draft=draft_ids(seeded.batch_id)[0], batch=seeded.batch_id) + "?" + query
    before = snapshot()

    response = getattr(api("admin"), method)(url, **({"json": body} if body else {}))

    name = query.split("=")[0]
    assert response.status_code == 422
    assert response.json()["detail"] == (
        f'query parameter "{name}": unknown parameter; correct its spelling or remove it '
        "(/api/v1/docs lists them)"
    )
    assert snapshot() == before


def test_api_health_takes_any_query(api):
    assert api(None).get("/api/v1/health?_=1733390000").status_code == 200


def test_api_bulk_filter_unknown_batch_is_404(api):
    listed = api("reviewer").get("/api/v1/drafts", params={"batch_id": 99999})
    before = snapshot()

    response = api("reviewer").post("/api/v1/drafts/bulk",
                                    json={"action": "approve", "filter": {"batch_id": 99999},
                                          "expected_count": 0})  # fmt: skip

    assert listed.status_code == 404
    assert response.status_code == 404
    assert response.json()["detail"] == listed.json()["detail"]
    assert response.json()["detail"].startswith("batch 99999 not found")
    assert snapshot() == before


@pytest.mark.parametrize("batch_id", [-1, 0])
def test_api_batch_id_below_one_is_422(api, batch_id):
    response = api("reviewer").get("/api/v1/drafts", params={"batch_id": batch_id})
    assert response.status_code == 422
    assert response.json()["detail"] == (
        f'batch id "{batch_id}" is not valid; use a positive whole number, the id of a batch in '
        "the batches list"
    )


def test_api_bulk_by_filter_digest(api):
    reviewer = api("reviewer")
    listed = reviewer.get("/api/v1/drafts", params={"channel": "email_subject", "page_size": 1}).json()

    body = reviewer.post("/api/v1/drafts/bulk", json={
        "action": "approve", "filter": {"channel": "email_subject"}, "expected_digest": listed["digest"],
    }).json()  # fmt: skip

    assert listed["total"] == 4
    assert len(listed["items"]) == 1
    assert body["changed"] == 4


def test_api_bulk_by_filter_sent_twice_is_already(api):
    reviewer = api("reviewer")
    listed = reviewer.get("/api/v1/drafts", params={"channel": "email_subject"}).json()
    request = {"action": "approve", "filter": {"channel": "email_subject"}, "expected_digest": listed["digest"]}
    first = reviewer.post("/api/v1/drafts/bulk", json=request).json()
    before = snapshot()

    again = reviewer.post("/api/v1/drafts/bulk", json=request)

    assert again.status_code == 200
    assert again.json()["changed"] == 0
    assert again.json()["already_ids"] == sorted(first["changed_ids"])
    assert snapshot() == before


def test_api_bulk_digest_other_drafts_is_409(api, seeded, tmp_path):
    reviewer = api("reviewer")
    listed = reviewer.get("/api/v1/drafts", params={"channel": "email_subject"}).json()
    rejected = draft_ids(seeded.batch_id, "email_subject")[0]
    api("admin").post(f"/api/v1/drafts/{rejected}/reject", json={"reason": "Off brand"})
    seed_batch(tmp_path, key="autumn", channels=("email_subject",), segments=("hikers",), variants=1)
    now = reviewer.get("/api/v1/drafts", params={"channel": "email_subject"}).json()
    before = snapshot()

    response = reviewer.post("/api/v1/drafts/bulk", json={
        "action": "approve", "filter": {"channel": "email_subject"},
        "expected_count": listed["total"], "expected_digest": listed["digest"],
    })  # fmt: skip

    assert now["total"] == listed["total"]
    assert now["digest"] != listed["digest"]
    assert response.status_code == 409
    assert response.json()["detail"].startswith("the drafts that match the filter are not the ones you saw")
    assert snapshot() == before


def test_api_bulk_by_filter(api):
    body = api("reviewer").post("/api/v1/drafts/bulk", json={
        "action": "reject", "reason": "Wrong tone", "filter": {"channel": "email_subject"},
        "expected_count": 4,
    }).json()  # fmt: skip
    assert body["changed"] == 4
    assert body["skipped"] == {}


def test_api_submit_file_and_read_status(api, tmp_path):
    content = write_campaign_file(tmp_path, key="api-launch").read_bytes()
    response = api("marketer").post("/api/v1/batches", files={"file": ("api.yaml", content)},
                                    data={"idempotency_key": "same"})  # fmt: skip
    again = api("marketer").post("/api/v1/batches", files={"file": ("api.yaml", content)},
                                 data={"idempotency_key": "same"})  # fmt: skip
    status = api("marketer").get(f"/api/v1/batches/{response.json()['id']}").json()

    assert response.status_code == 201, response.text
    assert response.json()["dispatch"] == "queued"
    assert "contentgen batch resume 2 --wait" in response.json()["next_step"]
    assert again.status_code == 200
    assert again.json()["created"] is False
    assert again.json()["id"] == 2
    assert status["requests"] == {"pending": 12, "done": 0, "failed": 0, "cancelled": 0}


def test_api_replay_finished_batch(api, tmp_path):
    content = write_campaign_file(tmp_path, key="api-launch").read_bytes()
    first = api("marketer").post("/api/v1/batches", files={"file": ("api.yaml", content)},
                                 data={"idempotency_key": "done"})  # fmt: skip
    run_inline(first.json()["id"])

    again = api("marketer").post("/api/v1/batches", files={"file": ("api.yaml", content)},
                                 data={"idempotency_key": "done"})  # fmt: skip

    assert (again.status_code, again.json()["id"]) == (200, first.json()["id"])
    assert again.json()["dispatch"] == "finished"
    assert again.json()["next_step"] == "nothing is left to run: every request of the batch has finished"
    assert again.json()["next_step_message"] == again.json()["next_step"]


def test_api_idempotency_key_with_other_file_is_422(api, tmp_path):
    first = write_campaign_file(tmp_path, key="api-launch").read_bytes()
    other = write_campaign_file(tmp_path, key="api-launch", variants=3).read_bytes()
    api("marketer").post("/api/v1/batches", files={"file": ("api.yaml", first)},
                         data={"idempotency_key": "same"})  # fmt: skip

    response = api("marketer").post("/api/v1/batches", files={"file": ("api.yaml", other)},
                                    data={"idempotency_key": "same"})  # fmt: skip

    assert response.status_code == 422
    assert response.json()["detail"].startswith('idempotency key "same" already made batch 2 ')
    assert len(api("marketer").get("/api/v1/batches").json()) == 2


def test_api_idempotency_key_header_returns_same_batch(api, tmp_path):
    content = write_campaign_file(tmp_path, key="api-launch").read_bytes()
    upload = {"file": ("api.yaml", content)}

    first = api("marketer").post("/api/v1/batches", files=upload, headers={"Idempotency-Key": "launch-1"})
    again = api("marketer").post("/api/v1/batches", files=upload, headers={"Idempotency-Key": "launch-1"})

    assert first.status_code == 201, first.text
    assert again.status_code == 200, again.text
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["created"] is False
    assert len(api("marketer").get("/api/v1/batches").json()) == 2


def test_api_resubmit_cancelled_batch(api, tmp_path):
    upload = {"file": ("api.yaml", write_campaign_file(tmp_path, key="api-launch").read_bytes())}
    first = api("marketer").post("/api/v1/batches", files=upload, headers={"Idempotency-Key": "launch-1"})
    api("marketer").post(f"/api/v1/batches/{first.json()['id']}/cancel")

    again = api("marketer").post("/api/v1/batches", files=upload, headers={"Idempotency-Key": "launch-1"}).json()

    assert (again["status"], again["dispatch"]) == ("cancelled", "finished")
    assert again["next_step"].startswith(
        "nothing is left to run: the batch was cancelled, and its 12 cancelled requests cannot run again; "
        "to generate their copy, submit the campaign file again as a new batch (with a new idempotency key"
    )


@pytest.mark.parametrize(
    ("header", "form"),
    [('"launch-1"', "launch-1"), ("launch-1", "launch-1"), (r'"say \"hi\" \\ go"', 'say "hi" \\ go')],
    ids=["quoted-header", "same-in-both", "escapes"],
)
def test_api_idempotency_key_header_matches_form_field(api, tmp_path, header, form):
    content = write_campaign_file(tmp_path, key="api-launch").read_bytes()
    upload = {"file": ("api.yaml", content)}

    first = api("marketer").post("/api/v1/batches", files=upload, headers={"Idempotency-Key": header},
                                 data={"idempotency_key": form})  # fmt: skip
    again = api("marketer").post("/api/v1/batches", files=upload, data={"idempotency_key": form})

    assert first.status_code == 201, first.text
    assert (again.status_code, again.json()["id"]) == (200, first.json()["id"])


def test_api_idempotency_key_header_and_field_differ(api, tmp_path):
    content = write_campaign_file(tmp_path, key="api-launch").read_bytes()
    before = snapshot()

    response = api("marketer").post("/api/v1/batches", files={"file": ("api.yaml", content)},
                                    headers={"Idempotency-Key": "launch-1"},
                                    data={"idempotency_key": "launch-2"})  # fmt: skip
    chinese = api("marketer").post("/api/v1/batches", files={"file": ("api.yaml", content)},
                                   headers={"Idempotency-Key": "launch-1", "Accept-Language": "zh-CN"},
                                   data={"idempotency_key": "launch-2", "dry_run": "true"})  # fmt: skip

    assert response.status_code == 422
    assert response.json()["detail"] == (
        'the Idempotency-Key header "launch-1" and the form field idempotency_key "launch-2" '
        "differ; send the key once, in either of them. Nothing was written."
    )
    assert chinese.status_code == 422
    assert chinese.json()["detail"] == (
        "请求头 Idempotency-Key 的值“launch-1”与表单字段 idempotency_key 的值“launch-2”不同；"
        "请只在其中一处给出幂等键。未写入任何内容。"
    )
    assert snapshot() == before


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ([("Idempotency-Key", "a"), ("Idempotency-Key", "b")], "the Idempotency-Key header is given 2 times"),
        ([("Idempotency-Key", "ключ".encode())], "contains characters outside printable ASCII"),
        ([("Idempotency-Key", '"launch-1')], "the Idempotency-Key header \"launch-1 is not a valid quoted string"),
        ([("Idempotency-Key", '"a\\nb"')], "is not a valid quoted string"),
        ([("Idempotency-Key", '"a"b')], "is not a valid quoted string"),
        ([("Idempotency-Key", '""')], 'idempotency key "" is empty'),
    ],
    ids=["repeated", "not-ascii", "unclosed-quote", "unknown-escape", "text-after-quote", "empty"],
)
def test_api_invalid_idempotency_key_header_is_422(api, tmp_path, headers, message):
    content = write_campaign_file(tmp_path, key="api-launch").read_bytes()
    before = snapshot()

    response = api("marketer").post("/api/v1/batches", files={"file": ("api.yaml", content)}, headers=headers)

    assert response.status_code == 422
    assert message in response.json()["detail"]
    assert snapshot() == before


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"dryrun": "true"}, 'form field "dryrun": unknown field; correct it to "dry_run" or remove it'),
        ({"dry-run": "true"}, 'form field "dry-run": unknown field; correct it to "dry_run" or remove it'),
        ({"idempotencykey": "a"}, 'form field "idempotencykey": unknown field; correct it to "idempotency_key" or remove it'),
        ({"colour": "red"}, 'form field "colour": unknown field; remove it or use one of: file, idempotency_key, dry_run'),
        ({"dry_run": ["true", "false"]}, 'form field "dry_run": given 2 times; give it once'),
        ({"idempotency_key": ["a", "b"]}, 'form field "idempotency_key": given 2 times; give it once'),
    ],
    ids=["dryrun", "dry-run", "idempotencykey", "unrelated-name", "repeated-dry-run", "repeated-key"],
)
def test_api_batch_form_rejects_field(api, tmp_path, data, message):
    content = write_campaign_file(tmp_path, key="api-launch").read_bytes()
    before = snapshot()

    response = api("marketer").post("/api/v1/batches", files={"file": ("api.yaml", content)}, data=data)

    assert response.status_code == 422
    assert response.json()["detail"] == f"{message}. Nothing was written."
    assert snapshot()["tables"]["batches"] == before["tables"]["batches"]
    assert snapshot() == before


def test_api_batch_form_rejects_second_file(api, tmp_path):
    first = write_campaign_file(tmp_path, key="api-launch").read_bytes()
    second = write_campaign_file(tmp_path, key="api-other").read_bytes()
    before = snapshot()

    response = api("marketer").post("/api/v1/batches", files=[("file", ("a.yaml", first)), ("file", ("b.yaml", second))])

    assert response.status_code == 422
    assert response.json()["detail"] == (
        'form field "file": 2 files, but one request imports one file; send each file in its own '
        "request. Nothing was written."
    )
    assert snapshot()["tables"]["batches"] == before["tables"]["batches"]
    assert snapshot() == before


def test_api_batch_form_lists_every_problem_in_chinese(api, tmp_path):
    content = write_campaign_file(tmp_path, key="api-launch").read_bytes()
    before = snapshot()

    response = api("marketer").post("/api/v1/batches", files={"file": ("api.yaml", content)},
                                    data={"dryrun": "true", "idempotency_key": ["a", "b"]},
                                    headers={"Accept-Language": "zh-CN"})  # fmt: skip

    assert response.status_code == 422
    assert response.json()["detail"] == (
        "表单字段“dryrun”：未知字段；请改为“dry_run”或删除它；"
        "表单字段“idempotency_key”：给出了 2 次；只给一次。未写入任何内容。"
    )
    assert snapshot() == before


def test_api_invalid_file_lists_problems(api, tmp_path):
    content = write_campaign_file(tmp_path, key="bad", channels=("tiktok",)).read_bytes()
    before = snapshot()
    response = api("marketer").post("/api/v1/batches", files={"file": ("bad.yaml", content)})
    assert response.status_code == 422
    english = f'"tiktok" is not a known channel; use one of: {", ".join(CHANNELS)}'
    assert response.json()["problems"] == [{
        "kind": "campaign", "key": "bad", "row": None, "field": "channels[0]", "detail": english, "message": english,
    }]  # fmt: skip
    assert snapshot() == before


def test_api_invalid_file_problems_in_callers_language(api, tmp_path):
    content = write_campaign_file(tmp_path, key="bad", channels=("tiktok",)).read_bytes()
    response = api("marketer").post("/api/v1/batches", files={"file": ("bad.yaml", content)},
                                    headers={"Accept-Language": "zh-CN"})  # fmt: skip
    assert response.status_code == 422
    body = response.json()
    assert body["detail"] == "活动文件“bad.yaml”无效，未导入任何内容："
    [problem] = body["problems"]
    assert problem["detail"].startswith('"tiktok" is not a known channel; use one of: ')
    assert problem["message"] == f"“tiktok”不是已知的渠道；请使用以下之一：{', '.join(CHANNELS)}"


def test_api_export_sends_warnings_header(api, seeded):
    with db.session_scope() as session:
        headline = draft_ids(seeded.batch_id, "google_ads_headline")[0]
        session.get(Draft, headline).status = DraftStatus.APPROVED
    response = api("marketer").get(f"/api/v1/batches/{seeded.batch_id}/export",
                                    params={"format": "google-ads"})  # fmt: skip
    assert response.status_code == 200
    warnings = json.loads(response.headers["x-contentgen-warnings"])
    assert "Google Ads needs at least 3 and 2" in warnings[0]


def test_api_export_warnings_in_chinese(api, seeded):
    with db.session_scope() as session:
        session.get(Draft, draft_ids(seeded.batch_id, "email_subject")[0]).status = DraftStatus.APPROVED
    response = api("marketer").get(f"/api/v1/batches/{seeded.batch_id}/export",
                                    params={"format": "google-ads"}, headers={"Accept-Language": "zh-CN"})  # fmt: skip
    warnings = json.loads(response.headers["x-contentgen-warnings"])
    assert warnings == ["该批次没有已通过的 google_ads_headline 或 google_ads_description 草稿，"
                        "因此文件只有表头；请先通过一些草稿，或导出 csv 或 json"]  # fmt: skip


def test_api_export_keeps_generated_values(api, seeded, tmp_path):
    with db.session_scope() as session:
        session.get(Draft, seeded.draft_ids[0]).status = DraftStatus.APPROVED
    import_changed_campaign(tmp_path)

    response = api("marketer").get(f"/api/v1/batches/{seeded.batch_id}/export", params={"format": "json"})
    [row] = response.json()

    assert row["locale"] == "en-US"
    assert row["final_url"] == "https://example.com/ridgeline"
    assert row["campaign_name"] == "Ridgeline launch"
    assert row["segment_name"] == "Hikers"


def test_api_export_google_ads_renames_and_warns(api, seeded):
    # Both segments named "Hikers", and no product.url, when the batch was created.
    ad_drafts = draft_ids(seeded.batch_id, "google_ads_headline") + draft_ids(seeded.batch_id, "google_ads_description")
    with db.session_scope() as session:
        for draft_id in ad_drafts:
            draft = session.get(Draft, draft_id)
            draft.status = DraftStatus.APPROVED
            draft.request.campaign_snapshot = {**draft.request.campaign_snapshot,
                                               "segment_name": "Hikers", "final_url": None}  # fmt: skip

    response = api("marketer").get(f"/api/v1/batches/{seeded.batch_id}/export",
                                    params={"format": "google-ads"})  # fmt: skip
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    warnings = json.loads(response.headers["x-contentgen-warnings"])

    assert [(row["Ad group"], row["Final URL"]) for row in rows] == [("Hikers (hikers)", ""), ("Hikers (runners)", "")]
    assert len([warning for warning in warnings if "has the same name as another segment" in warning]) == 2
    assert len([warning for warning in warnings if "the ads have no Final URL" in warning]) == 2


def test_api_draft_has_generated_locale(api, seeded, tmp_path):
    import_changed_campaign(tmp_path)

    body = api("marketer").get(f"/api/v1/drafts/{seeded.draft_ids[0]}").json()

    assert body["locale"] == "en-US"


def test_api_unknown_export_format_is_422(api, seeded):
    response = api("marketer").get(f"/api/v1/batches/{seeded.batch_id}/export", params={"format": "xml"})
    assert response.status_code == 422
    assert response.json()["detail"] == 'export format "xml" is not known; use one of: csv, json, google-ads'


def test_api_admin_manages_users(api):
    admin = api("admin")
    created = admin.post("/api/v1/users", json={"username": "nora", "password": "long enough",
                                                "role": "reviewer", "locale": "zh-CN"})  # fmt: skip
    changed = admin.patch("/api/v1/users/nora", json={"role": "marketer", "active": False})
    taken = admin.post("/api/v1/users", json={"username": "nora", "password": "long enough",
                                              "role": "reviewer"})  # fmt: skip
    assert created.status_code == 201
    assert changed.json() | {"created_at": None} == {
        "username": "nora", "role": "marketer", "active": False, "locale": "zh-CN", "created_at": None,
    }
    assert taken.status_code == 422
    assert 'username "nora" is taken' in taken.json()["detail"]


def test_api_user_role_any_case(api):
    admin = api("admin")
    created = admin.post("/api/v1/users", json={"username": "nora", "password": "long enough", "role": "Reviewer"})
    changed = admin.patch("/api/v1/users/nora", json={"role": "MARKETER"})

    assert created.status_code == 201, created.text
    assert created.json()["role"] == "reviewer"
    assert changed.status_code == 200, changed.text
    assert changed.json()["role"] == "marketer"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"active": "false"}, 'active: not true or false; send a JSON boolean (got "false")'),
        ({"active": 0}, "active: not true or false; send a JSON boolean (got 0)"),
        ({"actve": False}, "actve: unknown field; correct its spelling or remove it"),
    ],
    ids=["string", "integer", "misspelt"],
)
def test_api_user_change_rejects_loose_values(api, body, message):
    before = snapshot()
    response = api("admin").patch("/api/v1/users/rita", json=body)
    assert response.status_code == 422
    assert message in response.json()["detail"]
    assert snapshot() == before


@pytest.mark.parametrize("body", [{}, {"role": None}, {"role": None, "active": None}], ids=["empty", "null-role", "all-null"])
def test_api_user_change_without_fields_is_422(api, body):
    before = snapshot()
    response = api("admin").patch("/api/v1/users/rita", json=body)
    assert response.status_code == 422
    assert response.json()["detail"] == (
        "the request body sets no field (null leaves a field as it is); send one or more of role (one "
        'of: marketer, reviewer, admin), active (true or false) and password, e.g. {"active": false}'
    )
    assert snapshot() == before


def test_api_user_password_change_ends_sessions(api, client_for):
    browser, _ = client_for("reviewer")
    before = browser.get("/queue", follow_redirects=False)

    response = api("admin").patch("/api/v1/users/rita", json={"password": "a new passphrase"})
    after = browser.get("/queue", follow_redirects=False)

    assert response.status_code == 200
    assert response.json()["username"] == "rita"
    assert before.status_code == 200
    assert after.status_code == 303
    login = TestClient(browser.app)
    token = csrf_of(login.get("/login").text)
    logged_in = login.post("/login", data={"username": "rita", "password": "a new passphrase", "csrf_token": token},
                           follow_redirects=False)  # fmt: skip
    assert logged_in.status_code == 303
    assert logged_in.headers["location"] == "/batches"


def test_api_user_short_password_changes_nothing(api):
    before = snapshot()
    response = api("admin").patch("/api/v1/users/rita", json={"role": "admin", "password": "short"})
    assert response.status_code == 422
    assert response.json()["detail"] == "the password is too short; use at least 8 characters"
    assert snapshot() == before


def test_api_user_change_unknown_user_is_404(api):
    response = api("admin").patch("/api/v1/users/nobody", json={})
    assert response.status_code == 404
    assert response.json()["detail"].startswith('user "nobody" not found')


def test_api_user_change_without_fields_in_chinese(api):
    response = api("admin").patch("/api/v1/users/rita", json={}, headers={"Accept-Language": "zh-CN"})
    assert response.status_code == 422
    assert response.json()["detail"] == (
        "请求正文没有设置任何字段（null 表示不改动该字段）；请发送 role（以下之一：marketer, reviewer, admin）、"
        'active（true 或 false）和 password 中的一个或多个，例如 {"active": false}'
    )


def test_api_me_change_without_locale_is_422(api):
    api("reviewer").patch("/api/v1/me", json={"locale": "en"})
    before = snapshot()

    response = api("reviewer").patch("/api/v1/me", json={})

    assert response.status_code == 422
    assert response.json()["detail"] == (
        "the request body gives no field to change; send locale: one of en, zh-CN, or null to follow "
        'Accept-Language, e.g. {"locale": "zh-CN"}'
    )
    assert snapshot() == before


@pytest.mark.parametrize(
    ("locale", "stored"),
    [("zh", "zh-CN"), ("zh-cn", "zh-CN"), ("zh-Hans", "zh-CN"), ("zh_CN", "zh-CN"),
     ("en-US", "en"), ("en-GB", "en"), ("EN", "en")],
)  # fmt: skip
def test_api_me_locale_stored_canonical(api, locale, stored):
    response = api("reviewer").patch("/api/v1/me", json={"locale": locale})

    assert response.status_code == 200, response.text
    assert response.json()["locale"] == stored
    assert api("reviewer").get("/api/v1/me").json()["locale"] == stored


def test_api_me_unknown_locale_lists_accepted(api):
    before = snapshot()

    response = api("reviewer").patch("/api/v1/me", json={"locale": "zh-TW"})

    assert response.status_code == 422
    assert response.json()["detail"] == 'language "zh-TW" is not supported; use one of: en, zh-CN'
    assert snapshot() == before


def test_api_me_null_locale_follows_browser(api):
    api("reviewer").patch("/api/v1/me", json={"locale": "zh-CN"})
    response = api("reviewer").patch("/api/v1/me", json={"locale": None})
    assert response.status_code == 200
    assert response.json()["locale"] is None


def test_api_reenabled_user_old_token_is_401(api, seeded):
    admin = api("admin")
    assert admin.patch("/api/v1/users/rita", json={"active": False}).status_code == 200
    assert admin.patch("/api/v1/users/rita", json={"active": True}).status_code == 200

    response = api("reviewer").get("/api/v1/me")

    assert response.status_code == 401
    assert "the bearer token is not valid" in response.json()["detail"]
    assert api("admin").get("/api/v1/me").status_code == 200


def test_api_last_admin_demotion_is_409(api):
    before = snapshot()
    response = api("admin").patch("/api/v1/users/adam", json={"role": "reviewer", "active": False})
    assert response.status_code == 409
    assert response.json()["detail"] == (
        'user "adam" is the only active admin, so their role cannot change to reviewer; make '
        "another user admin first, with PATCH /api/v1/users/USERNAME. Nothing was changed."
    )
    assert snapshot() == before


def test_api_messages_follow_accept_language(api):
    response = api(None).get("/api/v1/drafts", headers={"Accept-Language": "zh-CN"})
    assert response.status_code == 401
    assert "缺少 Bearer 令牌" in response.json()["detail"]


def test_api_page_past_last_is_empty(api, seeded):
    reviewer = api("reviewer")
    last = reviewer.get("/api/v1/drafts", params={"page_size": 5, "page": 3}).json()
    past = reviewer.get("/api/v1/drafts", params={"page_size": 5, "page": 4}).json()
    far = reviewer.get("/api/v1/drafts", params={"page": 10**30})

    assert len(last["items"]) == 2
    assert past == {"total": 12, "page": 4, "pages": 3, "digest": last["digest"], "items": []}
    assert far.status_code == 200
    assert far.json()["items"] == []


@pytest.mark.parametrize(
    ("method", "path", "status", "detail"),
    [
        ("get", "/api/v1/nothing", 404, "no API endpoint at /api/v1/nothing; see /api/v1/docs"),
        ("put", "/api/v1/batches", 405, "/api/v1/batches does not accept PUT; see /api/v1/docs"),
    ],
    ids=["unknown-path", "wrong-method"],
)
def test_api_unknown_route_names_path(api, method, path, status, detail):
    response = getattr(api("reviewer"), method)(path)
    assert response.status_code == status
    assert response.json() == {"detail": detail}


def test_api_batch_id_not_a_number_is_422(api):
    response = api("reviewer").get("/api/v1/drafts", params={"batch_id": "abc"})
    assert response.status_code == 422
    assert response.json()["detail"].startswith('batch id "abc" is not valid; use a positive whole number')


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([1], "request body: not a JSON object; send the fields as a JSON object with the header "
              "Content-Type: application/json"),
        (None, "request body: missing; send a value"),
        ({"action": "approve", "filter": {"batch_id": True}, "expected_count": 0}, "filter.batch_id"),
    ],
    ids=["list", "null", "boolean-batch-id"],
)
def test_api_bulk_body_errors_name_field(api, body, message):
    before = snapshot()
    response = api("reviewer").post("/api/v1/drafts/bulk", json=body)
    assert response.status_code == 422
    assert message in response.json()["detail"]
    assert snapshot() == before


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"action": "approve", "drafts": [11]},
         'drafts.0: not a JSON object; each item of drafts is an object such as {"id": 11, "version": 3} (got 11)'),
        ({"action": "approve", "drafts": [{"id": 11}, [11, 3]]},
         'drafts.1: not a JSON object; each item of drafts is an object such as {"id": 11, "version": 3}'),
        ({"action": "approve", "drafts": 11},
         'drafts: not a JSON array; send a list such as [{"id": 11, "version": 3}] (got 11)'),
        ({"action": "approve", "filter": "flagged", "expected_count": 1},
         'filter: not a JSON object; send an object such as {"batch_id": 12, "status": "flagged"} (got "flagged")'),
    ],
    ids=["number-for-draft", "list-for-draft", "number-for-drafts", "text-for-filter"],
)  # fmt: skip
def test_api_bulk_nested_value_not_object(api, body, message):
    before = snapshot()
    response = api("reviewer").post("/api/v1/drafts/bulk", json=body)
    assert response.status_code == 422
    assert response.json()["detail"] == message
    assert snapshot() == before


def test_api_bulk_nested_value_in_chinese(api):
    response = api("reviewer").post("/api/v1/drafts/bulk", json={"action": "approve", "drafts": [11]},
                                    headers={"Accept-Language": "zh-CN"})  # fmt: skip
    assert response.status_code == 422
    assert response.json()["detail"] == (
        'drafts.0：不是 JSON 对象；drafts 的每一项都是对象，例如 {"id": 11, "version": 3}（实际为 11）'
    )


def test_api_broken_json_names_request_body(api):
    response = api("reviewer").post("/api/v1/drafts/bulk", content=b"{nope",
                                    headers={"Content-Type": "application/json"})  # fmt: skip
    assert response.status_code == 422
    assert response.json()["detail"] == (
        "request body: not valid JSON (Expecting property name enclosed in double quotes); "
        "check its quotes, commas and brackets"
    )


def test_api_form_body_needs_json(api, seeded):
    response = api("reviewer").post(f"/api/v1/drafts/{seeded.draft_ids[0]}/approve", data={"version": "1"})
    assert response.status_code == 422
    assert "send the fields as a JSON object with the header Content-Type: application/json" in (
        response.json()["detail"]
    )


def test_api_batch_json_body_is_422(api):
    before = snapshot()

    response = api("marketer").post("/api/v1/batches", json={"file": "campaigns.yaml", "dry_run": True})

    assert response.status_code == 422
    assert response.json()["detail"] == (
        'POST /api/v1/batches takes a multipart/form-data upload with the campaign file in the form '
        'field "file", but the request has Content-Type application/json; send the file e.g. with '
        "curl: -F file=@campaigns.yaml. Nothing was written."
    )
    assert snapshot() == before


def test_api_batch_without_content_type_is_422(api):
    response = api("marketer").post("/api/v1/batches", content=b"file=campaigns.yaml")

    assert response.status_code == 422
    assert response.json()["detail"].startswith(
        "POST /api/v1/batches takes a multipart/form-data upload with the campaign file in the form "
        'field "file", but the request has no Content-Type header; '
    )


def test_api_batch_json_body_in_chinese(api):
    response = api("marketer").post("/api/v1/batches", json={}, headers={"Accept-Language": "zh-CN"})

    assert response.status_code == 422
    assert response.json()["detail"] == (
        "POST /api/v1/batches 接受 multipart/form-data 上传，活动文件放在表单字段“file”中，但请求的 "
        "Content-Type 是 application/json；请发送该文件，例如使用 curl：-F file=@campaigns.yaml。未写入任何内容。"
    )


def test_api_batch_json_body_without_token_is_401(api):
    response = api(None).post("/api/v1/batches", json={})
    assert response.status_code == 401


def test_api_health_needs_no_token(api):
    response = api(None).get("/api/v1/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


def test_api_health_schema_out_of_date(api, caplog):
    db.downgrade("0008")

    response = api(None).get("/api/v1/health")

    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"
    assert "sqlite" not in response.text
    assert "not the latest" in caplog.text


def test_api_health_database_missing(api, seeded, tmp_path):
    (tmp_path / "contentgen.db").unlink()

    response = api(None).get("/api/v1/health")

    assert response.status_code == 503
    assert response.json()["database"] == "failed; the server log says why"


def test_api_database_failure_hides_its_details(api, seeded, tmp_path, caplog):
    client = api("reviewer")
    (tmp_path / "contentgen.db").unlink()

    response = client.get("/api/v1/drafts")

    assert response.status_code == 503
    assert response.json() == {"detail": UNAVAILABLE_MESSAGE}
    assert "contentgen.db" in caplog.text


def test_page_database_failure_hides_its_details(client_for, seeded, tmp_path):
    client, _ = client_for(None)
    token = csrf_of(client.get("/login").text)
    (tmp_path / "contentgen.db").unlink()

    response = client.post("/login", data={"username": "rita", "password": "wrong password",
                                            "csrf_token": token},
                           headers={"Accept-Language": "zh-CN"})  # fmt: skip

    assert response.status_code == 503
    assert "服务器暂时无法使用" in response.text
    assert "contentgen.db" not in response.text


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("post", "/api/v1/drafts/{draft}/edit", '{"version": 2, "text": "Hike \\ud800 more"}', "text"),
        ("post", "/api/v1/drafts/{draft}/edit", '{"version": 2, "text": "Hike", "note": "\\udfff"}', "note"),
        ("post", "/api/v1/drafts/{draft}/reject", '{"version": 2, "reason": "bad \\ud800"}', "reason"),
        ("post", "/api/v1/drafts/bulk",
         '{"action": "approve", "filter": {"segment": "x\\udc00"}, "expected_count": 1}', "filter.segment"),
        ("post", "/api/v1/users", '{"username": "nn", "password": "long enough \\ud800", "role": "reviewer"}',
         "password"),
        ("patch", "/api/v1/me", '{"locale": "zh-CN\\ud800"}', "locale"),
    ],
    ids=["edit-text", "edit-note", "reject-reason", "bulk-filter", "user-password", "me-locale"],
)  # fmt: skip
def test_api_unpaired_surrogate_is_422(api, seeded, method, path, body, field):
    before = snapshot()
    url = path.format(draft=seeded.draft_ids[0])

    response = getattr(api("admin"), method)(url, content=body, headers={"Content-Type": "application/json"})

    assert response.status_code == 422
    assert response.json()["detail"].startswith(f"request body: {field} contains the unpaired UTF-16 surrogate")
    assert snapshot() == before


def test_api_surrogate_pair_is_one_character(api, seeded):
    draft_id = seeded.draft_ids[0]
    with db.session_scope() as session:
        version = session.get(Draft, draft_id).version
    body = f'{{"version": {version}, "text": "Hike \\ud83d\\ude00"}}'

    response = api("admin").post(f"/api/v1/drafts/{draft_id}/edit", content=body,
                                 headers={"Content-Type": "application/json"})  # fmt: skip

    assert response.status_code == 200
    assert response.json()["text"] == "Hike 😀"


def test_api_schema_documents_error_answers(api):
    spec = api(None).get("/api/v1/openapi.json").json()
    drafts = spec["paths"]["/api/v1/drafts"]["get"]["responses"]
    health = spec["paths"]["/api/v1/health"]["get"]["responses"]
    invalid = spec["components"]["schemas"]["InvalidRequestBody"]["properties"]

    assert {"401", "403", "404", "409", "413", "422", "503"} <= set(drafts)
    assert drafts["422"]["content"]["application/json"]["schema"]["$ref"].endswith("/InvalidRequestBody")
    assert {"detail", "errors", "problems"} <= set(invalid)
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    # The health check needs no token.
    assert "401" not in health


def test_api_validation_error_matches_documented_shape(api):
    response = api("reviewer").get("/api/v1/drafts", params={"page": "0"})
    spec = api(None).get("/api/v1/openapi.json").json()["components"]["schemas"]

    body = response.json()
    assert set(body) <= set(spec["InvalidRequestBody"]["properties"])
    assert set(body["errors"][0]) == set(spec["FieldError"]["properties"])


def test_api_unknown_endpoint_in_readers_language(api):
    response = api(None).get("/api/v1/nothing", headers={"Accept-Language": "zh-CN"})
    assert response.status_code == 404
    assert response.json()["detail"] == "/api/v1/nothing 没有 API 端点；请参阅 /api/v1/docs"


def test_api_repeated_query_parameter_is_422(api, seeded):
    response = api("reviewer").get(f"/api/v1/drafts?batch_id={seeded.batch_id}&batch_id=99")
    assert response.status_code == 422
    assert response.json()["detail"] == 'query parameter "batch_id": given more than once; give it once'


def test_api_admin_revokes_one_token(api, seeded):
    tokens = api("admin").get("/api/v1/users/rita/tokens").json()
    token_id = tokens[0]["id"]

    revoked = api("admin").delete(f"/api/v1/users/rita/tokens/{token_id}")
    refused = api("reviewer").get("/api/v1/drafts")
    again = api("admin").delete(f"/api/v1/users/rita/tokens/{token_id}")
    by_reviewer = api("reviewer").get("/api/v1/users/rita/tokens")

    assert [token["name"] for token in tokens] == ["tests"]
    assert revoked.status_code == 200
    assert revoked.json()["revoked"] is True
    assert refused.status_code == 401
    assert again.status_code == 404
    assert by_reviewer.status_code == 401


def test_api_draft_checks_in_readers_language(api, seeded):
    from contentgen.checks import check_empty
    from contentgen.models import DraftCheck

    draft_id = seeded.draft_ids[0]
    result = check_empty("")
    with db.session_scope() as session:
        session.add(DraftCheck(draft_id=draft_id, name=result.name, passed=False, blocking=True,
                               detail=result.detail, detail_message=result.message.to_json()))  # fmt: skip

    english = api("reviewer").get(f"/api/v1/drafts/{draft_id}").json()["checks"]
    chinese = api("reviewer").get(f"/api/v1/drafts/{draft_id}", headers={"Accept-Language": "zh-CN"}).json()["checks"]

    empty_en = next(check for check in english if check["name"] == "empty")
    empty_zh = next(check for check in chinese if check["name"] == "empty")
    assert empty_en["detail"] == empty_zh["detail"] == "the model returned no visible text"
    assert empty_en["message"] == "the model returned no visible text"
    assert empty_zh["message"] == result.message.render("zh-CN") != empty_zh["detail"]
    # A result stored without a message keeps its English detail as the message.
    length = next(check for check in chinese if check["name"] == "length")
    assert length["message"] == length["detail"]


def test_api_schema_changed_under_server_is_503(api, caplog, monkeypatch):
    # PostgreSQL reports a column that a downgrade removed as a ProgrammingError.
    def missing_column(*_args, **_kwargs):
        raise ProgrammingError("SELECT batches.sent_at", {}, Exception("column batches.sent_at does not exist"))

    monkeypatch.setattr("contentgen.web.api.list_batches", missing_column)

    response = api("reviewer").get("/api/v1/batches")

    assert response.status_code == 503
    assert response.json() == {"detail": UNAVAILABLE_MESSAGE}
    assert "failed in the database" in caplog.text


def test_api_submit_warns_about_cleared_fields(api, tmp_path):
    content = write_campaign_file(tmp_path, key="plain").read_text()
    first = api("marketer").post("/api/v1/batches", files={"file": ("plain.yaml", content.encode())})
    assert first.status_code == 201, first.text
    assert first.json()["warnings"] == []

    without_voice = content.replace("  voice: Plain words.\n", "")
    assert without_voice != content
    response = api("marketer").post("/api/v1/batches", files={"file": ("plain.yaml", without_voice.encode())},
                                    headers={"Accept-Language": "zh-CN"})  # fmt: skip
    assert response.status_code == 201, response.text
    [warning] = response.json()["warnings"]
    assert (warning["kind"], warning["key"]) == ("brand", "trailpeak")
    assert warning["detail"] == "the import cleared voice, which the file left out"
    assert "voice" in warning["message"]
    assert warning["message"] != warning["detail"]


def test_api_stored_warnings_on_get_and_replay(api, tmp_path):
    content = write_campaign_file(tmp_path, key="plain").read_text()
    without_voice = content.replace("  voice: Plain words.\n", "").encode()
    first = api("marketer").post("/api/v1/batches", files={"file": ("plain.yaml", without_voice)},
                                 data={"idempotency_key": "no-voice"})  # fmt: skip
    expected = {
        "kind": "brand",
        "key": "trailpeak",
        "detail": "the import cleared voice, which the file left out",
        "message": "the import cleared voice, which the file left out",
    }

    status = api("reviewer").get(f"/api/v1/batches/{first.json()['id']}")
    chinese = api("reviewer").get(f"/api/v1/batches/{first.json()['id']}", headers={"Accept-Language": "zh-CN"})
    again = api("marketer").post("/api/v1/batches", files={"file": ("plain.yaml", without_voice)},
                                 data={"idempotency_key": "no-voice"})  # fmt: skip

    assert first.status_code == 201, first.text
    assert first.json()["warnings"] == [expected]
    assert status.json()["warnings"] == [expected]
    assert chinese.json()["warnings"] == [{**expected, "message": "文件中没有写 voice，导入已将其清空"}]
    assert (again.status_code, again.json()["id"]) == (200, first.json()["id"])
    assert again.json()["warnings"] == [expected]


def test_api_dry_run_writes_nothing(api, tmp_path):
    content = write_campaign_file(tmp_path, key="api-launch").read_bytes()
    before = snapshot()

    response = api("marketer").post("/api/v1/batches", files={"file": ("api.yaml", content)},
                                    data={"dry_run": "true", "idempotency_key": "launch"})  # fmt: skip

    assert response.status_code == 200, response.text
    body = response.json()
    assert "id" not in body
    assert (body["dry_run"], body["written"], body["request_count"]) == (True, False, 12)
    assert body["matched_batch_id"] is None
    assert body["requests"] == [
        {"campaign": "api-launch", "channel": channel, "max_new_tokens": tokens, "requests": 4}
        for channel, tokens in (("google_ads_headline", 24), ("google_ads_description", 48), ("email_subject", 24))
    ]
    assert body["warnings"] == []
    assert body["next_step"] == "nothing was written; send the file again without dry_run to create the batch"
    assert body["next_step_message"] == body["next_step"]
    assert snapshot() == before


def test_api_dry_run_counts_match_submit(api, tmp_path):
    content = write_campaign_file(tmp_path, key="api-launch").read_bytes()
    plan = api("marketer").post("/api/v1/batches", files={"file": ("api.yaml", content)}, data={"dry_run": "1"})

    created = api("marketer").post("/api/v1/batches", files={"file": ("api.yaml", content)})

    assert created.status_code == 201, created.text
    assert plan.json()["request_count"] == created.json()["request_count"]
    with db.session_scope() as session:
        groups = request_groups(session, created.json()["id"])
    assert plan.json()["requests"] == [group.as_dict() for group in groups]


def test_api_dry_run_warnings_in_chinese(api, tmp_path):
    content = write_campaign_file(tmp_path, key="plain").read_text()
    api("marketer").post("/api/v1/batches", files={"file": ("plain.yaml", content.encode())})
    without_voice = content.replace("  voice: Plain words.\n", "").encode()
    before = snapshot()

    response = api("marketer").post("/api/v1/batches", files={"file": ("plain.yaml", without_voice)},
                                    data={"dry_run": "true"}, headers={"Accept-Language": "zh-CN"})  # fmt: skip

    assert response.status_code == 200, response.text
    assert response.json()["warnings"] == [{
        "kind": "brand",
        "key": "trailpeak",
        "detail": "this import clears voice, which the file leaves out",
        "message": "文件中没有写 voice，导入将其清空",
    }]  # fmt: skip
    assert response.json()["next_step_message"] == "未写入任何内容；去掉 dry_run 再次发送该文件即可创建批次"
    assert snapshot() == before


def test_api_dry_run_names_matched_batch(api, tmp_path):
    content = write_campaign_file(tmp_path, key="api-launch").read_bytes()
    first = api("marketer").post("/api/v1/batches", files={"file": ("api.yaml", content)},
                                 data={"idempotency_key": "same"})  # fmt: skip

    response = api("marketer").post("/api/v1/batches", files={"file": ("api.yaml", content)},
                                    data={"idempotency_key": "same", "dry_run": "true"},
                                    headers={"Accept-Language": "zh-CN"})  # fmt: skip

    assert response.status_code == 200, response.text
    assert response.json()["matched_batch_id"] == first.json()["id"] == 2
    assert response.json()["request_count"] == 12
    assert response.json()["next_step"].startswith("nothing was written; the idempotency key made batch 2 ")
    assert response.json()["next_step_message"].startswith("未写入任何内容；该幂等键已用相同的内容创建了批次 2，")


def test_api_dry_run_invalid_file_same_422(api, tmp_path):
    content = write_campaign_file(tmp_path, key="bad", channels=("tiktok",)).read_bytes()
    before = snapshot()

    submitted = api("marketer").post("/api/v1/batches", files={"file": ("bad.yaml", content)})
    checked = api("marketer").post("/api/v1/batches", files={"file": ("bad.yaml", content)}, data={"dry_run": "true"})

    assert checked.status_code == submitted.status_code == 422
    assert checked.json() == submitted.json()
    assert checked.json()["problems"][0]["field"] == "channels[0]"
    assert snapshot() == before


def test_api_dry_run_not_boolean_is_422(api, tmp_path):
    content = write_campaign_file(tmp_path, key="api-launch").read_bytes()
    before = snapshot()

    response = api("marketer").post("/api/v1/batches", files={"file": ("api.yaml", content)},
                                    data={"dry_run": "maybe"})  # fmt: skip

    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "dry_run"]
    assert response.json()["detail"] == (
        "dry_run: not true or false; send true or false. In any letter case, t, y, yes, on and 1 also "
        'mean true, and f, n, no, off and 0 mean false (got "maybe")'
    )
    assert snapshot() == before


def test_api_dry_run_empty_is_422(api, tmp_path):
    content = write_campaign_file(tmp_path, key="api-launch").read_bytes()
    before = snapshot()

    response = api("marketer").post("/api/v1/batches", files={"file": ("api.yaml", content)},
                                    data={"dry_run": ""})  # fmt: skip

    assert response.status_code == 422
    assert response.json()["detail"] == (
        'form field "dry_run": empty; send true or false, or leave the field out, which means '
        "false. Nothing was written."
    )
    assert snapshot() == before


def test_api_idempotency_key_empty_is_422(api, tmp_path):
    content = write_campaign_file(tmp_path, key="api-launch").read_bytes()
    before = snapshot()

    response = api("marketer").post("/api/v1/batches", files={"file": ("api.yaml", content)},
                                    data={"idempotency_key": ""})  # fmt: skip

    assert response.status_code == 422
    assert response.json()["detail"] == (
        'form field "idempotency_key": empty; send a key, or leave the field out to submit without '
        "one. Nothing was written."
    )
    assert snapshot() == before


def test_api_dry_run_empty_in_chinese(api, tmp_path):
    content = write_campaign_file(tmp_path, key="api-launch").read_bytes()

    response = api("marketer").post("/api/v1/batches", files={"file": ("api.yaml", content)},
                                    data={"dry_run": ""}, headers={"Accept-Language": "zh-CN"})  # fmt: skip

    assert response.status_code == 422
    assert response.json()["detail"] == (
        "表单字段“dry_run”：为空；请发送 true 或 false，或者去掉这个字段，即为 false。未写入任何内容。"
    )


@pytest.mark.parametrize(("value", "dry_run"), [("t", True), ("Y", True), ("ON", True), ("No", False), ("f", False)])
def test_api_dry_run_accepted_forms(api, tmp_path, value, dry_run):
    content = write_campaign_file(tmp_path, key="api-launch").read_bytes()

    response = api("marketer").post("/api/v1/batches", files={"file": ("api.yaml", content)},
                                    data={"dry_run": value})  # fmt: skip

    assert response.status_code == (200 if dry_run else 201)
    assert response.json().get("dry_run", False) is dry_run


def test_api_batch_without_import_has_no_warnings(api, seeded):
    with db.session_scope() as session:
        session.get(Batch, seeded.batch_id).import_warnings = None
    response = api("reviewer").get(f"/api/v1/batches/{seeded.batch_id}")
    assert response.status_code == 200
    assert response.json()["warnings"] == []


@pytest.mark.parametrize(
    ("dispatch", "english", "chinese"),
    [
        ("sent", "the workers are generating the drafts", "工作进程正在生成草稿"),
        ("queued", "no broker is configured; run the batch with: contentgen batch resume 7 --wait",
         "未配置消息代理；请用以下命令运行批次：contentgen batch resume 7 --wait"),
        ("broker_down", "the broker is unreachable; once it is up, run: contentgen batch resume 7",
         "无法连接消息代理；代理可以连接后，请运行：contentgen batch resume 7"),
        ("finished", "nothing is left to run: every request of the batch has finished",
         "没有需要运行的内容：批次中的每个请求都已结束"),
    ],
    ids=["sent", "queued", "broker-down", "finished"],
)  # fmt: skip
def test_api_next_step_per_dispatch(dispatch, english, chinese):
    assert _next_step(dispatch, 7).render("en") == english
    assert _next_step(dispatch, 7).render("zh-CN") == chinese


def test_api_next_step_in_callers_language(api, tmp_path):
    content = write_campaign_file(tmp_path, key="api-launch").read_bytes()
    response = api("marketer").post("/api/v1/batches", files={"file": ("api.yaml", content)},
                                    headers={"Accept-Language": "zh-CN"})  # fmt: skip

    assert response.status_code == 201, response.text
    assert response.json()["next_step"] == (
        "no broker is configured; run the batch with: contentgen batch resume 2 --wait"
    )
    assert response.json()["next_step_message"] == (
        "未配置消息代理；请用以下命令运行批次：contentgen batch resume 2 --wait"
    )


@pytest.mark.parametrize(
    ("method", "path", "body", "start"),
    [
        ("get", "/api/v1/drafts?check=" + "x" * 3000, None, 'check filter "' + "x" * 49 + '…" is not valid'),
        ("get", "/api/v1/drafts?sort=" + "x" * 3000, None, 'sort "' + "x" * 49 + '…" is not known'),
        ("patch", "/api/v1/me", {"locale": "y" * 5000}, 'language "' + "y" * 49 + '…" is not supported'),
        ("get", "/api/v1/batches/1/export?format=" + "x" * 3000, None, 'export format "' + "x" * 49 + '…" is not known'),
    ],
    ids=["check", "sort", "locale", "export-format"],
)  # fmt: skip
def test_api_long_value_is_shortened_in_error(api, method, path, body, start):
    before = snapshot()
    response = api("admin").request(method.upper(), path, json=body)
    assert response.status_code == 422
    assert response.json()["detail"].startswith(start)
    assert len(response.json()["detail"]) < 300
    assert snapshot() == before


@pytest.mark.parametrize(
    ("method", "path", "message"),
    [
        ("get", "/api/v1/batches/999",
         "batch 999 not found; check the id, or list the newest batches with GET /api/v1/batches"),
        ("get", "/api/v1/drafts?batch_id=999",
         "batch 999 not found; check the id, or list the newest batches with GET /api/v1/batches"),
        ("patch", "/api/v1/users/nobody", 'user "nobody" not found; list users with GET /api/v1/users'),
        ("delete", "/api/v1/users/mia/tokens/999",
         "user mia has no API token 999; list the tokens with GET /api/v1/users/mia/tokens"),
        ("get", "/api/v1/drafts?campaign=nope",
         'campaign "nope" not found; check the key against the campaign of the drafts that GET '
         "/api/v1/drafts lists"),
        ("get", "/api/v1/drafts/99999",
         "draft 99999 not found; check the id, or find the draft in the list that GET /api/v1/drafts returns"),
        ("post", "/api/v1/drafts/99999/approve",
         "draft 99999 not found; check the id, or find the draft in the list that GET /api/v1/drafts returns"),
    ],
    ids=["batch", "drafts-batch", "user", "token", "campaign", "draft", "draft-approve"],
)  # fmt: skip
def test_api_not_found_names_api_route(api, method, path, message):
    body = {"patch": {"active": True}, "post": {}}.get(method)
    response = api("admin").request(method.upper(), path, json=body)
    assert response.status_code == 404
    assert response.json()["detail"] == message


def test_api_draft_not_found_in_chinese(api):
    response = api("reviewer").get("/api/v1/drafts/99999", headers={"Accept-Language": "zh-CN"})
    assert response.status_code == 404
    assert response.json()["detail"] == "找不到草稿 99999；请检查编号，或在 GET /api/v1/drafts 返回的列表中查找该草稿"


def test_api_edit_to_same_text_is_approval(api, seeded):
    draft_id = seeded.draft_ids[0]
    text = api("reviewer").get(f"/api/v1/drafts/{draft_id}").json()["text"]
    body = api("reviewer").post(f"/api/v1/drafts/{draft_id}/edit", json={"text": text + "\n"}).json()
    assert body["status"] == "approved"
    assert body["edited"] is False
    assert body["original_text"] is None
    assert [event["action"] for event in body["history"]] == ["approve"]


def test_api_retry_failed_makes_them_pending(api, seeded):
    with db.session_scope() as session:
        failed = session.scalars(
            select(GenerationRequest).where(GenerationRequest.batch_id == seeded.batch_id)
            .order_by(GenerationRequest.id).limit(2)
        ).all()  # fmt: skip
        for request in failed:
            request.status, request.error = RequestStatus.FAILED, "generation failed 3 times"

    response = api("marketer").post(f"/api/v1/batches/{seeded.batch_id}/retry-failed",
                                    headers={"Accept-Language": "zh-CN"})  # fmt: skip

    body = response.json()
    assert response.status_code == 200
    assert (body["retried"], body["dispatch"]) == (2, "queued")
    assert body["requests"]["pending"] == 2
    assert body["requests"]["failed"] == 0
    assert body["next_step"] == f"no broker is configured; run the batch with: contentgen batch resume {seeded.batch_id} --wait"


def test_api_retry_without_failures_changes_nothing(api, seeded):
    before = snapshot()

    body = api("admin").post(f"/api/v1/batches/{seeded.batch_id}/retry-failed").json()

    assert (body["retried"], body["dispatch"]) == (0, None)
    assert body["next_step"] == "the batch has no failed requests, so nothing runs again"
    assert snapshot() == before


def test_api_retry_cancelled_batch_hint(api, seeded):
    pend_requests(seeded.batch_id, 3)
    api("marketer").post(f"/api/v1/batches/{seeded.batch_id}/cancel")

    body = api("marketer").post(f"/api/v1/batches/{seeded.batch_id}/retry-failed",
                                headers={"Accept-Language": "zh-CN"}).json()  # fmt: skip

    assert body["retried"] == 0
    assert body["next_step"].startswith(
        "the batch has no failed requests, so nothing runs again; its 3 cancelled requests cannot run again"
    )
    assert "3 个已取消的请求" in body["next_step_message"]


def test_api_reviewer_may_not_retry(api, seeded):
    response = api("reviewer").post(f"/api/v1/batches/{seeded.batch_id}/retry-failed")
    assert response.status_code == 403


def test_api_cancel_stops_pending_requests(api, seeded):
    pending = pend_requests(seeded.batch_id, 2)

    response = api("marketer").post(f"/api/v1/batches/{seeded.batch_id}/cancel")

    body = response.json()
    assert response.status_code == 200
    assert (body["cancelled"], body["generating"]) == (2, 0)
    assert body["status"] == "cancelled"
    assert body["next_step"].startswith("the batch is cancelled; its 2 cancelled requests cannot run again; ")
    assert "or run: contentgen batch submit --campaign ridgeline; either makes every request" in body["next_step"]
    assert (body["requests"]["pending"], body["requests"]["cancelled"]) == (0, 2)
    with db.session_scope() as session:
        states = session.scalars(select(GenerationRequest.status).where(GenerationRequest.id.in_(pending))).all()
    assert states == [RequestStatus.CANCELLED] * 2


@pytest.mark.parametrize("action", ["cancel", "retry-failed"])
def test_api_batch_action_refuses_body(api, seeded, action):
    pending = pend_requests(seeded.batch_id, 2)

    response = api("marketer").post(f"/api/v1/batches/{seeded.batch_id}/{action}", json={"dry_run": True})

    assert response.status_code == 422
    assert response.json()["detail"] == (
        f"POST /api/v1/batches/{seeded.batch_id}/{action} takes no request body, but this request sent "
        "16 bytes; send none, or an empty JSON object. Nothing was changed."
    )
    with db.session_scope() as session:
        states = session.scalars(select(GenerationRequest.status).where(GenerationRequest.id.in_(pending))).all()
    assert states == [RequestStatus.PENDING] * 2


@pytest.mark.parametrize("body", [b"{}", b"{ }", b"{\n}", b"\xef\xbb\xbf{}"], ids=["plain", "space", "line", "bom"])
def test_api_cancel_takes_empty_json_object(api, seeded, body):
    pend_requests(seeded.batch_id, 2)
    response = api("marketer").post(f"/api/v1/batches/{seeded.batch_id}/cancel", content=body,
                                    headers={"Content-Type": "application/json"})  # fmt: skip
    assert response.status_code == 200, response.text
    assert response.json()["cancelled"] == 2


@pytest.mark.parametrize(("role", "status"), [(None, 401), ("reviewer", 403)])
def test_api_body_checked_after_user(api, seeded, role, status):
    response = api(role).post(f"/api/v1/batches/{seeded.batch_id}/cancel", json={"dry_run": True})
    assert response.status_code == status


def test_api_body_error_in_users_language(api, seeded):
    api("marketer").patch("/api/v1/me", json={"locale": "zh-CN"})
    response = api("marketer").post(f"/api/v1/batches/{seeded.batch_id}/cancel", content="reason=不好",
                                    headers={"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert response.status_code == 422
    # The size is what the client sent: "不好" is 6 bytes in UTF-8.
    assert response.json()["detail"].startswith(f"POST /api/v1/batches/{seeded.batch_id}/cancel 不接受请求体，但此请求发送了 13 字节")


def test_api_routes_without_body_refuse_one(app):
    openapi = app.openapi()
    unchecked = []
    for route in app.routes:
        if not isinstance(route, APIRoute) or not route.path.startswith("/api/v1"):
            continue
        for method in route.methods - {"GET", "HEAD"}:
            operation = openapi["paths"][route.path][method.lower()]
            calls = {dependency.call for dependency in route.dependant.dependencies}
            if "requestBody" not in operation and forbid_unexpected_body not in calls:
                unchecked.append(f"{method} {route.path}")
    assert unchecked == []


def test_api_cancel_finished_batch_unchanged(api, seeded):
    before = snapshot()

    body = api("admin").post(f"/api/v1/batches/{seeded.batch_id}/cancel").json()

    assert (body["cancelled"], body["generating"], body["status"]) == (0, 0, "completed")
    assert body["next_step"] == "no request of the batch was waiting to run, so nothing was cancelled"
    assert snapshot() == before


def test_api_cancel_unknown_batch_is_404(api):
    response = api("marketer").post("/api/v1/batches/999/cancel")
    assert response.status_code == 404
    assert response.json()["detail"].startswith("batch 999 not found")


def test_api_sync_error_lists_problems(api, tmp_path, monkeypatch):
    folder = broken_template_folder(tmp_path, monkeypatch)
    before = template_versions()

    response = api("admin").post("/api/v1/templates/sync")

    assert response.status_code == 422
    assert response.json()["detail"].split("\n") == [
        "prompt templates are invalid; nothing was synced:",
        f"  - {folder / 'sms.j2'}, line 1, column 6: contains the invisible control character U+202E; remove it",
        f"  - {folder / 'email_subject.j2'}, line 1: 'None' has no attribute 'upper' when a campaign leaves the "
        "optional field product.price empty; use the field only inside {% if product.price %} … {% endif %}",
    ]
    assert template_versions() == before
