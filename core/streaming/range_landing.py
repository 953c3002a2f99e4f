"""Putting range encodes into one package directory, through the :class:`LocalFiles` port.

The package directory starts as the audio part's output (its audio segments and the whole
package's manifests, :func:`core.streaming.ranges.plan_audio_part`). Each range's media
segments are moved to their place in the timeline (:func:`core.streaming.fragment_time.retime`)
under their numbers in the whole package, the first range's init segments replace the black
stand-in's, and the video playlists, the MPD and the master are rewritten from the ranges
(:mod:`core.streaming.stitch`). What follows is the whole encode's: ``finish`` and its QC.
A resumed encode lands one range from its first missing segment: the kept segments before
it, and the init segments (the whole encode's), are the caller's to bring into the package
directory, over the stand-in's, before ``finish``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from core.ports import LocalFiles
from core.streaming.fragment_time import retime
from core.streaming.stitch import (
    RangeListing,
    landed_files,
    stitch_master,
    stitch_media,
    stitch_mpd,
    whole_timeline,
)


async def land_range(
    files: LocalFiles, listing: RangeListing, reps: Sequence[str], source: Path, package: Path
) -> None:
    """One range's video segments from its package directory ``source`` into ``package``
    (and its init segments, when it is the first range)."""
    for rep in reps:
        for landed in landed_files(listing, rep):
            data = await files.read_bytes(source / landed.local)
            moved = retime(data, landed.ticks, landed.number)
            await files.write_bytes(package / landed.final, moved)
        if listing.chunk.first == 0:
            init = f"init-{rep}.m4s"
            await files.write_bytes(package / init, await files.read_bytes(source / init))


async def stitch_package(
    files: LocalFiles, package: Path, ranges: Sequence[RangeListing], reps: Sequence[str]
) -> None:
    """The video playlists, the MPD and the master of ``package`` (the audio part's) from
    ``ranges``."""
    mpd, master = package / "manifest.mpd", package / "master.m3u8"
    skeleton = await files.read_text(mpd)
    await files.write_text(mpd, stitch_mpd(skeleton, ranges, reps))
    await files.write_text(master, stitch_master(await files.read_text(master), ranges[0], reps))
    for rep in reps:
        playlist = package / f"media_{rep}.m3u8"
        timeline = whole_timeline(skeleton, ranges, rep)
        text = stitch_media(await files.read_text(playlist), rep, timeline)
        await files.write_text(playlist, text)
