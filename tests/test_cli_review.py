import csv
import io
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from contentgen import db
from contentgen.cli import app
from contentgen.models import Draft, DraftCheck, ReviewEvent
from contentgen.users import user_for_token

from .seeding import (
    NEW_CUSTOMERS,
    OLD_CUSTOMERS,
    draft_ids,
    import_changed_campaign,
    seed_batch,
    seed_chinese_segments,
)

runner = CliRunner()


def invoke(*args: str, input: str | None = None):
    return runner.invoke(app, list(args), input=input, catch_exceptions=False)


def create_user(username: str, role: str = "reviewer") -> None:
    assert invoke("users", "create", username, "--role", role, "--password-stdin",
                  input="correct horse battery\n").exit_code == 0  # fmt: skip


@pytest.fixture
def batch(synced):
    batch_id = seed_batch(synced)
    create_user("rita")
    return batch_id


def test_cli_users_create_list_set_role_disable(batch):
    assert invoke("users", "create", "ana", "--role", "admin", "--password-stdin",
                  input="long enough\n").exit_code == 0  # fmt: skip
    assert invoke("users", "create", "mia", "--role", "marketer", "--password-stdin",
                  input="long enough\n").exit_code == 0  # fmt: skip
    assert invoke("users", "set-role", "mia", "admin").exit_code == 0
    assert invoke("users", "disable", "mia").exit_code == 0

    users = json.loads(invoke("users", "list", "--json").stdout)

    assert [(user["username"], user["role"], user["active"]) for user in users] == [
        ("ana", "admin", True), ("mia", "admin", False), ("rita", "reviewer", True),
    ]  # fmt: skip


def test_cli_users_disable_ends_old_token(batch):
    old_token = invoke("users", "token", "rita").stdout.strip()
    assert invoke("users", "disable", "rita").exit_code == 0
    assert invoke("users", "enable", "rita").exit_code == 0

    with db.session_scope() as session:
        assert user_for_token(session, old_token) is None
    new_token = invoke("users", "token", "rita").stdout.strip()
    with db.session_scope() as session:
        assert user_for_token(session, new_token).username == "rita"


def test_cli_users_revoke_one_token(batch):
    ci = invoke("users", "token", "rita", "--name", "ci-export").stdout.strip()
    laptop = invoke("users", "token", "rita", "--name", "laptop").stdout.strip()
    listed = json.loads(invoke("users", "tokens", "rita", "--json").stdout)
    ci_id = next(item["id"] for item in listed if item["name"] == "ci-export")

    revoked = invoke("users", "revoke-token", "rita", str(ci_id))
    again = invoke("users", "revoke-token", "rita", str(ci_id))

    assert [item["name"] for item in listed] == ["ci-export", "laptop"]
    assert revoked.stdout == f"API token {ci_id} (ci-export) of user rita is revoked.\n"
    with db.session_scope() as session:
        assert user_for_token(session, ci) is None
        assert user_for_token(session, laptop).username == "rita"
    assert again.exit_code == 2
    assert f"user rita has no API token {ci_id}; list the tokens with: contentgen users tokens rita" in again.stderr


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (("disable", "ana"), 'user "ana" is the only active admin, so they cannot be disabled'),
        (("set-role", "ana", "marketer"), 'user "ana" is the only active admin, so their role cannot change to marketer'),
    ],
    ids=["disable", "demote"],
)
def test_cli_users_last_admin_kept(batch, command, message):
    assert invoke("users", "create", "ana", "--role", "admin", "--password-stdin",
                  input="long enough\n").exit_code == 0  # fmt: skip
    before = invoke("users", "list", "--json").stdout

    result = invoke("users", *command)

    assert result.exit_code == 2
    assert message in result.stderr
    assert "make another user admin first" in result.stderr
    assert invoke("users", "list", "--json").stdout == before


def test_cli_users_unknown_role_exits_2(batch):
    result = invoke("users", "create", "mia", "--role", "editor", "--password-stdin", input="long enough\n")
    assert result.exit_code == 2
    assert 'role "editor" is not known; use one of: marketer, reviewer, admin' in result.stderr


