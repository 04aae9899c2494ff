"""The other person of the end-to-end encryption tests: a matrix-nio client (with its
encryption extra, vodozemac inside) on the same Synapse, one command per run. Its device, keys
and sync position live in a folder of its own, so that runs go on where the last one stopped.

    nio_peer.py DIR login HOMESERVER USER_ID PASSWORD
    nio_peer.py DIR create-dm INVITEE         -> prints the room ID (encrypted, invited)
    nio_peer.py DIR join ROOM_ID
    nio_peer.py DIR send ROOM_ID TEXT          -> prints the event ID
    nio_peer.py DIR send-many ROOM_ID COUNT    -> sends "burst 1" ... "burst COUNT"
    nio_peer.py DIR send-thread ROOM_ID TEXT ROOT -> TEXT in the thread of ROOT; the event ID
    nio_peer.py DIR download ROOM_ID EVENT_ID OUT -> the file of that message (from the log),
                                                  decrypted if it came encrypted, to OUT
    nio_peer.py DIR send-kinds ROOM_ID         -> sends one event of each kind a person sends
                                                  (see send_kinds), prints {kind: event_id}
    nio_peer.py DIR read ROOM_ID TEXT [SECONDS] -> prints a JSON line per message up to TEXT
    nio_peer.py DIR send-late ROOM_ID TEXT SECONDS -> sends TEXT encrypted under a new room key
                                                  and prints its event ID at once, then gives
                                                  the room key to the members' devices only
                                                  SECONDS later (a key that comes late)
    nio_peer.py DIR ask-key USER_ID ROOM_ID SESSION_ID SENDER_KEY SECONDS
                                               -> asks USER_ID's devices for that room key
                                                  (m.room_key_request), then syncs for SECONDS;
                                                  prints how many to-device events came from
                                                  USER_ID meanwhile
    nio_peer.py - forge-megolm TEXT            -> the content of a real Megolm event whose
                                                  room key nobody was given

Every sync of every command logs the room events it brings (as nio decrypted them) in
DIR/messages.jsonl; `read` syncs until a message whose body is TEXT is in the log (or the
seconds pass, then exits 1), and prints the log's events of the room:
{"event_id", "sender", "type", "content", "body", "decrypted"} (an event nio could not decrypt
has type m.room.encrypted and no body).
Nothing here reaches beyond the homeserver it is given (127.0.0.1 in the tests).
"""

import asyncio
import io
import json
import os
import sys
import time

from nio import (
    AsyncClient,
    AsyncClientConfig,
    LoginResponse,
    MegolmEvent,
    RoomMessage,
)

from nio.crypto.attachments import decrypt_attachment

CONFIG = AsyncClientConfig(encryption_enabled=True, store_sync_tokens=True)


def fail(message):
    print(message, file=sys.stderr)
    sys.exit(1)


async def restored(folder):
    with open(os.path.join(folder, "creds.json")) as file:
        creds = json.load(file)
    client = AsyncClient(
        creds["homeserver"],
        creds["user_id"],
        device_id=creds["device_id"],
        store_path=folder,
        config=CONFIG,
    )
    client.restore_login(creds["user_id"], creds["device_id"], creds["access_token"])
    return client


async def login(folder, homeserver, user_id, password):
    os.makedirs(folder, exist_ok=True)
    client = AsyncClient(homeserver, user_id, store_path=folder, config=CONFIG)
    answer = await client.login(password, device_name="nio peer")
    if not isinstance(answer, LoginResponse):
        fail(f"login failed: {answer}")
    with open(os.path.join(folder, "creds.json"), "w") as file:
        json.dump(
            {
                "homeserver": homeserver,
                "user_id": answer.user_id,
                "device_id": answer.device_id,
                "access_token": answer.access_token,
            },
            file,
        )
    await synced(client)
    if client.should_upload_keys:
        await client.keys_upload()
    print(answer.device_id)
    await client.close()


def log_path(client):
    return os.path.join(client.store_path, "messages.jsonl")


