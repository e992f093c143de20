"""The FG-BMK task names, each written once: the task registry, question generation, the
gate and the reports refer to these constants (a leaf module: it imports nothing)."""

ATTRIBUTE = "attribute"
KNOWLEDGE_BIAS = "knowledge_bias"
GRANULARITY = "granularity"
RETRIEVAL = "retrieval"
LINEAR_PROBE = "linear_probe"
ALIGNMENT_EFFECT = "alignment_effect"
META_CATEGORIES = "meta_categories"
FEATURE_ROBUSTNESS = "feature_robustness"

#: Human-oriented tasks (answered in text), in the paper's order.
HUMAN_TASKS = (ATTRIBUTE, KNOWLEDGE_BIAS, GRANULARITY)