def test_cli_users_role_any_case(database):
    created = invoke("users", "create", "bob", "--role", "Admin", "--password-stdin", input="long enough\n")
    create_user("rita")
    changed = invoke("users", "set-role", "rita", "MARKETER")
    users = json.loads(invoke("users", "list", "--json").stdout)

    assert created.exit_code == 0, created.output
    assert created.stdout == "Created user bob with role admin.\n"
    assert changed.exit_code == 0, changed.output
    assert changed.stdout == "User rita now has role marketer.\n"
    assert [(user["username"], user["role"]) for user in users] == [("bob", "admin"), ("rita", "marketer")]


@pytest.mark.parametrize(
    ("command", "output"),
    [
        (("set-role", "RITA", "admin"), "User rita now has role admin.\n"),
        (("disable", "RITA"), "User rita is disabled.\n"),
        (("enable", "RITA"), "User rita is enabled.\n"),
        (("tokens", "RITA"), "User rita has no API tokens; create one with: contentgen users token rita\n"),
    ],
    ids=["set-role", "disable", "enable", "tokens"],
)
def test_cli_users_print_stored_name(database, command, output):
    create_user("rita")

    result = invoke("users", *command)

    assert result.exit_code == 0, result.output
    assert result.stdout == output


def test_cli_revoke_token_prints_stored_name(database):
    create_user("rita")
    invoke("users", "token", "rita")
    token_id = json.loads(invoke("users", "tokens", "rita", "--json").stdout)[0]["id"]

    result = invoke("users", "revoke-token", "RITA", str(token_id))

    assert result.exit_code == 0, result.output
    assert result.stdout == f"API token {token_id} (api) of user rita is revoked.\n"


def test_cli_users_token_prints_token(batch):
    result = invoke("users", "token", "rita")
    assert result.exit_code == 0
    assert result.stdout.startswith("cg_")


def test_cli_review_list_filters(batch):
    result = invoke("review", "list", "--channel", "google_ads_headline", "--sort", "oldest", "--json")
    listed = json.loads(result.stdout)
    assert listed["total"] == 4
    assert [item["id"] for item in listed["items"]] == draft_ids(batch, "google_ads_headline")


def test_cli_review_list_one_draft_singular(batch):
    invoke("review", "approve", str(draft_ids(batch)[0]), "--user", "rita")

    result = invoke("review", "list", "--status", "approved")

    assert result.stdout.endswith("1 of 1 draft shown.\n")


def test_cli_review_list_names_failed_and_warning_checks(batch):
    first, second = draft_ids(batch, "google_ads_headline")[:2]
    with db.session_scope() as session:
        session.add_all([
            DraftCheck(draft_id=first, name="claim_terms", passed=False, blocking=False, detail="claim"),
            DraftCheck(draft_id=second, name="claim_terms", passed=False, blocking=False, detail="claim"),
            DraftCheck(draft_id=second, name="language", passed=False, blocking=True, detail="English"),
        ])  # fmt: skip

    result = invoke("review", "list", "--channel", "google_ads_headline", "--sort", "oldest")

    lines = {int(line.split()[0]): line for line in result.stdout.splitlines() if line.strip()[:1].isdigit()}
    assert lines[first].endswith("  warning: claim_terms")
    assert lines[second].endswith("  failed: language  warning: claim_terms")


@pytest.fixture
def chinese(synced):
    """A batch of the campaigns "autumn" and "spring", which both have a segment "老客户"."""
    return seed_chinese_segments(synced)


def test_cli_review_list_segment_by_name(chinese):
    unique = json.loads(invoke("review", "list", "--segment", "新客户", "--json").stdout)
    listed = invoke("review", "list", "--campaign", "spring", "--segment", "老客户", "--json")
    in_campaign = json.loads(listed.stdout)

    assert [item["segment"] for item in unique["items"]] == [NEW_CUSTOMERS]
    assert [item["segment"] for item in in_campaign["items"]] == [OLD_CUSTOMERS]
    assert [item["segment_name"] for item in in_campaign["items"]] == ["老客户"]


