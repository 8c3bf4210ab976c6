# Evaluation and benchmarks. Models, embeddings and eval indexes live in $QA_CACHE_DIR
# (default ~/.cache/nachrichten-qa); reruns reuse them.
PY ?= .venv/bin/python
QA ?= .venv/bin/qa
EVAL_DATA ?= ../shared/eval
EVAL_ARGS ?=
BENCH_ARGS ?=
CLAIMS_ARGS ?=

.PHONY: test lint eval eval-claims eval-tune bench bench-quick

test:
	$(PY) -m pytest -q

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check .

# XQuAD-de and MLQA-de, each with and without the news distractors, each also asked the other
# set's (unanswerable) questions -> docs/results.md
eval:
	$(PY) -m benchmarks.results --data $(EVAL_DATA) --output docs/results.md $(EVAL_ARGS)

# Claim checking: verdict accuracy and latency per claim on claims made from XQuAD-de and
# held-out news -> the "Claim checking" section of docs/results.md (kept by `make eval`)
eval-claims:
	$(PY) -m benchmarks.claims --data $(EVAL_DATA) --output docs/results.md $(CLAIMS_ARGS)

# The tuning loop: XQuAD-de tune half among the news, MLQA questions as unanswerables, no timing.
eval-tune:
	$(QA) eval $(EVAL_DATA)/xquad.de.json --split tune --distractors $(EVAL_DATA)/news \
		--unanswerable $(EVAL_DATA)/mlqa.dev.de.json --latency-sample 0 $(EVAL_ARGS)

# Indexing efficiency, query latency, FAISS, cold start, memory -> docs/benchmarks.md
bench:
	$(PY) -m benchmarks --data $(EVAL_DATA) --output docs/benchmarks.md $(BENCH_ARGS)

bench-quick:
	$(PY) -m benchmarks --data $(EVAL_DATA) --quick $(BENCH_ARGS)
