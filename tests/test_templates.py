from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from contentgen import db
from contentgen.batches import OPTIONAL_TEMPLATE_FIELDS, Slot, context_builder, sample_context
from contentgen.campaigns import CampaignFile, import_campaign_file
from contentgen.cli import app
from contentgen.errors import InvalidInput
from contentgen.i18n import translate_error
from contentgen.models import PromptTemplate
from contentgen.resources import templates_dir
from contentgen.template_sandbox import MAX_PROMPT_LENGTH
from contentgen.templates import MAX_TEMPLATE_SIZE, latest_template, render_prompt, sync_templates


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
        ("line one\n{{ 1 / 0 }}", "line 2: failed to render: ZeroDivisionError"),
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


def sync_one(folder: Path, source: str | bytes, name: str = "email_subject.j2") -> str:
    """Sync a folder with one template file and return the error message it raises."""
    folder.mkdir(exist_ok=True)
    if isinstance(source, bytes):
        (folder / name).write_bytes(source)
    else:
        (folder / name).write_text(source, encoding="utf-8")
    with pytest.raises(InvalidInput) as raised, db.session_scope() as session:
        sync_templates(session, folder)
    return str(raised.value)


def stored_templates() -> int:
    with db.session_scope() as session:
        return session.scalar(select(func.count()).select_from(PromptTemplate))


def test_sync_rejects_file_over_size_limit(database, tmp_path):
    folder = tmp_path / "templates"
    source = "Write about {{ product.name }}.\n{# " + "x" * MAX_TEMPLATE_SIZE + " #}"

    message = sync_one(folder, source)

    assert message == (
        "prompt templates are invalid; nothing was synced:\n"
        f"  - {folder / 'email_subject.j2'}: the file has more than 65,536 bytes, the maximum for "
        "a prompt template; shorten it"
    )
    assert stored_templates() == 0


def test_sync_accepts_file_at_size_limit(database, tmp_path):
    folder = tmp_path / "templates"
    folder.mkdir()
    start = "Write about {{ product.name }}.\n{# "
    source = start + "x" * (MAX_TEMPLATE_SIZE - len(start) - len(" #}")) + " #}"
    (folder / "email_subject.j2").write_text(source, encoding="utf-8")
    assert (folder / "email_subject.j2").stat().st_size == MAX_TEMPLATE_SIZE

    with db.session_scope() as session:
        (result,) = sync_templates(session, folder)

    assert (result.version, result.changed) == (1, True)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('{{ " pad" * 25000000 }}',
         "line 1: * would build a value of 100,000,000 characters, over the maximum of 20,000; "
         "build a shorter value"),
        ("Write\n{{ 25000000 * ' pad' }}", "line 2: * would build a value of 100,000,000 characters"),
        ("{{ [1, 2] * 10001 }}", "line 1: * would build a value of 20,002 items, over the maximum of 20,000"),
        ('{% set half = "x" * 15000 %}{{ half + half }}',
         "line 1: + would build a value of 30,000 characters, over the maximum of 20,000"),
        ("{{ 2 ** 20000 }}",
         "line 1: ** would build a number of about 20,000 bits, over the maximum of 10,000; use smaller numbers"),
        ("{{ (10 ** 3000) * (10 ** 3000) }}", "line 1: * would build a number of about 19,932 bits"),
    ],
    ids=["text-repeat", "repeat-count-first", "list-repeat", "text-concatenation", "power", "integer-product"],
)  # fmt: skip
def test_sync_rejects_values_over_build_limit(database, tmp_path, source, expected):
    folder = tmp_path / "templates"

    message = sync_one(folder, source)

    assert f"{folder / 'email_subject.j2'}, {expected}" in message
    assert stored_templates() == 0


def test_render_builds_values_up_to_limit():
    source = '{{ ("x" * 20000) | length }} {{ ([0] * 20000) | length }} {{ ("x" * 10000 + "y" * 10000) | length }} {{ 2 ** 4000 > 0 }}'
    assert render_prompt(make_template(source), {}) == "20000 20000 20000 True"


@pytest.mark.parametrize(
    "source",
    [
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}x",
        "{% for i in range(100001) %}{% endfor %}x",
        '{% for a in "x" * 1000 %}{% for b in "y" * 1000 %}{% endfor %}{% endfor %}x',
        "{% macro split(n) %}{% if n %}{{ split(n - 1) }}{{ split(n - 1) }}{% endif %}{% endmacro %}x{{ split(40) }}",
        "{% for i in range(50001) %}{% endfor %}{% for i in range(50001) %}{% endfor %}x",
    ],
    ids=["nested-ranges", "one-long-range", "nested-text-loops", "recursive-macro", "ranges-add-up"],
)
def test_sync_stops_render_over_step_budget(database, tmp_path, source):
    folder = tmp_path / "templates"

    message = sync_one(folder, source)

    assert (
        f"{folder / 'email_subject.j2'}, line 1: takes more than 100,000 steps in one render (each "
        "range() number, loop iteration and call is one step); loop over fewer items"
    ) in message
    assert ".;" not in message
    assert stored_templates() == 0


