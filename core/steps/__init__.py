"""Steps jobs (docs/steps.md): the step model, compiled into as few ffmpeg passes as the
steps allow (the transform chain, its branches and tracks), run, and read back into
the files and result each step made; loudness, quality and scenes among them.
"""
