"""The real manifests ffmpeg 5.1 wrote, copied verbatim, for the core.streaming.playlists tests: a
``dash`` muxer package with ``-hls_playlist 1`` (CMAF, 3 video rungs + 1 audio) and an ``hls``
muxer package (MPEG-TS, a rotated portrait source); with the CMAF package's file sizes and
measured rates to finish a master with. Then two more ``dash`` packages, for the MPD's
finishing and the peak rate: a 20 s source as the worker packaged it before the audio was cut
with the video (a 53 ms last audio segment), and a 59.94 fps source with the audio cut with
the video (video segments of 4.004 s)."""

from __future__ import annotations

# master.m3u8, verbatim
CMAF_MASTER = """\
#EXTM3U
#EXT-X-VERSION:7
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="group_A1",NAME="audio_3",DEFAULT=YES,URI="media_3.m3u8"
#EXT-X-STREAM-INF:BANDWIDTH=2932168,RESOLUTION=1280x720,CODECS="avc1.64001f,mp4a.40.2",AUDIO="group_A1"
media_0.m3u8

#EXT-X-STREAM-INF:BANDWIDTH=1532168,RESOLUTION=864x486,CODECS="avc1.64001f,mp4a.40.2",AUDIO="group_A1"
media_1.m3u8

#EXT-X-STREAM-INF:BANDWIDTH=932168,RESOLUTION=640x360,CODECS="avc1.64001e,mp4a.40.2",AUDIO="group_A1"
media_2.m3u8

"""
# media_0.m3u8, verbatim
CMAF_MEDIA_0 = """\
#EXTM3U
#EXT-X-VERSION:6
#EXT-X-TARGETDURATION:4
#EXT-X-MEDIA-SEQUENCE:1
#EXT-X-MAP:URI="init-0.m4s"
#EXTINF:4.000000,
#EXT-X-PROGRAM-DATE-TIME:2026-11-24T01:37:41.000+0000
seg-0-00001.m4s
#EXTINF:2.000000,
#EXT-X-PROGRAM-DATE-TIME:2026-11-24T01:37:45.000+0000
seg-0-00002.m4s
#EXT-X-ENDLIST
"""
# media_3.m3u8, verbatim
CMAF_MEDIA_3 = """\
#EXTM3U
#EXT-X-VERSION:6
#EXT-X-TARGETDURATION:4
#EXT-X-MEDIA-SEQUENCE:1
#EXT-X-MAP:URI="init-3.m4s"
#EXTINF:3.946667,
#EXT-X-PROGRAM-DATE-TIME:2026-11-24T01:37:41.000+0000
seg-3-00001.m4s
#EXTINF:2.053333,
#EXT-X-PROGRAM-DATE-TIME:2026-11-24T01:37:44.947+0000
seg-3-00002.m4s
#EXT-X-ENDLIST
"""
# manifest.mpd, verbatim
CMAF_MPD = """\
<?xml version="1.0" encoding="utf-8"?>
<MPD xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
	xmlns="urn:mpeg:dash:schema:mpd:2011"
	xmlns:xlink="http://www.w3.org/1999/xlink"
	xsi:schemaLocation="urn:mpeg:DASH:schema:MPD:2011 http://standards.iso.org/ittf/PubliclyAvailableStandards/MPEG-DASH_schema_files/DASH-MPD.xsd"
	profiles="urn:mpeg:dash:profile:isoff-live:2011"
	type="static"
	mediaPresentationDuration="PT6.0S"
	maxSegmentDuration="PT4.0S"
	minBufferTime="PT8.0S">
	<ProgramInformation>
	</ProgramInformation>
	<ServiceDescription id="0">
	</ServiceDescription>
	<Period id="0" start="PT0.0S">
		<AdaptationSet id="0" contentType="video" startWithSAP="1" segmentAlignment="true" bitstreamSwitching="true" frameRate="30/1" maxWidth="1280" maxHeight="720" par="16:9">
			<Representation id="0" mimeType="video/mp4" codecs="avc1.64001f" bandwidth="2800000" width="1280" height="720" sar="1:1">
				<SegmentTemplate timescale="15360" initialization="init-$RepresentationID$.m4s" media="seg-$RepresentationID$-$Number%05d$.m4s" startNumber="1">
					<SegmentTimeline>
						<S t="0" d="61440" />
						<S d="30720" />
					</SegmentTimeline>
				</SegmentTemplate>
			</Representation>
			<Representation id="1" mimeType="video/mp4" codecs="avc1.64001f" bandwidth="1400000" width="864" height="486" sar="1:1">
				<SegmentTemplate timescale="15360" initialization="init-$RepresentationID$.m4s" media="seg-$RepresentationID$-$Number%05d$.m4s" startNumber="1">
					<SegmentTimeline>
						<S t="0" d="61440" />
						<S d="30720" />
					</SegmentTimeline>
				</SegmentTemplate>
			</Representation>
			<Representation id="2" mimeType="video/mp4" codecs="avc1.64001e" bandwidth="800000" width="640" height="360" sar="1:1">
				<SegmentTemplate timescale="15360" initialization="init-$RepresentationID$.m4s" media="seg-$RepresentationID$-$Number%05d$.m4s" startNumber="1">
					<SegmentTimeline>
						<S t="0" d="61440" />
						<S d="30720" />
					</SegmentTimeline>
				</SegmentTemplate>
			</Representation>
		</AdaptationSet>
		<AdaptationSet id="1" contentType="audio" startWithSAP="1" segmentAlignment="true" bitstreamSwitching="true">
			<Representation id="3" mimeType="audio/mp4" codecs="mp4a.40.2" bandwidth="128000" audioSamplingRate="48000">
				<AudioChannelConfiguration schemeIdUri="urn:mpeg:dash:23003:3:audio_channel_configuration:2011" value="2" />
				<SegmentTemplate timescale="48000" initialization="init-$RepresentationID$.m4s" media="seg-$RepresentationID$-$Number%05d$.m4s" startNumber="1">
					<SegmentTimeline>
						<S t="0" d="189440" />
						<S d="98560" />
					</SegmentTimeline>
				</SegmentTemplate>
			</Representation>
		</AdaptationSet>
	</Period>
</MPD>
"""  # noqa: E501
# master.m3u8, verbatim
TS_MASTER = """\
#EXTM3U
#EXT-X-VERSION:6
#EXT-X-STREAM-INF:BANDWIDTH=3220800,RESOLUTION=720x1280,CODECS="avc1.64001f,mp4a.40.2"
media_0.m3u8

#EXT-X-STREAM-INF:BANDWIDTH=1680800,RESOLUTION=486x864,CODECS="avc1.64001f,mp4a.40.2"
media_1.m3u8

#EXT-X-STREAM-INF:BANDWIDTH=1020800,RESOLUTION=360x640,CODECS="avc1.64001e,mp4a.40.2"
media_2.m3u8

"""
# media_0.m3u8, verbatim
TS_MEDIA_0 = """\
#EXTM3U
#EXT-X-VERSION:6
#EXT-X-TARGETDURATION:6
#EXT-X-MEDIA-SEQUENCE:0
#EXT-X-PLAYLIST-TYPE:VOD
#EXT-X-INDEPENDENT-SEGMENTS
#EXTINF:6.000000,
seg-0-00000.ts
#EXT-X-ENDLIST
"""
# Sizes in bytes of the files of the CMAF fixture package, as ffmpeg wrote them.
CMAF_SIZES = {
    "init-0.m4s": 834,
    "seg-0-00001.m4s": 1_400_738,
    "seg-0-00002.m4s": 698_829,
    "init-3.m4s": 765,
    "seg-3-00001.m4s": 64_370,
    "seg-3-00002.m4s": 33_836,
}
RATES = {"media_0.m3u8": (3_100_000, 2_900_000), "media_1.m3u8": (1_600_000, 1_450_000)}

