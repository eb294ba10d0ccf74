"""Block-wise transfer pieces (RFC 7959): slicing a body into blocks and reassembling one."""

from __future__ import annotations

from enum import Enum

from lwm2m.coap.message import Message
from lwm2m.coap.options import Block


def block_size(szx: int) -> int:
    return 16 << szx


def slice_block(body: bytes, offset: int, szx: int) -> tuple[bytes, Block] | None:
    """The block of ``body`` starting at ``offset``, or None when it starts past the end.

    Block 0 of an empty body exists (an empty representation is still one block).
    """
    size = 16 << szx
    if offset and offset >= len(body):
        return None
    end = offset + size
    return body[offset:end], Block(offset // size, end < len(body), szx)


class BlockError(Enum):
    """Why a block does not extend a body; each maps to the answer RFC 7959 §2.9 gives."""

    INCOMPLETE = "block does not continue the body"  # 4.08 Request Entity Incomplete
    TOO_LARGE = "body exceeds the size limit"  # 4.13 Request Entity Too Large
    SIZE = "block payload does not match its SZX"  # 4.00 Bad Request


class Assembly:
    """A body being received block by block; ``first`` is the message whose options it keeps."""

    __slots__ = ("body", "first")

    def __init__(self, first: Message) -> None:
        self.first = first
        self.body = bytearray()

    def append(self, block: Block, payload: bytes, limit: int) -> BlockError | None:
        body = self.body
        if block.offset != len(body):
            return BlockError.INCOMPLETE
        if len(payload) > block.size or (block.more and len(payload) != block.size):
            return BlockError.SIZE
        if len(body) + len(payload) > limit:
            return BlockError.TOO_LARGE
        body += payload
        return None
