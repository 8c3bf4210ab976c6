"""`qa cache prune`: drop the cached vectors that none of the named indexes uses.

One embedding cache (`<cache>/embeddings.sqlite`) serves every index folder on the machine, so
no single index can tell which vectors are garbage. Pruning is therefore explicit, never
automatic: the user names every index to keep (`--keep INDEX...`), and `--dry-run` shows what
would go first. A vector is kept when a kept index holds its sentence under the same model and
encoder (the cache's key, `qa.embedding.cache_name`).
"""

from __future__ import annotations

import argparse
import json
import sqlite3
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from qa.embedding import EmbeddingCache
from qa.errors import IndexUnavailable, InvalidInput

CACHE_FILE = "embeddings.sqlite"


@dataclass(frozen=True)
class PruneReport:
    """What a prune removed (or, with `dry_run`, would remove); the `--json` line."""

    cache: str
    vectors: int  # rows in the cache before
    kept: int
    removed: int
    removed_bytes: int
    dry_run: bool


def kept_keys(index_dir: Path) -> set[tuple[str, str]]:
    """`(cache model name, key)` of every sentence vector the live index in `index_dir` uses."""
    from qa.index import Manifest, live_version

    version = live_version(index_dir)  # raises IndexUnavailable with what to do
    try:
        manifest = Manifest(**json.loads((version / "manifest.json").read_text("utf-8")))
        texts = {}
        with (version / "articles.jsonl").open(encoding="utf-8") as lines:
            for line in lines:
                record = json.loads(line)
                texts[record["doc_id"]] = record["text"]
        sentences = []
        with (version / "sentences.jsonl").open(encoding="utf-8") as lines:
            for line in lines:
                doc_id, start, end = json.loads(line)
                sentences.append(texts[doc_id][start:end])
    except (OSError, ValueError, TypeError, KeyError) as err:
        raise IndexUnavailable(
            f"cannot read the index in {index_dir} ({err}); nothing was pruned"
        ) from err
    name = manifest.model if manifest.encoder == "fp32" else f"{manifest.model}#{manifest.encoder}"
    return {(name, EmbeddingCache.key(name + "\x00" + text)) for text in sentences}


def prune(cache_dir: Path, keep: Sequence[Path], dry_run: bool = False) -> PruneReport:
    """Delete the cache's vectors that no index in `keep` uses (every one must load)."""
    if not keep:
        raise InvalidInput("name at least one index to keep (--keep INDEX ...)")
    wanted: set[tuple[str, str]] = set()
    for index_dir in keep:
        wanted |= kept_keys(index_dir)
    path = cache_dir / CACHE_FILE
    if not path.exists():
        return PruneReport(str(path), 0, 0, 0, 0, dry_run)
    db = sqlite3.connect(str(path), timeout=60)
    try:
        doomed: list[tuple[str, str]] = []
        doomed_bytes = total = 0
        rows = db.execute(
            "SELECT model, key, length(model) + length(key) + length(vector) FROM vectors"
        )
        for model, key, size in rows:
            total += 1
            if (model, key) not in wanted:
                doomed.append((model, key))
                doomed_bytes += size
        if doomed and not dry_run:
            with db:
                db.executemany("DELETE FROM vectors WHERE model = ? AND key = ?", doomed)
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            db.execute("VACUUM")  # give the space back to the disk
    except sqlite3.Error as err:
        raise IndexUnavailable(f"cannot prune the embedding cache {path}: {err}") from err
    finally:
        db.close()
    return PruneReport(str(path), total, total - len(doomed), len(doomed), doomed_bytes, dry_run)


def add_parser(sub) -> None:
    """`qa cache prune --keep INDEX... [--dry-run] [--json]`."""
    cache = sub.add_parser("cache", help="manage the shared embedding cache")
    actions = cache.add_subparsers(dest="cache_command", required=True)
    p = actions.add_parser(
        "prune", help="delete cached vectors that none of the named indexes uses"
    )
    p.add_argument(
        "--keep",
        type=Path,
        nargs="+",
        required=True,
        metavar="INDEX",
        help="every index folder whose vectors must stay (all others' go)",
    )
    p.add_argument("--dry-run", action="store_true", help="only count what would be deleted")
    p.add_argument("--json", action="store_true", help="print the result as one JSON line")
    p.set_defaults(func=cmd_prune)


def cmd_prune(args: argparse.Namespace) -> int:
    from qa.config import Settings

    report = prune(Settings().cache_dir, args.keep, args.dry_run)
    if args.json:
        print(json.dumps(asdict(report)), flush=True)
        return 0
    mb = report.removed_bytes / 2**20
    verb = "would delete" if report.dry_run else "deleted"
    print(
        f"{report.cache}: {verb} {report.removed} of {report.vectors} cached vectors "
        f"({mb:.1f} MiB); {report.kept} kept for {len(args.keep)} index(es)."
    )
    return 0