# 20 s of 30 fps picture and sound, `-adaptation_sets "id=0,streams=v id=1,streams=a"`:
# the audio rendition's media_3.m3u8 as the worker published it (finished), and the
# manifest.mpd verbatim (the worker did not touch it then).
RUNT_MEDIA_3 = """\
#EXTM3U
#EXT-X-MEDIA-SEQUENCE:1
#EXT-X-VERSION:6
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-TARGETDURATION:4
#EXT-X-PLAYLIST-TYPE:VOD
#EXT-X-MAP:URI="init-3.m4s"
#EXTINF:3.946667,
seg-3-00001.m4s
#EXTINF:3.989333,
seg-3-00002.m4s
#EXTINF:4.010667,
seg-3-00003.m4s
#EXTINF:3.989333,
seg-3-00004.m4s
#EXTINF:4.010667,
seg-3-00005.m4s
#EXTINF:0.053333,
seg-3-00006.m4s
#EXT-X-ENDLIST
"""
RUNT_SIZES = {
    "init-3.m4s": 765,
    "seg-3-00001.m4s": 64_370,
    "seg-3-00002.m4s": 64_813,
    "seg-3-00003.m4s": 65_102,
    "seg-3-00004.m4s": 64_727,
    "seg-3-00005.m4s": 65_145,
    "seg-3-00006.m4s": 1_158,
}
RUNT_MPD = """\
<?xml version="1.0" encoding="utf-8"?>
<MPD xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
	xmlns="urn:mpeg:dash:schema:mpd:2011"
	xmlns:xlink="http://www.w3.org/1999/xlink"
	xsi:schemaLocation="urn:mpeg:DASH:schema:MPD:2011 http://standards.iso.org/ittf/PubliclyAvailableStandards/MPEG-DASH_schema_files/DASH-MPD.xsd"
	profiles="urn:mpeg:dash:profile:isoff-live:2011"
	type="static"
	mediaPresentationDuration="PT20.0S"
	maxSegmentDuration="PT4.0S"
	minBufferTime="PT8.0S">
	<ProgramInformation>
	</ProgramInformation>
	<ServiceDescription id="0">
	</ServiceDescription>
	<Period id="0" start="PT0.0S">
		<AdaptationSet id="0" contentType="video" startWithSAP="1" segmentAlignment="true" bitstreamSwitching="true" frameRate="30/1" maxWidth="1280" maxHeight="720" par="16:9">
			<Representation id="0" mimeType="video/mp4" codecs="avc1.64001f" bandwidth="2800000" width="1280" height="720" sar="1:1">
				<SegmentTemplate timescale="15360" initialization="init-$RepresentationID$.m4s" media="seg-$RepresentationID$-$Number%05d$.m4s" startNumber="1">
					<SegmentTimeline>
						<S t="0" d="61440" r="4" />
					</SegmentTimeline>
				</SegmentTemplate>
			</Representation>
			<Representation id="1" mimeType="video/mp4" codecs="avc1.64001f" bandwidth="1400000" width="864" height="486" sar="1:1">
				<SegmentTemplate timescale="15360" initialization="init-$RepresentationID$.m4s" media="seg-$RepresentationID$-$Number%05d$.m4s" startNumber="1">
					<SegmentTimeline>
						<S t="0" d="61440" r="4" />
					</SegmentTimeline>
				</SegmentTemplate>
			</Representation>
			<Representation id="2" mimeType="video/mp4" codecs="avc1.64001e" bandwidth="800000" width="640" height="360" sar="1:1">
				<SegmentTemplate timescale="15360" initialization="init-$RepresentationID$.m4s" media="seg-$RepresentationID$-$Number%05d$.m4s" startNumber="1">
					<SegmentTimeline>
						<S t="0" d="61440" r="4" />
					</SegmentTimeline>
				</SegmentTemplate>
			</Representation>
		</AdaptationSet>
		<AdaptationSet id="1" contentType="audio" startWithSAP="1" segmentAlignment="true" bitstreamSwitching="true">
			<Representation id="3" mimeType="audio/mp4" codecs="mp4a.40.2" bandwidth="128000" audioSamplingRate="48000">
				<AudioChannelConfiguration schemeIdUri="urn:mpeg:dash:23003:3:audio_channel_configuration:2011" value="2" />
				<SegmentTemplate timescale="48000" initialization="init-$RepresentationID$.m4s" media="seg-$RepresentationID$-$Number%05d$.m4s" startNumber="1">
					<SegmentTimeline>
						<S t="0" d="189440" />
						<S d="191488" />
						<S d="192512" />
						<S d="191488" />
						<S d="192512" />
						<S d="2560" />
					</SegmentTimeline>
				</SegmentTemplate>
			</Representation>
		</AdaptationSet>
	</Period>
</MPD>
"""  # noqa: E501
# 10 s of 59.94 fps picture (one 640x360 rung) and sound,
# `-adaptation_sets "id=0,streams=v id=1,seg_duration=8,streams=a"`, verbatim.
NTSC_MEDIA_0 = """\
#EXTM3U
#EXT-X-VERSION:6
#EXT-X-TARGETDURATION:4
#EXT-X-MEDIA-SEQUENCE:1
#EXT-X-MAP:URI="init-0.m4s"
#EXTINF:4.004000,
#EXT-X-PROGRAM-DATE-TIME:2026-12-07T00:03:11.000+0000
seg-0-00001.m4s
#EXTINF:4.004000,
#EXT-X-PROGRAM-DATE-TIME:2026-12-07T00:03:15.004+0000
seg-0-00002.m4s
#EXTINF:1.985317,
#EXT-X-PROGRAM-DATE-TIME:2026-12-07T00:03:19.008+0000
seg-0-00003.m4s
#EXT-X-ENDLIST
"""
NTSC_MEDIA_1 = """\
#EXTM3U
#EXT-X-VERSION:6
#EXT-X-TARGETDURATION:4
#EXT-X-MEDIA-SEQUENCE:1
#EXT-X-MAP:URI="init-1.m4s"
#EXTINF:3.989333,
#EXT-X-PROGRAM-DATE-TIME:2026-12-07T00:03:11.000+0000
seg-1-00001.m4s
#EXTINF:3.989333,
#EXT-X-PROGRAM-DATE-TIME:2026-12-07T00:03:14.989+0000
seg-1-00002.m4s
#EXTINF:2.014333,
#EXT-X-PROGRAM-DATE-TIME:2026-12-07T00:03:18.979+0000
seg-1-00003.m4s
#EXT-X-ENDLIST
"""
NTSC_SIZES = {
    "init-0.m4s": 833,
    "seg-0-00001.m4s": 402_688,
    "seg-0-00002.m4s": 400_930,
    "seg-0-00003.m4s": 195_664,
    "init-1.m4s": 765,
    "seg-1-00001.m4s": 65_079,
    "seg-1-00002.m4s": 64_797,
    "seg-1-00003.m4s": 33_099,
}
NTSC_MPD = """\
<?xml version="1.0" encoding="utf-8"?>
<MPD xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
	xmlns="urn:mpeg:dash:schema:mpd:2011"
	xmlns:xlink="http://www.w3.org/1999/xlink"
	xsi:schemaLocation="urn:mpeg:DASH:schema:MPD:2011 http://standards.iso.org/ittf/PubliclyAvailableStandards/MPEG-DASH_schema_files/DASH-MPD.xsd"
	profiles="urn:mpeg:dash:profile:isoff-live:2011"
	type="static"
	mediaPresentationDuration="PT9.9S"
	maxSegmentDuration="PT8.0S"
	minBufferTime="PT8.0S">
	<ProgramInformation>
	</ProgramInformation>
	<ServiceDescription id="0">
	</ServiceDescription>
	<Period id="0" start="PT0.0S">
		<AdaptationSet id="0" contentType="video" startWithSAP="1" segmentAlignment="true" bitstreamSwitching="true" frameRate="60000/1001" maxWidth="640" maxHeight="360" par="16:9">
			<Representation id="0" mimeType="video/mp4" codecs="avc1.64001f" bandwidth="800000" width="640" height="360" sar="1:1">
				<SegmentTemplate timescale="60000" initialization="init-$RepresentationID$.m4s" media="seg-$RepresentationID$-$Number%05d$.m4s" startNumber="1">
					<SegmentTimeline>
						<S t="0" d="240240" r="1" />
						<S d="119119" />
					</SegmentTimeline>
				</SegmentTemplate>
			</Representation>
		</AdaptationSet>
		<AdaptationSet id="1" contentType="audio" startWithSAP="1" segmentAlignment="true" bitstreamSwitching="true">
			<Representation id="1" mimeType="audio/mp4" codecs="mp4a.40.2" bandwidth="128000" audioSamplingRate="48000">
				<AudioChannelConfiguration schemeIdUri="urn:mpeg:dash:23003:3:audio_channel_configuration:2011" value="2" />
				<SegmentTemplate timescale="48000" initialization="init-$RepresentationID$.m4s" media="seg-$RepresentationID$-$Number%05d$.m4s" startNumber="1">
					<SegmentTimeline>
						<S t="0" d="191488" r="1" />
						<S d="96688" />
					</SegmentTimeline>
				</SegmentTemplate>
			</Representation>
		</AdaptationSet>
	</Period>
</MPD>
"""  # noqa: E501