def test_cli_review_list_shows_segment_names(chinese):
    result = invoke("review", "list", "--sort", "campaign")

    # "ID  STATUS  SLOT", then two spaces and the failed checks, if any.
    slots = [line.split(maxsplit=2)[2].split("  ")[0] for line in result.stdout.splitlines() if " / " in line]
    assert slots == [
        "autumn / 老客户 (loyal) / email_subject / v1",
        f"spring / 老客户 ({OLD_CUSTOMERS}) / email_subject / v1",
        f"spring / 新客户 ({NEW_CUSTOMERS}) / email_subject / v1",
    ]


def test_cli_review_list_shared_segment_name_exits_2(chinese):
    result = invoke("review", "list", "--segment", "老客户")

    assert result.exit_code == 2
    assert result.stderr == (
        'Error: segment name "老客户" belongs to 2 segments; choose the campaign too, or filter by '
        f"the key of one of them instead: loyal (campaign autumn); {OLD_CUSTOMERS} (campaign spring)\n"
    )


def test_cli_review_approve_and_reject(batch):
    first, second, third = draft_ids(batch)[:3]
    approved = invoke("review", "approve", str(first), str(second), "--user", "rita")
    rejected = invoke("review", "reject", str(third), "--user", "rita", "--reason", "Off brand")

    assert approved.exit_code == 0
    assert approved.stdout == f"Draft {first}: approved.\nDraft {second}: approved.\n2 approved.\n"
    assert rejected.exit_code == 0
    assert rejected.stdout == f"Draft {third}: rejected.\n"
    with db.session_scope() as session:
        assert [session.get(Draft, draft_id).status.value for draft_id in (first, second, third)] == [
            "approved", "approved", "rejected",
        ]  # fmt: skip
        assert session.query(ReviewEvent).filter_by(note="Off brand").count() == 1


def test_cli_review_repeated_id_decided_once(batch):
    first, second = draft_ids(batch)[:2]

    result = invoke("review", "approve", str(first), str(second), str(first), "--user", "rita")

    assert result.exit_code == 0
    assert result.stdout == f"Draft {first}: approved.\nDraft {second}: approved.\n2 approved.\n"


def test_cli_review_reports_each_failure(batch):
    first = draft_ids(batch)[0]
    invoke("review", "reject", str(first), "--user", "rita", "--reason", "No")
    result = invoke("review", "approve", str(first), "999", str(draft_ids(batch)[1]), "--user", "rita")
    assert result.exit_code == 2
    assert f"draft {first} was rejected by you, and a rejected draft is final" in result.stderr
    assert "draft 999 not found" in result.stderr
    assert f"Draft {draft_ids(batch)[1]}: approved." in result.stdout


def test_cli_review_approve_several_sums_up(batch):
    first, second = draft_ids(batch)[:2]
    blocked = draft_ids(batch, "google_ads_headline")[0]
    with db.session_scope() as session:
        session.get(Draft, blocked).text = "x" * 31

    result = invoke("review", "approve", str(first), str(blocked), str(second), "--user", "rita")

    assert result.exit_code == 2
    assert result.stdout == (
        f"Draft {first}: approved.\n"
        f"Draft {second}: approved.\n"
        f"2 approved, 1 not approved (draft {blocked}).\n"
    )
    assert result.stderr.startswith(f"Error: draft {blocked} has 31 Google Ads units")
    assert f"Draft {blocked} was not changed." in result.stderr
    assert "Nothing was changed" not in result.stderr
    with db.session_scope() as session:
        assert session.get(Draft, blocked).status.value == "pending_review"


def test_cli_review_reject_several_sums_up(batch):
    first, second = draft_ids(batch)[:2]
    create_user("otto")
    invoke("review", "reject", str(first), "--user", "otto", "--reason", "No")

    result = invoke("review", "reject", str(first), str(second), "999", "--user", "rita", "--reason", "No")

    assert result.exit_code == 2
    assert result.stdout == f"Draft {second}: rejected.\n1 rejected, 2 not rejected (drafts {first}, 999).\n"
    assert f"Error: draft {first} is already rejected (by otto). Draft {first} was not changed." in result.stderr
    assert "Error: draft 999 not found" in result.stderr
    assert "Nothing was changed" not in result.stderr


