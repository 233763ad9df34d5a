"""webinar-worker: runs a library's weekly public webinar series unattended."""

__version__ = "0.1.0"
