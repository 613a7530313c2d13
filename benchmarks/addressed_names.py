"""Names and plates inside the lines people write around them: does the text classifier see them?

A badge reads "Hello my name is Oliver", a cake "Happy Birthday Grace", a receipt "Your server
today is Marco", a card "Love, Tom": the given name is a dictionary word as often as not, and
a lone dictionary word reads public (signs use "Rose", "Grace", "Will"). The phrase around it
says a person is meant. A taxi's roof sign and its plate are read as one line ("TAXI AB12
CDE"); a personal web address sits inside a sentence ("Visit www.johnsmith.com"); Vietnamese
write a form of address before a one-syllable given name ("Cô Lan", "Bác Hùng").

This check writes, with no image and no OCR (the classifier alone, on the line as read):

- ``greetings``: 41 phrases of seven languages (introductions, service, greetings, wishes,
  thanks, sign-offs) around the given names of ``name_cues.py`` (real-photo check, street
  scenario, international groups) and 24 given names that are English words ("Oliver",
  "Grace", "Mark"): share read as ``name``;
- ``labelled_plates``: ``faker`` plates of 20 locales after a word that labels them ("TAXI",
  "PLATE", "POLICE"): share read as private;
- ``personal_sites``: a person's web address inside a sentence: share read as ``name``;
- ``profiles``: a person's profile on a social site ("instagram.com/grace.stone",
  "linkedin.com/in/radek-hill"): share read as ``name``;
- ``handles``: a person's user name after the messaging or social service it is on
  ("Snapchat: anna.k99", "My insta is grace_hill", "LINE ID: tomfrost", "fb.com/the.real.anna"),
  or alone on its line ("@the.real.anna", "radek.hill24"): share read as private;
- ``damaged_emails``: `faker` e-mail addresses of 10 locales as OCR may read them, a space
  around the "@" or the top-level domain lost ("stricklandmark @example"): share read as
  private (an "@" after a word that introduces a mention, "Follow us @cityzoo", is a user
  name and no address, so this guards the other side);
- ``surname_initial``: a census surname that is an English word, then an initial, as class
  lists and rotas write names ("Stone J.", "Wood, R."): share read as ``name``;
- ``vietnamese``: 8 Vietnamese forms of address before 24 Vietnamese given names;
- ``staff_labels``: a staff role (before a colon, or a nurse's or agent's title without one),
  then a surname that is an English word, as badges, a ward's board and receipts write who
  serves ("Nurse: Baker", "Cashier: Hunter", "Pharmacist: Fisher", "NURSE SMITH"): share
  read as ``name``;
- ``handovers``: an order, a parcel, a ride or a post handed to a person or from one ("Order
  for {name}", "Your driver {name} is arriving", "Delivered to {name} at the front door",
  "Posted by u/{user}", in five languages) around the given names of ``greetings``: share
  read as ``name``;
- ``messages``: who called, wrote, paid or meets the user, as a phone's notifications and
  calendars write it ("Missed call from {name}", "Meeting with {name} at 3pm", "{name} sent
  you a photo", "{name} paid you $12", in four languages) around the same given names:
  share read as ``name``;
- ``public``: the public side, lines signs and adverts write with the same phrases and no
  person ("Welcome Home", "Hello Sydney", "Thank you NHS", "Happy Birthday Grandma") and
  codes after a word that are no plate ("FLIGHT BA 2490", "MODEL XR 2000"), shops' profiles
  and letters after a sign's word ("Gate B.", "Park A."), and shops' and museums' user names
  or a service's name before a word ("Follow us on Instagram: cityzoo", "Follow us @joesbakery",
  "Line: Northern"), a shift or state after a staff role ("Nurse: Day", "Manager: Sales"),
  a thing, place or holiday after a handover ("Order for Pickup", "Delivered to Paris",
  "Booking for Easter") and a brand, role or place a notification names ("Message from
  Apple", "Call from Dad", "London is calling"): share read as ``public``.

    .venv/bin/python benchmarks/addressed_names.py

Prints the share per group with a few misses; writes ``--out`` (default
``runs/bench/addressed_names.json``) atomically.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

GREETINGS = (
    "Hello my name is {}", "HELLO my name is {}", "My name is {}", "Hi, I'm {}", "Your server today is {}",
    "Served by {}", "Ask for {}", "Welcome back, {}", "Welcome {}", "Dear {}", "Hi {}", "Thank you {}", "Thanks {}!",
    "Happy Birthday {}!", "Congratulations {}", "Good luck {}", "Get well soon {}", "Love, {}", "Best wishes, {}",
    "Cheers, {}",
    "Mein Name ist {}", "Ich heiße {}", "Lieber {}", "Alles Gute zum Geburtstag {}", "Viele Grüße, {}",
    "Je m'appelle {}", "Bonjour {}", "Joyeux anniversaire {}", "Bisous, {}",
    "Me llamo {}", "Hola {}", "Feliz cumpleaños {}", "Besos, {}",
    "Mi chiamo {}", "Buon compleanno {}", "Grazie {}",
    "Mijn naam is {}", "Gefeliciteerd {}", "Hoi {}",
    "Meu nome é {}", "Parabéns {}")
#: Given names that are English words too: alone they read public, as signs use them.
WORD_GIVEN = ("Oliver", "Grace", "Rose", "Tom", "John", "Mark", "Guy", "Bill", "Jack", "Hope", "Joy", "Faith",
              "Victor", "Frank", "Dean", "Ray", "Rob", "Sue", "Pat", "Don", "Ruby", "Iris", "Violet", "Amber")
PLATE_LABELS = ("TAXI", "Taxi", "PLATE", "POLICE", "VAN", "CAB", "MINICAB", "TRUCK")
PLATE_LOCALES = ("en_GB", "en_US", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "pl_PL", "sv_SE", "da_DK", "fi_FI",
                 "pt_PT", "pt_BR", "cs_CZ", "hu_HU", "ro_RO", "tr_TR", "en_IN", "id_ID", "th_TH")
SITE_SENTENCES = ("Visit {}", "See more at {}", "Portfolio: {}", "Follow me on {}", "Book now at {}")
#: A person's profile on a social site, as cards and stickers write it.
PROFILES = ("instagram.com/{first}.{last}", "twitter.com/{first}{last}", "linkedin.com/in/{first}-{last}",
            "tiktok.com/@{first}_{last}", "www.facebook.com/{first}.{last}", "Follow me: instagram.com/{first}_{last}")
SITE_ENDS = (".com", ".de", ".me", ".co.uk", ".net")
#: A person's user name after the messaging or social service it is on, as stickers, bios,
#: cards and selfies write it.
HANDLE_LINES = ("Snapchat: {}", "IG: {}", "Insta: @{}", "Instagram: @{}", "TikTok: @{}", "Skype: {}", "Discord: {}",
                "Telegram: @{}", "Kik: {}", "My insta is {}", "Add me on Snapchat: {}", "Follow me on Instagram @{}",
                "LINE ID: {}", "x.com/{}", "fb.com/{}", "tiktok.com/@{}", "Snap: {}", "WeChat: {}", "@{}", "{}")
#: An e-mail address as OCR may read it: a space around its "@", its top-level domain lost
#: (the cost side of reading "Follow us @cityzoo" as a mention, not an address).
DAMAGED_EMAILS = ("{local} @{domain}", "{local}@ {domain}", "{local}@{host}", "{local} @{host}", "{local} @ {host}",
                  "Email: {local} @{host}", "E: {local} @{host}", "Contact {local} @{host}")
EMAIL_LOCALES = ("en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "pl_PL", "pt_BR", "sv_SE")
#: User names as people pick them: given name, surname, initial, a number.
HANDLES = ("{first}.{l}{n}", "{first}{last}", "{first}_{last}", "{first}{n}", "the.real.{first}", "{first}.{last}{n}",
           "{first}{l}{n}", "{l}{first}")
#: Staff roles as a badge, a ward's board or a receipt labels who serves.
STAFF_LINES = ("Nurse: {}", "NURSE: {}", "Cashier: {}", "Your server: {}", "Pharmacist: {}", "Manager: {}",
               "Duty manager: {}", "Receptionist: {}", "Technician: {}", "Midwife: {}", "Photo: {}", "Consultant: {}",
               "Nurse {}", "NURSE {}", "Agent {}")
#: Orders, parcels, rides and posts handed to a person or from one, as apps' notifications,
#: cups and labels write them.
HANDOVER_LINES = ("Order for {}", "ORDER FOR {}", "Pickup for {}", "Order #4411 for {} is ready",
                  "Your driver {} is arriving", "Your courier {} is on the way", "Delivered to {}",
                  "Delivered to {} at the front door", "Handed to {}", "Table reserved for {}", "Booking for {}",
                  "Posted by {}", "Sent by {}", "Paid by {}", "Now serving {}", "Bestellung für {}",
                  "Commande pour {}", "Pedido para {}", "Ordine per {}", "Bestelling voor {}", "Ihr Fahrer {}",
                  "Votre chauffeur {}", "Posted by u/{}")
#: A phone's notifications, calendars and payments: who called, wrote, paid or meets the user.
MESSAGE_LINES = ("Missed call from {}", "New message from {}", "Meeting with {} at 3pm", "You sent £20 to {}",
                 "Reply to {}", "FaceTime with {}", "{} sent you a photo", "{} paid you $12", "{} and 3 others reacted",
                 "{} is calling...", "Anruf von {}", "Appel manqué de {}", "Mensaje de {}", "Bericht van {}")
VIETNAMESE_TITLES = ("Cô", "Bác", "Ông", "Bà", "Chị", "Chú", "Thầy", "CÔ")
#: Vietnamese given names (one syllable, as a form of address is followed).
VIETNAMESE_GIVEN = ("Lan", "Hùng", "Mai", "Hoa", "Dũng", "Tuấn", "Hương", "Minh", "Thảo", "Linh", "Nam", "Phương",
                    "Quang", "Trang", "Hải", "Yến", "Bảo", "Đức", "Châu", "Hạnh", "Long", "Thủy", "Sơn", "Vy")
#: Public lines written with the phrases of :data:`GREETINGS` or a code after a word, and no person.
PUBLIC = (
    "Welcome to London", "Welcome Aboard", "Welcome Back Students", "Welcome Home", "Thank You For Shopping",
    "Thank You Come Again", "Thanks For Visiting", "Hello Summer", "Hi Neighbour", "Dear Visitors", "Dear Customers",
    "Happy Birthday Grandma", "Happy Birthday Mum", "Get Well Soon", "Good Luck Team GB", "Welcome Christmas Market",
    "Welcome Spring Sale", "Congratulations Graduates", "Hello Autumn", "Hello Sunshine", "Merci Beaucoup",
    "Willkommen Zuhause", "Hola Amigos", "Welkom Thuis", "I AM OPEN", "Ask for Details", "Ask for Assistance",
    "Served by Great Western Railway", "Hello Fresh", "Welcome Victoria Station", "Thank you NHS",
    "Thank You Key Workers", "Welcome Guests", "Hello London", "Hi Tech", "Cheers, Mate", "Hello Sydney",
    "Bonjour Paris", "Welcome India", "Thank you Jordan", "Hello Phoenix", "Happy Birthday Queen",
    "Thank You Doctors", "Dear Neighbours", "Hi Friends", "Welcome Everyone", "Thanks Team", "Welcome Freshers",
    "Hello Gorgeous", "Welcome Members", "Best Western", "Best Wishes", "With Love", "Happy Easter",
    "Welcome Spring", "Welcome Summer Camp", "Welcome to Oliver's", "Hello Kitty", "Love Island", "Love, Mum",
    "Dear Customer", "Hi there", "Happy Birthday to you", "Hello World", "Welcome May Sale",
    "FLIGHT BA 2490", "Flight LH 1234", "MODEL XR 2000", "GATE B12", "BUS 42 TO CITY", "PLATFORM 10", "ROOM 4B",
    "EXIT 12A", "ROUTE 66", "Concetto ridotta 24/7", "Visit www.bakery.co.uk", "Book now at www.citymuseum.org",
    "facebook.com/joesbakery", "www.facebook.com/CityMuseumLondon", "instagram.com/thecoffeehouse",
    "Follow us: twitter.com/londonmuseum", "Gate B.", "Plan B.", "Vitamin C.", "Park A.", "Hall B.", "Block C.",
    "Zone A.", "Level A.",
    "Follow us on Instagram: cityzoo", "Instagram: @londonmuseum", "Find us on Facebook: citybakery",
    "Instagram: @thecoffeehouse", "Facebook: Joes Bakery", "Follow us @joesbakery", "Line: Northern", "LINE 2",
    "Signal: red", "Steam: open", "Discord: Join our server", "Twitch: live now", "Snapchat: Stories",
    "TikTok: trending", "YouTube: Subscribe", "Follow us on TikTok @citybakes", "@cityzoo", "@home", "index.html",
    "co.uk", "ext.24", "v2.1", "Room4B", "open_now", "sale.today",
    "Nurse: Day", "Nurse: Station 4", "Manager: Sales", "Manager: Available", "Operator: Ready", "Server: Offline",
    "Cashier: Closed", "Pharmacist: On duty", "Technician: Required", "Guest: house",
    "Order for Pickup", "Order for Collection", "Delivered to your door", "Reserved for Staff",
    "Reserved for Customers", "Table for Two", "Posted by Admin", "Sent by Post", "Paid by Card", "Now serving 42",
    "Your driver license", "Tickets for Paris", "Delivery for London", "Delivered to Paris", "Reservation for Jordan",
    "Booking for Easter", "Delivered to Heaven", "Reserved for Doctor", "Delivered to Reception",
    "Now serving Breakfast", "Pedido para llevar", "Commande pour emporter", "Reserved for Blue Badge Holders",
    "Posted by u/AutoModerator", "r/pics", "u/CityMuseum",
    "Message from Apple", "Call from Dad", "Missed call from Unknown", "Greetings from Paris", "Chat with Support",
    "Reply to All", "Apple sent you a receipt", "London is calling", "Everyone left the chat", "Call with Sales",
    "Dinner with Friends", "Shared with Everyone", "Photo from London", "Coffee with Milk", "Sent to Printer")


def _share(lines: list[str], wanted: Callable[[str], bool], text_category: Any) -> dict[str, Any]:
    missed = [line for line in lines if not wanted(text_category(line))]
    read = len(lines) - len(missed)
    return {"lines": len(lines), "read": read, "share": read / len(lines) if lines else float("nan"),
            "missed": missed}


def groups(per_locale: int = 12) -> dict[str, tuple[list[str], Callable[[str], bool]]]:
    """The lines of each group and what each should read as."""
    import name_cues
    from international_names import fold
    from street_names import seeded_faker

    given = list(dict.fromkeys([*name_cues.given_names(), *WORD_GIVEN]))
    greetings = [template.format(name) for name in given for template in GREETINGS]
    plates = []
    for i, locale in enumerate(PLATE_LOCALES):
        fake = seeded_faker(locale)
        plates += [f"{PLATE_LABELS[(i + k) % len(PLATE_LABELS)]} {fake.license_plate()}" for k in range(per_locale)]
    sites = []
    for i, name in enumerate(given):
        first, last = name, name_cues.WORD_SURNAMES[i % len(name_cues.WORD_SURNAMES)]
        host = f"www.{first}{last}".lower() if i % 2 else f"{first}-{last}".lower()
        sites.append(SITE_SENTENCES[i % len(SITE_SENTENCES)].format(host + SITE_ENDS[i % len(SITE_ENDS)]))
    vietnamese = [f"{title} {given}" for title in VIETNAMESE_TITLES for given in VIETNAMESE_GIVEN]
    profiles = [PROFILES[i % len(PROFILES)].format(first=name.lower(), last=name_cues.WORD_SURNAMES[
        i % len(name_cues.WORD_SURNAMES)].lower()) for i, name in enumerate(given)]
    handles = []
    for i, name in enumerate(given):
        last = name_cues.WORD_SURNAMES[(3 * i) % len(name_cues.WORD_SURNAMES)].lower()
        first = fold(name).lower()
        for k in range(2):
            handle = HANDLES[(i + 3 * k) % len(HANDLES)].format(first=first, last=last, l=last[0], n=10 + (7 * i) % 90)
            handles.append(HANDLE_LINES[(2 * i + k) % len(HANDLE_LINES)].format(handle))
    emails = []
    for locale in EMAIL_LOCALES:
        fake = seeded_faker(locale)
        for k in range(per_locale * 2):
            local, domain = (fake.email() if k % 2 else fake.company_email()).split("@")
            host = domain.rsplit(".", 1)[0]
            emails += [form.format(local=local, domain=domain, host=host) for form in DAMAGED_EMAILS]
    handovers = []
    for i, name in enumerate(given):
        handle = f"{fold(name).lower()}_{name_cues.WORD_SURNAMES[i % len(name_cues.WORD_SURNAMES)].lower()}"
        handovers += [template.format(handle if "u/" in template else name.upper() if template.isupper() else name)
                      for template in HANDOVER_LINES]
    messages = [template.format(name) for name in given for template in MESSAGE_LINES]
    staff = [STAFF_LINES[i % len(STAFF_LINES)].format(surname) for i, surname in
             enumerate(s for s in name_cues.WORD_SURNAMES for _ in range(3))]
    pairs = [(surname, letter) for surname in name_cues.WORD_SURNAMES for letter in "AJMR"]
    initials = [f"{s}, {c}." if k % 2 else f"{s} {c}." if k % 3 else f"{s.upper()} {c}."
                for k, (s, c) in enumerate(pairs)]
    private = lambda category: category not in ("public", "unread")  # noqa: E731
    return {"greetings": (greetings, lambda c: c == "name"), "labelled_plates": (plates, private),
            "personal_sites": (sites, lambda c: c == "name"), "profiles": (profiles, lambda c: c == "name"),
            "handles": (handles, private), "damaged_emails": (emails, private),
            "surname_initial": (initials, lambda c: c == "name"), "vietnamese": (vietnamese, lambda c: c == "name"),
            "staff_labels": (staff, lambda c: c == "name"), "handovers": (handovers, lambda c: c == "name"),
            "messages": (messages, lambda c: c == "name"),
            "public": (list(PUBLIC), lambda c: c == "public")}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="runs/bench/addressed_names.json")
    args = ap.parse_args(argv)

    from veil.fsutil import atomic_write_text
    from veil.privacy.pii import text_category

    results = {name: _share(lines, wanted, text_category) for name, (lines, wanted) in groups().items()}
    for name, r in results.items():
        wanted = "public" if name == "public" else "private" if name in ("labelled_plates", "handles",
                                                                         "damaged_emails") else "names"
        print(f"{name:16s} {r['read']:5d} of {r['lines']:5d} read as {wanted} ({100 * r['share']:.1f} %)"
              + (f"; missed e.g. {', '.join(repr(m) for m in r['missed'][:6])}" if r["missed"] else ""))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, json.dumps(results, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