async def synced(client, timeout=0, limit=None):
    """One sync, its room messages appended to the log (at most `limit` of each room's, else
    the server's default: a longer gap is skipped)."""
    room_filter = {"room": {"timeline": {"limit": limit}}} if limit else None
    answer = await client.sync(timeout=timeout, sync_filter=room_filter)
    rooms = getattr(answer, "rooms", None)
    with open(log_path(client), "a") as log:
        for room_id, room in (rooms.join.items() if rooms else []):
            for event in room.timeline.events:
                source = getattr(event, "source", None) or {}
                if isinstance(event, MegolmEvent):
                    row = {"body": None, "decrypted": False, "type": "m.room.encrypted"}
                elif "state_key" in source:
                    continue
                else:
                    row = {
                        "body": getattr(event, "body", None) if isinstance(event, RoomMessage) else None,
                        "decrypted": bool(getattr(event, "decrypted", False)),
                        "type": source.get("type"),
                    }
                row.update(
                    room_id=room_id,
                    event_id=event.event_id,
                    sender=event.sender,
                    content=source.get("content"),
                )
                log.write(json.dumps(row) + "\n")
    return answer


def logged(client, room_id):
    try:
        with open(log_path(client)) as log:
            rows = [json.loads(line) for line in log]
    except FileNotFoundError:
        return []
    return [row for row in rows if row["room_id"] == room_id]


def forge_megolm(text):
    import vodozemac

    session = vodozemac.GroupSession()
    message = session.encrypt(text.encode())
    sender = vodozemac.Curve25519SecretKey().public_key()
    print(json.dumps({
        "algorithm": "m.megolm.v1.aes-sha2",
        "sender_key": sender.to_base64(),
        "device_id": "FORGED",
        "session_id": session.session_id,
        "ciphertext": message.to_base64(),
    }))


async def share_keys(client, room_id):
    """What nio does not do on its own outside sync_forever: learn the room's devices, make Olm
    sessions with them, so that the room key reaches every one."""
    members = await client.joined_members(room_id)
    for member in getattr(members, "members", []):
        client.olm.users_for_key_query.add(member.user_id)
    if client.should_query_keys:
        await client.keys_query()
    missing = client.get_missing_sessions(room_id)
    if missing:
        await client.keys_claim(missing)


async def create_dm(client, invitee):
    answer = await client.room_create(
        is_direct=True,
        invite=[invitee],
        initial_state=[
            {
                "type": "m.room.encryption",
                "state_key": "",
                "content": {"algorithm": "m.megolm.v1.aes-sha2"},
            }
        ],
    )
    room_id = getattr(answer, "room_id", None) or fail(f"createRoom failed: {answer}")
    await synced(client)
    print(room_id)


async def join(client, room_id):
    answer = await client.join(room_id)
    if not getattr(answer, "room_id", None):
        fail(f"join failed: {answer}")
    await synced(client)


async def in_room(client, room_id):
    """Syncs until the room is known (a room just made or joined may come a sync later)."""
    await synced(client)
    if room_id not in client.rooms:
        # A room with nothing new since this device's last sync is in no incremental sync
        # (and nio makes rooms only from an initial one): an initial sync, not logged, names it.
        since = client.next_batch
        client.next_batch = client.loaded_sync_token = None
        await client.sync(timeout=0, full_state=True)
        client.next_batch = since
    for _ in range(10):
        if room_id in client.rooms:
            return
        await synced(client, timeout=1000)
    fail(f"not in {room_id}")


async def send(client, room_id, text):
    await in_room(client, room_id)
    await share_keys(client, room_id)
    answer = await client.room_send(
        room_id,
        "m.room.message",
        {"msgtype": "m.text", "body": text},
        ignore_unverified_devices=True,
    )
    event_id = getattr(answer, "event_id", None) or fail(f"send failed: {answer}")
    print(event_id)


