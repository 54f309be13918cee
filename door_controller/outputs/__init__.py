"""Lock outputs and door inputs: relay boards behind ports that speak real bytes."""
