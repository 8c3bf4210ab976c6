"""Benchmarks and the evaluation report of Nachrichten-QA.

    python -m benchmarks            speed: indexing, query latency, FAISS, cold start, memory
    python -m benchmarks.results    quality: `qa eval` on XQuAD-de and MLQA-de -> docs/results.md

Figures are printed and written to docs/, never asserted in tests (the machine is noisy).
"""
