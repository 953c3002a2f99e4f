"""The A/53 caption data read: CEA-608 field 1, DTVCC packets put together from triplets,
their service blocks (extended service numbers too), padding or broken data ignored, and
the frames timed by ffmpeg's framemd5 listing."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from core.text.cc_data import (
    CaptionData,
    ServiceBlock,
    cc_frames,
    dtvcc_packets,
    packet_size,
    read_cc_data,
    service_blocks,
    timed_packets,
)

PAD_608 = bytes([0xFC, 0x80, 0x80])  # field 1 padding (odd parity 0x00 0x00)
PAD_708 = bytes([0xFA, 0x00, 0x00])  # cc_valid 0, cc_type 2: DTVCC padding


def start(a: int, b: int) -> bytes:
    return bytes([0xFF, a, b])


def more(a: int, b: int) -> bytes:
    return bytes([0xFE, a, b])


def test_a_packets_length_counts_its_header_and_0_means_128() -> None:
    assert packet_size(0x03) == 6
    assert packet_size(0xC2) == 4  # sequence 3
    assert packet_size(0x40) == 128


def test_a_packet_split_over_triplets_and_frames_is_put_together() -> None:
    # header (sequence 1, 3 * 2 bytes), service 1 block of 3 bytes "ABC", a null block
    data = PAD_608 + start(0x43, 0x23) + PAD_708 + more(0x41, 0x42) + PAD_608 + more(0x43, 0x00)
    assert list(dtvcc_packets(data)) == [bytes([0x43, 0x23, 0x41, 0x42, 0x43, 0x00])]


def test_a_packet_cut_short_by_the_next_start_is_dropped() -> None:
    data = start(0x03, 0x21) + start(0x02, 0x21) + more(0x41, 0x00)
    assert list(dtvcc_packets(data)) == [bytes([0x02, 0x21, 0x41, 0x00])]


def test_continuation_without_a_start_and_invalid_triplets_are_ignored() -> None:
    invalid_start = bytes([0xFB, 0x02, 0x21])  # cc_valid 0
    data = more(0x02, 0x21) + invalid_start + more(0x41, 0x00) + PAD_708 * 3 + b"\xfe\x02"
    assert list(dtvcc_packets(data)) == []
    assert read_cc_data(data) == CaptionData(field1=False, services=frozenset())


def test_service_blocks_with_an_extended_service_number() -> None:
    # service 2 "hi", then service 7 -> extended 42 "x", then a null block
    packet = bytes([0x04, 0x42, 0x68, 0x69, 0xE1, 0x2A, 0x78, 0x00])
    assert list(service_blocks(packet)) == [ServiceBlock(2, b"hi"), ServiceBlock(42, b"x")]


def test_a_broken_block_header_ends_the_packet() -> None:
    below_seven = bytes([0x03, 0x21, 0x41, 0xE1, 0x05, 0x78])  # extended number 5: invalid
    past_end = bytes([0x02, 0x25, 0x41, 0x42])  # a 5-byte block in a 4-byte packet
    assert list(service_blocks(below_seven)) == [ServiceBlock(1, b"A")]
    assert list(service_blocks(past_end)) == []


def test_which_services_and_whether_field_1_carry_data() -> None:
    cc1 = bytes([0xFC, 0xC8, 0x45])  # "HE" with parity
    svc1 = start(0x02, 0x21) + more(0x41, 0x00)  # service 1: "A"
    svc42 = start(0x03, 0xE1) + more(0x2A, 0x78) + more(0x00, 0x00)  # service 42: "x"
    nul3 = start(0x02, 0x61) + more(0x00, 0x00)  # service 3: a NUL only, no caption
    data = PAD_608 + svc1 + PAD_708 + svc42 + nul3 + cc1
    assert read_cc_data(data) == CaptionData(field1=True, services=frozenset({1, 42}))


def test_608_padding_and_field_2_are_not_field_1_captions() -> None:
    field2 = bytes([0xFD, 0xC8, 0x45])
    assert read_cc_data(PAD_608 * 4 + field2).field1 is False
    assert read_cc_data(b"") == CaptionData(field1=False, services=frozenset())


def test_frames_are_cut_by_the_listed_sizes_and_timed_by_their_pts() -> None:
    listing = (
        "#format: frame checksums\n#tb 0: 1/12800\n#stream#, dts, pts, duration, size, hash\n"
        "0, 0, 0, 0, 3, a\n0, 512, 512, 0, 6, b\n0, 1024, NOPTS, 0, 3, c\n0, 1536, 1536, 0, 9, d\n"
    )
    data = PAD_608 + start(0x02, 0x21) + more(0x41, 0x00) + PAD_608 + PAD_608
    frames = cc_frames(data, listing)
    assert [(f.time, f.data) for f in frames] == [
        (0.0, PAD_608),
        (0.04, data[3:9]),
        (0.04, PAD_608),
    ]
    assert list(timed_packets(frames)) == [(0.04, bytes([0x02, 0x21, 0x41, 0x00]))]


def test_a_packet_repeated_with_its_sequence_number_is_read_once() -> None:
    first = start(0x02, 0x21) + more(0x41, 0x00)  # sequence 0: "A"
    second = start(0x42, 0x21) + more(0x41, 0x00)  # sequence 1: "A" again, a new packet
    packets = list(dtvcc_packets(first + first + second + first))
    assert [p[0] >> 6 for p in packets] == [0, 1, 0]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_any_bytes_read_to_services_in_range(data: bytes) -> None:
    carried = read_cc_data(data)
    assert all(1 <= s <= 63 for s in carried.services)
    assert all(len(p) == packet_size(p[0]) for p in dtvcc_packets(data))
