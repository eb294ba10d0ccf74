"""``lwm2m client --nidd MODEM``'s transports: NIDD through the modem, UDP next to it
(``--server``), SMS through the same modem (``--sms``), the account's Binding and Preferred
Transport (docs/transports.md).

Every transport the device holds is a route to its one server account: N the SCS/AS the
network routes the APN's Non-IP data to, U the ``--server`` URI, S the server's SMS number
(``--sms``, written to /0/x/9; the device's own number is the SIM's, ``AT+CNUM``).  The
Binding (/1/x/7) defaults to every transport held; Register and Update announce only the
Binding's transports the device holds (``client/transports.py``), so a Binding or Preferred
Transport naming one it does not hold is refused here rather than announced or ignored.
"""

from __future__ import annotations

import argparse

from lwm2m.cli.payload import InputError
from lwm2m.client.cellular import EndpointSource
from lwm2m.client.nidd import NiddLink
from lwm2m.client.profile import ServerAccount
from lwm2m.client.routing import SMS_NUMBER
from lwm2m.client.sms import SmsLink
from lwm2m.client.standard import server as srv
from lwm2m.client.transports import NAMES
from lwm2m.client.tree import SECURITY, SERVER, ObjectTree
from lwm2m.transport.modem.quirks import GENERIC, PROFILES
from lwm2m.transport.sms.binding import SmsPeer

NIDD_SERVER_URI = "nidd:"
"""The Server URI of a NIDD account without ``--server``: NIDD has no server address (the
network routes the APN's data to its SCS/AS), so the URI only names the binding."""

REFUSED_WITH_MODEM = ("--bootstrap", "--factory", "--state", "--oscore", "--oscore-file")
"""Options the modem device does not take: the network routes to the one SCS/AS (no
bootstrap server or further accounts), and OSCORE needs ``--state``."""


def add_modem_options(cmd: argparse.ArgumentParser) -> None:
    nidd = cmd.add_argument_group(
        "NIDD (binding N), and UDP and SMS next to it, through an NB-IoT modem: docs/modem.md"
    )
    nidd.add_argument(
        "--nidd", metavar="MODEM", help="the modem: socket://HOST:PORT or a serial device"
    )
    nidd.add_argument(
        "--sms",
        metavar="NUMBER",
        help="with --nidd: the LwM2M server's SMS number (/0/x/9), for the SMS binding (S) and"
        " SMS triggers through the same modem; the device's own number is the SIM's (AT+CNUM)",
    )
    nidd.add_argument(
        "--binding",
        metavar="LETTERS",
        help="with --nidd: the account's Binding (/1/x/7), letters of U, N, S the device holds"
        " (default: all it holds; --queue adds Q)",
    )
    nidd.add_argument(
        "--preferred-transport",
        choices=tuple("UNS"),
        help="with --nidd: the Preferred Transport (/1/x/22) the device registers over",
    )
    nidd.add_argument(
        "--modem-profile",
        choices=sorted(PROFILES),
        default=GENERIC.name,
        help="the module's AT quirks (generic)",
    )
    nidd.add_argument(
        "--endpoint-from",
        choices=[source.value for source in EndpointSource],
        default=EndpointSource.IMEI.value,
        help="endpoint name from the modem's IMEI (urn:imei:), IMSI (urn:imsi:) or --external-id",
    )
    nidd.add_argument(
        "--external-id", metavar="ID", help="the SIM's external identifier (local@domain)"
    )
    nidd.add_argument("--apn", default="", help="APN of the Non-IP context (network's default)")
    nidd.add_argument("--cid", type=int, default=1, help="PDP context id of the Non-IP context")


def check_modem_options(args: argparse.Namespace) -> str:
    """The transports the ``--nidd`` device holds (``N``, ``UN``, ``NS``, ``UNS``), after
    refusing what does not go with a modem; InputError says why."""
    if not args.nidd:
        for option in ("sms", "binding", "preferred_transport"):
            if getattr(args, option) is not None:
                raise InputError(f"--{option.replace('_', '-')} needs --nidd (the modem)")
        return ""
    for option in REFUSED_WITH_MODEM:
        if getattr(args, option.removeprefix("--").replace("-", "_")):
            raise InputError(
                f"--nidd and {option} do not go together: the network routes to the one SCS/AS"
            )
    if len(args.server) > 1:
        raise InputError("--nidd takes one --server (the UDP route to the one server account)")
    if args.server and not args.server[0].startswith(("coap://", "coaps://")):
        raise InputError("--server with --nidd must be coap:// or coaps:// (UDP next to NIDD)")
    if args.psk_identity and not (args.server and args.server[0].startswith("coaps://")):
        raise InputError("--psk-identity with --nidd needs a coaps:// --server (no DTLS over NIDD)")
    if args.sms is not None:
        try:
            SmsPeer.parse(args.sms)
        except ValueError as exc:
            raise InputError(f"--sms: {exc}") from None
    held = ("U" if args.server else "") + "N" + ("S" if args.sms else "")
    binding = binding_of(args, held)
    if args.preferred_transport is not None and args.preferred_transport not in binding:
        raise InputError(
            f"--preferred-transport {args.preferred_transport}: not in the binding {binding}"
        )
    return held


def binding_of(args: argparse.Namespace, held: str) -> str:
    """``--binding`` (default: every transport held), each letter one the device holds."""
    binding: str = args.binding if args.binding is not None else held
    if not binding or len(set(binding)) != len(binding):
        raise InputError(f"--binding {binding!r}: expected distinct letters of U, N, S")
    for letter in binding:
        if letter not in "UNS":
            raise InputError(f"--binding {binding!r}: expected letters of U, N, S (--queue: Q)")
        if letter not in held:
            raise InputError(
                f"--binding {binding}: this client does not hold {NAMES[letter]} ({_how[letter]})"
            )
    return binding


_how = {"U": "give --server", "S": "give --sms", "N": "give --nidd"}


def modem_account(
    args: argparse.Namespace, held: str, psk: tuple[bytes, bytes] | None
) -> ServerAccount:
    """The one server account: the ``--server`` URI (its PSK for ``coaps://``), else
    :data:`NIDD_SERVER_URI`."""
    uri = args.server[0] if args.server else NIDD_SERVER_URI
    identity, key = (None, b"") if psk is None or not uri.startswith("coaps://") else psk
    binding = binding_of(args, held) + ("Q" if args.queue else "")
    return ServerAccount(
        1, uri, lifetime=args.lifetime, binding=binding, psk_identity=identity, psk_key=key
    )


def configure_modem_account(args: argparse.Namespace, tree: ObjectTree) -> None:
    """/0/x/9 from ``--sms``, /1/x/22 from ``--preferred-transport``."""
    if args.sms is not None:
        security = tree.object(SECURITY)
        for iid in security.list_instances():
            security.set(iid, SMS_NUMBER, SmsPeer.parse(args.sms).msisdn)  # type: ignore[attr-defined]
    if args.preferred_transport is not None:
        servers = tree.object(SERVER)
        for iid in servers.list_instances():
            servers.write(iid, srv.PREFERRED_TRANSPORT, args.preferred_transport, replace=False)


def sms_link(args: argparse.Namespace, link: NiddLink) -> SmsLink | None:
    """SMS through the NIDD modem, from the SIM's own number; None without ``--sms``."""
    if args.sms is None:
        return None
    own = link.identity.msisdn
    if not own:
        raise InputError("--sms: the SIM has no number of its own (AT+CNUM gave none)")
    return SmsLink(link.modem, own)
