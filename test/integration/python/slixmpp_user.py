#!/usr/bin/python3
"""An XMPP user written with slixmpp, an implementation independent of xmpp.js.

Logs in, subscribes to a device, prints one JSON line per event on stdout ("subscribed", "available", "message"),
and exits after the first reading message, or with status 2 after the timeout.

usage: slixmpp_user.py HOST PORT JID PASSWORD DEVICE_JID [TIMEOUT_S]
"""
import asyncio
import json
import sys

import slixmpp


def emit(event, **data):
    print(json.dumps({"event": event, **data}), flush=True)


class User(slixmpp.ClientXMPP):
    def __init__(self, jid, password, device):
        super().__init__(jid, password)
        self.device = device
        self.seen_available = False
        self.register_plugin("xep_0030")
        self.add_event_handler("session_start", self.start)
        self.add_event_handler("message", self.on_message)
        self.add_event_handler("presence_subscribed", self.on_subscribed)
        self.add_event_handler("presence_unsubscribed", lambda p: emit("unsubscribed", frm=p["from"].bare))
        self.add_event_handler("presence_available", self.on_available)

    async def start(self, _event):
        await self.get_roster()
        self.send_presence()
        self.send_presence(pto=self.device, ptype="subscribe")

    def on_subscribed(self, presence):
        if presence["from"].bare == self.device:
            emit("subscribed", frm=presence["from"].bare)

    def on_available(self, presence):
        # Reported once: later presence from the device only updates its status text (its latest reading).
        if presence["from"].bare == self.device and not self.seen_available:
            self.seen_available = True
            emit("available", frm=presence["from"].bare)

    def on_message(self, msg):
        if msg["from"].bare != self.device or msg["type"] == "error":
            return
        json_el = msg.xml.find("{urn:xmpp:json:0}json")
        emit("message", frm=msg["from"].bare, type=msg["type"], body=msg["body"],
             json=json_el.text if json_el is not None else None)
        self.disconnect()


def main():
    host, port, jid, password, device = sys.argv[1:6]
    timeout = float(sys.argv[6]) if len(sys.argv) > 6 else 20
    user = User(jid, password, device)
    # The test server has no certificates; allow PLAIN over the loopback connection.
    user["feature_mechanisms"].unencrypted_plain = True
    user.connect((host, int(port)), disable_starttls=True, force_starttls=False)
    loop = asyncio.get_event_loop()
    done = user.disconnected
    try:
        loop.run_until_complete(asyncio.wait_for(done, timeout))
    except asyncio.TimeoutError:
        emit("timeout")
        sys.exit(2)


if __name__ == "__main__":
    main()
