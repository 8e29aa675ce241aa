"""The HTTP service: OpenAI-compatible API over a continuous-batching engine."""
