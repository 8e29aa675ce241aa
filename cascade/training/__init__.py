"""Training the stages of our own cascade (accelerate-based: CPU, one GPU or several)."""
