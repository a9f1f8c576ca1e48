from pathlib import Path

import pytest
from sqlalchemy import func, select

from contentgen import db
from contentgen.batches import Slot, context_builder
from contentgen.campaigns import CampaignFile, import_campaign_file
from contentgen.errors import InvalidInput
from contentgen.models import PromptTemplate
from contentgen.resources import templates_dir
from contentgen.templates import latest_template, render_prompt, sync_templates


def make_template(source: str, name: str = "test.j2") -> PromptTemplate:
    return PromptTemplate(name=name, version=1, source=source, sha256=str(hash(source)))


def campaign_data(product_name: str = "Ridgeline GTX") -> dict:
    return {
        "brands": [{"key": "trailpeak", "name": "TrailPeak", "voice": "Plain words."}],
        "campaigns": [
            {
                "key": "boot-launch",
                "brand": "trailpeak",
                "product": {"name": product_name, "description": "A waterproof boot."},
                "segments": [{"key": "hikers", "name": "Weekend hikers"}],
                "channels": ["google_ads_headline"],
            }
        ],
    }


def render_for(product_name: str, source: str) -> str:
    """Import a one-campaign file and render ``source`` with its real context."""
    parsed = CampaignFile.model_validate(campaign_data(product_name))
    with db.session_scope() as session:
        campaign = import_campaign_file(session, Path("test.yaml"), parsed)[0]
        spec = parsed.campaigns[0]
        context = context_builder(campaign, spec)(Slot("hikers", "google_ads_headline", 1))
        return render_prompt(make_template(source), context)


def test_render_missing_attribute_names_it(database):
    with pytest.raises(InvalidInput) as raised:
        render_for("Boot", "Tagline: {{ product.tagline }}")
    assert '"product.tagline" is not defined' in str(raised.value)
    assert 'template "test.j2" version 1' in str(raised.value)


def test_shipped_templates_skip_empty_description(database):
    data = campaign_data("Boot")
    data["campaigns"][0]["product"]["description"] = ""
    parsed = CampaignFile.model_validate(data)
    with db.session_scope() as session:
        campaign = import_campaign_file(session, Path("test.yaml"), parsed)[0]
        context = context_builder(campaign, parsed.campaigns[0])(Slot("hikers", "google_ads_headline", 1))
    for path in sorted(templates_dir().glob("*.j2")):
        prompt = render_prompt(make_template(path.read_text(encoding="utf-8")), context)
        assert "\n- \n" not in prompt, path.name


def test_shipped_templates_leave_out_empty_facts(database):
    data = campaign_data("Boot")
    data["brands"][0]["voice"] = ""
    data["campaigns"][0]["product"] = {"name": "Boot"}
    parsed = CampaignFile.model_validate(data)
    with db.session_scope() as session:
        campaign = import_campaign_file(session, Path("test.yaml"), parsed)[0]
        context = context_builder(campaign, parsed.campaigns[0])(Slot("hikers", "google_ads_headline", 1))

    for path in sorted(templates_dir().glob("*.j2")):
        lines = render_prompt(make_template(path.read_text(encoding="utf-8")), context).splitlines()
        # A heading such as "Facts:" or "Rules:" is followed by at least one "- " item.
        for index, line in enumerate(lines):
            if line.endswith(":"):
                assert index + 1 < len(lines), (path.name, line)
                assert lines[index + 1].startswith("- "), (path.name, line, lines[index + 1])
        assert "facts" not in "\n".join(lines).lower(), path.name


def test_render_missing_variable_names_it():
    with pytest.raises(InvalidInput, match='"discount_code" is not defined'):
        render_prompt(make_template("Use {{ discount_code }}"), {})


def test_render_sandbox_rejects_dunder_access():
    with pytest.raises(InvalidInput, match="unsafe"):
        render_prompt(make_template("{{ ''.__class__.__mro__ }}"), {})


