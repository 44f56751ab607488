"""The forms a secret can take in bytes, to look for it wherever the service wrote."""

from __future__ import annotations

import json


def secret_forms(secret: str) -> list[bytes]:
    """`secret` as raw UTF-8, JSON-escaped, every character \\u-escaped, and in UTF-16 and
    UTF-32 (either byte order): a copy in any of these is a leak."""
    forms = {
        secret.encode("utf-8", "surrogatepass"),
        json.dumps(secret)[1:-1].encode(),
        json.dumps(secret, ensure_ascii=False)[1:-1].encode("utf-8", "surrogatepass"),
        "".join(f"\\u{ord(ch):04x}" for ch in secret).encode(),
        "".join(f"\\u{ord(ch):04X}" for ch in secret).encode(),
    }
    for codec in ("utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"):
        forms.add(secret.encode(codec, "surrogatepass"))
    return sorted(forms)


def leaks(secret: str, *blobs: bytes | str | None) -> list[bytes]:
    """The forms of `secret` found in any of `blobs` (empty: no leak)."""
    found: list[bytes] = []
    for blob in blobs:
        if blob is None:
            continue
        data = blob.encode("utf-8", "surrogatepass") if isinstance(blob, str) else blob
        found.extend(form for form in secret_forms(secret) if form in data)
    return found
