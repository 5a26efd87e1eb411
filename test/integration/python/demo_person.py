#!/usr/bin/python3
"""A person using the demo with a desktop client, written with slixmpp: logs in over STARTTLS (trusting the demo's
self-signed certificate, as a person accepts it), accepts subscription requests and subscribes back (slixmpp's
defaults, like Conversations offering to add a contact that asks), and reports what a client would show.

usage: demo_person.py HOST PORT JID PASSWORD CA_CERT [TIMEOUT_S]
Prints one JSON object per line:
  {"event": "session", "tls": bool, "roster": {jid: name}}
  {"event": "presence", "from": jid, "type": "available"|"unavailable"|"error", "show": …, "status": …, "error": …}
  {"event": "subscribe", "from": jid, "nick": …}
  {"event": "message", "from": jid, "type": …, "body": …, "delay": <from of the delay stamp or null>, "replace": id|null}
Each line on its standard input is a chat message to send: {"to": jid, "body": text}. Ends when its standard input
closes (or after the timeout, with status 2).
"""
import asyncio
import json
import sys
from pathlib import Path

import slixmpp


def emit(event, **data):
    print(json.dumps({"event": event, **data}), flush=True)


class Person(slixmpp.ClientXMPP):
    def __init__(self, jid, password):
        super().__init__(jid, password)
        self.tls = False
        self.add_event_handler("session_start", self.start)
        self.add_event_handler("tls_success", self.on_tls)
        self.add_event_handler("presence", self.on_presence)
        self.add_event_handler("presence_subscribe", self.on_subscribe)
        self.add_event_handler("message", self.on_message)

    def on_tls(self, _event):
        self.tls = True

    async def start(self, _event):
        roster = await self.get_roster()
        items = roster["roster"]["items"]
        emit("session", tls=self.tls, roster={str(jid): item["name"] for jid, item in items.items()})
        self.send_presence()

    def on_presence(self, presence):
        kind = presence["type"]
        if kind not in ("available", "unavailable", "error") and kind not in ("away", "xa", "dnd", "chat"):
            return
        if presence["from"].bare == self.boundjid.bare:
            return
        error = presence["error"]["condition"] if kind == "error" else None
        emit("presence", frm=presence["from"].bare, type="error" if kind == "error" else ("unavailable" if kind == "unavailable" else "available"),
             show=presence["show"] or None, status=presence["status"] or None, error=error)

    def on_subscribe(self, presence):
        nick = presence.xml.find("{http://jabber.org/protocol/nick}nick")
        emit("subscribe", frm=presence["from"].bare, nick=nick.text if nick is not None else None)

    def on_message(self, msg):
        if msg["type"] == "error":
            return
        delay = msg.xml.find("{urn:xmpp:delay}delay")
        replace = msg.xml.find("{urn:xmpp:message-correct:0}replace")
        emit("message", frm=msg["from"].bare, type=msg["type"], body=msg["body"], id=msg["id"],
             delay=delay.get("from") if delay is not None else None,
             replace=replace.get("id") if replace is not None else None)


def main():
    host, port, jid, password, ca = sys.argv[1:6]
    timeout = float(sys.argv[6]) if len(sys.argv) > 6 else 120
    person = Person(jid, password)
    person.ca_certs = Path(ca)
    loop = asyncio.get_event_loop()
    done = loop.create_future()

    def on_stdin():
        line = sys.stdin.readline()
        if not line:
            if not done.done():
                done.set_result(None)
            return
        command = json.loads(line)
        person.send_message(mto=command["to"], mbody=command["body"], mtype="chat")

    loop.add_reader(sys.stdin, on_stdin)
    person.connect((host, int(port)), force_starttls=True)
    try:
        loop.run_until_complete(asyncio.wait_for(done, timeout))
    except asyncio.TimeoutError:
        sys.exit(2)
    person.disconnect()
    loop.run_until_complete(asyncio.wait_for(person.disconnected, 5))


if __name__ == "__main__":
    main()
