"""API routers, one module per part of API.md."""
