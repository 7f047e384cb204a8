"""The desktop application (Qt lives here and only here).

Importing this package imports no Qt: `gcam-desktop train ...` must reach the trainer before
any Qt library loads (the frozen bundle launches its own trainer that way).
"""
