"""Local emulators of Zoom and Google, real HTTP servers on 127.0.0.1 for tests and the demo."""
