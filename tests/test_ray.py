"""`qa index --ray`: a build through a local Ray runtime equals the single-process build."""

from __future__ import annotations

import json

import numpy as np
import pytest

ray = pytest.importorskip("ray")

QUESTIONS = (
    "Wie viele Nachrichten werden pro Tag über WhatsApp verschickt?",
    "Wer hat WhatsApp gegründet?",
)


@pytest.fixture(scope="module")
def ray_index(tmp_path_factory, seed_corpus, settings):
    """The seed corpus indexed through Ray (2 local workers) with an empty embedding cache."""
    from dataclasses import replace

    from qa.cli import run_index

    cache = tmp_path_factory.mktemp("ray-cache")
    (cache / "models").symlink_to(settings.model_dir)  # the provisioned model, not the vectors
    index_dir = tmp_path_factory.mktemp("ray-index")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    try:
        report, _ = run_index(
            seed_corpus,
            index_dir,
            replace(settings, cache_dir=cache),
            show_progress=False,
            ray="local",
            workers=2,
        )
    finally:
        ray.shutdown()
    return index_dir, report


def test_ray_build_matches_the_single_process_build(ray_index, seed_index, settings):
    from qa.index import SearchIndex
    from qa.service import QAService

    ray_dir, report = ray_index
    assert report.embedded == report.sentences > 0  # the workers encoded every sentence
    one, other = SearchIndex.load(seed_index), SearchIndex.load(ray_dir)
    assert [(c.doc_id, c.start, c.end) for c in one.chunks] == [
        (c.doc_id, c.start, c.end) for c in other.chunks
    ]
    cosine = np.sum(one.sentence_matrix * other.sentence_matrix, axis=1)
    assert cosine.min() >= 0.999
    manifest = json.loads(
        (ray_dir / (ray_dir / "CURRENT").read_text().strip() / "manifest.json").read_text()
    )
    assert manifest["index_type"] == "exact"
    answers = [QAService(d, settings).ask_batch(list(QUESTIONS)) for d in (seed_index, ray_dir)]
    assert [a.to_dict() for a in answers[0]] == [a.to_dict() for a in answers[1]]
