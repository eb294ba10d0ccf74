"""TS 23.040 TPDUs, TS 27.005 PDU mode, GSM 7-bit, user data headers: published PDUs and
encode∘decode identity over generated values."""

from __future__ import annotations

import contextlib
import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lwm2m.transport.sms import gsm7
from lwm2m.transport.sms.address import Address, NumberingPlan, NumberType, decode_address
from lwm2m.transport.sms.coding import Alphabet, DataCoding, decode_timestamp, encode_timestamp
from lwm2m.transport.sms.errors import SmsDecodeError, SmsEncodeError
from lwm2m.transport.sms.tpdu import (
    SmsDeliver,
    SmsSubmit,
    UserData,
    ValidityFormat,
    decode_deliver_pdu,
    decode_submit_pdu,
    encode_pdu,
)
from lwm2m.transport.sms.udh import (
    Concatenation,
    OtherElement,
    Ports,
    UserDataHeader,
)

# -- published PDUs ---------------------------------------------------------------------------

# The SMS-SUBMIT of the widely reproduced AT+CMGS=23 example (GSM 07.05 PDU-mode tutorials):
# default SMSC, TP-MR 0, TP-DA +46708251358, relative validity 0xAA (4 days), "hellohello".
CMGS_HELLOHELLO = "0011000B916407281553F80000AA0AE8329BFD4697D9EC37"
# The matching +CMT example: SMSC +31624000000, TP-OA +31641600986, 2002-08-26 19:37:41 in a
# zone written as "-0" quarter hours, "How are you?".
CMT_HOW_ARE_YOU = "07911326040000F0040B911346610089F60000208062917314080CC8F71D14969741F977FD07"


def test_published_submit_decodes_and_encodes_back() -> None:
    smsc, submit = decode_submit_pdu(bytes.fromhex(CMGS_HELLOHELLO))
    assert smsc is None
    assert submit.destination == Address("46708251358")
    assert submit.text == "hellohello"
    assert submit.validity_format == ValidityFormat.RELATIVE and submit.validity == b"\xaa"
    assert submit.coding.alphabet == Alphabet.GSM7
    pdu, length = encode_pdu(submit, smsc)
    assert pdu == bytes.fromhex(CMGS_HELLOHELLO)
    assert length == 23  # what AT+CMGS=<length> counts: the TPDU without the SMSC address


def test_published_deliver_decodes() -> None:
    smsc, deliver = decode_deliver_pdu(bytes.fromhex(CMT_HOW_ARE_YOU))
    assert smsc == Address("31624000000")
    assert deliver.originator == Address("31641600986")
    assert deliver.timestamp == dt.datetime(2002, 8, 26, 19, 37, 41, tzinfo=dt.UTC)
    assert deliver.text == "How are you?"
    assert not deliver.more_messages
    # Re-encoded, only the zone's sign differs: "-0" and "+0" are the same offset.
    pdu, _ = encode_pdu(deliver, smsc)
    original = bytes.fromhex(CMT_HOW_ARE_YOU)
    assert [i for i, (a, b) in enumerate(zip(pdu, original, strict=True)) if a != b] == [25]


def test_binary_deliver_with_concatenation_header() -> None:
    # An 8-bit SMS-DELIVER, part 2 of 3 with 8-bit reference 0x42 (TS 23.040 §9.2.3.24.1).
    header = UserDataHeader((Concatenation(0x42, 3, 2),))
    deliver = SmsDeliver(
        originator=Address("491701234567"),
        timestamp=dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=1))),
        user_data=UserData(b"\x40\x01\x00\x00", header),
        coding=DataCoding.binary(),
    )
    tpdu = deliver.encode()
    assert tpdu.hex() == (
        "44"  # MTI deliver, no more messages, UDHI
        "0c91947110325476"  # TP-OA: 12 digits, international
        "0004"  # TP-PID, TP-DCS 8-bit
        "42102030405040"  # TP-SCTS, +04 quarter hours
        "0a"  # TP-UDL: 6 octets of header + 4 of data
        "050003420302"
        "40010000"
    )
    assert SmsDeliver.decode(tpdu) == deliver


