"""Access Control object (/2) and the access-right rules of Core §7.3."""

from __future__ import annotations

from enum import IntFlag

from lwm2m.client.objects import BadRequestError, ResourceValue, SimpleObject
from lwm2m.model import ObjectModel

OBJECT_ID = 0
INSTANCE_ID = 1
ACL = 2
OWNER = 3

OBJECT_LEVEL = 65535
"""Object Instance ID of the AC instance that grants Create on a whole object."""
BOOTSTRAP_OWNER = 65535
"""Owner of AC instances only the bootstrap server may change."""


class Access(IntFlag):
    """ACL bits: R (Read, Observe, Write-Attributes), W, E, D, C."""

    NONE = 0
    READ = 1
    WRITE = 2
    EXECUTE = 4
    DELETE = 8
    CREATE = 16
    FULL = READ | WRITE | EXECUTE | DELETE


class AccessControlObject(SimpleObject):
    """AC instances, each naming the object instance it governs, its owner and its ACL.

    Only the device and the bootstrap server create and delete them: a server's Create of an
    object instance makes the device :meth:`grant` its AC instance, a Delete :meth:`revoke` it.
    """

    def __init__(self, model: ObjectModel) -> None:
        super().__init__(model, writers={ACL: _check_acl})

    def rights(self, server_id: int, object_id: int, instance_id: int) -> Access:
        """What ``server_id`` may do on ``/object_id/instance_id`` (65535: Create on the object).

        The server's own ACL entry wins, then ownership (full rights), then the default entry
        (resource instance 0); without an AC instance for the target there are no rights.  AC
        instances themselves are readable by every server and writable by their owner.
        """
        if object_id == self.object_id:
            if instance_id not in self.list_instances():
                return Access.NONE
            return Access.READ | (Access.WRITE if self.owner(instance_id) == server_id else 0)
        iid = self.find(object_id, instance_id)
        if iid is None:
            return Access.NONE
        acl = self._acl(iid)
        if server_id in acl:
            return Access(acl[server_id])
        if self.get(iid, OWNER) == server_id:
            return Access.FULL
        return Access(acl.get(0, 0))

    def owner(self, ac_instance_id: int) -> int:
        owner = self.get(ac_instance_id, OWNER)
        assert isinstance(owner, int)
        return owner

    def find(self, object_id: int, instance_id: int) -> int | None:
        """The AC instance governing ``/object_id/instance_id``, if any."""
        for iid in self.list_instances():
            if self.get(iid, OBJECT_ID) == object_id and self.get(iid, INSTANCE_ID) == instance_id:
                return iid
        return None

    def grant(
        self, object_id: int, instance_id: int, owner: int, acl: dict[int, Access] | None = None
    ) -> int:
        """Add the AC instance for a target (the device's side of a Create); returns its ID."""
        iid = next(i for i in range(65535) if i not in self.list_instances())
        values = {OBJECT_ID: object_id, INSTANCE_ID: instance_id, OWNER: owner}
        self._store_instance(iid, {**values, ACL: {k: int(v) for k, v in (acl or {}).items()}})
        self.notify_changed(self.path(iid))
        return iid

    def revoke(self, object_id: int, instance_id: int) -> None:
        """Drop the AC instance of a deleted target."""
        iid = self.find(object_id, instance_id)
        if iid is not None:
            del self._instances[iid]
            self.notify_changed(self.path(iid))

    def _acl(self, iid: int) -> dict[int, int]:
        acl = self.read(iid, ACL) if ACL in self.list_resources(iid) else {}
        assert isinstance(acl, dict)
        return {ri: int(v) for ri, v in acl.items()}


def _check_acl(instance_id: int, value: ResourceValue) -> None:
    assert isinstance(value, dict)
    for ri, bits in value.items():
        if not isinstance(bits, int) or not 0 <= bits <= Access.FULL | Access.CREATE:
            raise BadRequestError(f"ACL {ri}: {bits!r} sets bits beyond R, W, E, D, C")