def test_render_step_budget_is_per_render():
    # 1 call and 99,990 numbers: within the budget once, and over it if renders shared one.
    template = make_template("{% for i in range(99990) %}{% endfor %}{{ range(3) | list }}")
    assert render_prompt(template, {}) == "[0, 1, 2]"
    assert render_prompt(template, {}) == "[0, 1, 2]"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{% for x in [1, 2] %}{{ x }}/{{ loop.length }}{{ '.' if loop.last }} {% endfor %}", "1/2 2/2."),
        ("{% for x in [] %}never{% else %}empty{% endfor %}", "empty"),
        ("{% for x in [[1, [2]], 3] recursive %}<{% if x is iterable %}{{ loop(x) }}{% else %}{{ x }}{% endif %}>{% endfor %}",
         "<<1><<2>>><3>"),
        ('{% for x in "abc" if x != "b" %}{{ x }}{% endfor %}', "ac"),
    ],
    ids=["loop-variable", "else", "recursive", "filtered"],
)  # fmt: skip
def test_render_counted_loops_keep_results(source, expected):
    assert render_prompt(make_template(source), {}) == expected


def test_sync_rejects_prompt_over_length_limit(database, tmp_path):
    folder = tmp_path / "templates"
    # 2,001 pieces of 10 characters: 20,010 in all.
    source = "{% for i in range(2001) %}0123456789{% endfor %}"

    message = sync_one(folder, source)

    assert (
        f"{folder / 'email_subject.j2'}: renders more than 20,000 characters, the maximum length of "
        "a prompt; shorten the template's text or loops, or the campaign's values"
    ) in message
    assert stored_templates() == 0


def test_render_accepts_prompt_at_length_limit():
    prompt = render_prompt(make_template("{% for i in range(2000) %}0123456789{% endfor %}"), {})
    assert len(prompt) == MAX_PROMPT_LENGTH


@pytest.mark.parametrize(
    ("character", "code"),
    [("\x00", "U+0000"), ("\u202e", "U+202E"), ("\x07", "U+0007"), ("\ufeff", "U+FEFF"), ("\x85", "U+0085")],
    ids=["nul", "right-to-left-override", "bell", "byte-order-mark-inside", "next-line"],
)
def test_sync_rejects_control_character(database, tmp_path, character, code):
    folder = tmp_path / "templates"
    source = f"Write about {{{{ product.name }}}}.\n\tKeep it {character}short."

    message = sync_one(folder, source)

    assert message == (
        "prompt templates are invalid; nothing was synced:\n"
        f"  - {folder / 'email_subject.j2'}, line 2, column 10: contains the invisible control "
        f"character {code}; remove it"
    )
    assert stored_templates() == 0


def test_sync_accepts_tabs_and_line_ends(database, tmp_path):
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "email_subject.j2").write_bytes(b"Write about {{ product.name }}.\r\n\tShort.\rNo quotes.\n")

    with db.session_scope() as session:
        sync_templates(session, folder)
        template = latest_template(session, "email_subject.j2")

    assert template.source == "Write about {{ product.name }}.\n\tShort.\nNo quotes.\n"


def test_cli_sync_nul_exits_2(database, tmp_path):
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "email_subject.j2").write_bytes(b"Write about {{ product.name }}.\x00")

    result = CliRunner().invoke(app, ["templates", "sync", "--dir", str(folder)])

    assert result.exit_code == 2
    assert result.stderr == (
        "Error: prompt templates are invalid; nothing was synced:\n"
        f"  - {folder / 'email_subject.j2'}, line 1, column 32: contains the invisible control "
        "character U+0000; remove it\n"
    )
    assert stored_templates() == 0


@pytest.mark.parametrize(
    ("source", "field", "reason"),
    [
        ("Price: {{ product.price.upper() }}", "product.price", "'None' has no attribute 'upper'"),
        ("Write\nFirst: {{ product.features[0] }}", "product.features", "list object has no element 0"),
        ("Avoid {{ brand.banned_terms | first | upper }}.", "brand.banned_terms", "No first item, sequence was empty"),
        ("Goal: {{ campaign.goal | length }}", "campaign.goal",
         "failed to render: TypeError: object of type 'NoneType' has no len()"),
    ],
    ids=["price-method", "features-item", "banned-terms", "goal"],
)  # fmt: skip
def test_sync_names_failing_optional_field(database, tmp_path, source, field, reason):
    folder = tmp_path / "templates"
    line = source.count("\n") + 1

    message = sync_one(folder, source)

    assert f"{folder / 'email_subject.j2'}, line {line}: " in message
    assert (
        f" when a campaign leaves the optional field {field} empty; use the field only inside "
        f"{{% if {field} %}} … {{% endif %}}"
    ) in message
    assert f"line {line}: {reason} when a campaign" in message
    assert message.count("\n  - ") == 1
    assert stored_templates() == 0