def test_gsm7_with_header_uses_fill_bits() -> None:
    # A 6-octet header is 48 bits: one fill bit puts the text on the 7th septet boundary.
    header = UserDataHeader((Concatenation(1, 2, 1),))
    submit = SmsSubmit(
        Address("1234"), UserData(gsm7.encode_text("Hi"), header), coding=DataCoding(0)
    )
    encoded = submit.encode()
    assert encoded[-9] == 9  # TP-UDL: 7 header septets + 2
    assert encoded[-8:-2] == bytes.fromhex("050003010201")
    assert encoded[-2:] == gsm7.pack(gsm7.encode_text("Hi"), 1)  # 1 + 14 bits: 2 octets
    assert SmsSubmit.decode(encoded).text == "Hi"


def test_data_coding_classes() -> None:
    assert DataCoding(0x04).alphabet == Alphabet.EIGHT_BIT
    assert DataCoding(0x04).message_class is None
    assert DataCoding(0xF5).alphabet == Alphabet.EIGHT_BIT
    assert DataCoding(0xF5).message_class == 1
    assert DataCoding(0x16).message_class == 2 and DataCoding(0x16).alphabet == Alphabet.EIGHT_BIT
    assert DataCoding(0xF1).alphabet == Alphabet.GSM7
    assert DataCoding(0x08).alphabet == Alphabet.UCS2
    assert DataCoding(0x24).compressed
    assert DataCoding(0x90).alphabet == Alphabet.GSM7  # reserved group: read as GSM 7-bit
    assert DataCoding.binary(2).value == 0xF6


def test_gsm7_extension_and_unknown_escape() -> None:
    assert gsm7.encode_text("{€}") == bytes((0x1B, 0x28, 0x1B, 0x65, 0x1B, 0x29))
    assert gsm7.decode_text(bytes((0x1B, 0x41))) == "A"  # undefined extension: basic character
    assert gsm7.decode_text(bytes((0x1B,))) == " "
    with pytest.raises(SmsEncodeError):
        gsm7.encode_text("ж")


def test_alphanumeric_originator() -> None:
    address = Address("Telekom", NumberType.ALPHANUMERIC, NumberingPlan.UNKNOWN)
    deliver = SmsDeliver(
        address, dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.UTC), UserData(b"\x01")
    )
    assert SmsDeliver.decode(deliver.encode()).originator == address


# -- malformed input --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tpdu",
    [
        "",
        "04",  # no address
        "040b91",  # address truncated
        "041591" + "11" * 11,  # 21 semi-octets: over 20
        "040b911346610089f60004",  # no time stamp
        "040b911346610089f6000420806291731408",  # no TP-UDL
        "040b911346610089f600042080629173140805" + "00",  # UDL 5, one octet present
        "440b911346610089f6000420806291731408030500",  # UDHL past the user data
        "440b911346610089f600042080629173140804030005ff",  # IE overruns its header
        "040b911346610089f6000420806291731408" + "8d" + "00" * 141,  # 141 octets
        "040b911346610089f60004" + "ff" * 7 + "00",  # time stamp not decimal
        "040b911346610089f60004" + "20" + "31" + "62917314" + "08" + "00",  # month 13
    ],
)
def test_malformed_deliver_raises_decode_error(tpdu: str) -> None:
    with pytest.raises(SmsDecodeError):
        SmsDeliver.decode(bytes.fromhex(tpdu))


def test_unknown_and_invalid_elements_are_kept_uninterpreted() -> None:
    header, size = UserDataHeader.decode(bytes.fromhex("0b000300020024010a0801ff"))
    assert size == 12
    # sequence 0 is invalid: §9.2.3.24.1 says to ignore the element, so it is not typed
    assert header.elements == (
        OtherElement(0x00, bytes.fromhex("000200")),
        OtherElement(0x24, b"\x0a"),
        OtherElement(0x08, b"\xff"),
    )
    assert header.concatenation is None
    assert header.encode() == bytes.fromhex("0b000300020024010a0801ff")


# -- properties -------------------------------------------------------------------------------

digits = st.text("0123456789", min_size=1, max_size=20)
addresses = st.builds(
    Address,
    digits,
    st.sampled_from([t for t in NumberType if t != NumberType.ALPHANUMERIC]),
    st.sampled_from(list(NumberingPlan)),
)
elements = st.one_of(
    st.builds(
        Concatenation,
        st.integers(0, 255),
        st.just(255),
        st.integers(1, 255),
    ),
    st.builds(
        lambda ref, total, seq: Concatenation(ref, total, min(seq, total), wide=True),
        st.integers(0, 0xFFFF),
        st.integers(1, 255),
        st.integers(1, 255),
    ),
    st.builds(Ports, st.integers(0, 0xFFFF), st.integers(0, 0xFFFF)),
    st.builds(Ports, st.integers(0, 255), st.integers(0, 255), st.just(False)),
    st.builds(OtherElement, st.integers(0x20, 0xFF), st.binary(max_size=8)),
)
headers = st.one_of(st.none(), st.builds(UserDataHeader, st.tuples(elements)))
timestamps = st.builds(
    lambda moment, quarters: moment.replace(
        microsecond=0, tzinfo=dt.timezone(dt.timedelta(minutes=15 * quarters))
    ),
    st.datetimes(dt.datetime(2000, 1, 1), dt.datetime(2099, 12, 31)),
    st.integers(-79, 79),
)


