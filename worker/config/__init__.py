"""Reading settings.yaml and .env into checked values."""
