"""SMS errors: what came from the network (remote) apart from what local code got wrong."""

from __future__ import annotations


class SmsDecodeError(ValueError):
    """Bytes from the network (a TPDU, a user data header, a PDU field) that do not decode."""


class SmsEncodeError(ValueError):
    """Local code asked for something SMS cannot carry (a character outside the alphabet, an
    address too long, user data over 140 octets...)."""
