#!/usr/bin/env python3
"""A city's vaccination-booking service behind its official account.

The city runs `kizuna bot` with its official account's device; the daemon
posts every follower's message here and this service answers through the
daemon's local API. Both directions carry the daemon's secret: a request
without it is refused. Standard library only.

    kizuna bot --home ~/.kizuna-city --webhook http://127.0.0.1:9000/kizuna
    python3 webhook.py --listen 127.0.0.1:9000 --bot http://127.0.0.1:7490 \
        --secret-file ~/.kizuna-city/bot-secret --bookings ./bookings.json

A resident follows the city, is offered the free slots as buttons, books
one with a tap (or `kizuna answer`), is told where to go, and is reminded
before the appointment (--remind-after seconds after booking; the day
before, in a real deployment). Asking the city to erase what they sent
removes their booking.
"""

import argparse
import hmac
import json
import os
import sys
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SLOTS = [
    ("mon-1000", "Mon 10:00, Shibuya Health Centre"),
    ("tue-1430", "Tue 14:30, Shibuya Health Centre"),
    ("wed-0900", "Wed 09:00, Ebisu Clinic"),
]


class City:
    def __init__(self, bot, secret, bookings_path, remind_after):
        self.bot = bot.rstrip("/")
        self.secret = secret
        self.path = bookings_path
        self.remind_after = remind_after
        self.lock = threading.Lock()
        self.bookings = {}
        if os.path.exists(self.path):
            with open(self.path) as f:
                self.bookings = json.load(f)

    def save(self):
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.bookings, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

    def send(self, chat, text, buttons=None):
        body = {"chat": chat, "text": text}
        if buttons:
            body["buttons"] = [{"id": i, "label": l} for i, l in buttons]
        req = urllib.request.Request(
            self.bot + "/v1/messages",
            data=json.dumps(body).encode(),
            headers={
                "Content-Type": "application/json",
                "Authorization": "Bearer " + self.secret,
            },
            method="POST",
        )
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.load(r)

    def free_slots(self):
        taken = {b["slot"] for b in self.bookings.values()}
        return [(i, l) for i, l in SLOTS if i not in taken]

    def offer(self, chat):
        free = self.free_slots()
        if not free:
            self.send(chat, "All vaccination slots are taken this week; we will write when new ones open.")
            return
        self.send(chat, "Book your vaccination: choose a slot.", free)

    def handle(self, event):
        chat = event["chat"]
        if event["type"] == "followed":
            self.send(chat, "Welcome to Shibuya City. Only the city's own machines read what you send here.")
            self.offer(chat)
            return
        structured = event.get("structured") or {}
        kind = structured.get("kind")
        if kind == "answer" and structured.get("choice"):
            slot = structured["choice"]
            label = dict(SLOTS).get(slot)
            with self.lock:
                if label is None or slot not in dict(self.free_slots()):
                    self.send(chat, "That slot is no longer free.")
                    self.offer(chat)
                    return
                self.bookings[chat] = {"slot": slot, "who": event["from"]}
                self.save()
            self.send(chat, "Booked: " + label + ". We will remind you before it.")
            threading.Timer(self.remind_after, self.remind, args=(chat,)).start()
        elif kind == "request" and structured.get("request") == "erasure":
            with self.lock:
                self.bookings.pop(chat, None)
                self.save()
            self.send(chat, "Done: we erased your booking and everything you sent us.")
        elif event.get("text", "").strip().lower() in ("book", "slots"):
            self.offer(chat)

    def remind(self, chat):
        with self.lock:
            b = self.bookings.get(chat)
        if b:
            self.send(chat, "Reminder: your vaccination is " + dict(SLOTS)[b["slot"]] + ".")


def serve(listen, city):
    host, port = listen.rsplit(":", 1)

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):
            given = self.headers.get("Authorization", "")
            if not hmac.compare_digest(given.encode(), ("Bearer " + city.secret).encode()):
                self.send_response(401)
                self.end_headers()
                return
            n = int(self.headers.get("Content-Length", "0"))
            try:
                event = json.loads(self.rfile.read(n))
                city.handle(event)
            except Exception as e:  # the daemon tries again
                print("webhook: " + repr(e), file=sys.stderr)
                self.send_response(500)
                self.end_headers()
                return
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer((host, int(port)), Hook)
    print("vaccination booking listens on http://%s:%d/kizuna" % server.server_address[:2], flush=True)
    server.serve_forever()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--listen", default="127.0.0.1:9000")
    p.add_argument("--bot", default="http://127.0.0.1:7490")
    p.add_argument("--secret-file", required=True)
    p.add_argument("--bookings", default="bookings.json")
    p.add_argument("--remind-after", type=float, default=86400.0)
    a = p.parse_args()
    with open(a.secret_file) as f:
        secret = f.read().strip()
    serve(a.listen, City(a.bot, secret, a.bookings, a.remind_after))


if __name__ == "__main__":
    main()
