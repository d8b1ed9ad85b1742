"""Export sources and the pure engagement model (canonical records, request builders)."""
