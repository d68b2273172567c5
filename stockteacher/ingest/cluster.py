"""Story clustering: near-duplicate articles from different outlets join one story.

Each article gets a MinHash signature (datasketch, 64 permutations) of the character 4-gram
shingles of its normalised title + description (2-grams for Korean text); character shingles
need no word segmentation, which Korean would otherwise require. Two articles whose estimated
Jaccard similarity reaches the threshold (`STORY_SIMILARITY_THRESHOLD`, default 0.5) are the
same story. A new article joins the story
of its most similar article among the ticker's articles of the last `STORY_WINDOW_HOURS`
(and the other new articles of the batch), or starts a new story.

The threshold 0.5 was chosen on the bundled sample set: syndicated copies of one story (same
or nearly the same title, a few words changed in the description) score at least 0.56 in
English and Korean, while distinct stories about the same company stay below 0.25.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Sequence
from functools import cache

import numpy as np
import pyarrow as pa

__all__ = ["NUM_PERM", "assign_clusters", "minhash_signature", "minhash_signatures", "shingles", "similarity"]

NUM_PERM = 64
SHINGLE = 4
HANGUL_SHINGLE = 2
_HANGUL = re.compile(r"[가-힣]")
_SEED = 1
_NON_WORD = re.compile(r"[^\w]+", re.UNICODE)


def _normalised(text: str) -> str:
    return _NON_WORD.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def _size(norm: str) -> int:
    return HANGUL_SHINGLE if _HANGUL.search(norm) else SHINGLE


def shingles(text: str) -> set[bytes]:
    """Character n-grams: 4-grams, or 2-grams for Korean text, whose syllables each carry as
    much as a short English word (4-grams of Hangul scored same-story copies below 0.5)."""
    norm = _normalised(text)
    return _grams(norm, _size(norm))


def _grams(norm: str, size: int) -> set[bytes]:
    if len(norm) <= size:
        return {norm.encode()} if norm else set()
    return {norm[i : i + size].encode() for i in range(len(norm) - size + 1)}


def minhash_signature(text: str) -> np.ndarray:
    """The MinHash hash values of `text` (uint64, length `NUM_PERM`)."""
    from datasketch import MinHash  # the reference; imports scipy (~1 s), so only where it is used

    m = MinHash(num_perm=NUM_PERM, seed=_SEED)
    grams = shingles(text)
    if grams:
        m.update_batch(list(grams))
    return np.asarray(m.hashvalues, dtype=np.uint64)


_HASH_CACHE_LIMIT = 500_000
_SLICE = 32  # texts per vectorised minimum: ~5,000 shingles × NUM_PERM stay in the CPU's cache
_shingle_hashes: dict[bytes, int] = {}
# A shingle of `size` code points packed into one integer, `_BITS[size]` bits per code point:
# 4 × 16 bits for 4-grams of the Basic Multilingual Plane, 2 × 21 bits for any 2-gram.
_BITS = {SHINGLE: 16, HANGUL_SHINGLE: 21}
_key_hashes: dict[int, dict[int, int]] = {SHINGLE: {}, HANGUL_SHINGLE: {}}


@cache
def _permutations() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """datasketch's permutation parameters (a, b) for our seed, and its empty signature, drawn
    as datasketch's default (affine32) scheme draws them: odd 32-bit multipliers and 32-bit
    offsets from `RandomState(seed)`. Made here rather than by a `MinHash`, because importing
    datasketch imports scipy, a second of every collector process's start (issue #13);
    `tests/ingest/test_cluster.py` holds them equal to datasketch's own."""
    gen = np.random.RandomState(_SEED)
    a = gen.randint(0, 1 << 31, NUM_PERM, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, NUM_PERM, dtype=np.uint32)
    return a, b, np.full(NUM_PERM, np.uint32((1 << 32) - 1), dtype=np.uint32)


def _fmix32(hv: np.ndarray) -> np.ndarray:
    # datasketch's pre-mix for its default (affine32) scheme: the MurmurHash3 finaliser.
    hv = hv ^ (hv >> np.uint32(16))
    hv = hv * np.uint32(0x85EBCA6B)
    hv = hv ^ (hv >> np.uint32(13))
    hv = hv * np.uint32(0xC2B2AE35)
    return hv ^ (hv >> np.uint32(16))


