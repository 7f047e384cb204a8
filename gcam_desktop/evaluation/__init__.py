"""Explanation quality, Qt-free: inputs (models, images, masks), scoring, statistics, report, plots."""

from gcam_desktop.evaluation.inputs import (MAX_MASK_SIDE, MaskError, ModelEntry, load_entries, load_mask, mask_path_for, read_mask,
                                            name_entries, select_images, split_dataset_root)
from gcam_desktop.evaluation.plots import Panel, line_plot, palette
from gcam_desktop.evaluation.report import FORMAT, METRIC_LABELS, VERSION, build_report, markdown, write_report
from gcam_desktop.evaluation.scoring import (METRIC_KEYS, TOP_FRACTION, ImageScore, MethodScore, ModelScore,
                                             SkippedImage, model_pairs, score_images)
from gcam_desktop.evaluation.statistics import (ATTENTION_ARCHS, BASELINE_ARCH, answer_text, bootstrap_ci,
                                                compare_attention, format_interval, summarize)

__all__ = ["MAX_MASK_SIDE", "MaskError", "ModelEntry", "read_mask", "load_entries", "load_mask", "mask_path_for", "name_entries",
           "select_images", "split_dataset_root", "Panel", "line_plot", "palette", "FORMAT", "METRIC_LABELS",
           "VERSION", "build_report", "markdown", "write_report", "METRIC_KEYS", "TOP_FRACTION", "ImageScore",
           "MethodScore", "ModelScore", "SkippedImage", "model_pairs", "score_images", "ATTENTION_ARCHS",
           "BASELINE_ARCH", "answer_text", "bootstrap_ci", "compare_attention", "format_interval", "summarize"]
