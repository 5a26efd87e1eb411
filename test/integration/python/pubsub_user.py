#!/usr/bin/python3
"""A program following a device through XEP-0060, written with slixmpp's xep_0060 (an implementation independent of
the bridge and of xmpp.js).

Discovers the device's node, fetches its last two items, subscribes, receives the last item at once and then the
next notification, unsubscribes and exits. Prints one JSON line per step on stdout; waits for a line on stdin before
expecting the next notification (the test publishes a reading then).

usage: pubsub_user.py HOST PORT JID PASSWORD DEVICE_JID [TIMEOUT_S]
"""
import asyncio
import json
import sys

import slixmpp

NS_JSON = "{urn:xmpp:json:0}json"


def emit(event, **data):
    print(json.dumps({"event": event, **data}), flush=True)


def payload_json(item):
    payload = item["payload"]
    return payload.text if payload is not None and payload.tag == NS_JSON else None


class Program(slixmpp.ClientXMPP):
    def __init__(self, jid, password, device):
        super().__init__(jid, password)
        self.device = device
        self.notifications = asyncio.Queue()
        self.register_plugin("xep_0030")
        self.register_plugin("xep_0060")
        self.add_event_handler("session_start", self.start)
        self.add_event_handler("pubsub_publish", self.on_publish)

    def on_publish(self, msg):
        item = msg["pubsub_event"]["items"]["item"]
        self.notifications.put_nowait({"type": msg["type"], "node": msg["pubsub_event"]["items"]["node"],
                                       "id": item["id"], "json": payload_json(item)})

    async def start(self, _event):
        try:
            await self.get_roster()
            self.send_presence()
            pubsub = self.plugin["xep_0060"]
            disco = self.plugin["xep_0030"]
            items = await disco.get_items(jid=self.device)
            emit("disco_items", items=[[str(j), n, name] for j, n, name in items["disco_items"]["items"]])
            info = await disco.get_info(jid=self.device)
            emit("disco_info", features=sorted(info["disco_info"]["features"]))
            got = await pubsub.get_items(self.device, "readings", max_items=2)
            emit("items", items=[{"id": i["id"], "json": payload_json(i)} for i in got["pubsub"]["items"]])
            sub = await pubsub.subscribe(self.device, "readings")
            emit("subscribed", subscription=sub["pubsub"]["subscription"]["subscription"])
            emit("notification", **(await self.notifications.get()))
            emit("ready")
            await asyncio.get_event_loop().run_in_executor(None, sys.stdin.readline)
            emit("notification", **(await self.notifications.get()))
            await pubsub.unsubscribe(self.device, "readings")
            emit("unsubscribed")
        except Exception as err:  # report, so the test shows what failed
            emit("error", error=repr(err))
        self.disconnect()


def main():
    host, port, jid, password, device = sys.argv[1:6]
    timeout = float(sys.argv[6]) if len(sys.argv) > 6 else 30
    program = Program(jid, password, device)
    program["feature_mechanisms"].unencrypted_plain = True
    program.connect((host, int(port)), disable_starttls=True, force_starttls=False)
    try:
        asyncio.get_event_loop().run_until_complete(asyncio.wait_for(program.disconnected, timeout))
    except asyncio.TimeoutError:
        emit("timeout")
        sys.exit(2)


if __name__ == "__main__":
    main()