def test_sync_optional_fields_fail_together(database, tmp_path):
    folder = tmp_path / "templates"
    source = "Write\n{% if not product.price and not product.offer %}{{ 1 / 0 }}{% endif %}"

    message = sync_one(folder, source)

    assert message == (
        "prompt templates are invalid; nothing was synced:\n"
        f"  - {folder / 'email_subject.j2'}, line 2: failed to render: ZeroDivisionError: division by "
        "zero when a campaign leaves several optional fields empty; use each optional field only "
        "inside {% if product.price %} … {% endif %}"
    )


def test_sync_lists_each_failing_field(database, tmp_path):
    folder = tmp_path / "templates"
    source = "{{ product.price.upper() }}\n{{ product.offer.upper() }}"

    message = sync_one(folder, source)

    assert message.count("\n  - ") == 2
    assert "line 1: 'None' has no attribute 'upper' when a campaign leaves the optional field product.price empty" in message
    assert "line 2: 'None' has no attribute 'upper' when a campaign leaves the optional field product.offer empty" in message


@pytest.mark.parametrize("field", OPTIONAL_TEMPLATE_FIELDS)
def test_sample_context_leaves_field_empty(field):
    section, name = field.split(".")

    full = sample_context("google_ads_headline")
    empty = sample_context("google_ads_headline", (field,))

    assert full[section][name]
    assert not empty[section][name]
    assert {key: value for key, value in empty[section].items() if key != name} == {
        key: value for key, value in full[section].items() if key != name
    }


def test_sample_context_matches_minimal_campaign(database):
    data = {
        "brands": [{"key": "sample-brand", "name": "Sample brand"}],
        "campaigns": [{
            "key": "sample", "brand": "sample-brand", "name": "Sample campaign",
            "product": {"name": "Sample product"},
            "segments": [{"key": "everyone", "name": "Everyone"}],
            "channels": ["google_ads_headline"], "variants": 2,
        }],
    }  # fmt: skip
    parsed = CampaignFile.model_validate(data)
    with db.session_scope() as session:
        campaign = import_campaign_file(session, Path("test.yaml"), parsed)[0]
        context = context_builder(campaign, parsed.campaigns[0])(Slot("everyone", "google_ads_headline", 1))

    assert context == sample_context("google_ads_headline", OPTIONAL_TEMPLATE_FIELDS)


def test_render_error_drops_final_period():
    with pytest.raises(InvalidInput) as raised:
        render_prompt(make_template('{{ [1] | map("nosuch") | list }}'), {})
    assert str(raised.value) == (
        'template "test.j2" version 1, line 1: failed to render: TemplateRuntimeError: No filter '
        "named 'nosuch'; fix the template"
    )


def test_sync_error_translates_to_chinese(database, tmp_path):
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "email_subject.j2").write_text("Price: {{ product.price.upper() }}")
    (folder / "sms.j2").write_bytes(b"Text \xe2\x80\xae me")

    with pytest.raises(InvalidInput) as raised, db.session_scope() as session:
        sync_templates(session, folder)

    assert translate_error(raised.value, "zh-CN") == (
        "提示词模板无效，没有同步任何模板：\n"
        f"  - {folder / 'sms.j2'}，第 1 行第 6 列：含有不可见的控制字符 U+202E；请删除它\n"
        f"  - {folder / 'email_subject.j2'}，第 1 行：活动未填写可选字段 product.price 时，"
        "'None' has no attribute 'upper'；请只在 {% if product.price %} … {% endif %} 中使用该字段"
    )


def test_sync_empty_prompt_without_optional_field(database, tmp_path):
    folder = tmp_path / "templates"

    message = sync_one(folder, "{{ product.description }}")

    assert message == (
        "prompt templates are invalid; nothing was synced:\n"
        f"  - {folder / 'email_subject.j2'}: renders an empty prompt when a campaign leaves the optional "
        "field product.description empty; write the request to the model in it"
    )


def test_sync_renders_each_template_for_its_channel(database, tmp_path):
    source = 'Write {{ {"email_body": "an email body"}[channel.key] }} for {{ product.name }}.'
    with db.session_scope() as session:
        (tmp_path / "email_body.j2").write_text(source, encoding="utf-8")
        [result] = sync_templates(session, tmp_path)
    assert (result.name, result.changed) == ("email_body.j2", True)


def test_sync_rejects_lipsum(database, tmp_path):
    message = sync_one(tmp_path, "Hi {{ product.name }} {{ lipsum(n=20000) }}")
    assert "lipsum" in message
    assert stored_templates() == 0


def test_sync_names_field_empty_beside_others_set(database, tmp_path):
    message = sync_one(tmp_path, "{{ product.name }}{% if campaign.goal %} {{ campaign.call_to_action.upper() }}{% endif %}")
    assert "when a campaign leaves the optional field campaign.call_to_action empty" in message
    assert stored_templates() == 0
