"""SentencePiece's encoding of a text into piece ids, in Python, without SentencePiece's load.

Loading `tokenizer.model` with SentencePiece builds a double-array trie over its 250k pieces:
~0.6 s of CPU, the largest single step of a new `qa ask` (the encoder's ONNX session takes
~0.1 s). `QuickPieces` needs no load: the pieces sit sorted in a memory-mapped array beside the
model, and a text's candidate pieces are looked up there with `np.searchsorted`, all positions
at once, a character longer each round, ~0.7 ms of CPU for a question of 70 characters. It
gives SentencePiece's own ids: the same normalisation (the model's precompiled character map,
walked as SentencePiece walks its double array), the same whitespace rules, the same Viterbi
search (float32 scores, the same tie-breaking, a run of unknown characters merged into one
`<unk>`). tests/test_unigram.py compares the two on thousands of texts.

SentencePiece itself is ~20x faster per text, so a process that encodes much (indexing, a long
`--batch`) loads it in the background once Python has spent about its load time, and uses it
when ready: the same ids either way. Options (`return_type="proto"`, ...) are SentencePiece's.

The table is made from the model file once (~1 s: its protobuf read piece by piece) and kept
beside it (`tokenizer.model.quick/`, written aside and renamed, tied to the model file's size
and mtime). `QuickPieces.load` returns None for a model it cannot encode exactly.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import struct
import threading
import time
import uuid
from pathlib import Path

import numpy as np

from qa.npy import load_npy

SPACE = "\u2581"  # SentencePiece's visible space, "▁"
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED = 1, 2, 3, 4, 5
UNIGRAM = 1
FLT_MIN, FLT_MAX = 1.1754943508222875e-38, 3.4028234663852886e38
UNK_PENALTY = 10.0  # `kUnkPenalty` of SentencePiece's unigram model
SUFFIX = ".quick"
# Seconds of encoding in Python after which SentencePiece is loaded (in the background): about
# what loading it costs, so a process never spends much more than twice the better of the two.
SWITCH_AFTER = 0.5
_F32 = struct.Struct("<f")
# Bytes of a UTF-8 character by its first byte's high nibble (`string_util::OneCharLen`).
_CHAR_LEN = (1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4)


def f32(x: float) -> float:
    """`x` rounded to float32, as SentencePiece adds its scores."""
    return _F32.unpack(_F32.pack(x))[0]


class QuickPieces:
    """Encodes like `sentencepiece.SentencePieceProcessor.encode(text)` for a unigram model."""

    def __init__(self, folder: Path, model_file: Path | None = None):
        """`folder`: what `write_table` wrote (arrays memory-mapped, nothing parsed)."""
        flags = json.loads((folder / "flags.json").read_text("utf-8"))
        self._sorted = load_npy(folder / "pieces.npy")
        self._sorted_ids = load_npy(folder / "ids.npy")
        self._scores = load_npy(folder / "scores.npy")
        self._types = load_npy(folder / "types.npy")
        charsmap = load_npy(folder / "charsmap.npy", mmap=False).tobytes()
        self._model_file = model_file
        self._spm = None
        self._spm_lock = threading.Lock()
        self._spent = 0.0
        self._switching = False
        self.unk_id = int(flags["unk_id"])
        self._bos, self._eos = int(flags["bos_id"]), int(flags["eos_id"])
        self.add_dummy_prefix = bool(flags["add_dummy_prefix"])
        self.remove_extra_whitespaces = bool(flags["remove_extra_whitespaces"])
        self.escape_whitespaces = bool(flags["escape_whitespaces"])
        self._max_chars = int(flags["max_chars"])
        self._width = self._sorted.dtype.itemsize
        self._user_bytes = sorted((s.encode("utf-8") for s in flags["user_defined"]), key=len)
        self._min_score, self._max_score = float(flags["min_score"]), float(flags["max_score"])
        self._unk_score = f32(self._min_score - UNK_PENALTY)
        self._trie: list[int] = []
        self._normalized = b""
        if charsmap:
            size = int.from_bytes(charsmap[:4], "little")
            self._trie = np.frombuffer(charsmap[4 : 4 + size], "<u4").tolist()
            self._normalized = charsmap[4 + size :]
        self._replacements: dict[int, bytes] = {}

    # --- loading ---------------------------------------------------------------------------

    @classmethod
    def load(cls, model_file: Path) -> QuickPieces | None:
        """From the table kept beside `model_file` (made from it when missing or stale);
        None when the model is not one this class encodes exactly (SentencePiece then)."""
        folder = model_file.with_name(model_file.name + SUFFIX)
        stat = model_file.stat()
        stamp = [stat.st_size, stat.st_mtime_ns]
        if _stamp(folder) == stamp and (table := _open(folder, model_file)) is not None:
            return table
        tmp = folder.with_name(f".{folder.name}.{uuid.uuid4().hex[:8]}")
        try:
            try:
                if not write_table(model_file, tmp, stamp):
                    return None
            except OSError:  # e.g. a read-only folder: SentencePiece then
                return None
            if _stamp(folder) != stamp or _open(folder, model_file) is None:
                # Stale or damaged, not another process's fresh table: moved aside (one rename)
                # before it is removed, so no reader sees a half-removed folder.
                trash = folder.with_name(f".{folder.name}.old.{uuid.uuid4().hex[:8]}")
                try:
                    os.rename(folder, trash)
                except OSError:  # gone already
                    pass
                shutil.rmtree(trash, ignore_errors=True)
            try:
                os.rename(tmp, folder)
            except OSError:  # another process was quicker: use its table if it is this model's
                pass
            return _open(folder, model_file) if _stamp(folder) == stamp else None
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    # --- the SentencePiece interface the encoder uses ---------------------------------------

    def bos_id(self) -> int:
        return self._bos

    def eos_id(self) -> int:
        return self._eos

    def piece_to_id(self, piece: str) -> int:
        key = piece.encode("utf-8")
        row = int(np.searchsorted(self._sorted, np.array([key], self._sorted.dtype))[0])
        if (
            len(key) <= self._width
            and b"\0" not in key
            and row < len(self._sorted)
            and self._sorted[row] == key
        ):
            return int(self._sorted_ids[row])
        return self.unk_id

    def encode(self, text: str, **options):
        """Piece ids of `text`, as SentencePiece gives them; with any option
        (`return_type="proto"`, ...) SentencePiece itself answers, loaded on first use."""
        if options:
            return self.sentencepiece().encode(text, **options)
        if self._spm is not None:
            return self._spm.encode(text)
        started = time.perf_counter()
        ids = self.ids(self.normalize(text))
        self._spent += time.perf_counter() - started
        if self._spent > SWITCH_AFTER and not self._switching:
            self._switching = True
            thread = threading.Thread(target=self.sentencepiece, name="spm-load", daemon=True)
            thread.start()
            atexit.register(thread.join, 60.0)
        return ids

    def sentencepiece(self):
        """The model loaded by SentencePiece (once, ~0.6 s)."""
        with self._spm_lock:
            if self._spm is None:
                import sentencepiece

                self._spm = sentencepiece.SentencePieceProcessor(model_file=str(self._model_file))
            return self._spm

    # --- normalisation (SentencePiece's `Normalizer::Normalize`) ----------------------------

    def normalize(self, text: str) -> str:
        data = text.encode("utf-8")
        n, i = len(data), 0
        space = SPACE.encode("utf-8") if self.escape_whitespaces else b" "
        if self.remove_extra_whitespaces:
            while i < n:
                piece, consumed = self._prefix(data, i)
                if piece != b" ":
                    break
                i += consumed
        if i == n:
            return ""
        out = [space] if self.add_dummy_prefix else []
        is_prev_space = self.remove_extra_whitespaces
        while i < n:
            piece, consumed = self._prefix(data, i)
            if is_prev_space:
                piece = piece.lstrip(b" ")
            if piece:
                out.append(piece.replace(b" ", space) if self.escape_whitespaces else piece)
                is_prev_space = piece.endswith(b" ")
            i += consumed
            if not self.remove_extra_whitespaces:
                is_prev_space = False
        normalized = b"".join(out)
        if self.remove_extra_whitespaces:
            while normalized.endswith(space):
                normalized = normalized[: -len(space)]
        return normalized.decode("utf-8")

    def _prefix(self, data: bytes, i: int) -> tuple[bytes, int]:
        """The normalised form of the longest rule matching `data` at `i`, and the bytes it
        consumes (`Normalizer::NormalizePrefix`): a user-defined piece as it is, else the
        character map's longest match, else one character unchanged."""
        for symbol in reversed(self._user_bytes):  # longest first
            if data.startswith(symbol, i):
                return symbol, len(symbol)
        trie, longest, value = self._trie, 0, 0
        if trie:
            node = trie[0] >> 10 << ((trie[0] & 0x200) >> 6)
            size = len(trie)
            for j in range(i, len(data)):
                c = data[j]
                node ^= c
                if node >= size:
                    break
                unit = trie[node]
                if unit & 0x800000FF != c:
                    break
                node ^= unit >> 10 << ((unit & 0x200) >> 6)
                if unit & 0x100:
                    longest, value = j + 1 - i, trie[node] & 0x7FFFFFFF
        if longest == 0:
            length = min(_CHAR_LEN[data[i] >> 4], len(data) - i)
            return data[i : i + length], length
        return self._replacement(value), longest

    def _replacement(self, offset: int) -> bytes:
        found = self._replacements.get(offset)
        if found is None:
            found = self._normalized[offset : self._normalized.index(b"\0", offset)]
            self._replacements[offset] = found
        return found

    # --- search (SentencePiece's `unigram::Model::EncodeOptimized`) -------------------------

    def ids(self, normalized: str) -> list[int]:
        """The best segmentation of a normalised text, as piece ids."""
        n = len(normalized)
        if n == 0:
            return []
        data = normalized.encode("utf-8")
        at = [0]  # byte offset of each character
        for ch in normalized:
            at.append(at[-1] + (1 if ch < "\x80" else len(ch.encode("utf-8"))))
        matches = self._matches(normalized, data, at)
        unk = self.unk_id
        best = [0.0] * (n + 1)
        start = [-1] * (n + 1)
        chosen = [-1] * (n + 1)
        k, m = 0, len(matches)
        for i in range(n):
            base = best[i]
            single = False
            while k < m and matches[k][0] == i:  # SentencePiece's order: by start, length
                _, j, piece, kind, score = matches[k]
                k += 1
                if kind == USER_DEFINED:  # a bonus to always be chosen, computed in double
                    exact = (f32((at[j] - at[i]) * self._max_score) - 0.1) + base
                    better = start[j] == -1 or exact > best[j]
                    total = f32(exact)
                else:
                    total = f32(score + base)
                    better = start[j] == -1 or total > best[j]
                if better:
                    best[j], start[j], chosen[j] = total, i, piece
                if j == i + 1:
                    single = True
            if not single:
                total = f32(self._unk_score + base)
                if start[i + 1] == -1 or total > best[i + 1]:
                    best[i + 1], start[i + 1], chosen[i + 1] = total, i, unk
        out: list[int] = []
        end = n
        while end > 0:
            out.append(chosen[end])
            end = start[end]
        out.reverse()
        # A run of unknown characters is one `<unk>` (SentencePiece merges them).
        return [p for k, p in enumerate(out) if not (p == unk and k and out[k - 1] == unk)]

    def _matches(self, normalized: str, data: bytes, at: list[int]) -> list[tuple]:
        """`(start, end, piece, type, score)` of every piece found in the text (character
        positions), by start and then length, as SentencePiece visits them. Candidates grow
        one character at a time, all positions at once, and only from positions whose text so
        far begins some piece (as SentencePiece walks its trie): the first piece at or after
        a candidate in sorted order starts with it exactly when any piece does."""
        table, dtype, last = self._sorted, self._sorted.dtype, len(self._sorted) - 1
        n, offsets = len(normalized), np.asarray(at)
        nuls = np.zeros(n + 1, np.int64)  # NULs before each position: no piece holds one
        if b"\0" in data:
            nuls[1:] = np.cumsum([ch == "\0" for ch in normalized])
        found = []
        active = np.arange(n)
        for length in range(1, self._max_chars + 1):
            active = active[active + length <= n]
            ends = active + length
            # Longer than any piece, or holding a NUL (numpy's bytes drop trailing NULs).
            active = active[
                (offsets[ends] - offsets[active] <= self._width) & (nuls[ends] == nuls[active])
            ]
            if not len(active):
                break
            lo, hi = offsets[active].tolist(), offsets[active + length].tolist()
            keys = np.array([data[a:b] for a, b in zip(lo, hi)], dtype)
            rows = np.minimum(np.searchsorted(table, keys), last)
            near = table[rows]
            hit = np.flatnonzero(near == keys)
            found.append((active[hit], np.full(len(hit), length), rows[hit]))
            active = active[np.char.startswith(near, keys)]
        if not found:
            return []
        starts, lengths, rows = (np.concatenate(c) for c in zip(*found))
        order = np.lexsort((lengths, starts))
        starts, lengths = starts[order], lengths[order]
        pieces = np.asarray(self._sorted_ids[rows[order]])
        types, scores = self._types[pieces].tolist(), self._scores[pieces].tolist()
        return [
            (i, i + length, p, t, score)
            for i, length, p, t, score in zip(
                starts.tolist(), lengths.tolist(), pieces.tolist(), types, scores
            )
            if t in (NORMAL, USER_DEFINED)  # control pieces and <unk> are never matched
        ]