def test_cli_review_one_id_has_no_summary(batch):
    draft_id = draft_ids(batch)[0]
    invoke("review", "reject", str(draft_id), "--user", "rita", "--reason", "No")

    result = invoke("review", "approve", str(draft_id), "--user", "rita")

    assert result.exit_code == 2
    assert result.stdout == ""
    # The same words as for one draft of several.
    assert result.stderr.rstrip().endswith(f"Draft {draft_id} was not changed.")
    assert "Nothing was changed" not in result.stderr


def test_cli_review_approve_twice_is_done(batch):
    draft_id = draft_ids(batch)[0]
    invoke("review", "approve", str(draft_id), "--user", "rita")

    result = invoke("review", "approve", str(draft_id), "--user", "rita")

    assert result.exit_code == 0
    assert result.stdout == f"Draft {draft_id} was already approved by you (rita); nothing changed.\n"
    assert result.stderr == ""
    with db.session_scope() as session:
        assert session.query(ReviewEvent).filter_by(draft_id=draft_id).count() == 1


def test_cli_review_approve_several_twice_is_done(batch):
    first, second, third = draft_ids(batch)[:3]
    invoke("review", "approve", str(first), str(second), "--user", "rita")

    result = invoke("review", "approve", str(first), str(second), str(third), "--user", "rita")

    assert result.exit_code == 0
    assert result.stdout == (
        f"Draft {first} was already approved by you (rita); nothing changed.\n"
        f"Draft {second} was already approved by you (rita); nothing changed.\n"
        f"Draft {third}: approved.\n"
        "1 approved, 2 already approved by you.\n"
    )
    assert result.stderr == ""


def test_cli_review_reject_twice_same_reason_is_done(batch):
    first, second = draft_ids(batch)[:2]
    invoke("review", "reject", str(first), "--user", "rita", "--reason", "Off brand")

    same = invoke("review", "reject", str(first), "--user", "rita", "--reason", "Off brand")
    other = invoke("review", "reject", str(first), str(second), "--user", "rita", "--reason", "Too long")

    assert same.exit_code == 0
    assert same.stdout == f"Draft {first} was already rejected by you (rita) with this reason; nothing changed.\n"
    assert other.exit_code == 2
    assert other.stdout == f"Draft {second}: rejected.\n1 rejected, 1 not rejected (draft {first}).\n"
    assert f'you already rejected draft {first} with the reason "Off brand"' in other.stderr


def test_cli_review_approved_by_other_fails(batch):
    first, second = draft_ids(batch)[:2]
    create_user("otto")
    invoke("review", "approve", str(first), "--user", "otto")
    invoke("review", "approve", str(second), "--user", "rita")

    result = invoke("review", "approve", str(first), str(second), "--user", "rita")

    assert result.exit_code == 2
    assert result.stdout == (
        f"Draft {second} was already approved by you (rita); nothing changed.\n"
        f"0 approved, 1 already approved by you, 1 not approved (draft {first}).\n"
    )
    assert result.stderr == f"Error: draft {first} is already approved (by otto). Draft {first} was not changed.\n"


def test_cli_review_approve_over_limit_names_edit_paths(batch):
    draft_id = draft_ids(batch, "google_ads_headline")[0]
    with db.session_scope() as session:
        session.get(Draft, draft_id).text = "x" * 31
    with db.session_scope() as session:
        version = session.get(Draft, draft_id).version

    result = invoke("review", "approve", str(draft_id), "--user", "rita")

    assert result.exit_code == 2
    assert f"draft {draft_id} has 31 Google Ads units" in result.stderr
    assert "The command line has no edit command" in result.stderr
    assert f"(contentgen serve, then /drafts/{draft_id})" in result.stderr
    # Changing the text made a new version, so the hint must not give version 1.
    assert version > 1
    assert f'POST /api/v1/drafts/{draft_id}/edit with the JSON body {{"version": {version}, "text": "..."}}.' in result.stderr
    with db.session_scope() as session:
        assert session.get(Draft, draft_id).status.value == "pending_review"


def test_cli_review_rejected_draft_has_no_edit_hint(batch):
    draft_id = draft_ids(batch)[0]
    invoke("review", "reject", str(draft_id), "--user", "rita", "--reason", "No")

    result = invoke("review", "approve", str(draft_id), "--user", "rita")

    assert result.exit_code == 2
    assert f"draft {draft_id} was rejected by you, and a rejected draft is final" in result.stderr
    assert "edit command" not in result.stderr


