"""Reads one secret of a user's secret storage with the recovery key, as the spec describes it
(m.secret_storage.v1.aes-hmac-sha2), so that the leak checks know the secret's own bytes.

    ssss.py SECRET_NAME < {"recovery_key": "...", "encrypted": {"iv", "ciphertext", "mac"}}
    -> prints the secret; fails if the MAC does not match

Nothing here reaches the network.
"""

import base64
import hashlib
import hmac
import json
import sys

from Crypto.Cipher import AES
from Crypto.Hash import SHA256
from Crypto.Protocol.KDF import HKDF

BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def base58(text):
    number = 0
    for char in text:
        number = number * 58 + BASE58.index(char)
    raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return b"\0" * (len(text) - len(text.lstrip("1"))) + raw


def unbase64(text):
    return base64.b64decode(text + "=" * (-len(text) % 4))


def main(name):
    given = json.load(sys.stdin)
    decoded = base58(given["recovery_key"].replace(" ", ""))
    parity = 0
    for byte in decoded:
        parity ^= byte
    if decoded[:2] != b"\x8b\x01" or parity != 0 or len(decoded) != 35:
        sys.exit("not a recovery key")
    keys = HKDF(decoded[2:34], 64, b"\0" * 32, SHA256, context=name.encode())
    aes_key, mac_key = keys[:32], keys[32:]
    encrypted = given["encrypted"]
    ciphertext = unbase64(encrypted["ciphertext"])
    mac = hmac.new(mac_key, ciphertext, hashlib.sha256).digest()
    if not hmac.compare_digest(mac, unbase64(encrypted["mac"])):
        sys.exit("the MAC does not match")
    cipher = AES.new(aes_key, AES.MODE_CTR, nonce=b"", initial_value=unbase64(encrypted["iv"]))
    print(cipher.decrypt(ciphertext).decode())


main(*sys.argv[1:])
