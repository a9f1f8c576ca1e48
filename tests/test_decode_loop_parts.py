"""The decode loop's tensor parts without a model: the growing cache layer and the grouped
decode attention, each against the transformers code it replaces."""

import pytest
import torch
from transformers.cache_utils import DynamicLayer
from transformers.integrations.sdpa_attention import sdpa_attention_forward

from contentgen.generation._attention import grouped_decode_attention
from contentgen.generation._continuous import SPARE_POSITIONS, _GrowingLayer, is_looping


class GroupedModule(torch.nn.Module):
    """Stands in for an attention module: SDPA reads only these two attributes."""

    def __init__(self, groups: int) -> None:
        super().__init__()
        self.num_key_value_groups = groups
        self.is_causal = True


def states(rows: int, positions: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return (
        torch.randn(rows, 3, positions, 8, generator=generator),
        torch.randn(rows, 3, positions, 8, generator=generator),
    )


def test_growing_layer_matches_dynamic_layer():
    growing, dynamic = _GrowingLayer(), DynamicLayer()
    steps = [states(4, 10, seed=0)] + [
        states(4, 1, seed=step) for step in range(1, SPARE_POSITIONS + 5)
    ]
    for keys, values in steps:
        grown = growing.update(keys, values)
        expected = dynamic.update(keys, values)
        assert torch.equal(grown[0], expected[0])
        assert torch.equal(grown[1], expected[1])
    assert growing.get_seq_length() == 10 + SPARE_POSITIONS + 4


def test_growing_layer_writes_in_place_between_reallocations():
    layer = _GrowingLayer()
    layer.update(*states(2, 5, seed=0))
    room = layer.keys.data_ptr()
    layer.update(*states(2, 1, seed=1))
    assert layer.keys.data_ptr() == room


def test_growing_layer_after_row_selection():
    growing, dynamic = _GrowingLayer(), DynamicLayer()
    for layer in (growing, dynamic):
        layer.update(*states(4, 6, seed=0))
        layer.batch_select_indices(torch.tensor([0, 2]))
    for step in range(3):
        keys, values = states(2, 1, seed=10 + step)
        grown = growing.update(keys, values)
        expected = dynamic.update(keys, values)
        assert torch.equal(grown[0], expected[0])
        assert torch.equal(grown[1], expected[1])


def test_growing_layer_after_cropping_columns():
    growing, dynamic = _GrowingLayer(), DynamicLayer()
    for layer in (growing, dynamic):
        layer.update(*states(2, 6, seed=0))
        layer.keys = layer.keys[:, :, 2:]
        layer.values = layer.values[:, :, 2:]
    keys, values = states(2, 1, seed=5)
    grown = growing.update(keys, values)
    expected = dynamic.update(keys, values)
    assert torch.equal(grown[0], expected[0])
    assert grown[0].shape[2] == 5


def decode_inputs(mask_kind: str):
    generator = torch.Generator().manual_seed(0)
    query = torch.randn(5, 6, 1, 16, generator=generator)
    key = torch.randn(5, 2, 12, 16, generator=generator)
    value = torch.randn(5, 2, 12, 16, generator=generator)
    if mask_kind == "none":
        return query, key, value, None
    keep = torch.ones(5, 1, 1, 12, dtype=torch.bool)
    keep[0, :, :, :7] = False
    keep[3, :, :, :2] = False
    if mask_kind == "bool":
        return query, key, value, keep
    additive = torch.zeros(5, 1, 1, 12).masked_fill(~keep, torch.finfo(torch.float32).min)
    return query, key, value, additive


def test_grouped_decode_attention_matches_sdpa():
    module = GroupedModule(groups=3)
    for mask_kind in ("none", "bool", "additive"):
        query, key, value, mask = decode_inputs(mask_kind)
        grouped, _ = grouped_decode_attention(module, query, key, value, mask, scaling=0.25)
        expected, _ = sdpa_attention_forward(module, query, key, value, mask, scaling=0.25)
        assert grouped.shape == (5, 1, 6, 16), mask_kind
        assert torch.allclose(grouped, expected, atol=1e-5), mask_kind


def test_grouped_decode_attention_ignores_masked_positions():
    module = GroupedModule(groups=3)
    query, key, value, mask = decode_inputs("bool")
    changed_key = key.clone()
    changed_key[0, :, :7] = 100.0
    before, _ = grouped_decode_attention(module, query, key, value, mask)
    after, _ = grouped_decode_attention(module, query, changed_key, value, mask)
    scaled, _ = grouped_decode_attention(module, query, key * 2, value, mask)
    assert torch.equal(before[0], after[0])
    assert not torch.equal(before[1:], scaled[1:])


def test_grouped_decode_prompt_pass_fallback():
    module = GroupedModule(groups=3)
    generator = torch.Generator().manual_seed(1)
    query = torch.randn(2, 6, 4, 16, generator=generator)
    key = torch.randn(2, 2, 4, 16, generator=generator)
    value = torch.randn(2, 2, 4, 16, generator=generator)
    output, _ = grouped_decode_attention(module, query, key, value, None)
    expected, _ = sdpa_attention_forward(module, query, key, value, None)
    assert torch.equal(output, expected)


def test_grouped_decode_per_head_mask_fallback():
    module = GroupedModule(groups=3)
    query, key, value, keep = decode_inputs("bool")
    per_head = keep.expand(5, 6, 1, 12).clone()
    per_head[1, 2, :, :5] = False
    output, _ = grouped_decode_attention(module, query, key, value, per_head)
    expected, _ = sdpa_attention_forward(module, query, key, value, per_head)
    assert torch.equal(output, expected)


@pytest.mark.parametrize(
    ("tokens", "looping"),
    [
        ([5, 6, 7] + [1, 2, 3, 4] * 3, True),
        ([1, 2, 3, 4] * 2 + [1, 2, 3], False),
        # One token needs 12 repeats and two tokens 6, so "!!!" can end a line.
        ([9] * 11, False),
        ([9] * 12, True),
        ([3, 4] * 5, False),
        ([3, 4] * 6, True),
        # A stretch of 64 tokens three times is a loop; of 65, too long to look for.
        (list(range(64)) * 3, True),
        (list(range(65)) * 3, False),
        ([1, 2, 3, 4] * 3 + [5], False),
        ([], False),
    ],
)
def test_is_looping(tokens, looping):
    assert is_looping(tokens) is looping
