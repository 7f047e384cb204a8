"""gcam-desktop: compare Grad-CAM explanations of ResNet50 variants side by side."""

__version__ = "0.1.0"
