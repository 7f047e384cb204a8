"""The command-line front-ends beside each other: gcam-explain and gcam-evaluate (gcam-train is
training.cli, gcam-desktop is gcam_desktop.app)."""
