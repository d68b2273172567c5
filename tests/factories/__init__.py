"""Builders and constants that several test modules share, one module per area.

Fixtures live in the `conftest.py` files (pytest finds them); everything a test *imports* lives
here, so no test module imports from another test module or from a conftest:

- `services`: the PostgreSQL and Redis on 127.0.0.1 (new databases, flushed Redis databases).
- `api`: the users of the API fixtures and reading an error's `detail`.
- `reports`: report rows inserted directly, reports made by the real sample pipeline, and
  reports as `report_to_dict` gives them.
- `notify`: users with subscriptions, channels and policies; reports to announce; the webhook
  secret the local receiver checks.
- `sources`: the credentials the fake NewsAPI and Naver servers expect.
- `analysis`: the stories waiting to be analysed.
- `cluster`: the session's local Ray and an LLM responder that cites the prompt's stories.
- `settings`: every environment variable `Settings` reads, cleared before each test.
"""
