"""Adapters to the outside world: AWS clients, ffmpeg, the filesystem, logging, the emulator."""
