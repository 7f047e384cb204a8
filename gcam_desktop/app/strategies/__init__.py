"""The Strategies tab: a folder's explanation maps clustered into the model's strategies (SpRAy)."""