def _permuted(hashes: np.ndarray) -> np.ndarray:
    """Each shingle hash under every permutation: (len(hashes), NUM_PERM) uint32."""
    a, b, _ = _permutations()
    with np.errstate(over="ignore"):  # uint32 arithmetic wraps, as datasketch's does
        return _fmix32(hashes.astype(np.uint32))[:, None] * a + b


def _sha1_32(gram: bytes) -> int:
    return int.from_bytes(hashlib.sha1(gram).digest()[:4], "little")  # datasketch's sha1_hash32


def _cached_sha1_32(gram: bytes) -> int:
    value = _shingle_hashes.get(gram)
    if value is None:
        if len(_shingle_hashes) >= _HASH_CACHE_LIMIT:
            _shingle_hashes.clear()
        value = _shingle_hashes[gram] = _sha1_32(gram)
    return value


def _window_keys(norms: Sequence[str], size: int) -> tuple[np.ndarray, np.ndarray]:
    """Every shingle (window of `size` code points) of every text, packed into one uint64
    each and in order, and how many each text has. Each text is longer than `size`."""
    lengths = np.fromiter(map(len, norms), dtype=np.int64, count=len(norms))
    points = np.frombuffer("".join(norms).encode("utf-32-le"), dtype="<u4").astype(np.uint64)
    counts = lengths - size + 1
    text_starts = np.cumsum(lengths) - lengths
    window_starts = np.cumsum(counts) - counts
    at = np.repeat(text_starts - window_starts, counts) + np.arange(int(counts.sum()))
    keys = points[at]
    for j in range(1, size):
        keys = (keys << np.uint64(_BITS[size])) | points[at + j]
    return keys, counts


def _key_sha1s(keys: np.ndarray, size: int) -> np.ndarray:
    """datasketch's SHA-1 hash of each packed shingle (its UTF-8 bytes), cached per shingle."""
    known = _key_hashes[size]
    if len(known) >= _HASH_CACHE_LIMIT:
        known.clear()
    values = list(map(known.get, keys.tolist()))
    missing = [i for i, v in enumerate(values) if v is None]
    if missing:
        bits, mask = np.uint64(_BITS[size]), np.uint64((1 << _BITS[size]) - 1)
        packed = keys[missing]
        points = np.stack([(packed >> (bits * np.uint64(size - 1 - j))) & mask for j in range(size)], axis=1)
        text = points.astype("<u4").tobytes().decode("utf-32-le")
        for i, at in zip(missing, range(0, len(text), size), strict=True):
            values[i] = known[int(keys[i])] = _sha1_32(text[at : at + size].encode())
    return np.asarray(values, dtype=np.uint32)


def _fill_windowed(out: np.ndarray, rows: Sequence[int], norms: Sequence[str], size: int) -> None:
    """The signatures of texts longer than `size` (for 4-grams: of the Basic Multilingual
    Plane only) into `out[rows]`: each distinct shingle of the batch hashed and permuted once
    (arrow's hash-based dictionary encoding finds them, several times faster than sorting),
    then a minimum per text over its shingles' rows, a few texts at a time."""
    keys, counts = _window_keys(norms, size)
    encoded = pa.array(keys).dictionary_encode()
    inverse = encoded.indices.to_numpy()
    permuted = _permuted(_key_sha1s(encoded.dictionary.to_numpy(), size))
    ends = np.cumsum(counts)
    starts = ends - counts
    for first in range(0, len(rows), _SLICE):
        last = min(first + _SLICE, len(rows))
        lo, hi = int(starts[first]), int(ends[last - 1])
        gathered = np.take(permuted, inverse[lo:hi], axis=0)
        out[list(rows[first:last])] = np.minimum.reduceat(gathered, starts[first:last] - lo, axis=0)


