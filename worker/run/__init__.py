"""Applying the plan: the engine, the long-running loop, and wiring settings to clients."""