def _stamp(folder: Path) -> list[int] | None:
    """The model file's size and mtime a table was made from; None for no readable table."""
    try:
        return json.loads((folder / "flags.json").read_text("utf-8"))["stamp"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _open(folder: Path, model_file: Path) -> QuickPieces | None:
    """The table in `folder`, or None when a file of it is damaged (a crash while writing it:
    it is made again)."""
    try:
        return QuickPieces(folder, model_file)
    except (OSError, ValueError, KeyError, EOFError):
        return None


def write_table(model_file: Path, folder: Path, stamp: list[int]) -> bool:
    """The arrays `QuickPieces` reads, made from a SentencePiece model file, into `folder`
    (slow: ~1 s of protobuf access, once per model file); False for a model it cannot encode
    exactly."""
    from google.protobuf.message import DecodeError
    from sentencepiece import sentencepiece_model_pb2

    model = sentencepiece_model_pb2.ModelProto()
    try:
        model.ParseFromString(model_file.read_bytes())
    except DecodeError:  # a broken file: SentencePiece then says what is wrong
        return False
    trainer, spec = model.trainer_spec, model.normalizer_spec
    pieces = [p.piece for p in model.pieces]
    types = np.array([p.type for p in model.pieces], np.uint8)
    scores = np.array([p.score for p in model.pieces], np.float32)
    if (
        trainer.model_type != UNIGRAM
        or trainer.byte_fallback
        or trainer.treat_whitespace_as_suffix
        or not set(types.tolist()) <= {NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED}
        or any(not p or "\0" in p for p in pieces)
        or len(set(pieces)) != len(pieces)
    ):
        return False
    encoded = np.array([p.encode("utf-8") for p in pieces])
    order = np.argsort(encoded, kind="stable")
    normal = scores[types == NORMAL]
    flags = {
        "stamp": stamp,
        "unk_id": trainer.unk_id,
        "bos_id": trainer.bos_id,
        "eos_id": trainer.eos_id,
        "add_dummy_prefix": spec.add_dummy_prefix,
        "remove_extra_whitespaces": spec.remove_extra_whitespaces,
        "escape_whitespaces": spec.escape_whitespaces,
        "max_chars": max(len(p) for p in pieces),
        "user_defined": [p for p, t in zip(pieces, types.tolist()) if t == USER_DEFINED],
        # SentencePiece's own bounds: its maximum starts at FLT_MIN, not below.
        "min_score": float(normal.min()) if len(normal) else FLT_MAX,
        "max_score": max(FLT_MIN, float(normal.max())) if len(normal) else FLT_MIN,
    }
    folder.mkdir()
    np.save(folder / "pieces.npy", encoded[order])
    np.save(folder / "ids.npy", order.astype(np.int32))
    np.save(folder / "scores.npy", scores)
    np.save(folder / "types.npy", types)
    np.save(folder / "charsmap.npy", np.frombuffer(spec.precompiled_charsmap, np.uint8))
    (folder / "flags.json").write_text(json.dumps(flags), "utf-8")
    for path in folder.iterdir():  # on disk before the folder is renamed into place
        with path.open("rb") as f:
            os.fsync(f.fileno())
    return True