def test_render_sandbox_rejects_dunder_on_context_value():
    with pytest.raises(InvalidInput, match="unsafe"):
        render_prompt(make_template("{{ product.__class__.__init__.__globals__ }}"), {"product": {}})


@pytest.mark.parametrize(
    "source",
    ["{{ product.features.append('free socks') }}", "{{ brand.update({'name': 'Other'}) }}"],
)
def test_render_sandbox_rejects_changing_a_value(source):
    context = {"product": {"features": ["Grippy outsole"]}, "brand": {"name": "TrailPeak"}}
    with pytest.raises(InvalidInput, match="unsafe"):
        render_prompt(make_template(source), context)
    assert context == {"product": {"features": ["Grippy outsole"]}, "brand": {"name": "TrailPeak"}}


def test_slot_contexts_differ_only_by_slot(database):
    parsed = CampaignFile.model_validate(campaign_data())
    with db.session_scope() as session:
        campaign = import_campaign_file(session, Path("test.yaml"), parsed)[0]
        build = context_builder(campaign, parsed.campaigns[0])
        first = build(Slot("hikers", "google_ads_headline", 1))
        second = build(Slot("hikers", "google_ads_headline", 2))
    assert (first["variant"], second["variant"]) == (1, 2)
    assert first["angle"] != second["angle"]
    assert first["product"] == second["product"] == {
        "name": "Ridgeline GTX", "description": "A waterproof boot.", "features": [],
        "price": None, "url": None, "offer": None,
    }  # fmt: skip
    assert first["channel"]["key"] == "google_ads_headline"


def test_render_keeps_template_syntax_in_values_literal(database):
    prompt = render_for("{{ 7*7 }}", "Product: {{ product.name }}")
    assert prompt == "Product: {{ 7*7 }}"
    assert "49" not in prompt


def test_render_does_not_escape_html(database):
    prompt = render_for("Tom & Jerry's <Boots>", "Product: {{ product.name }}")
    assert prompt == "Product: Tom & Jerry's <Boots>"


def test_shipped_template_renders_value_literally(synced):
    with db.session_scope() as session:
        template = latest_template(session, "google_ads_headline.j2")
    parsed = CampaignFile.model_validate(campaign_data("Tom & Jerry's {{ 7*7 }}"))
    with db.session_scope() as session:
        campaign = import_campaign_file(session, Path("test.yaml"), parsed)[0]
        context = context_builder(campaign, parsed.campaigns[0])(
            Slot("hikers", "google_ads_headline", 1)
        )
        prompt = render_prompt(template, context)
    assert "Tom & Jerry's {{ 7*7 }}" in prompt
    assert "&amp;" not in prompt


def test_sync_versions_only_changed_files(database, tmp_path):
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "email_subject.j2").write_text("first {{ product.name }}")
    (folder / "sms.j2").write_text("stays")

    with db.session_scope() as session:
        first = {result.name: result for result in sync_templates(session, folder)}
    (folder / "email_subject.j2").write_text("second {{ product.name }}")
    with db.session_scope() as session:
        second = {result.name: result for result in sync_templates(session, folder)}

    assert (first["email_subject.j2"].version, first["email_subject.j2"].changed) == (1, True)
    assert (second["email_subject.j2"].version, second["email_subject.j2"].changed) == (2, True)
    assert (second["sms.j2"].version, second["sms.j2"].changed) == (1, False)
    with db.session_scope() as session:
        assert session.scalar(select(func.count()).select_from(PromptTemplate)) == 3
        assert latest_template(session, "email_subject.j2").source == "second {{ product.name }}"


