"""Sans-I/O CoAP: message codec (UDP and RFC 8323 framing), options and the endpoint."""

from lwm2m.coap.codes import Code, Type
from lwm2m.coap.errors import (
    BadOptionError,
    CoapError,
    FramingError,
    InvalidMessageError,
    MessageFormatError,
)
from lwm2m.coap.message import Message
from lwm2m.coap.options import (
    EMPTY_OPTIONS,
    OPTION_SPECS,
    Block,
    OptionFormat,
    OptionNumber,
    Options,
    OptionSpec,
)
from lwm2m.coap.tcp import (
    Abort,
    Csm,
    Ping,
    Pong,
    Release,
    Signal,
    TcpFramer,
    decode_tcp,
    encode_tcp,
    parse_signal,
)

__all__ = [
    "EMPTY_OPTIONS",
    "OPTION_SPECS",
    "Abort",
    "BadOptionError",
    "Block",
    "CoapError",
    "Code",
    "Csm",
    "FramingError",
    "InvalidMessageError",
    "Message",
    "MessageFormatError",
    "OptionFormat",
    "OptionNumber",
    "OptionSpec",
    "Options",
    "Ping",
    "Pong",
    "Release",
    "Signal",
    "TcpFramer",
    "Type",
    "decode_tcp",
    "encode_tcp",
    "parse_signal",
]
