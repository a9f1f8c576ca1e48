import yaml

from contentgen import db
from contentgen.campaigns import import_campaign_file, load_campaign_file
from contentgen.cleared_fields import ClearedFields, batch_warnings, cleared_fields, to_stored
from contentgen.i18n import N_, Message
from contentgen.models import Batch

FULL_BRAND = {
    "key": "teahouse",
    "name": "Teahouse",
    "voice": "Calm and warm.",
    "banned_terms": ["cheap"],
    "claim_terms": ["best"],
    "channel_limits": {"email_subject": 50},
}
FULL_CAMPAIGN = {
    "key": "spring",
    "brand": "teahouse",
    "goal": "Sell the spring harvest",
    "product": {"name": "Longjing", "price": "19.90", "offer": "A free cup"},
    "segments": [{"key": "regulars", "name": "Regulars", "description": "Buy every month"}],
    "channels": ["email_subject"],
    "variants": 3,
    "locale": "zh-CN",
    "generation": {"temperature": 0.5, "seed": 4},
    "schedule": {"cron": "@daily", "timezone": "Asia/Shanghai", "refresh": "unapproved"},
}
SHORT_CAMPAIGN = {
    "key": "spring",
    "brand": "teahouse",
    "product": {"name": "Longjing"},
    "segments": [{"key": "regulars", "name": "Regulars"}],
    "channels": ["email_subject"],
    "generation": {"seed": 4},
}


def write(folder, name, data):
    path = folder / name
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def import_and_warn(path) -> list[str]:
    parsed = load_campaign_file(path)
    with db.session_scope() as session:
        warnings = cleared_fields(session, path, parsed)
        import_campaign_file(session, path, parsed)
    return [str(warning) for warning in warnings]


def test_cleared_fields_new_records_none(database):
    path = write(database, "full.yaml", {"brands": [FULL_BRAND], "campaigns": [FULL_CAMPAIGN]})
    assert import_and_warn(path) == []


def test_cleared_fields_same_file_again_none(database):
    path = write(database, "full.yaml", {"brands": [FULL_BRAND], "campaigns": [FULL_CAMPAIGN]})
    import_and_warn(path)
    assert import_and_warn(path) == []


def test_cleared_fields_names_left_out_fields(database):
    import_and_warn(write(database, "full.yaml", {"brands": [FULL_BRAND], "campaigns": [FULL_CAMPAIGN]}))
    short_brand = {"key": "teahouse", "name": "Teahouse", "channel_limits": {"email_subject": 50}}
    path = write(database, "short.yaml", {"brands": [short_brand], "campaigns": [SHORT_CAMPAIGN]})

    warnings = import_and_warn(path)

    assert warnings == [
        f'{path}: brand "teahouse": this import clears voice, banned_terms, claim_terms, which the file leaves out',
        f'{path}: campaign "spring": this import clears goal, product.price, product.offer, '
        "segments[0].description, schedule, which the file leaves out",
        f'{path}: campaign "spring": this import resets variants, locale, generation.temperature to their '
        'defaults (1, "en-US", 0.3), which the file leaves out',
    ]


def test_cleared_fields_partial_schedule_named(database):
    import_and_warn(write(database, "full.yaml", {"brands": [FULL_BRAND], "campaigns": [FULL_CAMPAIGN]}))
    campaign = {**FULL_CAMPAIGN, "schedule": {"cron": "@daily"}}
    path = write(database, "partial.yaml", {"campaigns": [campaign]})

    assert import_and_warn(path) == [
        f'{path}: campaign "spring": this import resets schedule.timezone, schedule.refresh to their '
        'defaults ("UTC", "all"), which the file leaves out',
    ]


def test_cleared_fields_one_reset_field_singular(database):
    import_and_warn(write(database, "full.yaml", {"brands": [FULL_BRAND], "campaigns": [FULL_CAMPAIGN]}))
    campaign = {key: value for key, value in FULL_CAMPAIGN.items() if key != "locale"}
    path = write(database, "no-locale.yaml", {"campaigns": [campaign]})

    assert import_and_warn(path) == [
        f'{path}: campaign "spring": this import resets locale to its default ("en-US"), which the file leaves out',
    ]


