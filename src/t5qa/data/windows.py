"""Windows over a long context: the context split into overlapping pieces that each fit the model's input beside
the template and the whole question; which windows a question trains on; whether a cut input lost its answer."""

from __future__ import annotations

import hashlib

from t5qa.errors import InputError


def context_windows(
    ids: list[int],
    offsets: list[tuple[int, int]],
    special: list[int],
    text: str,
    ctx_start: int | None,
    ctx_end: int | None,
    golds: list[str],
    unanswerable: str,
    max_source_length: int,
    stride: int,
    where: str,
) -> tuple[list[tuple[list[int], str, bool]], bool]:
    """Split an input that does not fit into windows: (input ids, target, primary) each, and whether some window
    holds a whole gold answer.

    The tokens before the context (template, question) and after it (template, end token) are in every window; the
    context tokens between are cut into slices of the room left, consecutive slices sharing `stride` tokens (the
    last slice ends at the context's end, sharing more). A window
    learns the first gold answer that lies wholly inside its slice of the context, else the unanswerable target. The
    primary window (the one validation during training scores and loss is taken on) is the first that holds an
    answer; when none does (an abstractive answer, or one longer than the overlap split between two windows) it is
    the window where the first gold answer starts, or the first window, and it learns the first gold answer."""
    if ctx_start is None or ctx_start == ctx_end:
        raise InputError(
            f"{where}: {len(ids)} tokens do not fit max_source_length {max_source_length} and there is no context to "
            "split into windows (the question alone is too long)"
        )
    in_context = [not special[k] and offsets[k][1] > ctx_start and offsets[k][0] < ctx_end for k in range(len(ids))]
    first = in_context.index(True)
    last = len(in_context) - 1 - in_context[::-1].index(True)
    prefix, context, suffix = ids[:first], ids[first : last + 1], ids[last + 1 :]
    room = max_source_length - len(prefix) - len(suffix)
    if room <= stride:
        raise InputError(
            f"{where}: the template and question take {len(prefix) + len(suffix)} of max_source_length "
            f"{max_source_length} tokens, leaving {max(room, 0)} for the context: windows need more than the stride "
            f"({stride}); raise max_source_length or lower tokenize.stride"
        )
    spans = [
        (gold, start, start + len(gold)) for gold in golds for start in _occurrences(text, gold, ctx_start, ctx_end)
    ]
    pieces, visible = [], False
    # Windows advance by room - stride; the last one ends at the context's end (full length, a larger overlap).
    starts = [0]
    while starts[-1] + room < len(context):
        starts.append(min(starts[-1] + room - stride, len(context) - room))
    for a in starts:
        b = min(a + room, len(context))
        lo, hi = offsets[first + a][0], offsets[first + b - 1][1]
        target = next((gold for gold, s, e in spans if lo <= s and e <= hi), None)
        visible = visible or target is not None
        pieces.append([prefix + context[a:b] + suffix, target or unanswerable, False])
    if golds and not visible:
        # The first gold's first occurrence starts in some window: that one learns it (or the first window).
        span_start = spans[0][1] if spans else None
        primary = next(
            (
                w
                for w, a in enumerate(starts)
                if span_start is not None
                and offsets[first + a][0] <= span_start
                and span_start < offsets[first + min(a + room, len(context)) - 1][1]
            ),
            0,
        )
        pieces[primary][1] = golds[0]
    else:
        primary = next((w for w, piece in enumerate(pieces) if piece[1] != unanswerable), 0)
    pieces[primary][2] = True
    return [tuple(piece) for piece in pieces], visible


def train_on_window(question_id: str, window: int, holds_answer: bool, answer_unseen: bool, share: float) -> bool:
    """Whether a window other than the primary one is a training example. Every window holding a gold answer is.
    Of the windows without one, a fixed `share` (chosen by a hash of id and window: the same in every run) learns
    the unanswerable target, so the model learns to say "not here". A question whose answer no window holds
    (abstractive, or split between windows) trains on its primary window only."""
    if holds_answer:
        return True
    if answer_unseen:
        return False
    digest = hashlib.blake2b(f"{question_id}\0{window}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 < share


def _occurrences(text: str, needle: str, lo: int, hi: int) -> list[int]:
    """Start offsets of `needle` wholly inside text[lo:hi]."""
    found, start = [], text.find(needle, lo, hi)
    while start >= 0:
        found.append(start)
        start = text.find(needle, start + 1, hi)
    return found


def answer_past_cut(text, ctx_start, ctx_end, golds, offsets, max_source_length: int) -> bool:
    """True when cutting the input at `max_source_length` tokens leaves no whole occurrence of any gold answer in
    view, though one is in the context (an abstractive answer has nothing to cut off)."""
    if not golds or len(offsets) <= max_source_length:
        return False
    lo, hi = (ctx_start, ctx_end) if ctx_start is not None else (0, len(text))
    visible_chars = offsets[max_source_length - 2][1]  # the last kept token before the end token
    starts = [(s, len(g)) for g in golds for s in _occurrences(text, g, lo, hi)]
    return bool(starts) and all(s + n > visible_chars for s, n in starts)