async def send_late(client, room_id, text, seconds):
    """TEXT under a new Megolm session whose room key the members' devices get SECONDS after
    the event: nio's own steps of room_send, with the to-device messages held back."""
    from uuid import uuid4

    from nio import RoomSendResponse, ShareGroupSessionResponse
    from nio.api import Api

    await in_room(client, room_id)
    await share_keys(client, room_id)
    room = client.rooms[room_id]
    client.olm.create_outbound_group_session(room_id)
    shares = list(client.olm.share_group_session_parallel(
        room_id, list(room.users.keys()), ignore_unverified_devices=True))
    client.olm.outbound_group_sessions[room_id].shared = True
    payload = client.olm.group_encrypt(
        room_id, {"type": "m.room.message", "content": {"msgtype": "m.text", "body": text}})
    method, path, data = Api.room_send(
        client.access_token, room_id, "m.room.encrypted", payload, str(uuid4()))
    answer = await client._send(RoomSendResponse, method, path, data, (room_id,))
    event_id = getattr(answer, "event_id", None) or fail(f"send failed: {answer}")
    print(event_id, flush=True)
    await asyncio.sleep(float(seconds))
    for sharing_with, to_device in shares:
        method, path, data = Api.to_device(
            client.access_token, "m.room.encrypted", to_device, uuid4())
        await client._send(
            ShareGroupSessionResponse, method, path, data, response_data=(room_id, sharing_with))
    print("shared", flush=True)


async def ask_key(client, user_id, room_id, session_id, sender_key, seconds):
    """A key request as another user's client would send one, to every device of USER_ID."""
    from uuid import uuid4

    from nio import ToDeviceMessage

    await synced(client)
    content = {
        "action": "request",
        "body": {
            "algorithm": "m.megolm.v1.aes-sha2",
            "room_id": room_id,
            "sender_key": sender_key,
            "session_id": session_id,
        },
        "request_id": uuid4().hex,
        "requesting_device_id": client.device_id,
    }
    await client.to_device(ToDeviceMessage("m.room_key_request", user_id, "*", content))
    answers = 0
    until = time.monotonic() + float(seconds)
    while time.monotonic() < until:
        answer = await synced(client, timeout=1000)
        for event in getattr(answer, "to_device_events", []) or []:
            if getattr(event, "sender", None) == user_id:
                answers += 1
    print(json.dumps({"answers": answers}))


async def send_many(client, room_id, count, body=None):
    await in_room(client, room_id)
    await share_keys(client, room_id)
    for n in range(1, int(count) + 1):
        answer = await client.room_send(
            room_id,
            "m.room.message",
            {"msgtype": "m.text", "body": body or f"burst {n}"},
            ignore_unverified_devices=True,
        )
        getattr(answer, "event_id", None) or fail(f"send failed: {answer}")


async def sent(client, room_id, event_type, content):
    answer = await client.room_send(room_id, event_type, content, ignore_unverified_devices=True)
    return getattr(answer, "event_id", None) or fail(f"send failed: {answer}")


async def attachment(client, data, mimetype, filename):
    """An encrypted attachment as Element sends one: the bytes encrypted (AES-CTR), uploaded,
    and the `file` object that decrypts them."""
    answer, keys = await client.upload(
        lambda *_: io.BytesIO(data), content_type=mimetype, filename=filename,
        encrypt=True, filesize=len(data),
    )
    url = getattr(answer, "content_uri", None) or fail(f"upload failed: {answer}")
    return {"url": url, "key": keys["key"], "iv": keys["iv"], "hashes": keys["hashes"], "v": keys["v"]}


