"""Posts: the read-heavy domain (feeds, tags, comments, attachments, export)."""