def test_cli_review_needs_reviewer_role(batch):
    invoke("users", "create", "mia", "--role", "marketer", "--password-stdin", input="long enough\n")
    result = invoke("review", "approve", str(draft_ids(batch)[0]), "--user", "mia")
    assert result.exit_code == 2
    assert "has the role marketer, which may not review; this needs the role reviewer or admin" in result.stderr


def test_cli_export_writes_file(batch, tmp_path):
    first = draft_ids(batch)[0]
    invoke("review", "approve", str(first), "--user", "rita")
    output = tmp_path / "approved.csv"

    result = invoke("export", "--batch", str(batch), "--format", "csv", "--output", str(output))

    rows = list(csv.DictReader(io.StringIO(output.read_text(encoding="utf-8-sig"))))
    assert result.exit_code == 0
    assert [int(row["draft_id"]) for row in rows] == [first]


def test_cli_export_warns_about_invisible_characters(batch):
    first = draft_ids(batch, "google_ads_headline")[0]
    with db.session_scope() as session:
        session.get(Draft, first).text = "Dry\u200bfeet"
    invoke("review", "approve", str(first), "--user", "rita")

    result = invoke("export", "--batch", str(batch), "--format", "csv")

    assert result.exit_code == 0
    assert f"Warning: draft {first} (google_ads_headline) contains invisible characters (U+200B×1)" in result.stderr


def test_cli_export_unknown_format_exits_2(batch):
    result = invoke("export", "--batch", str(batch), "--format", "xml")
    assert result.exit_code == 2
    assert 'export format "xml" is not known' in result.stderr


def test_cli_export_dash_writes_stdout(batch):
    first = draft_ids(batch)[0]
    invoke("review", "approve", str(first), "--user", "rita")

    result = invoke("export", "--batch", str(batch), "-f", "json", "-o", "-")

    assert result.exit_code == 0
    assert [row["draft_id"] for row in json.loads(result.stdout)] == [first]
    assert "Wrote" not in result.stderr
    assert not Path("-").exists()


class FullDisk:
    """Standard output on a full disk, as /dev/full is."""

    def write(self, data: bytes) -> int:
        raise OSError(28, "No space left on device")

    def flush(self) -> None:
        pass


def test_cli_export_full_stdout_exits_2(batch, monkeypatch):
    invoke("review", "approve", str(draft_ids(batch)[0]), "--user", "rita")
    monkeypatch.setattr("contentgen.cli_review.sys", SimpleNamespace(stdout=SimpleNamespace(buffer=FullDisk(), flush=lambda: None)))

    result = invoke("export", "--batch", str(batch))

    assert result.exit_code == 2
    assert result.stderr.startswith(
        "Error: could not write the export to standard output (No space left on device); free space"
    )


def test_cli_export_dot_slash_dash_writes_file(batch):
    first = draft_ids(batch)[0]
    invoke("review", "approve", str(first), "--user", "rita")

    result = invoke("export", "--batch", str(batch), "-f", "json", "-o", "./-")

    assert result.exit_code == 0
    assert result.stdout == ""
    assert result.stderr == "Wrote ./-.\n"
    assert [row["draft_id"] for row in json.loads(Path("-").read_text(encoding="utf-8"))] == [first]


def test_cli_export_keeps_generated_locale(batch, synced):
    first = draft_ids(batch)[0]
    invoke("review", "approve", str(first), "--user", "rita")
    import_changed_campaign(synced)

    result = invoke("export", "--batch", str(batch), "-f", "json")
    [row] = json.loads(result.stdout)

    assert row["locale"] == "en-US"
    assert row["final_url"] == "https://example.com/ridgeline"
    assert row["segment_name"] == "Hikers"


def test_cli_drafts_show_generated_locale(batch, synced):
    first = draft_ids(batch)[0]
    import_changed_campaign(synced)

    details = json.loads(invoke("drafts", "show", str(first), "--json").stdout)
    printed = invoke("drafts", "show", str(first)).stdout

    assert details["locale"] == "en-US"
    assert "locale: en-US" in printed
