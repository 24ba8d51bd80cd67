"""coxa board firmware (MicroPython, ESP32-S3); see firmware/README.md."""

VERSION = (0, 1, 0)
