"""`qa eval`: measured quality and speed on SQuAD-format QA sets, in three steps.

- `metrics`: pure functions from answers and rankings to numbers (no model, no files);
- `datasets`: SQuAD files -> articles and questions, splits, distractors;
- `run`: the cached evaluation index, the runner over `QAService`, the tables and the subcommand.

Each metric is traceable to one step of the question path: see `metrics.METRIC_SOURCES`.
"""
