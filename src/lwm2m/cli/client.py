"""``lwm2m client``: a simulated Telekom-profile device that registers and serves its servers.

Runs until Ctrl-C or SIGTERM, then de-registers.  ``--send PATH...`` registers, sends those
values once (``POST /dp``), de-registers and exits.  ``--state FILE`` keeps the server accounts
as the servers and the bootstrap server left them (URI, credentials, lifetime, binding, periods,
...), the bootstrap server account and the simulator seed across runs; it holds keys, so it is
written readable by its owner only.  ``--bootstrap URI`` gives the device a bootstrap server
account (used when it has no server account, when its servers stay unreachable, or when one
executes /1/x/9); ``--factory FILE`` loads server accounts from a file in the bootstrap
server's per-endpoint format (factory bootstrap, docs/bootstrap.md).  A ``coaps://`` server or
bootstrap server is reached over DTLS with ``--psk-identity`` and ``--psk-key-file`` (or
``LWM2M_PSK_KEY``, or ``--psk-key``, which every local user can read: docs/security.md).

``--nidd MODEM`` (``socket://HOST:PORT`` or a serial device such as ``/dev/ttyUSB0``) runs the
device over NIDD (binding N) through an NB-IoT modem (docs/modem.md): the server is the SCS/AS
the network routes the APN's Non-IP data to; one ``--server coap[s]://`` adds UDP next to it
and ``--sms NUMBER`` SMS through the same modem, ``--binding`` and ``--preferred-transport``
choose among them (cli/client_modem.py, docs/transports.md).  The endpoint name is
``urn:imei:<IMEI>`` from the modem unless ``--endpoint-from`` or ``--endpoint`` says otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path as FilePath
from typing import BinaryIO

from lwm2m.bootstrap.config import BootstrapConfig, ConfigError
from lwm2m.cli.client_modem import (
    add_modem_options,
    check_modem_options,
    configure_modem_account,
    modem_account,
    sms_link,
)
from lwm2m.cli.payload import InputError
from lwm2m.cli.secret_options import OSCORE_ENV, PSK_KEY_ENV, single_secret
from lwm2m.client.cellular import EndpointSource, endpoint_name
from lwm2m.client.device import LwM2MClient
from lwm2m.client.engine import ClientConfig, ClientError, ClientEvent
from lwm2m.client.firmware.package import load_public_key
from lwm2m.client.firmware.staging import DeviceLimits
from lwm2m.client.firmware.updater import FirmwareUpdater
from lwm2m.client.nidd import NiddError, NiddLink
from lwm2m.client.oscore import add_oscore_account
from lwm2m.client.profile import BootstrapAccount, ServerAccount, telekom_device
from lwm2m.client.simulated import simulated_client
from lwm2m.client.standard import device as dev
from lwm2m.client.standard import security as sec
from lwm2m.client.standard import server as srv
from lwm2m.client.standard.firmware import DeliveryMethod
from lwm2m.client.tree import SECURITY, SERVER, ObjectTree
from lwm2m.coap.config import NIDD
from lwm2m.codec.base import FORMAT_NAMES
from lwm2m.model import Path, PathError
from lwm2m.security.credentials import OscoreCredential, Secret
from lwm2m.security.oscore import SequenceStore
from lwm2m.security.oscore_endpoint import FileSequenceStore
from lwm2m.transport.modem.quirks import quirks_for

STATE_VERSION = 1


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    helptext = "run a simulated Telekom-profile device that registers with LwM2M servers"
    cmd = subparsers.add_parser("client", help=helptext, description=helptext)
    cmd.add_argument("--endpoint", "-e", help="endpoint client name, e.g. urn:imei:...")
    cmd.add_argument(
        "--server",
        "-s",
        action="append",
        default=[],
        metavar="URI",
        help="coap[s]://HOST:PORT of a server (repeat for several; Short Server IDs 1, 2, ...)",
    )
    cmd.add_argument(
        "--bootstrap", "-b", metavar="URI", help="coap[s]://HOST:PORT of a bootstrap server"
    )
    cmd.add_argument("--psk-identity", metavar="ID", help="PSK identity for coaps:// URIs")
    cmd.add_argument(
        "--psk-key",
        metavar="HEX",
        help="PSK key (hex) for coaps:// URIs (visible to every local user: prefer"
        f" --psk-key-file or {PSK_KEY_ENV})",
    )
    cmd.add_argument("--psk-key-file", metavar="FILE", help="the PSK key in FILE (its first line)")
    cmd.add_argument(
        "--oscore",
        metavar="SENDERID:RECIPIENTID:MASTERSECRET",
        help="OSCORE (hex; the device's Sender ID first) with every coap:// server; needs"
        " --state, where sequence numbers are kept (visible to every local user: prefer"
        f" --oscore-file or {OSCORE_ENV})",
    )
    cmd.add_argument(
        "--oscore-file", metavar="FILE", help="the OSCORE context as --oscore takes it (first line)"
    )
    cmd.add_argument("--factory", metavar="FILE", help="server accounts from a file (JSON)")
    cmd.add_argument("--lifetime", type=int, default=86400, help="registration lifetime (s)")
    cmd.add_argument("--queue", action="store_true", help="queue mode (binding UQ)")
    cmd.add_argument("--state", metavar="FILE", help="keep server accounts across restarts")
    cmd.add_argument("--lwm2m", choices=("1.0", "1.1"), default="1.1", help="version to speak")
    cmd.add_argument(
        "--content-format",
        metavar="FORMAT",
        help="the one Content-Format the Register announces (ct=): a number or senml-cbor,"
        " senml-json, tlv, lwm2m-json (default: senml-cbor for 1.1, none for 1.0)",
    )
    cmd.add_argument("--port", type=int, default=0, help="local UDP port (default: any)")
    cmd.add_argument("--seed", type=int, help="simulator seed (default: random, then kept)")
    cmd.add_argument("--tick", type=float, default=10.0, help="simulator step (s)")
    cmd.add_argument("--send", nargs="+", metavar="PATH", help="send these values once and exit")
    firmware = cmd.add_argument_group("firmware update (/5), docs/firmware.md")
    firmware.add_argument(
        "--firmware-key",
        metavar="FILE",
        help="Ed25519 public key (PEM, 32 raw bytes or 64 hex digits) packages must be signed"
        " with (default: unsigned packages are taken, checked by their SHA-256)",
    )
    firmware.add_argument(
        "--flash-size", type=int, default=1 << 20, help="bytes of the download slot (1 MiB)"
    )
    firmware.add_argument(
        "--ram-size", type=int, default=64 << 10, help="bytes the device holds at once (64 KiB)"
    )
    add_modem_options(cmd)
    cmd.set_defaults(handler=run_client)


def run_client(args: argparse.Namespace, stdin: BinaryIO, stdout: BinaryIO) -> None:
    held = check_modem_options(args)
    if held:
        _run_nidd_client(args, held, stdout)
        return
    state = _load_state(args.state) if args.state else {}
    saved_endpoint, saved_seed = state.get("endpoint"), state.get("seed")
    endpoint: str = args.endpoint or (saved_endpoint if isinstance(saved_endpoint, str) else "")
    if not endpoint:
        raise InputError("--endpoint is required (or a --state file that names one)")
    seed: int = (
        args.seed
        if args.seed is not None
        else (saved_seed if isinstance(saved_seed, int) else int(time.time()))
    )
    psk = _psk(args)
    accounts = _accounts(args, state, psk)
    bootstrap = _bootstrap_account(args, state, psk)
    if not accounts and bootstrap is None:
        raise InputError("--server, --factory or --bootstrap is required (or a --state file)")
    try:
        paths = [Path.parse(p) for p in args.send or []]
    except PathError as exc:
        raise InputError(str(exc)) from None
    config = _config(args)
    now = time.time()
    tree = telekom_device(endpoint, seed=seed, now=now, servers=accounts, bootstrap=bootstrap)
    sequences = _oscore(args, endpoint, tree, accounts)
    client = simulated_client(
        tree,
        endpoint,
        seed=seed,
        now=now,
        local_address=("0.0.0.0", args.port),
        config=config,
        tick_interval=args.tick,
        on_event=lambda event: _report(event, args, tree, endpoint, seed),
        oscore_sequences=sequences,
        firmware=_firmware(args, tree, DeliveryMethod.BOTH),
    )
    try:
        asyncio.run(_run(client, paths, stdout))
    except ClientError as exc:
        raise InputError(str(exc)) from None


def _run_nidd_client(args: argparse.Namespace, held: str, stdout: BinaryIO) -> None:
    """``--nidd``: bring the modem up, then run the device over the transports it ``held``
    (UDP and SMS too when ``--server`` and ``--sms`` say so: cli/client_modem.py)."""
    psk = _psk(args)
    if args.lifetime <= 0:
        raise InputError("--lifetime must be positive")
    source = EndpointSource(args.endpoint_from)
    if source is EndpointSource.EXTERNAL_ID and not args.external_id:
        raise InputError("--endpoint-from external-id needs --external-id (no AT command reads it)")
    try:
        paths = [Path.parse(p) for p in args.send or []]
    except PathError as exc:
        raise InputError(str(exc)) from None
    config = _config(args)
    account = modem_account(args, held, psk)
    try:
        asyncio.run(
            _nidd(args, source=source, config=config, account=account, paths=paths, stdout=stdout)
        )
    except (ClientError, NiddError, ValueError) as exc:
        raise InputError(str(exc)) from None


async def _nidd(
    args: argparse.Namespace,
    *,
    source: EndpointSource,
    config: ClientConfig,
    account: ServerAccount,
    paths: list[Path],
    stdout: BinaryIO,
) -> None:
    link = await NiddLink.open(args.nidd, quirks_for(args.modem_profile))
    try:
        endpoint = args.endpoint or endpoint_name(link.identity, source, args.external_id)
        seed = args.seed if args.seed is not None else int(time.time())
        sms = sms_link(args, link)
        held = ("U" if args.server else "") + "N" + ("S" if sms is not None else "")
        now = time.time()
        tree = telekom_device(
            endpoint,
            seed=seed,
            now=now,
            servers=(account,),
            bindings=held + "Q",
            apn=args.apn,
            modem=True,
        )
        configure_modem_account(args, tree)
        await link.attach(tree, cid=args.cid, apn=args.apn)
        print(
            f"lwm2m client: {endpoint} attached over NIDD, {link.max_packet_size}-octet packets,"
            f" PSM {link.status.active_time}/{link.status.periodic_tau} s,"
            f" rate control {link.uplink_limit}; holds {held}, binding {account.binding}",
            file=sys.stderr,
        )
        client = simulated_client(
            tree,
            endpoint,
            seed=seed,
            now=now,
            config=config,
            coap=NIDD,
            tick_interval=args.tick,
            on_event=lambda event: print(f"lwm2m client: {event}", file=sys.stderr),
            nidd=link,
            sms=sms,
            udp=bool(args.server),
            local_address=("0.0.0.0", args.port),
            firmware=_firmware(
                args, tree, DeliveryMethod.BOTH if args.server else DeliveryMethod.PUSH
            ),  # pulling needs IP
        )
        await _run(client, paths, stdout)
    finally:
        await link.close()


def _firmware(
    args: argparse.Namespace, tree: ObjectTree, delivery: DeliveryMethod
) -> FirmwareUpdater:
    """The updater behind /5: the device's model (/3/0/1), flash, RAM and signing key."""
    key = None
    if args.firmware_key:
        try:
            key = load_public_key(FilePath(args.firmware_key).read_bytes())
        except (OSError, ValueError) as exc:
            raise InputError(f"--firmware-key: {exc}") from None
    model = tree.object(3).read(0, dev.MODEL_NUMBER)
    try:
        limits = DeviceLimits(
            str(model), flash_size=args.flash_size, ram_size=args.ram_size, public_key=key
        )
    except ValueError as exc:
        raise InputError(str(exc)) from None
    return FirmwareUpdater(tree, limits, delivery=delivery)


