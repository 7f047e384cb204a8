"""pyqtgraph, configured once for the app before any of its widgets exist (imported lazily:
pyqtgraph takes half a second to import)."""

import pyqtgraph as pg

# Row-major images like numpy's; transparent backgrounds so plots take the light palette.
pg.setConfigOptions(imageAxisOrder="row-major", antialias=False, background=None, foreground="#3b4250")
