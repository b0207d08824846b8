"""``global_names``: every global a pickle names, found by skipping over its opcodes (nothing is built).

Used where the safe unpickler cannot go: past the point where a broken or bounded pickle stopped, and in
``data.pkl`` copies torch does not read. It must be cheap (a pickle may hold millions of opcodes), so it
only decodes what names a global: ``GLOBAL``/``INST`` lines, and for ``STACK_GLOBAL`` the two strings
pushed before it — also when they come back from the memo (``BINGET``), a trick to hide a name from
scanners that only look at literal strings.
"""

from __future__ import annotations

import struct

from reporter.limits import PICKLE_OPCODES

# opcode -> bytes of its fixed-size argument
_FIXED = {ord(c): n for c, n in (("G", 8), ("J", 4), ("K", 1), ("M", 2), ("h", 1), ("j", 4), ("q", 1), ("r", 4),
                                 ("\x80", 1), ("\x82", 1), ("\x83", 2), ("\x84", 4), ("\x95", 8))}
# opcode -> (bytes of its length prefix, struct format, pushes a str)
_SIZED = {ord(c): spec for c, spec in (
    ("B", (4, "<I", False)), ("C", (1, "<B", False)), ("T", (4, "<i", True)), ("U", (1, "<B", True)),
    ("X", (4, "<I", True)), ("\x8a", (1, "<B", False)), ("\x8b", (4, "<i", False)), ("\x8c", (1, "<B", True)),
    ("\x8d", (8, "<Q", True)), ("\x8e", (8, "<Q", False)), ("\x96", (8, "<Q", False)))}
_LINES = {ord(c): n for c, n in (("F", 1), ("I", 1), ("L", 1), ("P", 1), ("S", 1), ("V", 1), ("g", 1), ("p", 1),
                                 ("c", 2), ("i", 2))}
_NO_PUSH = {ord(c) for c in "(013\x80\x95\x94pqrabseu\x90"}  # ops that push no new value of their own
_NAME = 256  # longer strings cannot be module or attribute names worth decoding


def global_names(data: bytes | memoryview, start: int = 0) -> list[tuple[str, str]]:
    """(module, name) of every global the pickle starting at ``start`` names, in order, until its STOP
    opcode, its end, or ``limits.PICKLE_OPCODES`` opcodes; a malformed tail ends the scan."""
    found: list[tuple[str, str]] = []
    recent: list[str | None] = [None, None]  # the values the last two pushes left, where they are names
    memo: dict[int, str | None] = {}
    position, end, count = start, len(data), 0
    while position < end and count < PICKLE_OPCODES:
        code = data[position]
        position += 1
        count += 1
        pushed: str | None = None
        if code == 0x2E:  # STOP
            break
        if code in _FIXED:
            size = _FIXED[code]
            if code in (0x71, 0x72, 0x68, 0x6A) and position + size <= end:  # BINPUT/LONG_BINPUT/BINGET/...
                index = int.from_bytes(data[position:position + size], "little")
                if code in (0x71, 0x72):
                    memo[index] = recent[-1]
                else:
                    pushed = memo.get(index)
            position += size
        elif code in _SIZED:
            width, fmt, text = _SIZED[code]
            if position + width > end:
                break
            (length,) = struct.unpack(fmt, bytes(data[position:position + width]))
            position += width
            if length < 0:
                break
            if text and length <= _NAME:
                pushed = bytes(data[position:position + length]).decode("utf-8", "replace")
            position += length
        elif code in _LINES:
            lines = []
            for _ in range(_LINES[code]):
                newline = bytes(data[position:position + (1 << 20)]).find(b"\n")
                if newline < 0:
                    return found
                lines.append(bytes(data[position:position + newline]))
                position += newline + 1
            if code in (0x63, 0x69):  # GLOBAL, INST
                found.append((lines[0].decode("utf-8", "replace"), lines[1].decode("utf-8", "replace")))
            elif code == 0x56 and len(lines[0]) <= _NAME:  # UNICODE
                pushed = lines[0].decode("raw_unicode_escape", "replace")
            elif code == 0x70:  # PUT
                memo[_int(lines[0])] = recent[-1]
            elif code == 0x67:  # GET
                pushed = memo.get(_int(lines[0]))
        elif code == 0x93 and recent[-2] is not None and recent[-1] is not None:  # STACK_GLOBAL
            found.append((recent[-2], recent[-1]))
        elif code == 0x94:  # MEMOIZE
            memo[len(memo)] = recent[-1]
        elif code == 0x32:  # DUP
            pushed = recent[-1]
        if code not in _NO_PUSH:
            recent = [recent[-1], pushed]
    return found


def _int(text: bytes) -> int:
    try:
        return int(text)
    except ValueError:
        return -1
