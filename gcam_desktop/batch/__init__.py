"""Qt-free batch jobs over folders of images, for the command line and the app."""
