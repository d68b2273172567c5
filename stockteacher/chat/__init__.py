"""Chat with the teacher about one report: retrieval over the ticker's stored articles
(`retrieval`), grounded and streamed answers from the LLM or, offline, from retrieval alone
(`engine`), and the sessions and messages in the database (`service`).

`engine` is plain Python with no Ray in it; the Serve chat deployment (`api/serve.py`) and the
in-process API both call `ChatEngine.stream(request)` with plain-data requests.
"""
