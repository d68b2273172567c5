"""The Ray layer: thin wiring around the plain stage functions.

runtime.py    connecting to Ray (local or a cluster), the namespace
limiter.py    the rate limiter's logic (plain) — its actor lives in actors.py
actors.py     the limiter actor, analyzer replicas, collector and publish tasks
pool.py       the analyzer pool: dispatch, retry on a dead replica, resize
sweep.py      one pipeline sweep: collect → analyze → publish with one trace_id
scheduler.py  the named, detached scheduler actor
metrics.py    ray.util.metrics for the dashboard and Prometheus
"""
