#!/usr/bin/python3
"""Logs in to the demo the way a person with a desktop client would: STARTTLS (trusting the demo's self-signed
certificate, as a person accepts it), roster, presence, and the first reading from a device.

usage: demo_login.py HOST PORT JID PASSWORD CA_CERT DEVICE_JID [TIMEOUT_S]
Prints one JSON object: {"tls": bool, "roster": {jid: name}, "online": [jid...], "message": {...}}
"""
import asyncio
import json
import sys
from pathlib import Path

import slixmpp


class Person(slixmpp.ClientXMPP):
    def __init__(self, jid, password, device):
        super().__init__(jid, password)
        self.device = device
        self.result = {"tls": False, "roster": {}, "online": [], "message": None}
        self.add_event_handler("session_start", self.start)
        self.add_event_handler("tls_success", lambda _e: self.result.update(tls=True))
        self.add_event_handler("presence_available", self.on_available)
        self.add_event_handler("message", self.on_message)

    async def start(self, _event):
        roster = await self.get_roster()
        items = roster["roster"]["items"]
        self.result["roster"] = {str(jid): item["name"] for jid, item in items.items()}
        self.send_presence()

    def on_available(self, presence):
        jid = presence["from"].bare
        if jid not in self.result["online"]:
            self.result["online"].append(jid)

    def on_message(self, msg):
        if msg["from"].bare != self.device or msg["type"] == "error":
            return
        json_el = msg.xml.find("{urn:xmpp:json:0}json")
        self.result["message"] = {"from": msg["from"].bare, "body": msg["body"],
                                  "json": json_el.text if json_el is not None else None}
        self.disconnect()


def main():
    host, port, jid, password, ca, device = sys.argv[1:7]
    timeout = float(sys.argv[7]) if len(sys.argv) > 7 else 30
    person = Person(jid, password, device)
    person.ca_certs = Path(ca)
    person.connect((host, int(port)), force_starttls=True)
    try:
        asyncio.get_event_loop().run_until_complete(asyncio.wait_for(person.disconnected, timeout))
    except asyncio.TimeoutError:
        print(json.dumps(person.result), flush=True)
        sys.exit(2)
    print(json.dumps(person.result), flush=True)


if __name__ == "__main__":
    main()