def test_sync_rejects_syntax_error_and_stores_nothing(database, tmp_path):
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "sms.j2").write_text("fine")
    (folder / "email_subject.j2").write_text("line one\n{% if x %}never closed")

    with pytest.raises(InvalidInput) as raised, db.session_scope() as session:
        sync_templates(session, folder)

    assert "email_subject.j2, line 2" in str(raised.value)
    with db.session_scope() as session:
        assert session.scalar(select(func.count()).select_from(PromptTemplate)) == 0


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("Hello {{ product.slogan }}", '"product.slogan" is not defined (product has: name,'),
        ("{{ nothing_here }}", '"nothing_here" is not defined'),
        ("{{ ''.__class__.__mro__ }}", "is unsafe"),
        ("line one\n{{ 1 / 0 }}", "line 2 failed to render: ZeroDivisionError"),
        ("{% include 'other.j2' %}", "failed to render"),
        ("{{ product.name + 1 }}", "failed to render: TypeError"),
        ("{# nothing #}\n", "renders an empty prompt; write the request to the model in it"),
        ("{% if product.offer == 'never' %}Write{% endif %}  ", "renders an empty prompt"),
    ],
    ids=["undefined-attribute", "undefined-name", "unsafe", "division", "include", "type-error",
         "comment-only", "blank-render"],
)
def test_sync_rejects_template_that_cannot_render(database, tmp_path, source, expected):
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "email_subject.j2").write_text(source)

    with pytest.raises(InvalidInput) as raised, db.session_scope() as session:
        sync_templates(session, folder)

    assert "email_subject.j2" in str(raised.value)
    assert expected in str(raised.value)
    with db.session_scope() as session:
        assert session.scalar(select(func.count()).select_from(PromptTemplate)) == 0


def test_sync_strips_bom_and_crlf(database, tmp_path):
    folder = tmp_path / "templates"
    folder.mkdir()
    path = folder / "email_subject.j2"
    path.write_bytes(b"\xef\xbb\xbfWrite a subject line for {{ product.name }}.\r\nKeep it short.\r\n")

    with db.session_scope() as session:
        (first,) = sync_templates(session, folder)
        template = latest_template(session, "email_subject.j2")
        prompt = render_prompt(template, {"product": {"name": "Ridgeline GTX"}})
    path.write_bytes(b"Write a subject line for {{ product.name }}.\nKeep it short.\n")
    with db.session_scope() as session:
        (second,) = sync_templates(session, folder)

    assert template.source == "Write a subject line for {{ product.name }}.\nKeep it short.\n"
    assert prompt == "Write a subject line for Ridgeline GTX.\nKeep it short."
    assert (first.version, first.changed) == (1, True)
    # The same text without the mark and with LF line ends is no new version.
    assert (second.version, second.changed) == (1, False)


def test_sync_rejects_non_utf8_file(database, tmp_path):
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "email_subject.j2").write_bytes(b"\xff\xfe caf\xe9")
    with pytest.raises(InvalidInput, match="email_subject.j2: not UTF-8"), db.session_scope() as session:
        sync_templates(session, folder)


def test_sync_rejects_file_of_no_channel(database, tmp_path):
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "sms.j2").write_text("fine {{ product.name }}")
    (folder / "tiktok.j2").write_text("fine {{ product.name }}")

    with pytest.raises(InvalidInput) as raised, db.session_scope() as session:
        sync_templates(session, folder)

    message = str(raised.value)
    assert f"{folder / 'tiktok.j2'}: no channel uses this template" in message
    assert "email_body.j2, email_subject.j2, google_ads_description.j2" in message
    assert "sms.j2:" not in message
    with db.session_scope() as session:
        assert session.scalar(select(func.count()).select_from(PromptTemplate)) == 0


def test_sync_empty_folder_is_invalid(database, tmp_path):
    with pytest.raises(InvalidInput, match="no prompt templates"), db.session_scope() as session:
        sync_templates(session, tmp_path)


def test_sync_missing_folder_is_invalid(database, tmp_path):
    with pytest.raises(InvalidInput, match='template folder ".*nowhere" does not exist or is not a folder'):
        with db.session_scope() as session:
            sync_templates(session, tmp_path / "nowhere")
