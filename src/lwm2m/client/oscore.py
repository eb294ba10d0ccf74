"""A client's OSCORE accounts: the context of a server account comes from the OSCORE object
instance (/21/y) its Security instance links to (/0/x/17, OSCORE Security Mode, LwM2M 1.1).

Each context is built once per link and kept (its sequence number and replay window are live
state). ``sequences`` gives each Short Server ID's durable
:class:`~lwm2m.security.oscore.SequenceStore`: a context whose store was used before lost its
replay window, so its first request from the server is proven fresh with Echo.  Without
``sequences`` the numbers live in memory, which only a context re-keyed on every start may do;
``sequences`` may raise ClientError instead to refuse OSCORE for a client that cannot keep them
(a bootstrap server's Bootstrap-Finish is then answered 4.06, naming the reason).
"""

from __future__ import annotations

from collections.abc import Callable

from lwm2m.client.objects import SimpleObject
from lwm2m.client.standard import security as sec
from lwm2m.client.tree import OSCORE, SECURITY, ObjectTree
from lwm2m.coap.events import Peer
from lwm2m.model import ObjectLink
from lwm2m.security.oscore import MemorySequenceStore, SecurityContext, SequenceStore
from lwm2m.security.oscore import context_from_oscore_instance as _from_instance
from lwm2m.security.oscore_endpoint import OscoreContexts


class OscoreAccounts(OscoreContexts):
    """The contexts of a client's server accounts, by Security instance and OSCORE link."""

    def __init__(
        self, tree: ObjectTree, sequences: Callable[[int], SequenceStore] | None = None
    ) -> None:
        super().__init__()
        self._tree = tree
        self._sequences = sequences
        self._built: dict[int, tuple[ObjectLink, SecurityContext]] = {}  # by Short Server ID

    def use(self, short_server_id: int, peer: Peer) -> bool:
        """Speak OSCORE to ``peer`` if the account's Security instance links an OSCORE
        instance; False (and no context for ``peer``) if it does not."""
        link = self._link(short_server_id)
        built = self._built.get(short_server_id)
        if built is not None and built[0] != link:
            self.remove(built[1])
            del self._built[short_server_id]
            built = None
        if link is None:
            return False
        if built is None:
            store = (
                MemorySequenceStore()
                if self._sequences is None
                else self._sequences(short_server_id)
            )
            oscore = self._tree.object(OSCORE)
            values = {
                rid: oscore.read(link.instance_id, rid)
                for rid in oscore.list_resources(link.instance_id)
            }
            context = _from_instance(
                values, sequence_store=store, replay_synchronized=store.load() == 0
            )
            self.add(context)
            self._built[short_server_id] = built = (link, context)
        self.require(peer, built[1])
        return True

    def _link(self, short_server_id: int) -> ObjectLink | None:
        security = self._tree.object(SECURITY)
        for iid in security.list_instances():
            present = security.list_resources(iid)
            if (
                sec.SHORT_SERVER_ID in present
                and security.read(iid, sec.SHORT_SERVER_ID) == short_server_id
                and sec.OSCORE_SECURITY_MODE in present
            ):
                link = security.read(iid, sec.OSCORE_SECURITY_MODE)
                if isinstance(link, ObjectLink) and link.object_id == OSCORE:
                    return link
        return None


def add_oscore_account(
    tree: ObjectTree,
    short_server_id: int,
    sender_id: bytes,
    recipient_id: bytes,
    master_secret: bytes,
) -> None:
    """Give the account of ``short_server_id`` an OSCORE context: a new /21 instance (the
    object's v1.0 String resources, in hex) and its link in the account's Security instance."""
    oscore, security = tree.object(OSCORE), tree.object(SECURITY)
    if not isinstance(oscore, SimpleObject) or not isinstance(security, SimpleObject):
        raise TypeError("the Security and OSCORE objects must be SimpleObjects")
    iid = max(oscore.list_instances(), default=-1) + 1
    oscore.create(iid, {0: master_secret.hex(), 1: sender_id.hex(), 2: recipient_id.hex()})
    for sid in security.list_instances():
        present = security.list_resources(sid)
        if sec.SHORT_SERVER_ID in present and security.read(sid, sec.SHORT_SERVER_ID) == (
            short_server_id
        ):
            security.set(sid, sec.OSCORE_SECURITY_MODE, ObjectLink(OSCORE, iid))
            return
    raise ValueError(f"no Security instance for server {short_server_id}")
