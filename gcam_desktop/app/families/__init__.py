"""The Families tab: one model's map by two methods (by default Grad-CAM and LRP) side by side, with their agreement."""
