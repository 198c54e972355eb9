"""Web teleoperation and human-in-the-loop correction server (writes episodes through the record and sink APIs)."""
