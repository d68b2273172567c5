"""Reports as readers see them: who may see which report (the service layer for the web half)."""
