"""The track record: what each published report's stock did next, against its market."""
