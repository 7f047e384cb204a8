"""The features that join the window, each handed only what it needs (never the window): the
Training, Quality, Attention, Families and Strategies tabs, the Similar strip, and the exports.
Everything a feature hears of (image changed, results in, closing) is connected here;
docs/adr/0023. The Quality tab's sanity verdicts reach the Compare tab's method list here too."""

from __future__ import annotations

import os
from pathlib import Path

from gcam_desktop.app.attention.view import AttentionTab, attention_models
from gcam_desktop.app.common.sanity_verdicts import VerdictBook
from gcam_desktop.app.export.source import ExportSource


def attention_source(win):
    """The Attention tab's (and its export's) view of the Compare tab: image and attention models."""
    ex, slots = win.explanations, win.slots
    return lambda: (ex.path, attention_models(ex.path, ex.results, slots.active_panels()))


def export_source(win) -> ExportSource:
    return ExportSource(win.explanations, win.controls, win.view, win.service.models,
                        attention_source(win), lambda: win.settings["last_folder"] or "")


def install_training_tab(win):
    from gcam_desktop.app.training.tab import TrainingTab

    tab = TrainingTab(win.settings, win)
    tab.load_checkpoint.connect(win.load_checkpoint_for_arch)
    tab.message.connect(win.show_status)
    tab.open_images.connect(win.open_pair)

    def open_probe(arch: str, checkpoint: str, image: str) -> None:
        """A probe image on the Compare tab with the weights of the epoch the strip shows."""
        win.load_checkpoint_for_arch(arch, checkpoint)
        win.show_image(image)

    tab.open_probe.connect(open_probe)
    win.service.worker.engine_ready.connect(
        lambda info: tab.set_gpu_count(sum(1 for d in info.devices if d.startswith("cuda:"))))
    win.add_tab(tab, "Training")
    return tab


def install_quality_tab(win):
    """The Quality tab (app/quality/tab.py): scores explanations on its own thread, started
    only when the tab is shown. The folder scanned last is its folder."""
    from gcam_desktop.app.quality.tab import QualityTab

    tab = QualityTab(quality_models(win), device=win.settings["device"])
    tab.imageActivated.connect(win.show_image)
    win.image_list.current_changed.connect(tab.set_image)
    win.slots.changed.connect(tab.refresh)

    def folder_scanned(root: str, _count: int) -> None:
        if Path(root).is_dir():
            tab.set_folder(folder_of(win.list_model.paths, root), root)

    win.scanner.finished.connect(folder_scanned)
    if win.explanations.path:
        tab.set_image(win.explanations.path)
    win.add_tab(tab, "Quality")
    install_method_badges(win, tab)
    return tab


def slot_models(win) -> list[tuple[str, dict, str | None, str]]:
    """(name, metadata, checkpoint path, token) of the active slots: the token is the loaded
    model's identity, which its sanity verdicts are kept under."""
    return [(*m, st.info.token) for m, st in zip(win.loaded_models(), win.slots.active(), strict=True)]


def quality_models(win):
    """The Quality tab's models, each with its token."""
    from gcam_desktop.app.quality.sources import QualityModel

    return lambda: [QualityModel(name, meta, path, token=token) for name, meta, path, token in slot_models(win)]


def install_method_badges(win, quality_tab) -> VerdictBook:
    """The Compare tab's method list shows the sanity verdicts of the models it shows: a new
    check's results as they come, and on every slot change (another model: not checked)."""
    from gcam_desktop.explain.names import METHODS

    book = VerdictBook()

    def show() -> None:
        models = [(name, token) for name, _meta, _path, token in slot_models(win)]
        win.controls.set_method_badges(book.badges(models, METHODS))

    quality_tab.sanityVerdicts.connect(lambda records: (book.add(records), show()))
    win.slots.changed.connect(show)
    show()
    return book


def install_attention_tab(win) -> AttentionTab:
    """The Attention tab (app/attention/view.py): the SE / s_se gates of the current image,
    from the Compare tab's results; its plots are drawn when the tab is shown."""
    tab = AttentionTab(attention_source(win))
    win.explanations.results_changed.connect(tab.refresh)
    win.slots.changed.connect(tab.refresh)
    win.image_list.current_changed.connect(tab.refresh)
    win.add_tab(tab, "Attention")
    return tab


