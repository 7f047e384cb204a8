"""The image list: folders scanned in the background, lazy thumbnails, and decoding the picture on show."""