async def _run(client: LwM2MClient, paths: list[Path], stdout: BinaryIO) -> None:
    await client.start()
    try:
        if paths:
            await _wait_registered(client)
            codes = await client.send(paths)
            stdout.write(
                ("\n".join("no answer" if c is None else c.dotted for c in codes) + "\n").encode()
            )
            return
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
    finally:
        await client.stop()


async def _wait_registered(client: LwM2MClient, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not any(reg.online for reg in client.engine.registrations.values()):
        if time.monotonic() > deadline:
            raise ClientError(f"not registered within {timeout:.0f} s")
        await asyncio.sleep(0.05)


def _report(
    event: ClientEvent, args: argparse.Namespace, tree: ObjectTree, endpoint: str, seed: int
) -> None:
    print(f"lwm2m client: {event}", file=sys.stderr)
    if args.state:
        _save_state(args.state, tree, endpoint, seed)


def _config(args: argparse.Namespace) -> ClientConfig:
    """``--lwm2m`` and ``--content-format``; a format the version cannot announce is refused."""
    text = args.content_format
    content_format: int | None = None
    if text is not None:
        named = FORMAT_NAMES.get(text.lower())
        if named is not None:
            content_format = int(named)
        elif text.isdigit():
            content_format = int(text)
        else:
            raise InputError(f"--content-format {text!r}: expected a number or a format name")
    try:
        return ClientConfig(lwm2m_version=args.lwm2m, content_format=content_format)
    except ValueError as exc:
        raise InputError(f"--content-format: {exc}") from None


def _oscore(
    args: argparse.Namespace, endpoint: str, tree: ObjectTree, accounts: list[ServerAccount]
) -> Callable[[int], SequenceStore]:
    """``--oscore``, ``--oscore-file`` or ``LWM2M_OSCORE`` (one of them): an OSCORE context for
    each ``coap://`` account.  Returns where every account keeps its sequence numbers, whether
    its context came from here or from a bootstrap server."""
    found = single_secret(
        args.oscore,
        "--oscore",
        args.oscore_file,
        OSCORE_ENV,
        file_option="--oscore-file",
        what="the OSCORE context",
    )
    if found is not None:
        spec, where = found
        if not args.state:
            raise InputError(f"{where} needs --state: sequence numbers must survive restarts")
        sender, recipient, secret = _oscore_context(endpoint, spec, where)
        for account in accounts:
            if account.uri.startswith("coap://"):
                add_oscore_account(tree, account.short_server_id, sender, recipient, secret)
    return oscore_sequences(args.state)


def _oscore_context(endpoint: str, spec: str, where: str) -> tuple[bytes, bytes, bytes]:
    """The device's Sender ID, its Recipient ID and the master secret of ``spec``, checked as
    the server checks its contexts and in its words, which never quote the secret."""
    if spec.count(":") != 2:
        raise InputError(f"{where}: expected SENDERID:RECIPIENTID:MASTERSECRET")
    try:  # none of the server's checks depends on whose Sender ID comes first
        context = OscoreCredential.parse(f"{endpoint}:{spec}")
    except ValueError as exc:
        raise InputError(f"{where}: {exc}") from None
    return context.sender_id, context.recipient_id, context.master_secret.reveal()


def oscore_sequences(state: str | None) -> Callable[[int], SequenceStore]:
    """Each server account's OSCORE Sender Sequence Numbers, in ``STATE.oscore-SSID`` whether
    ``--oscore`` or a bootstrap server gave the context: a restart must never reuse a nonce
    under the same key.  Without ``--state`` no number would survive a restart, so OSCORE is
    refused (a ClientError: a bootstrap server's Bootstrap-Finish is answered 4.06)."""
    if state:
        return lambda ssid: FileSequenceStore(f"{state}.oscore-{ssid}")

    def refuse(short_server_id: int) -> SequenceStore:
        raise ClientError(
            f"server {short_server_id}: OSCORE needs --state, where sequence numbers survive"
            " restarts (without it a restart would reuse nonces)"
        )

    return refuse


def _psk(args: argparse.Namespace) -> tuple[bytes, bytes] | None:
    """``--psk-identity`` and the key of ``--psk-key``, ``--psk-key-file`` or
    ``LWM2M_PSK_KEY`` (one of them), for every ``coaps://`` URI of the command line."""
    found = single_secret(
        args.psk_key,
        "--psk-key",
        args.psk_key_file,
        PSK_KEY_ENV,
        file_option="--psk-key-file",
        what="the PSK key",
    )
    if (args.psk_identity is None) != (found is None):
        raise InputError(
            f"--psk-identity and the PSK key (--psk-key-file, {PSK_KEY_ENV} or --psk-key)"
            " go together"
        )
    if found is None:
        uris = [*args.server, args.bootstrap or ""]
        if any(uri.startswith(("coaps://", "coaps+tcp://")) for uri in uris):
            raise InputError("a coaps:// or coaps+tcp:// URI needs --psk-identity and a PSK key")
        return None
    text, where = found
    try:
        key = Secret.from_hex(text).reveal()
    except ValueError as exc:  # its message never quotes the key
        raise InputError(f"{where}: {exc}") from None
    if not key:
        raise InputError(f"{where}: the PSK key is empty")
    if not args.psk_identity:
        raise InputError("--psk-identity must not be empty")
    return args.psk_identity.encode(), key


def _credentials(uri: str, psk: tuple[bytes, bytes] | None) -> tuple[bytes | None, bytes]:
    """An account's PSK identity and key: the command line's for ``coaps://``, else none."""
    secure = uri.startswith(("coaps://", "coaps+tcp://"))
    return (None, b"") if psk is None or not secure else psk


def _accounts(
    args: argparse.Namespace, state: dict[str, object], psk: tuple[bytes, bytes] | None
) -> list[ServerAccount]:
    saved = state.get("servers")
    if isinstance(saved, list) and saved and not args.server:
        try:
            return [_from_state(account) for account in saved]
        except (TypeError, ValueError) as exc:
            raise InputError(f"{args.state}: bad server account: {exc}") from None
    if args.factory and not args.server:
        return _factory(args.factory)
    if not args.server:
        return []
    if args.lifetime <= 0:
        raise InputError("--lifetime must be positive")
    accounts = []
    for ssid, uri in enumerate(args.server, start=1):
        identity, key = _credentials(uri, psk)
        binding = ("T" if "+tcp://" in uri else "U") + ("Q" if args.queue else "")
        accounts.append(
            ServerAccount(
                ssid,
                uri,
                lifetime=args.lifetime,
                binding=binding,
                psk_identity=identity,
                psk_key=key,
            )
        )
    return accounts


def _factory(file: str) -> list[ServerAccount]:
    """Factory bootstrap: the accounts of one bootstrap configuration entry."""
    try:
        config = BootstrapConfig.from_json(json.loads(FilePath(file).read_text()))
    except (OSError, ValueError) as exc:  # ConfigError is a ValueError, so is bad JSON
        kind = "" if isinstance(exc, ConfigError) else "cannot read "
        raise InputError(f"{kind}{file}: {exc}") from None
    return [
        ServerAccount(
            account.short_server_id,
            account.uri,
            lifetime=account.lifetime,
            binding=account.binding,
            psk_identity=None if account.identity is None else account.identity.encode(),
            psk_key=account.key,
        )
        for account in config.servers
    ]


def _bootstrap_account(
    args: argparse.Namespace, state: dict[str, object], psk: tuple[bytes, bytes] | None
) -> BootstrapAccount | None:
    if args.bootstrap:
        return BootstrapAccount(args.bootstrap, *_credentials(args.bootstrap, psk))
    saved = state.get("bootstrap")
    if isinstance(saved, dict) and isinstance(saved.get("uri"), str):
        identity, key = saved.get("psk_identity"), saved.get("psk_key")
        if isinstance(identity, str) and isinstance(key, str):
            return BootstrapAccount(saved["uri"], bytes.fromhex(identity), bytes.fromhex(key))
        return BootstrapAccount(saved["uri"])
    return None


def _from_state(account: dict[str, object]) -> ServerAccount:
    identity, key = account.pop("psk_identity", None), account.pop("psk_key", "")
    return ServerAccount(
        **account,  # type: ignore[arg-type]
        psk_identity=None if not isinstance(identity, str) else bytes.fromhex(identity),
        psk_key=bytes.fromhex(key) if isinstance(key, str) else b"",
    )


def _load_state(file: str) -> dict[str, object]:
    try:
        data = json.loads(FilePath(file).read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read {file}: {exc}") from None
    if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
        raise InputError(f"{file} is not a client state file (version {STATE_VERSION})")
    return data


def _save_state(file: str, tree: ObjectTree, endpoint: str, seed: int) -> None:
    """Write the accounts as the servers configured them; atomically, so a crash keeps the
    previous file."""
    servers = tree.object(SERVER)
    assert isinstance(servers, srv.ServerObject)
    security = tree.object(SECURITY)
    credentials: dict[object, dict[str, object]] = {}
    bootstrap: dict[str, object] | None = None
    for iid in security.list_instances():
        present = security.list_resources(iid)
        uri = security.read(iid, sec.SERVER_URI)
        identity, key = (
            security.read(iid, rid) if rid in present else b""
            for rid in (sec.PUBLIC_KEY_OR_IDENTITY, sec.SECRET_KEY)
        )
        assert isinstance(identity, bytes) and isinstance(key, bytes)
        psk = security.read(iid, sec.SECURITY_MODE) == sec.SecurityMode.PSK
        if sec.BOOTSTRAP_SERVER in present and security.read(iid, sec.BOOTSTRAP_SERVER):
            bootstrap = {"uri": uri}
            if psk:
                bootstrap.update(psk_identity=identity.hex(), psk_key=key.hex())
        elif sec.SHORT_SERVER_ID in present:
            credentials[security.read(iid, sec.SHORT_SERVER_ID)] = {
                "uri": uri,
                "psk_identity": identity.hex() if psk else None,
                "psk_key": key.hex() if psk else "",
            }
    accounts = []
    for iid in servers.list_instances():
        ssid = servers.short_server_id(iid)
        present = servers.list_resources(iid)
        accounts.append(
            {
                "short_server_id": ssid,
                **credentials.get(ssid, {"uri": None}),
                "lifetime": servers.get(iid, srv.LIFETIME),
                "binding": servers.get(iid, srv.BINDING),
                **{
                    name: servers.get(iid, rid)
                    for name, rid in (
                        ("default_pmin", srv.DEFAULT_PMIN),
                        ("default_pmax", srv.DEFAULT_PMAX),
                    )
                    if rid in present
                },
            }
        )
    data = {
        "version": STATE_VERSION,
        "endpoint": endpoint,
        "seed": seed,
        "servers": accounts,
        "bootstrap": bootstrap,
    }
    temporary = f"{file}.tmp"
    # The file holds keys: readable by its owner only, from the moment it exists.
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        json.dump(data, out, indent=2)
    os.replace(temporary, file)