async def send_kinds(client, room_id):
    """One event of each kind: plain, HTML, notice, a reply, a thread message, an edit, a
    reaction, an image, a file, a redaction; then "kinds end"."""
    await in_room(client, room_id)
    await share_keys(client, room_id)
    ids = {}
    text = lambda body, **more: {"msgtype": "m.text", "body": body, **more}
    ids["plain"] = await sent(client, room_id, "m.room.message", text("kinds plain"))
    ids["html"] = await sent(client, room_id, "m.room.message", text(
        "kinds html", format="org.matrix.custom.html", formatted_body="<b>kinds</b> html"))
    ids["notice"] = await sent(client, room_id, "m.room.message",
                               {"msgtype": "m.notice", "body": "kinds notice"})
    ids["reply"] = await sent(client, room_id, "m.room.message", text(
        "kinds reply", **{"m.relates_to": {"m.in_reply_to": {"event_id": ids["plain"]}}}))
    ids["thread"] = await sent(client, room_id, "m.room.message", text(
        "kinds thread", **{"m.relates_to": {
            "rel_type": "m.thread", "event_id": ids["plain"], "is_falling_back": True,
            "m.in_reply_to": {"event_id": ids["plain"]}}}))
    ids["edit"] = await sent(client, room_id, "m.room.message", text(
        "* kinds plain edited", **{
            "m.new_content": text("kinds plain edited"),
            "m.relates_to": {"rel_type": "m.replace", "event_id": ids["plain"]}}))
    ids["reaction"] = await sent(client, room_id, "m.reaction", {"m.relates_to": {
        "rel_type": "m.annotation", "event_id": ids["plain"], "key": "👍"}})
    png = bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")
    ids["image"] = await sent(client, room_id, "m.room.message", {
        "msgtype": "m.image", "body": "dot.png",
        "info": {"mimetype": "image/png", "size": len(png), "w": 1, "h": 1},
        "file": await attachment(client, png, "image/png", "dot.png")})
    report = b"uptime 99.9%\n"
    ids["file"] = await sent(client, room_id, "m.room.message", {
        "msgtype": "m.file", "body": "report.txt",
        "info": {"mimetype": "text/plain", "size": len(report)},
        "file": await attachment(client, report, "text/plain", "report.txt")})
    answer = await client.room_redact(room_id, ids["html"], reason="kinds reason")
    ids["redaction"] = getattr(answer, "event_id", None) or fail(f"redact failed: {answer}")
    ids["end"] = await sent(client, room_id, "m.room.message", text("kinds end"))
    print(json.dumps(ids))


async def download(client, room_id, event_id, out):
    rows = [row for row in logged(client, room_id) if row["event_id"] == event_id]
    content = (rows or fail(f"no {event_id} in the log"))[0]["content"] or {}
    file = content.get("file")
    answer = await client.download(mxc=file["url"] if file else content["url"])
    body = getattr(answer, "body", None)
    if body is None:
        fail(f"download failed: {answer}")
    if file:
        body = decrypt_attachment(body, file["key"]["k"], file["hashes"]["sha256"], file["iv"])
    with open(out, "wb") as saved:
        saved.write(body)


async def read(client, room_id, text, seconds):
    until = time.monotonic() + seconds
    while not any(row["body"] == text for row in logged(client, room_id)):
        if time.monotonic() > until:
            for row in logged(client, room_id):
                print(json.dumps(row))
            fail(f"no message {text!r} in {room_id} within {seconds}s")
        await synced(client, timeout=1000)
    for row in logged(client, room_id):
        print(json.dumps(row))


async def log(client, room_id):
    """One sync (waiting up to a second for news, each room's events all logged), then every
    row of the room logged so far."""
    await synced(client, timeout=1000, limit=1000)
    for row in logged(client, room_id):
        print(json.dumps(row))


async def main(argv):
    folder, command, *rest = argv
    if command == "forge-megolm":
        forge_megolm(*rest)
        return
    if command == "login":
        await login(folder, *rest)
        return
    client = await restored(folder)
    try:
        if command == "create-dm":
            await create_dm(client, *rest)
        elif command == "join":
            await join(client, *rest)
        elif command == "send":
            await send(client, *rest)
        elif command == "send-thread":
            room_id, text, root = rest
            await in_room(client, room_id)
            await share_keys(client, room_id)
            print(await sent(client, room_id, "m.room.message", {
                "msgtype": "m.text", "body": text, "m.relates_to": {
                    "rel_type": "m.thread", "event_id": root, "is_falling_back": True,
                    "m.in_reply_to": {"event_id": root}}}))
        elif command == "download":
            room_id, event_id, out = rest
            await download(client, room_id, event_id, out)
        elif command == "send-kinds":
            await send_kinds(client, *rest)
        elif command == "ask-key":
            await ask_key(client, *rest)
        elif command == "send-late":
            await send_late(client, *rest)
        elif command == "send-many":
            await send_many(client, *rest)
        elif command == "log":
            await log(client, *rest)
        elif command == "read":
            room_id, text, *seconds = rest
            await read(client, room_id, text, float(seconds[0]) if seconds else 30.0)
        else:
            fail(f"unknown command {command}")
    finally:
        await client.close()


asyncio.run(main(sys.argv[1:]))
