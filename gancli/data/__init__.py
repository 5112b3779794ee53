"""Real-sample sources for the trainer (drawn inside the graph, no Python per batch)."""
