"""Text carried with the picture: a sender's subtitle files read safely, cues as data,
sidecar tracks added to a package's manifests, and the captions (CEA-608/708) a video
carries, read back.
"""
