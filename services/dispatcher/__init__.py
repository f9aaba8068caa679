"""dispatcher: who to page for a call, next candidate on decline/timeout, duplicate calls merged."""
