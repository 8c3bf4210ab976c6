"""Fit the outlier-channel scales of the int8 query model (`qa/query_scales.json`).

    python -m benchmarks.fit_query_scales [--train ../shared/train] [--channels 4]

The int8 encoder keeps its FFN output projections in fp32 (`qa.onnx_export`): their input,
the GELU output, is long-tailed, and one scale per tensor made int8 there lose too much. The
tail is a handful of channels per layer (one in most layers, 5-70 times the level of the
rest). The query model divides each of those channels by a scale before the int8 product and
multiplies its weight row by the same scale, so one outlier no longer sets the step for all
1,536 channels. This script finds the channels and scales: the largest activation of every
channel over German questions from the training sets (GermanQuAD and GermanDPR train, with the
query prompt), the `channels` largest per layer, each scaled down to the level of the next.
"""

from __future__ import annotations

import argparse
import json
import os
import re
from pathlib import Path

import numpy as np

from benchmarks.machine import REPO
from qa.onnx_export import KEEP_FP32, SCALES_FILE

TRAIN = REPO.parent / "shared" / "train"
SETS = ("GermanQuAD_train_filtered.json", "GermanDPR_train_filtered.json")
QUESTIONS_PER_SET = 200


def questions(train: Path) -> list[str]:
    """The first questions of each training set (the eval sets are never used here)."""
    found = []
    for name in SETS:
        rows = json.loads((train / name).read_text("utf-8"))
        found += [row["question"].strip() for row in rows[:QUESTIONS_PER_SET]]
    return found


def channel_maxima(folder: Path, texts: list[str]) -> np.ndarray:
    """[layers, channels]: the largest |input| of every FFN output projection over `texts`."""
    import onnx
    import onnxruntime as ort

    from qa.onnx_encoder import OnnxEmbedder

    proto = onnx.load(str(folder / "model.onnx"), load_external_data=False)
    nodes = [n for n in proto.graph.node if n.op_type == "MatMul" and KEEP_FP32.search(n.name)]
    nodes.sort(key=lambda n: int(re.search(r"layer\.(\d+)/", n.name).group(1)))
    inputs = [n.input[0] for n in nodes]
    for name in inputs:
        proto.graph.output.append(onnx.helper.make_tensor_value_info(name, 1, None))
    probe = folder / ".probe.onnx"  # beside model.onnx.data, which it points into
    onnx.save(proto, str(probe))
    try:
        options = ort.SessionOptions()
        options.log_severity_level = 3
        session = ort.InferenceSession(str(probe), options, providers=["CPUExecutionProvider"])
    finally:
        os.unlink(probe)
    embedder = OnnxEmbedder(models_dir=folder.parent)
    prefix = embedder.config["prompts"]["query"]
    maxima = np.zeros((len(inputs), embedder_width(session, inputs[0])), np.float32)
    for text in texts:
        ids = embedder._ids(prefix + text)
        feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
        for layer, values in enumerate(session.run(inputs, feeds)):
            np.maximum(maxima[layer], np.abs(values[0]).max(axis=0), out=maxima[layer])
    return maxima


def embedder_width(session, name: str) -> int:
    """The channels of the FFN's inner layer (1,536 for multilingual-e5-small)."""
    for value in session.get_outputs():
        if value.name == name and isinstance(value.shape[-1], int):
            return value.shape[-1]
    return 1536


def scales(maxima: np.ndarray, channels: int) -> list[list[list[float]]]:
    """Per layer, `[channel, scale]` for its `channels` largest channels: each divided down to
    the largest of the channels left (never scaled up)."""
    out = []
    for row in maxima:
        order = np.argsort(-row, kind="stable")
        level = float(row[order[channels]])
        out.append(
            [[int(c), round(max(1.0, float(row[c]) / level), 4)] for c in sorted(order[:channels])]
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fit_query_scales")
    parser.add_argument("--train", type=Path, default=TRAIN, help="folder of the training sets")
    parser.add_argument("--channels", type=int, default=4, help="channels scaled per layer")
    parser.add_argument("--output", type=Path, default=SCALES_FILE)
    args = parser.parse_args(argv)
    from qa.config import Settings
    from qa.onnx_export import int8_folder

    texts = questions(args.train)
    maxima = channel_maxima(int8_folder(Settings().model_dir), texts)
    fitted = {
        "about": "outlier input channels of the FFN output projections and their scales, "
        "per layer (`qa.onnx_export.write_query_model`); made by "
        "`python -m benchmarks.fit_query_scales`",
        "questions": len(texts),
        "channels": args.channels,
        "layers": scales(maxima, args.channels),
    }
    args.output.write_text(json.dumps(fitted, indent=1) + "\n", encoding="utf-8")
    for layer, row in enumerate(fitted["layers"]):
        print(layer, row)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
