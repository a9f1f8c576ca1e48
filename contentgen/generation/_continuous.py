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

from contentgen.generation._attention import grouped_decode

# A shared prefix shorter than this is recomputed per row, because the saving would not
# pay for the extra forward pass.
MIN_SHARED_PREFIX = 16

# Cache positions reserved beyond the current length, so most decode steps write in place.
SPARE_POSITIONS = 64

# Chooses the next token for each row from its logits: (rows, logits) -> token ids.
TokenChooser = Callable[[list[int], torch.Tensor], torch.Tensor]

# Says why a row is finished after the token just added to it, as its finish reason, or
# None to go on: (row, token id) -> reason.
RowEnds = Callable[[int, int], str | None]

# A row whose last tokens repeat a stretch of at most this many tokens, over and over, is
# stopped: it would fail the repetition check however long it ran.
MAX_LOOP_PERIOD = 64
# Repeats of a stretch that make a loop: 3, and more for short stretches, so that "!!!" or
# "哈哈哈" can still end a line.
LOOP_REPEATS = 3
MIN_LOOP_TOKENS = 12


@dataclass
class RowResult:
    tokens: list[int] = field(default_factory=list)
    # Natural-log probability of each token under the model's own distribution (before
    # temperature and top-p).
    logprobs: list[float] = field(default_factory=list)
    # "stop" when the row produced a stop token, "length" when it reached its limit,
    # "repetition" when it started looping, or the reason ``row_ends`` gave.
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
    row_ends: RowEnds | None = None,
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
        row_ends: ends a row early, after a token that it keeps, with the reason it gives.

    Returns:
        One result per prompt, in order.
    """
    with grouped_decode(model):
        return _generate(
            model, prompts, max_new_tokens, choose_tokens, stop_token_ids, pad_token_id, width, row_ends
        )


def _generate(model, prompts, max_new_tokens, choose_tokens, stop_token_ids, pad_token_id, width, row_ends):
    results = [RowResult() for _ in prompts]
    waiting = deque(range(len(prompts)))
    batch: _Batch | None = None
    device = model.device
    prefix = _shared_prefix(model, prompts, device)

    while waiting or batch is not None:
        free = width - (len(batch.rows) if batch else 0)
        # Refill only when a useful share of the batch is free (or it is empty): each
        # prefill is a forward pass of its own, and a one-row prefill costs nearly as much.
        if (
            waiting
            and free > 0
            and (batch is None or free >= max(1, width // 4))
            and _can_merge(batch)
        ):
            group = [waiting.popleft() for _ in range(min(free, len(waiting)))]
            new = _prefill(model, group, prompts, prefix, choose_tokens, pad_token_id, device)
            # Only the new rows chose a token in this pass; the running rows' next tokens
            # were collected after the step that produced them.
            new = _collect_finished(new, results, max_new_tokens, stop_token_ids, row_ends)
            batch = _merge(batch, new)
        else:
            batch = _step(model, batch, choose_tokens)
            batch = _collect_finished(batch, results, max_new_tokens, stop_token_ids, row_ends)
    return results


def _can_merge(batch: _Batch | None) -> bool:
    # Merging edits the cache tensors directly, which only the plain dynamic layer allows.
    # Other cache layouts (sliding windows, for example) run one group at a time.
    return batch is None or _is_growing(batch.cache)


def _is_growing(cache: DynamicCache) -> bool:
    return bool(cache.layers) and all(isinstance(layer, _GrowingLayer) for layer in cache.layers)


class _GrowingLayer(DynamicLayer):
    """A dynamic cache layer that appends into spare room instead of concatenating.

    ``DynamicLayer`` copies the whole cache on every step with ``torch.cat``. This layer
    writes each step's positions into buffers with spare room, and ``keys`` and ``values``
    are views of their filled part. Keys are stored position-last, because a decode step
    multiplies by their transpose. A bfloat16 matmul copies a position-first view with
    spare room before it starts, which made it about 4x slower (torch 2.13 on CPU).

    Code that replaces ``keys`` or ``values`` (row selection, cropping, merging) makes the
    next update copy them into new buffers.
    """

    def __init__(self) -> None:
        super().__init__()
        self._key_room: torch.Tensor | None = None  # (batch, heads, dim, capacity)
        self._value_room: torch.Tensor | None = None  # (batch, heads, capacity, dim)
        self._views: tuple[torch.Tensor, torch.Tensor] | None = None

    def update(self, key_states, value_states, *args, **kwargs):
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        length = self.keys.shape[-2] if self.keys.dim() == 4 else 0
        end = length + key_states.shape[-2]
        if not self._room_fits(end):
            self._reserve(length, end + SPARE_POSITIONS, key_states)
        self._key_room[..., length:end] = key_states.transpose(-1, -2)
        self._value_room[:, :, length:end] = value_states
        self.keys = self._key_room[..., :end].transpose(-1, -2)
        self.values = self._value_room[:, :, :end]
        self._views = (self.keys, self.values)
        return self.keys, self.values

    def _room_fits(self, end: int) -> bool:
        # Code that replaced keys or values since the last update also breaks the identity.
        return (
            self._views is not None
            and self.keys is self._views[0]
            and self.values is self._views[1]
            and end <= self._value_room.shape[2]
        )

    def _reserve(self, length: int, capacity: int, like: torch.Tensor) -> None:
        batch, heads, _, dim = like.shape
        self._key_room = like.new_empty((batch, heads, dim, capacity))
        self._value_room = like.new_empty((batch, heads, capacity, dim))
        if length:
            self._key_room[..., :length] = self.keys.transpose(-1, -2)
            self._value_room[:, :, :length] = self.values


def _new_cache(model) -> DynamicCache:
    """Return an empty cache for the model, with growing layers where its layers are plain."""
    cache = DynamicCache(config=model.config)
    if cache.layers and all(type(layer) is DynamicLayer for layer in cache.layers):
        cache.layers = [_GrowingLayer() for _ in cache.layers]
    return cache


@dataclass
class _Prefix:
    """The keys and values, for one row, of the tokens that every prompt of a call starts with."""

    length: int
    keys: list[torch.Tensor]
    values: list[torch.Tensor]


def _shared_prefix(model, prompts: Sequence[list[int]], device) -> _Prefix | None:
    """Run the prompts' common first tokens through the model once, for every prefill to reuse.

    Prompts of one chunk come from one template (system prompt, instructions and product
    facts), so most of each prompt is shared and would otherwise be recomputed per row.
    """
    if len(prompts) < 2:
        return None
    # Each row keeps at least one token of its own, because its prefill produces its first logits.
    length = min(_common_prefix_length(prompts), min(len(tokens) for tokens in prompts) - 1)
    if length < MIN_SHARED_PREFIX:
        return None
    cache = _new_cache(model)
    if not _is_growing(cache):
        return None
    model(
        input_ids=torch.tensor([prompts[0][:length]], device=device),
        cache=cache,
        use_cache=True,
        logits_to_keep=1,
    )
    return _Prefix(
        length, [layer.keys for layer in cache.layers], [layer.values for layer in cache.layers]
    )


def _common_prefix_length(prompts: Sequence[list[int]]) -> int:
    first = prompts[0]
    length = len(first)
    for tokens in prompts[1:]:
        limit = min(length, len(tokens))
        length = next((i for i in range(limit) if tokens[i] != first[i]), limit)
    return length


def _prefill(model, group, prompts, prefix, choose_tokens, pad_token_id, device) -> _Batch:
    shared = prefix.length if prefix else 0
    longest = max(len(prompts[row]) - shared for row in group)
    input_ids = torch.full((len(group), longest), pad_token_id, dtype=torch.long)
    own_mask = torch.zeros((len(group), longest), dtype=torch.long)
    for position, row in enumerate(group):
        tokens = prompts[row][shared:]
        input_ids[position, longest - len(tokens) :] = torch.tensor(tokens)
        own_mask[position, longest - len(tokens) :] = 1
    input_ids, own_mask = input_ids.to(device), own_mask.to(device)

    cache = _new_cache(model)
    mask = own_mask
    if prefix:
        # Every row starts from a copy of the shared keys and values. Its own tokens follow
        # after its padding, and the mask keeps the padding out of attention and positions.
        for index, (keys, values) in enumerate(zip(prefix.keys, prefix.values, strict=True)):
            rows = len(group)
            cache.update(keys.expand(rows, -1, -1, -1), values.expand(rows, -1, -1, -1), index)
        mask = torch.cat([own_mask.new_ones((len(group), shared)), own_mask], dim=1)

    output = model(
        input_ids=input_ids,
        attention_mask=mask,
        position_ids=(mask.cumsum(-1) - 1).clamp(min=0)[:, shared:],
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
    batch: _Batch, results: list[RowResult], max_new_tokens, stop_token_ids, row_ends=None
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
        reason = row_ends(row, token) if row_ends is not None else None
        if reason is None and is_looping(result.tokens):
            reason = "repetition"
        if reason is not None:
            result.finish_reason = reason
            continue
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


def is_looping(tokens: list[int]) -> bool:
    """Return whether ``tokens`` end with one stretch repeated back to back: at least
    ``LOOP_REPEATS`` times and ``MIN_LOOP_TOKENS`` tokens in all."""
    # Runs for every row after every step, so most periods are ruled out by one comparison.
    length = len(tokens)
    last = tokens[-1] if tokens else None
    for period in range(1, min(MAX_LOOP_PERIOD, length // LOOP_REPEATS) + 1):
        if tokens[-1 - period] != last:
            continue
        span = period * max(LOOP_REPEATS, -(-MIN_LOOP_TOKENS // period))
        if span > length:
            continue
        # The last ``span`` tokens repeat with this period when each equals the one a
        # period before it.
        if all(tokens[index] == tokens[index - period] for index in range(length - span + period, length)):
            return True
    return False


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
        old_layer.keys = torch.cat(
            [_pad_left(old_layer.keys, length), _pad_left(new_layer.keys, length)]
        )
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
