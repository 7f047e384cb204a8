"""Small widgets every feature uses (elided labels and combos, the browse row, drop handling). Imports only gcam_desktop.app.common inside the app."""
