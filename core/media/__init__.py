"""Reading untrusted uploads and planning an MP4 encode: ffprobe's document and the facts
drawn from it, the hardening every ffmpeg run gets, the pre-flight limits, stderr
diagnosis, the accelerator tiers (with fallback and the GPU breaker), where frames live
and the encoders' arguments.
"""
