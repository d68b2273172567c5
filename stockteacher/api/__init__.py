"""The HTTP API (FastAPI), served by Ray Serve or, for tests and comparisons, plain uvicorn."""
