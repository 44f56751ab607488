"""The system's libxcrypt (libcrypt.so.1) through ctypes: its reentrant `crypt_rn` and
`crypt_gensalt_rn`, which write into storage the caller passes, so threads may call them
at once; ctypes releases the GIL for the length of each call."""

from __future__ import annotations

import ctypes
import ctypes.util

# sizeof(struct crypt_data) in <crypt.h>: output 384, setting 384, input 512, reserved
# 767, initialized 1, internal 30720.
CRYPT_DATA_SIZE = 32768
GENSALT_OUTPUT_SIZE = 192  # CRYPT_GENSALT_OUTPUT_SIZE


class Unavailable(Exception):
    """This system has no libxcrypt with the reentrant functions (macOS, musl)."""


class Libxcrypt:
    """The two functions bcrypt needs, bound to a loaded libcrypt."""

    def __init__(self, library: ctypes.CDLL) -> None:
        try:
            self._crypt_rn = library.crypt_rn
            self._gensalt_rn = library.crypt_gensalt_rn
        except AttributeError as exc:
            raise Unavailable(f"{library._name} lacks crypt_rn/crypt_gensalt_rn") from exc
        self._crypt_rn.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_int]
        self._crypt_rn.restype = ctypes.c_char_p
        self._gensalt_rn.argtypes = [
            ctypes.c_char_p,
            ctypes.c_ulong,
            ctypes.c_char_p,
            ctypes.c_int,
            ctypes.c_void_p,
            ctypes.c_int,
        ]
        self._gensalt_rn.restype = ctypes.c_char_p

    def crypt(self, phrase: bytes, setting: bytes) -> bytes | None:
        """crypt_rn(phrase, setting): the hash, or None when libxcrypt refuses the setting.
        `phrase` must hold no NUL byte (C strings end there)."""
        data = ctypes.create_string_buffer(CRYPT_DATA_SIZE)
        try:
            result: bytes | None = self._crypt_rn(phrase, setting, data, CRYPT_DATA_SIZE)
        finally:
            # The phrase and the key schedule were in this buffer.
            ctypes.memset(data, 0, CRYPT_DATA_SIZE)
        # A failed call answers NULL or a failure token starting with "*".
        if result is None or result.startswith(b"*"):
            return None
        return result

    def gensalt(self, prefix: bytes, count: int) -> bytes:
        """crypt_gensalt_rn with libxcrypt's own random bytes (getrandom)."""
        output = ctypes.create_string_buffer(GENSALT_OUTPUT_SIZE)
        result: bytes | None = self._gensalt_rn(prefix, count, None, 0, output, GENSALT_OUTPUT_SIZE)
        if result is None or result.startswith(b"*"):
            raise ValueError(f"libxcrypt made no setting for {prefix!r} cost {count}")
        return result


def load() -> Libxcrypt:
    """Open the system's libcrypt; raise Unavailable when there is none with crypt_rn."""
    for name in ("libcrypt.so.1", ctypes.util.find_library("crypt")):
        if not name:
            continue
        try:
            return Libxcrypt(ctypes.CDLL(name))
        except OSError:
            continue
    raise Unavailable("no libcrypt.so.1 on this system")
