"""Look: Fusion with a light palette and the app's style sheet; icons from resources/icons."""

from __future__ import annotations

from functools import lru_cache

from PySide6.QtGui import QColor, QIcon, QPalette
from PySide6.QtWidgets import QApplication

from gcam_desktop.paths import icons_dir, resources_dir


def style_path():
    return resources_dir() / "style" / "app.qss"


@lru_cache(maxsize=None)
def icon(name: str) -> QIcon:
    path = icons_dir() / f"{name}.svg"
    return QIcon(str(path)) if path.exists() else QIcon()


def apply_style(app: QApplication) -> None:
    app.setStyle("Fusion")
    pal = QPalette()
    colors = {
        QPalette.ColorRole.Window: "#eef0f3",
        QPalette.ColorRole.WindowText: "#1f2633",
        QPalette.ColorRole.Base: "#ffffff",
        QPalette.ColorRole.AlternateBase: "#e7eaee",
        QPalette.ColorRole.Text: "#1f2633",
        QPalette.ColorRole.Button: "#f6f7f9",
        QPalette.ColorRole.ButtonText: "#1f2633",
        QPalette.ColorRole.Highlight: "#2f6fdf",
        QPalette.ColorRole.HighlightedText: "#ffffff",
        QPalette.ColorRole.ToolTipBase: "#ffffff",
        QPalette.ColorRole.ToolTipText: "#1f2633",
        QPalette.ColorRole.PlaceholderText: "#8a93a3",
        QPalette.ColorRole.Mid: "#b8bfca",
    }
    for role, value in colors.items():
        pal.setColor(role, QColor(value))
    pal.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text, QColor("#9aa2af"))
    pal.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.ButtonText, QColor("#9aa2af"))
    pal.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.WindowText, QColor("#9aa2af"))
    app.setPalette(pal)
    path = style_path()
    if path.exists():
        app.setStyleSheet(path.read_text(encoding="utf-8"))
    app_icon = icon("app")
    if not app_icon.isNull():
        app.setWindowIcon(app_icon)