def minhash_signatures(texts: Sequence[str]) -> np.ndarray:
    """`minhash_signature` of each text, as rows of one (len(texts), NUM_PERM) uint64 array:
    the same values, computed for a batch at once, many times faster per text. Texts are
    grouped by shingle size; the shingles of a group are cut, de-duplicated and permuted with
    numpy, and only a shingle not seen before is hashed in Python. The few texts that do not
    fit that form (no longer than one shingle, or 4-grams beyond the BMP) go one by one."""
    _, _, empty = _permutations()
    out = np.tile(empty, (len(texts), 1))
    grouped: dict[int, tuple[list[int], list[str]]] = {SHINGLE: ([], []), HANGUL_SHINGLE: ([], [])}
    singles: list[int] = []
    norms = [_normalised(text) for text in texts]
    for row, norm in enumerate(norms):
        size = _size(norm)
        if len(norm) <= size or (size == SHINGLE and not norm.isascii() and max(norm) > "\uffff"):
            singles.append(row)
        else:
            grouped[size][0].append(row)
            grouped[size][1].append(norm)
    for size, (rows, group) in grouped.items():
        if rows:
            _fill_windowed(out, rows, group, size)
    for row in singles:
        grams = _grams(norms[row], _size(norms[row]))
        if grams:
            hashes = np.fromiter(map(_cached_sha1_32, grams), dtype=np.uint32, count=len(grams))
            out[row] = np.minimum(out[row], _permuted(hashes).min(axis=0))
    return out.astype(np.uint64)


def to_bytes(signature: np.ndarray) -> bytes:
    return signature.astype("<u8").tobytes()


def from_bytes(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype="<u8").astype(np.uint64)


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Estimated Jaccard similarity of two signatures (as `MinHash.jaccard`)."""
    return float(np.count_nonzero(a == b)) / len(a)


def assign_clusters(
    new: Sequence[np.ndarray],
    existing: Sequence[tuple[np.ndarray, int]],
    *,
    threshold: float,
    new_times: Sequence[float] | None = None,
    existing_times: Sequence[float] | None = None,
    window_seconds: float | None = None,
) -> list[int]:
    """For each new signature, the story it joins: an existing story id, or a negative
    placeholder (-1, -2, ...) for a new story, shared by the new articles that belong to it.

    `existing` pairs a recent article's signature with its story id. With `window_seconds`
    (backfills, whose articles span years), an article is compared only with those published
    within that time of its own: `new_times` and `existing_times` (epoch seconds) must then be
    given and sorted, `new` and `existing` in their order.
    """
    known = np.stack([sig for sig, _ in existing]) if existing else np.empty((0, NUM_PERM), np.uint64)
    known_ids = [story for _, story in existing]
    windowed = window_seconds is not None
    if windowed and (new_times is None or existing_times is None):
        raise ValueError("a window needs the times of the new and the existing articles")
    new_t = np.asarray(new_times if windowed else [], dtype=float)
    known_t = np.asarray(existing_times if windowed else [], dtype=float)
    result: list[int] = []
    batch = np.empty((len(new), NUM_PERM), np.uint64)  # the new signatures seen so far, in order
    batch_ids: list[int] = []
    next_placeholder = -1
    for n, sig in enumerate(new):
        best_id: int | None = None
        best = threshold
        lo, hi, first = 0, len(known), 0
        if windowed:
            t, w = new_t[n], float(window_seconds or 0)
            lo, hi = int(np.searchsorted(known_t, t - w, "left")), int(np.searchsorted(known_t, t + w, "right"))
            first = int(np.searchsorted(new_t[:n], t - w, "left"))
        if hi > lo:
            scores = (known[lo:hi] == sig).mean(axis=1)
            i = int(scores.argmax())
            if scores[i] >= best:
                best_id, best = known_ids[lo + i], float(scores[i])
        if n > first:
            scores = (batch[first:n] == sig).mean(axis=1)
            i = int(scores.argmax())
            if scores[i] >= best and (best_id is None or scores[i] > best):
                best_id, best = batch_ids[first + i], float(scores[i])
        if best_id is None:
            best_id = next_placeholder
            next_placeholder -= 1
        result.append(best_id)
        batch[n] = sig
        batch_ids.append(best_id)
    return result
