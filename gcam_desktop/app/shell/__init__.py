"""The application shell: start-up, the main window, settings, style, Qt work-arounds, thread bookkeeping and small widgets every feature uses."""
