"""The render run's batching defaults, shared by `cascade render` and the local backend without torch."""

DEFAULT_BATCH_SIZE = 8
DEFAULT_FORWARD_ROWS = 16  # a batch of 8 under guidance: two rows per request