def install_families_tab(win):
    """The Families tab (app/families/view.py): one model's maps by two methods side by side with
    their agreement, for the Compare tab's image, class, layer, colours and options."""
    from gcam_desktop.app.families.view import FamiliesTab

    tab = FamiliesTab(win.service, win.explanations, win.controls, win.slots.active_panels,
                      remembered=win.settings["families"])
    tab.choices_changed.connect(win.settings.save)
    tab.attach_canvases()
    win.image_list.current_changed.connect(tab.refresh)
    win.slots.changed.connect(tab.refresh)
    win.controls.changed.connect(tab.refresh)
    win.explanations.results_changed.connect(tab.refresh)   # the picture at screen size arrives with them
    win.service.worker.engine_ready.connect(tab.refresh)
    win.add_tab(tab, "Families")
    return tab


def folder_of(paths, root: str) -> list[str]:
    """The list's images under the folder `root` (a scan's root, or the current image's folder)."""
    prefix = os.path.join(str(Path(root)), "")
    return [p for p in paths if p.startswith(prefix)]


def strategy_models(win):
    """The Strategies tab's models: the active slots as StrategyModel (plain data, read per call)."""
    from gcam_desktop.app.strategies.sources import StrategyModel

    return lambda: [StrategyModel(st.name, st.info.arch, st.info.path, st.info.token, dict(st.info.meta),
                                  tuple(st.info.layers), st.info.default_layer) for st in win.slots.active()]


def install_strategies_tab(win):
    """The Strategies tab (app/strategies/tab.py): the image list's folder clustered into the
    model's strategies on its own thread; its thumbnails come from the list's loader, and a
    clicked image opens on the Compare tab."""
    from gcam_desktop.app.strategies.tab import StrategiesTab

    tab = StrategiesTab(strategy_models(win), win.thumbnails.get, device=win.settings["device"])
    tab.imageActivated.connect(win.show_image)
    win.thumbnails.ready.connect(tab.thumbnail_ready)
    win.slots.changed.connect(tab.refresh_models)
    win.closing.connect(tab.shutdown)

    def folder_scanned(root: str, _count: int) -> None:
        if Path(root).is_dir():
            tab.set_folder(folder_of(win.list_model.paths, root), root)

    win.scanner.finished.connect(folder_scanned)
    current = win.image_list.current_path()
    if current:  # a folder listed before the tab was made: the current image's
        folder_scanned(str(Path(current).parent), 0)
    win.add_tab(tab, "Strategies")
    return tab


def install_similar_strip(win, column):
    """The Similar strip under the comparison (app/images/similar.py): the open folders are
    fingerprinted on its own thread once the models' worker is idle; clicking a picture shows
    its comparison."""
    from gcam_desktop.app.images.similar import SimilarPictures

    service, slots = win.service, win.slots
    similar = SimilarPictures(win.list_model, win.thumbnails, lambda: service.idle() and not slots.loading(),
                              win.settings["device"], parent=win)
    similar.chosen.connect(win.show_image)
    win.image_list.current_changed.connect(similar.set_current)
    service.result_ready.connect(similar.maybe_start)
    win.closing.connect(similar.close)
    if win.image_list.current_path():
        similar.set_current(win.image_list.current_path())
    column.addWidget(similar.strip)
    return similar


# -- the exports (File menu) ----------------------------------------------------------------
def export_png(win) -> None:
    from gcam_desktop.app.export.comparison import export_comparison_dialog

    export_comparison_dialog(win.export_source, win, win.show_status)


def export_maps(win) -> None:
    from gcam_desktop.app.export.comparison import export_maps_dialog

    export_maps_dialog(win.export_source, win, win.show_status)


def batch_export_dialog(win):
    from gcam_desktop.app.export.batch import BatchExportDialog

    current = win.explanations.path
    start = str(Path(current).parent) if current else (win.settings["last_folder"] or "")
    models = [(st.name, st.info.arch) for st in win.slots.active()]
    return BatchExportDialog(win.service, models, win.controls.values(), start, win.show_status, win)
