"""The docs test: every code block of the guides, run as written (see ``markdown.py``)."""
