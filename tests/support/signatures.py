"""Checks a user's cross-signing chain as another user reads it from /keys/query: the device's
keys carry a valid signature by the self-signing key, which carries a valid signature by the
master key. Ed25519 over the spec's canonical JSON, with vodozemac (its Python bindings).

    signatures.py USER_ID DEVICE_ID < keys-query-answer.json   -> prints "ok", or fails

Nothing here reaches the network.
"""

import json
import sys

import vodozemac


def canonical(obj):
    unsigned = {k: v for k, v in obj.items() if k not in ("signatures", "unsigned")}
    return json.dumps(unsigned, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def only_key(cross_signing_key):
    (key_id, key), = cross_signing_key["keys"].items()
    return key_id, key


def check(signed, user_id, key_id, public_key, what):
    signature = signed.get("signatures", {}).get(user_id, {}).get(key_id)
    if signature is None:
        sys.exit(f"{what}: no signature by {key_id}")
    try:
        vodozemac.Ed25519PublicKey.from_base64(public_key).verify_signature(
            canonical(signed), vodozemac.Ed25519Signature.from_base64(signature)
        )
    except Exception as err:  # vodozemac raises its own error type
        sys.exit(f"{what}: the signature by {key_id} is not valid ({err})")


def main(user_id, device_id):
    answer = json.load(sys.stdin)
    master = answer["master_keys"][user_id]
    self_signing = answer["self_signing_keys"][user_id]
    device = answer["device_keys"][user_id][device_id]
    master_id, master_key = only_key(master)
    ssk_id, ssk_key = only_key(self_signing)
    check(self_signing, user_id, master_id, master_key, "the self-signing key")
    check(device, user_id, ssk_id, ssk_key, "the device's keys")
    print("ok")


main(*sys.argv[1:])