def test_cleared_fields_written_empty_value_none(database):
    import_and_warn(write(database, "full.yaml", {"brands": [FULL_BRAND], "campaigns": [FULL_CAMPAIGN]}))
    brand = {**FULL_BRAND, "banned_terms": [], "voice": ""}
    assert import_and_warn(write(database, "emptied.yaml", {"brands": [brand]})) == []


def test_cleared_fields_csv_unchanged_none(database):
    import_and_warn(write(database, "full.yaml", {"brands": [FULL_BRAND], "campaigns": [FULL_CAMPAIGN]}))
    path = database / "products.csv"
    path.write_text(
        "key,brand,product_name,product_description,features,price,url,segments,channels,variants,locale\n"
        "spring,teahouse,Longjing,,,29,,Regulars,email_subject,2,zh-CN\n",
        encoding="utf-8",
    )
    assert import_and_warn(path) == []


def test_cleared_fields_csv_empty_cells_named(database):
    import_and_warn(write(database, "full.yaml", {"brands": [FULL_BRAND], "campaigns": [FULL_CAMPAIGN]}))
    path = database / "products.csv"
    path.write_text(
        "key,brand,product_name,product_description,price,offer,goal,segments,channels,locale\n"
        "spring,teahouse,Longjing,,,,,Regulars,email_subject,zh-CN\n",
        encoding="utf-8",
    )
    assert import_and_warn(path) == [
        f'{path}: campaign "spring": this import clears goal, product.price, product.offer, '
        "whose cells the file leaves empty"
    ]


def test_cleared_fields_csv_empty_cells_reset_defaults(database):
    import_and_warn(write(database, "full.yaml", {"brands": [FULL_BRAND], "campaigns": [FULL_CAMPAIGN]}))
    path = database / "products.csv"
    path.write_text(
        "key,brand,product_name,product_description,price,offer,variants,temperature,seed,segments,channels,locale\n"
        "spring,teahouse,Longjing,,19.90,A free cup,,,4,Regulars;Newcomers,email_subject,zh-CN\n",
        encoding="utf-8",
    )
    assert import_and_warn(path) == [
        f'{path}: campaign "spring": this import resets variants, generation.temperature to their defaults '
        "(1, 0.3), whose cells the file leaves empty"
    ]


def test_cleared_fields_csv_one_empty_cell_singular(database):
    import_and_warn(write(database, "full.yaml", {"brands": [FULL_BRAND], "campaigns": [FULL_CAMPAIGN]}))
    path = database / "products.csv"
    path.write_text(
        "key,brand,product_name,product_description,price,offer,goal,variants,segments,channels,locale\n"
        "spring,teahouse,Longjing,,19.90,A free cup,,3,Regulars,email_subject,zh-CN\n",
        encoding="utf-8",
    )
    assert import_and_warn(path) == [
        f'{path}: campaign "spring": this import clears goal, whose cell the file leaves empty',
    ]

    path.write_text(
        "key,brand,product_name,product_description,goal,variants,segments,channels,locale\n"
        "spring,teahouse,Longjing,,Sell,,Regulars,email_subject,zh-CN\n",
        encoding="utf-8",
    )
    assert import_and_warn(path) == [
        f'{path}: campaign "spring": this import resets variants to its default (1), whose cell the file leaves empty',
    ]


def test_cleared_fields_stored_in_past_tense():
    nested = Message(N_("{message} (got {value})"), {"message": Message(N_("Campaign")), "value": 3})
    warnings = [
        ClearedFields("/tmp/upload.yaml", "brand", "teahouse",
                      Message(N_("this import clears {fields}, which the file leaves out"), {"fields": "banned_terms"})),
        ClearedFields("/tmp/upload.yaml", "campaign", "spring", nested),
    ]  # fmt: skip

    read = batch_warnings(Batch(import_warnings=to_stored(warnings)))

    assert [(warning.path, warning.kind, warning.key, warning.text) for warning in read] == [
        (None, "brand", "teahouse",
         Message(N_("the import cleared {fields}, which the file left out"), {"fields": "banned_terms"})),
        (None, "campaign", "spring", nested),
    ]  # fmt: skip
    assert str(read[0]) == 'brand "teahouse": the import cleared banned_terms, which the file left out'
    assert read[0].text.render("zh-CN") == "文件中没有写 banned_terms，导入已将其清空"
    assert read[1].text.render("zh-CN") == "活动（实际为 3）"


def test_cleared_fields_null_stored_is_none():
    assert batch_warnings(Batch(import_warnings=None)) == []
