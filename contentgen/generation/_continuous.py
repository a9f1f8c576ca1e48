"""A decode loop that keeps a fixed number of rows busy: continuous batching by hand.

``model.generate`` runs a static batch until its longest row ends, so rows that stopped
early keep costing compute and the batch is only as fast as its longest output. This loop
removes each finished row from the key/value cache at once and, while prompts are waiting,
prefills new rows into the free places. On a 2-core CPU, transformers' own continuous
batching (paged attention, built for GPUs) was slower than a static batch.

Rows are left-padded. Merging a new group into the running batch pads the shorter side on
the left, and padding that no row needs any more is cropped, so the cache stays as long as
its longest row.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer

# Chooses the next token for each row from its logits: (rows, logits) -> token ids.
TokenChooser = Callable[[list[int], torch.Tensor], torch.Tensor]


@dataclass
class RowResult:
    tokens: list[int] = field(default_factory=list)
    # Natural-log probability of each token under the model's own distribution (before
    # temperature and top-p).
    logprobs: list[float] = field(default_factory=list)
    # "stop" when the row produced a stop token, "length" when it reached its limit.
    finish_reason: str = "length"


@dataclass
class _Batch:
    rows: list[int]
    cache: DynamicCache
    mask: torch.Tensor
    next_tokens: torch.Tensor
    next_logprobs: torch.Tensor


def generate_continuous(
    model,
    prompts: Sequence[list[int]],
    max_new_tokens: Sequence[int],
    choose_tokens: TokenChooser,
    stop_token_ids: set[int],
    pad_token_id: int,
    width: int,
) -> list[RowResult]:
    """Generate for every prompt, decoding at most ``width`` rows at a time.

    Args:
        model: a causal language model from transformers.
        prompts: token ids of each formatted prompt.
        max_new_tokens: the limit for each row.
        choose_tokens: picks each row's next token from its last logits.
        stop_token_ids: tokens that end a row; they are not part of its result.
        pad_token_id: token used for left padding.
        width: the maximum number of rows decoded together.

    Returns:
        One result per prompt, in order.
    """
    results = [RowResult() for _ in prompts]
    waiting = deque(range(len(prompts)))
    batch: _Batch | None = None
    device = model.device

    while waiting or batch is not None:
        free = width - (len(batch.rows) if batch else 0)
        # Refill only when a useful share of the batch is free (or it is empty): each
        # prefill is a forward pass of its own, and a one-row prefill costs nearly as much.
        if waiting and free > 0 and (batch is None or free >= max(1, width // 4)) and _can_merge(batch):
            group = [waiting.popleft() for _ in range(min(free, len(waiting)))]
            new = _prefill(model, group, prompts, choose_tokens, pad_token_id, device)
            # Only the new rows chose a token in this pass; the running rows' next tokens
            # were collected after the step that produced them.
            new = _collect_finished(new, results, max_new_tokens, stop_token_ids)
            batch = _merge(batch, new)
        else:
            batch = _step(model, batch, choose_tokens)
            batch = _collect_finished(batch, results, max_new_tokens, stop_token_ids)
    return results


def _can_merge(batch: _Batch | None) -> bool:
    # Merging edits the cache tensors directly, which only the plain dynamic layer allows.
    # Other cache layouts (sliding windows, for example) run one group at a time.
    return batch is None or all(type(layer) is DynamicLayer for layer in batch.cache.layers)


def _prefill(model, group, prompts, choose_tokens, pad_token_id, device) -> _Batch:
    longest = max(len(prompts[row]) for row in group)
    input_ids = torch.full((len(group), longest), pad_token_id, dtype=torch.long)
    mask = torch.zeros((len(group), longest), dtype=torch.long)
    for position, row in enumerate(group):
        tokens = prompts[row]
        input_ids[position, longest - len(tokens) :] = torch.tensor(tokens)
        mask[position, longest - len(tokens) :] = 1
    input_ids, mask = input_ids.to(device), mask.to(device)

    cache = DynamicCache(config=model.config)
    output = model(
        input_ids=input_ids,
        attention_mask=mask,
        position_ids=(mask.cumsum(-1) - 1).clamp(min=0),
        cache=cache,
        use_cache=True,
        logits_to_keep=1,
    )
    logits = output.logits[:, -1, :]
    next_tokens = choose_tokens(group, logits)
    return _Batch(list(group), cache, mask, next_tokens, _logprobs_of(logits, next_tokens))


def _step(model, batch: _Batch, choose_tokens: TokenChooser) -> _Batch:
    mask = torch.cat([batch.mask, batch.mask.new_ones((len(batch.rows), 1))], dim=1)
    output = model(
        input_ids=batch.next_tokens[:, None],
        attention_mask=mask,
        position_ids=mask.sum(dim=1, keepdim=True) - 1,
        cache=batch.cache,
        use_cache=True,
    )
    logits = output.logits[:, -1, :]
    next_tokens = choose_tokens(batch.rows, logits)
    return _Batch(batch.rows, batch.cache, mask, next_tokens, _logprobs_of(logits, next_tokens))


def _logprobs_of(logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    return torch.log_softmax(logits.float(), dim=-1).gather(1, tokens[:, None]).squeeze(1)


def _collect_finished(
    batch: _Batch, results: list[RowResult], max_new_tokens, stop_token_ids
) -> _Batch | None:
    keep = []
    chosen = zip(batch.rows, batch.next_tokens.tolist(), batch.next_logprobs.tolist(), strict=True)
    for position, (row, token, logprob) in enumerate(chosen):
        result = results[row]
        if token in stop_token_ids:
            result.finish_reason = "stop"
            continue
        result.tokens.append(token)
        result.logprobs.append(logprob)
        if len(result.tokens) < max_new_tokens[row]:
            keep.append(position)

    if not keep:
        return None
    if len(keep) < len(batch.rows):
        index = torch.tensor(keep, device=batch.mask.device)
        batch.cache.batch_select_indices(index)
        batch = _Batch(
            [batch.rows[position] for position in keep],
            batch.cache,
            batch.mask[index],
            batch.next_tokens[index],
            batch.next_logprobs[index],
        )
        _crop_padding(batch)
    return batch


def _crop_padding(batch: _Batch) -> None:
    """Drop leading columns that are padding in every remaining row."""
    if not _can_merge(batch):
        return
    real = batch.mask.any(dim=0).nonzero()
    leading = int(real[0]) if len(real) else 0
    if leading == 0:
        return
    batch.mask = batch.mask[:, leading:]
    for layer in batch.cache.layers:
        if layer.is_initialized:
            layer.keys = layer.keys[:, :, leading:, :]
            layer.values = layer.values[:, :, leading:, :]


def _merge(running: _Batch | None, new: _Batch | None) -> _Batch | None:
    if running is None or new is None:
        return running or new
    length = max(running.mask.shape[1], new.mask.shape[1])
    for old_layer, new_layer in zip(running.cache.layers, new.cache.layers, strict=True):
        old_layer.keys = torch.cat([_pad_left(old_layer.keys, length), _pad_left(new_layer.keys, length)])
        old_layer.values = torch.cat(
            [_pad_left(old_layer.values, length), _pad_left(new_layer.values, length)]
        )
    mask = torch.cat([_pad_left(running.mask, length), _pad_left(new.mask, length)])
    return _Batch(
        running.rows + new.rows,
        running.cache,
        mask,
        torch.cat([running.next_tokens, new.next_tokens]),
        torch.cat([running.next_logprobs, new.next_logprobs]),
    )


def _pad_left(tensor: torch.Tensor, length: int) -> torch.Tensor:
    """Pad the sequence dimension (dim 2 of cache tensors, dim 1 of masks) with zeros."""
    sequence_dim = 2 if tensor.dim() == 4 else 1
    missing = length - tensor.shape[sequence_dim]
    if missing == 0:
        return tensor
    shape = list(tensor.shape)
    shape[sequence_dim] = missing
    return torch.cat([tensor.new_zeros(shape), tensor], dim=sequence_dim)
