import pytest
import yaml

from contentgen import db
from contentgen.dispatch import submit
from contentgen.errors import InvalidInput, NotFound
from contentgen.i18n import translate_error
from contentgen.segments import fold, label, segment_key

from .seeding import NEW_CUSTOMERS, OLD_CUSTOMERS, seed_chinese_segments

SHARED_NAME_MESSAGE = (
    'segment name "老客户" belongs to 2 segments; choose the campaign too, or filter by the key of one of them instead: '
    f"loyal (campaign autumn); {OLD_CUSTOMERS} (campaign spring)"
)


@pytest.fixture
def batch(synced):
    return seed_chinese_segments(synced)


def key_of(value: str, **scope: object) -> str:
    with db.session_scope() as session:
        return segment_key(session, value, **scope)


@pytest.mark.parametrize(
    ("key", "name", "expected"),
    [
        ("hikers", "Hikers", "Hikers"),
        ("hikers", "hikers", "hikers"),
        ("day-trippers", "Day trippers", "Day trippers (day-trippers)"),
        (OLD_CUSTOMERS, "老客户", f"老客户 ({OLD_CUSTOMERS})"),
    ],
    ids=["capitalised", "same", "spaces", "chinese"],
)
def test_segments_label(key, name, expected):
    assert label(key, name) == expected


def test_segments_fold_width_case_and_spaces():
    assert fold(" ＶＩＰ　 老客户\t") == "vip 老客户"


def test_segments_key_by_key(batch):
    assert key_of(OLD_CUSTOMERS) == OLD_CUSTOMERS
    assert key_of("loyal") == "loyal"


def test_segments_key_by_unique_name(batch):
    assert key_of("新客户") == NEW_CUSTOMERS
    assert key_of(" 新客户\u3000") == NEW_CUSTOMERS


def test_segments_key_by_name_within_campaign(batch):
    assert key_of("老客户", campaign="spring") == OLD_CUSTOMERS
    assert key_of("老客户", campaign="autumn") == "loyal"


def test_segments_key_by_name_within_batch(batch):
    spring_only = submit(campaign_keys=["spring"]).batch_id

    assert key_of("老客户", batch_id=spring_only) == OLD_CUSTOMERS
    with pytest.raises(InvalidInput, match="belongs to 2 segments"):
        key_of("老客户", batch_id=batch)


def test_segments_name_in_batch_beats_key_outside(batch, tmp_path):
    # "loyal" is the key of autumn's 老客户, and the name of this campaign's segment "loyal-x".
    data = {
        "brands": [{"key": "trailpeak", "name": "TrailPeak"}],
        "campaigns": [{"key": "winter", "brand": "trailpeak", "product": {"name": "Boot"},
                       "segments": [{"key": "loyal-x", "name": "loyal"}], "channels": ["sms"]}],
    }  # fmt: skip
    path = tmp_path / "winter.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    winter = submit([path]).batch_id

    assert key_of("loyal", batch_id=winter) == "loyal-x"
    assert key_of("loyal", batch_id=batch) == "loyal"
    assert key_of("loyal") == "loyal"


def test_segments_key_shared_name_lists_keys(batch):
    with pytest.raises(InvalidInput) as raised:
        key_of("老客户")

    assert not isinstance(raised.value, NotFound)
    assert str(raised.value) == SHARED_NAME_MESSAGE
    assert translate_error(raised.value, "zh-CN") == (
        "分群名称“老客户”对应 2 个分群；请同时选择活动，或改用其中一个分群的键筛选："
        f"loyal（活动“autumn”）；{OLD_CUSTOMERS}（活动“spring”）"
    )


def test_segments_key_shared_name_lists_campaigns_of_key(batch, tmp_path):
    summer = tmp_path / "summer.csv"
    summer.write_text(
        "key,brand,product_name,product_description,segments,channels,locale\n"
        "summer,trailpeak,Ridgeline GTX,防水登山靴,老客户,email_subject,zh-CN\n",
        encoding="utf-8",
    )
    submit([summer])

    with pytest.raises(InvalidInput) as raised:
        key_of("老客户")

    assert str(raised.value).endswith(f"loyal (campaign autumn); {OLD_CUSTOMERS} (campaigns spring, summer)")


def test_segments_key_unknown_lists_names(batch):
    with pytest.raises(NotFound) as raised:
        key_of("回头客")

    assert str(raised.value) == (
        'segment "回头客" not found in any campaign, as a key or as a name; the segments are: '
        f"新客户 ({NEW_CUSTOMERS}), 老客户 (loyal), 老客户 ({OLD_CUSTOMERS})"
    )
    assert translate_error(raised.value, "zh-CN") == (
        "任何活动中都没有键或名称为“回头客”的分群；现有分群："
        f"新客户 ({NEW_CUSTOMERS}), 老客户 (loyal), 老客户 ({OLD_CUSTOMERS})"
    )


def test_segments_key_name_of_other_campaign_not_found(batch):
    with pytest.raises(NotFound) as raised:
        key_of("新客户", campaign="autumn")

    assert str(raised.value) == (
        'segment "新客户" not found in campaign "autumn", as a key or as a name; its segments '
        "are: 老客户 (loyal)"
    )
