"""Which transport a server account is served over, and what the client announces for it.

A client may hold several transports at once (UDP or DTLS on a socket, Non-IP data and SMS
through the modem); each server account is reachable over those for which the client has an
address of the server: its **routes**, binding letter → peer.  Per account:

- the Register and every Update announce (``b=``) the transports of the Binding resource
  (/1/x/7) that are routes, and nothing else: what the server is told is where it can really
  reach the device (``Q`` is kept);
- the account is served over one of them at a time (the whitepaper's "one transport binding
  for the entire session"): at every Register the Preferred Transport (/1/x/22) when it is a
  route the binding allows, else the client's first route the binding allows; a Registration
  Update Trigger with a transport argument, or a write of /1/x/22, moves it (the Update goes
  over the new one);
- a transport that is asked for and is not a route is refused with the reason
  (:func:`problem`), never taken and ignored.

An engine driven without routes (:class:`SingleRoute`, a bare resolver) has one peer and
does not know what carries it: it announces /1/x/7 as written, which is its driver's
responsibility (:class:`~lwm2m.client.device.LwM2MClient` always gives real routes).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from lwm2m.client.context import Resolver
from lwm2m.coap.events import Peer

LETTERS = "UTSN"
"""UDP (and DTLS), TCP (and TLS), SMS, Non-IP: Core 1.1 §6.2.1.1's binding letters."""
NAMES = {"U": "UDP", "T": "TCP", "S": "SMS", "N": "Non-IP"}
ANY = "*"
"""The one route of an engine driven by a bare resolver: every transport is that peer."""

Routes = Mapping[str, Peer]


class Router(Protocol):
    """What the engine asks its driver about server accounts."""

    def routes(self, short_server_id: int, uri: str) -> dict[str, Peer]:
        """The account's peer on each transport the client holds and can reach it over, the
        default first; ClientError when there is none."""
        ...

    @property
    def msisdn(self) -> str | None:
        """The device's own number, announced (``sms=``) when SMS is announced."""
        ...


class SingleRoute:
    """A bare resolver as a :class:`Router`: one peer, transports unknown (:data:`ANY`)."""

    __slots__ = ("_resolve",)

    def __init__(self, resolve: Resolver) -> None:
        self._resolve = resolve

    def routes(self, short_server_id: int, uri: str) -> dict[str, Peer]:
        return {ANY: self._resolve(short_server_id, uri)}

    @property
    def msisdn(self) -> str | None:
        return None


def transports(binding: str) -> str:
    """The transport letters of a binding (``UNQ`` → ``UN``)."""
    return binding.replace("Q", "")


def announced(binding: str, routes: Routes) -> str:
    """``b=``: the binding's transports that are routes, in the binding's order, ``Q`` kept."""
    if ANY in routes:
        return binding
    letters = "".join(letter for letter in transports(binding) if letter in routes)
    return letters + ("Q" if "Q" in binding and letters else "")


def initial(routes: Routes, binding: str, preferred: str | None) -> str:
    """The transport a Register goes over (module docstring); :data:`ANY` for a single route."""
    if ANY in routes:
        return ANY
    allowed = [letter for letter in routes if letter in transports(binding)]
    if preferred in allowed:
        assert preferred is not None
        return preferred
    return allowed[0] if allowed else next(iter(routes))


def held(routes: Routes) -> str:
    return ", ".join(NAMES[letter] for letter in routes) or "none"


def problem(routes: Routes, asked: str) -> str | None:
    """Why the account cannot be served over any of ``asked`` (letters), or None when it
    can."""
    if ANY in routes or any(letter in routes for letter in asked):
        return None
    wanted = " or ".join(NAMES.get(letter, repr(letter)) for letter in asked)
    return f"this client cannot reach the server over {wanted} (it holds {held(routes)})"
