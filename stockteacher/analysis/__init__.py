"""Analysis: LLM and offline analyzers that turn a ticker's new stories into a report draft."""
