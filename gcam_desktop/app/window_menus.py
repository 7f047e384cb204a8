"""The window's File and View menus and its toolbar: the actions, their shortcuts and icons.
What they do is the window's (its methods are passed in `win`)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QLabel, QMainWindow, QMenu, QSizePolicy, QToolBar, QWidget

from gcam_desktop.app.common.style import icon


def _action(win: QMainWindow, icon_name: str, text: str, slot, shortcut=None, tip: str = "") -> QAction:
    act = QAction(icon(icon_name), text, win)
    if shortcut is not None:
        act.setShortcut(shortcut if isinstance(shortcut, QKeySequence.StandardKey) else QKeySequence(shortcut))
    if tip:
        act.setToolTip(tip)
    act.triggered.connect(slot)
    return act


class WindowMenus:
    """Builds the menus and the toolbar of `win` (a MainWindow); keeps the actions."""

    def __init__(self, win) -> None:
        self.win = win
        self.open_files = _action(win, "open-file", "Open files\u2026", win.open_files, QKeySequence.StandardKey.Open)
        self.open_folder = _action(win, "open-folder", "Open folder\u2026", win.open_folder, "Ctrl+Shift+O")
        self.export = _action(win, "export", "Export PNG\u2026", win.export_png, "Ctrl+E",
                              "Save the current comparison as one PNG")
        self.export_maps = _action(win, "maps", "Export maps\u2026", win.export_maps,
                                   tip="Save every panel's raw map (.npz) and its metadata (.json)")
        self.batch = _action(win, "batch", "Batch export\u2026", win.batch_export,
                             tip="Explain a whole folder with the loaded models (gcam-explain's code)")
        self.reset = _action(win, "zoom-fit", "Fit", win.view.reset_zoom, "Ctrl+0",
                             "Reset zoom and pan (shared by all panels)")
        self._file_menu()
        self._view_menu()
        self._toolbar()

    def _file_menu(self) -> None:
        menu = self.win.menuBar().addMenu("&File")
        menu.addAction(self.open_files)
        menu.addAction(self.open_folder)
        self.recent = menu.addMenu("Open recent")
        self.recent.aboutToShow.connect(self.fill_recent)
        menu.addSeparator()
        for act in (self.export, self.export_maps, self.batch):
            menu.addAction(act)
        menu.addSeparator()
        quit_act = menu.addAction("Quit")
        quit_act.setShortcut(QKeySequence.StandardKey.Quit)
        quit_act.triggered.connect(self.win.close)

    def _view_menu(self) -> None:
        menu = self.win.menuBar().addMenu("&View")
        menu.addAction(self.reset)
        for text, keys, step in (("Next image", "Ctrl+Right", 1), ("Previous image", "Ctrl+Left", -1)):
            act = menu.addAction(text)
            act.setShortcuts([QKeySequence(keys)])
            act.triggered.connect(lambda _=False, step=step: self.win.image_list.step(step))

    def _toolbar(self) -> None:
        tb = QToolBar("Main")
        tb.setObjectName("mainToolbar")
        tb.setMovable(False)
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.win.addToolBar(tb)
        for group in ((self.open_files, self.open_folder), (self.export, self.export_maps, self.batch), (self.reset,)):
            if tb.actions():
                tb.addSeparator()
            for act in group:
                tb.addAction(act)
        spacer = QWidget()
        spacer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        tb.addWidget(spacer)
        tb.addWidget(QLabel("Device "))
        tb.addWidget(self.win.status.device_combo)

    def fill_recent(self) -> None:
        recent: QMenu = self.recent
        recent.clear()
        settings = self.win.settings
        for key, label in (("recent_folders", "Folders"), ("recent_files", "Files")):
            if settings[key]:
                recent.addSection(label)
                for p in settings[key]:
                    recent.addAction(p, lambda p=p: self.win.add_paths([p]))
        if recent.isEmpty():
            recent.addAction("(nothing yet)").setEnabled(False)
