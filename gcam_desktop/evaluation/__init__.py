"""Explanation quality, Qt-free: inputs (models, images, masks), scoring, statistics, report, plots."""

from gcam_desktop.evaluation.baseline_tests import BEAT_METRICS, compare_baselines, edge_statements
from gcam_desktop.evaluation.attention_switch import SWITCH_METRICS, compare_switch, switch_answer
from gcam_desktop.evaluation.inputs import (ModelEntry, attention_variants, load_entries, mask_path_for,
                                            name_entries, select_images, split_dataset_root)
from gcam_desktop.evaluation.masks import MAX_MASK_SIDE, MaskError, load_mask, read_mask
from gcam_desktop.evaluation.plots import Panel, line_plot, palette
from gcam_desktop.evaluation.report import FORMAT, METRIC_LABELS, VERSION, build_report, markdown, write_report
from gcam_desktop.evaluation.scoring import (METRIC_KEYS, TOP_FRACTION, ImageScore, MethodScore, ModelScore,
                                             SkippedImage, BASELINE_PREFIX, baseline_key, model_pairs, score_images)
from gcam_desktop.evaluation.formatting import format_interval
from gcam_desktop.evaluation.paired import (bootstrap_ci, fewest_decisive, holm, newcombe_paired, paired_metric,
                                            proportion_ci, verdict)
from gcam_desktop.evaluation.statistics import (ATTENTION_ARCHS, BASELINE_ARCH, answer_text, compare_attention,
                                                summarize)

__all__ = ["SWITCH_METRICS", "compare_switch", "switch_answer", "attention_variants", "MaskError", "read_mask",
           "MAX_MASK_SIDE", "ModelEntry", "load_entries", "load_mask", "mask_path_for", "name_entries",
           "select_images", "split_dataset_root", "Panel", "line_plot", "palette", "FORMAT", "METRIC_LABELS",
           "VERSION", "build_report", "markdown", "write_report", "METRIC_KEYS", "TOP_FRACTION", "ImageScore",
           "MethodScore", "ModelScore", "SkippedImage", "model_pairs", "score_images", "ATTENTION_ARCHS",
           "BASELINE_ARCH", "answer_text", "bootstrap_ci", "compare_attention", "format_interval", "paired_metric",
           "summarize", "fewest_decisive", "holm", "newcombe_paired", "proportion_ci", "verdict",
           "BEAT_METRICS", "compare_baselines", "edge_statements", "BASELINE_PREFIX", "baseline_key"]
