"""Attention for one-token decode steps with grouped key/value heads, registered in transformers.

In a decode step each row has one query token. With grouped-query attention (several query
heads per key/value head), torch's CPU kernel for ``scaled_dot_product_attention`` spends
more time on its tiling than on the arithmetic. Here the query heads of each key/value head
are stacked into one matrix, so each step is two batched matrix products and a softmax.
The measurement used SmolLM2-135M (30 layers, 9 query and 3 key/value heads) with 32 rows
and about 250 cached positions in bfloat16, on torch 2.13 and a 2-core AMD Zen 5 CPU.
Attention took about 45 ms per step with the kernel. It took about 21 ms this way,
together with the cache layout of ``_continuous._GrowingLayer``.

Prompt passes (more than one query token) and anything this path does not cover go to the
standard SDPA function, so the model's outputs stay those of ``attn_implementation="sdpa"``
up to rounding.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, sdpa_mask

IMPLEMENTATION = "contentgen_grouped_decode"


def grouped_decode_attention(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    **kwargs,
) -> tuple[torch.Tensor, None]:
    """Attend with one query token per row; other calls go to the SDPA function.

    Shapes follow transformers' attention interface: ``query`` is (batch, heads, 1, dim),
    ``key`` and ``value`` are (batch, key/value heads, length, dim), and the mask is boolean
    (True where a position may be attended) or additive, broadcastable to
    (batch, 1, 1, length). Returns (batch, 1, heads, dim).
    """
    unsupported = any(
        kwargs.get(name) is not None for name in ("softcap", "s_aux", "position_bias")
    )
    per_head_mask = attention_mask is not None and attention_mask.shape[1] != 1
    if (
        query.shape[2] != 1
        or dropout
        or unsupported
        or per_head_mask
        or query.shape[-1] != value.shape[-1]
    ):
        return sdpa_attention_forward(
            module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs
        )

    batch, heads, _, dim = query.shape
    key_value_heads = key.shape[1]
    grouped = query.reshape(batch, key_value_heads, heads // key_value_heads, dim)
    scores = torch.matmul(grouped, key.transpose(-1, -2)).float()
    scores *= scaling if scaling is not None else dim**-0.5
    if attention_mask is not None:
        if attention_mask.dtype == torch.bool:
            scores.masked_fill_(~attention_mask, float("-inf"))
        else:
            scores += attention_mask
    weights = torch.softmax(scores, dim=-1).to(value.dtype)
    output = torch.matmul(weights, value)
    return output.reshape(batch, 1, heads, dim), None


AttentionInterface.register(IMPLEMENTATION, grouped_decode_attention)
ALL_MASK_ATTENTION_FUNCTIONS.register(IMPLEMENTATION, sdpa_mask)


@contextmanager
def grouped_decode(model) -> Iterator[None]:
    """Use the grouped decode attention inside the block where a CPU model uses plain SDPA.

    CUDA keeps torch's SDPA kernels, because this path was measured on CPU only.
    """
    config = model.config
    previous = config._attn_implementation
    if previous != "sdpa" or model.device.type != "cpu":
        yield
        return
    config._attn_implementation = IMPLEMENTATION
    try:
        yield
    finally:
        config._attn_implementation = previous
