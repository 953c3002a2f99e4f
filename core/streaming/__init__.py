"""Adaptive streaming: the ladder fitted to a source, its renditions and audio tracks, the
pictures and storyboard of the same pass, the package made and its manifests finished
(HLS playlists, the MPD, audio entries, fMP4 languages), and the QC gate it passes
before anything is published.
"""
