"""Publishing: validated drafts become reports (`materialize`)."""
