"""Reports as durable objects (issue 15 point 3) and exports and imports (point 4)."""
