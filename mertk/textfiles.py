"""Reading the text files a user writes (configs, manifests, annotation CSVs) as UTF-8.

A file that is not UTF-8 is refused with what it is instead and how to convert it, never with a
``UnicodeDecodeError`` traceback. A UTF-8 byte-order mark (Excel's "CSV UTF-8") is accepted and
dropped. UTF-16 and UTF-32 (Excel's "Unicode text", Notepad's "Unicode") are recognised by their
byte-order mark, or by their zero bytes when there is none; a file with other zero bytes is
called binary; anything else that does not decode is named with the line and byte where it fails.
"""

from __future__ import annotations

import codecs
from pathlib import Path

__all__ = ["NotUtf8", "decode_utf8", "read_utf8"]

_BOMS = (  # longest first: a UTF-32-LE mark starts with the UTF-16-LE one
    (codecs.BOM_UTF32_LE, "UTF-32 (little-endian)"),
    (codecs.BOM_UTF32_BE, "UTF-32 (big-endian)"),
    (codecs.BOM_UTF16_LE, "UTF-16 (little-endian)"),
    (codecs.BOM_UTF16_BE, "UTF-16 (big-endian)"),
)


class NotUtf8(ValueError):
    """The bytes are not UTF-8 text: the message says what they are, :attr:`fix` how to convert them.

    Attributes:
        encoding: What the file is (``"UTF-16 (little-endian)"``, ``"binary"``) or ``None``
            when unknown.
        fix: How to make it UTF-8 (or, for a binary file, a hint that it is the wrong file).
    """

    def __init__(self, message: str, fix: str, encoding: str | None = None) -> None:
        super().__init__(message)
        self.fix, self.encoding = fix, encoding


def decode_utf8(data: bytes) -> str:
    """``data`` as text: UTF-8, with or without a byte-order mark.

    >>> decode_utf8(codecs.BOM_UTF8 + b"seed: 1")
    'seed: 1'
    >>> decode_utf8("seed: 1".encode("utf-16"))
    Traceback (most recent call last):
    ...
    mertk.textfiles.NotUtf8: the file is UTF-16 (little-endian) text, not UTF-8

    Raises:
        NotUtf8: naming the encoding it is in, where recognisable, and how to convert it.
    """
    encoding = _other_encoding(data)
    if encoding == "binary":
        raise NotUtf8(f"the file is binary, not text (it has a zero byte at offset {data.index(0)})",
                      "check that it is the right file", encoding)
    if encoding is not None:
        raise NotUtf8(f"the file is {encoding} text, not UTF-8",
                      f"save it as UTF-8 (Excel: 'CSV UTF-8'; an editor: encoding UTF-8; or `iconv -f "
                      f"{encoding.split()[0]} -t UTF-8 FILE > NEW`)", encoding)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise NotUtf8(f"the file is not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line} is not UTF-8; it may "
                      "be Latin-1 or Windows-1252)",
                      "save it as UTF-8, e.g. `iconv -f WINDOWS-1252 -t UTF-8 FILE > NEW`") from None


def read_utf8(path: Path) -> str:
    """The text of the file at ``path`` (see :func:`decode_utf8`); ``OSError`` as :meth:`Path.read_bytes`."""
    return decode_utf8(Path(path).read_bytes())


def _other_encoding(data: bytes) -> str | None:
    """What ``data`` is when it is plainly not UTF-8: a UTF-16/32 name, ``"binary"``, else ``None``."""
    for bom, name in _BOMS:
        if data.startswith(bom):
            return name
    head = data[:4096]
    if 0 not in head:
        return None
    even, odd = head[0::2].count(0), head[1::2].count(0)
    half = len(head) // 2
    if odd >= 0.9 * half and even == 0:  # ASCII in UTF-16-LE without a mark: "s\0e\0..."
        return "UTF-16 (little-endian)"
    if even >= 0.9 * half and odd == 0:
        return "UTF-16 (big-endian)"
    return "binary"