@st.composite
def user_data(draw: st.DrawFn, coding: DataCoding) -> UserData:
    header = draw(headers)
    used = 0 if header is None else len(header.encode())
    if coding.alphabet == Alphabet.GSM7:
        room = 160 - (used * 8 + 6) // 7
        return UserData(
            draw(st.binary(max_size=room).map(lambda b: bytes(x & 0x7F for x in b))), header
        )
    return UserData(draw(st.binary(max_size=140 - used)), header)


codings = st.sampled_from([DataCoding(0x04), DataCoding(0xF5), DataCoding(0x00), DataCoding(0x08)])


@st.composite
def submits(draw: st.DrawFn) -> SmsSubmit:
    coding = draw(codings)
    validity_format = draw(st.sampled_from(list(ValidityFormat)))
    size = {ValidityFormat.NONE: 0, ValidityFormat.RELATIVE: 1}.get(validity_format, 7)
    return SmsSubmit(
        destination=draw(addresses),
        user_data=draw(user_data(coding)),
        coding=coding,
        reference=draw(st.integers(0, 255)),
        protocol=draw(st.integers(0, 255)),
        validity_format=validity_format,
        validity=draw(st.binary(min_size=size, max_size=size)),
        status_report=draw(st.booleans()),
        reject_duplicates=draw(st.booleans()),
        reply_path=draw(st.booleans()),
    )


@st.composite
def delivers(draw: st.DrawFn) -> SmsDeliver:
    coding = draw(codings)
    return SmsDeliver(
        originator=draw(addresses),
        timestamp=draw(timestamps),
        user_data=draw(user_data(coding)),
        coding=coding,
        protocol=draw(st.integers(0, 255)),
        more_messages=draw(st.booleans()),
        status_report=draw(st.booleans()),
        loop_prevention=draw(st.booleans()),
        reply_path=draw(st.booleans()),
    )


@given(submits(), st.one_of(st.none(), addresses))
def test_submit_round_trips_through_pdu_mode(submit: SmsSubmit, smsc: Address | None) -> None:
    pdu, length = encode_pdu(submit, smsc)
    assert decode_submit_pdu(pdu) == (smsc, submit)
    assert length == len(submit.encode())


@given(delivers(), st.one_of(st.none(), addresses))
def test_deliver_round_trips_through_pdu_mode(deliver: SmsDeliver, smsc: Address | None) -> None:
    pdu, _ = encode_pdu(deliver, smsc)
    assert decode_deliver_pdu(pdu) == (smsc, deliver)


@given(st.text(alphabet=st.sampled_from(gsm7.BASIC.replace("\x1b", "") + "^{}\\[~]|€\f")))
def test_gsm7_text_round_trips(text: str) -> None:
    assert gsm7.decode_text(gsm7.encode_text(text)) == text


@given(st.binary(max_size=200).map(lambda b: bytes(x & 0x7F for x in b)), st.integers(0, 6))
def test_septet_packing_round_trips(septets: bytes, fill: int) -> None:
    packed = gsm7.pack(septets, fill)
    assert len(packed) == gsm7.packed_length(len(septets), fill)
    assert gsm7.unpack(packed, len(septets), fill) == septets


@given(timestamps)
def test_timestamp_round_trips(moment: dt.datetime) -> None:
    assert decode_timestamp(encode_timestamp(moment)) == moment


@given(st.binary(max_size=40))
def test_arbitrary_bytes_never_crash_the_decoders(data: bytes) -> None:
    for decode in (SmsDeliver.decode, SmsSubmit.decode, decode_deliver_pdu, decode_submit_pdu):
        with contextlib.suppress(SmsDecodeError):
            decode(data)
    with contextlib.suppress(SmsDecodeError):
        decode_address(data, 0)
