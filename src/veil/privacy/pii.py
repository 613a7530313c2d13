"""Content cues for recognised text: is a line a name, a phone number, a plate, an e-mail, an ID?

Pure functions over the text a local OCR read, so a detector-guided anonymizer can tell a
public sign ("CAR PARK", "PRIORY GALLERIES") from private text ("MARIA KOWALSKI",
"+44 7700 900123", "AB12 CDE") before anything leaves the machine. The cues are generic
formats and word lists, not the strings of any data set:

* **phone**: at least 7 digits in one number (however grouped), with a phone keyword (CALL,
  TEL, PHONE, MOBILE, FAX), a leading ``+``, or the digits written in groups (``0161 496
  0734``, ``555-0134``);
* **email**: ``local@domain.tld``, or any ``@`` between word characters, or an address
  written out against scrapers (``jane.doe [at] example.com``, ``jane (at) example dot org``);
* **plate**: one short code of 6 to 10 letters and digits with at least two of each
  (``AB12 CDE``, ``AB-123-CD``, ``7ABC123``), in at most four groups; a dictionary word of
  4+ letters with a short number after it is a sign (``PLATFORM 10``, ``ROOM 101``); or
  one letter among groups of 4+ digits (``06 A 1234``, ``1A2 3456``, ``A 12345``); no group
  is a dictionary word of 4+ letters ("ONLY 9.99");
* **numbers signs write** are neither: times of day, percentages, prices with their currency,
  measures with their unit, founding years and spans of years ("Mo-Sa 9.00-20.00", "SALE 50%
  OFF", "Pint £4.50", "Max 3.5 t", "Est. 1902", "1914-1918") are left out before the phone and
  plate formats look (:func:`without_sign_numbers`); dates stay (a birth date is private);
* **id**: a long number (6+ digits) or a long mixed code (8+ characters), digits after
  an ID keyword (ID, NO, CARD, ACCOUNT, IBAN, PASSPORT, LICENCE, SORT), a card or account
  number in groups (12 to 19 digits, no letters), digits in three or more groups with
  letters of at most two between (``QQ 12 34 56 C``), an IBAN grouped or not (``DE89 3704 0044
  0532 0130 00``), a dashed code with 5+ digits that is not plate-like, or a value after a
  credential or birth-date label (``password: sunflower``, ``Born 12 March 1985``);
* **name**: one to four alphabetic words that start with a common given name (US census
  lists, ``names`` package), or that hold a word two English dictionaries do not both know
  (web2 and GCIDE: most family names of the world) nor the common-word lists of six other
  languages (:mod:`veil.privacy.lexicon`, only where no name list holds the word: "Ausgang"
  is known, "Rossi" is not), after a light stemming and splitting
  of words OCR ran together; a short list of signage words that dictionaries miss (CAFE,
  TAXI, WC, ...) counts as known, and so does a word one OCR slip away from a dictionary
  word (6+ letters, not a census name: "GALLERLES" is a misread sign word, not a name);
  a given name of some country (Faker's locales, those written in a script of India spelled
  in Latin letters by :func:`~veil.privacy.romanize.romanize_indic`: "राजेश" is "RAJESH";
  :func:`is_world_given_name`) is never
  explained away as words run together or misread ("MATTHIAS" is not "MATT" + "HIAS"), and
  such a name, or one two locales list even if it is a word ("Florin"), before a census
  surname made of words is a name ("Cormac Whitfield", "FlorinCastellano"); a given name
  only one dictionary holds (Webster's 2nd lists "piotr", "aoife") that is no common US
  surname, before any census surname, is a name too ("Piotr Smith", "PIOTRSMITH");
  also a given name then a family name written with its particles in lower case, however
  long ("Catharina van den Berg", :func:`_particle_name`), an initial and a census surname
  ("J. SMITH"), a form of address before capitalised
  words ("Dr. Anna Müller", "MR SMITH"), a surname, a comma and a given name ("Smith,
  John"), a romanized Chinese or Japanese surname and given name ("Wang Fang", "Li Na"),
  and, in a longer line, a run of capitalised words that is a name by itself
  ("Signed by Radek Hill", :func:`_name_inside`); diacritics are dropped first
  ("Hélène" is "Helene", the Azerbaijani "Əliyev" "Aliyev"), and a lone digit OCR read for
  a letter inside a word counts as that letter ("W6jcik");
* **place or business**: a place or business word after the name ("George Street", "Victoria
  Station", "Lucy's Cafe", "Alpha Bank", "Tesco Express") or a street word before it ("Rue
  Victor Hugo"), or such a word, "of" and a place ("Royal Bank of Scotland"), makes a line a
  place's name, not a person's (:func:`place_name`), unless a whole name comes before the
  place word ("PRIYA BENALI STATION": a badge read with the sign beside it), a form of address
  starts the line, or the place word is a common surname ("Grace Park"); a town's or
  city's name (:mod:`veil.privacy.places`) is a place too, as a whole line or a word of one
  ("Frankfurt am Main", "Welcome to Southampton"), unless it is a person's name as well
  (:func:`_public_places`: "Houston", "Florencio Varela") or stands beside a given name;
* **label: value**: a line that reads public as a whole is judged by the value after its
  last colon ("Card holder: J. SMITH"), and a value after a name label ("Surname:",
  "Given names:", "Nom:") is a name.

:func:`text_category` returns the strongest private category, ``public`` for readable text
without a cue, or ``unread`` when the recognition is too weak to decide, or when the line is
mostly in a script other than Latin, whose names the word lists cannot tell from signs, or
when a Latin recogniser read such a script as Latin letters and digits ("RA3HGOB",
:func:`garbled_word`) (hidden by default: privacy first).
"""

from __future__ import annotations

import functools
import os
import re
import unicodedata
from collections.abc import Iterator, Sequence
from typing import Any

from veil.privacy import lexicon, listcache, places
from veil.privacy.listcache import words_from_json, words_to_json
from veil.privacy.romanize import romanize_indic

#: Private text categories, in the order guides and networks use them.
PRIVATE_TEXT_CATEGORIES: tuple[str, ...] = ("name", "phone", "plate", "email", "id")
#: Every text category :func:`text_category` can return.
TEXT_CATEGORIES: tuple[str, ...] = (*PRIVATE_TEXT_CATEGORIES, "unread", "public")

_PHONE_WORDS = {"CALL", "TEL", "PHONE", "MOBILE", "MOB", "FAX", "CELL", "WHATSAPP", "PH", "T", "M"}
_ID_WORDS = {"ID", "NO", "NR", "NUM", "NUMBER", "CARD", "ACCOUNT", "ACC", "IBAN", "PASSPORT", "LICENCE",
             "LICENSE", "SSN", "NI", "MEMBER", "REF", "PIN", "BADGE", "EMPLOYEE", "SORT", "CVV", "CVC", "BIC",
             "SWIFT"}
# Labels that say the value after them is a person's name ("Surname: STRAND").
_NAME_LABELS = {"NAME", "NAMES", "SURNAME", "SURNAMES", "GIVEN", "FORENAME", "FORENAMES", "HOLDER", "CARDHOLDER",
                "NOM", "PRENOM", "PRENOMS", "NOMBRE", "APELLIDO", "APELLIDOS", "VORNAME", "NACHNAME", "COGNOME",
                "NAAM", "ACHTERNAAM", "VOORNAAM"}
#: Labels of the person a form, a bed board or a parcel is about or for ("Patient: Hill",
#: "Tenant: Wood", "Attn: Reed"): unlike :data:`_NAME_LABELS` each is a plain word too
#: ("Customer Parking", "Guest WiFi"), so :func:`_role_labelled_name` asks for a colon and
#: names after it.
_ROLE_LABELS = {"PATIENT", "RESIDENT", "CLIENT", "CUSTOMER", "TENANT", "LANDLORD", "OWNER", "GUEST", "PUPIL",
                "STUDENT", "EMPLOYEE", "CONTACT", "RECIPIENT", "ADDRESSEE", "SENDER", "APPLICANT", "PASSENGER",
                "DRIVER", "SIGNED", "SIGNATURE", "ATTN", "ATTENTION", "VISITOR", "CANDIDATE", "PARENT", "GUARDIAN",
                "CHILD", "CARER", "TEACHER", "TUTOR", "DOCTOR", "CONSULTANT", "MEMBER", "BUYER", "SELLER",
                "PATIENTIN", "KUNDE", "KUNDIN", "MIETER", "MIETERIN", "EMPFANGER", "ABSENDER", "PACIENTE",
                "CLIENTE", "DESTINATARIO", "REMITENTE", "ALUMNO", "ALUMNA", "DESTINATAIRE", "EXPEDITEUR",
                "LOCATAIRE", "ELEVE", "MITTENTE", "INQUILINO", "HUURDER", "KLANT", "AFZENDER",
                "GEADRESSEERDE"}
#: Staff roles a badge, a ward's board or a receipt writes before the name of who serves
#: ("Nurse: Baker", "Cashier: Brenda", "Pharmacist: Fisher"): read as :data:`_ROLE_LABELS` are
#: (a colon, names after it), less a shift or a state after them (:data:`_DUTY_WORDS`); "Carer:"
#: and "Consultant:" are among those already.
_STAFF_LABELS = {"NURSE", "MIDWIFE", "PHYSICIAN", "SURGEON", "DENTIST", "PHARMACIST", "THERAPIST",
                 "PARAMEDIC", "RECEPTIONIST", "CASHIER", "SERVER", "WAITER", "WAITRESS", "HOST", "HOSTESS", "BARISTA",
                 "BARTENDER", "STYLIST", "MANAGER", "SUPERVISOR", "ASSISTANT", "ASSOCIATE", "CLERK", "ADVISOR",
                 "ADVISER", "TECHNICIAN", "ENGINEER", "OPERATOR", "COURIER", "INSTRUCTOR", "TRAINER",
                 "LECTURER", "PRINCIPAL", "CARETAKER", "CONCIERGE", "ATTENDANT", "STEWARD", "STEWARDESS", "OFFICER",
                 "INSPECTOR", "AGENT", "COACH", "CHEF", "PHOTOGRAPHER", "PHOTO", "AUTHOR", "REPORTER", "PRESENTER",
                 "SPEAKER", "PRESCRIBER", "ARZT", "ARZTIN", "PFLEGER", "PFLEGERIN", "KASSIERER", "KASSIERERIN",
                 "MEDICO", "ENFERMERA", "ENFERMERO", "CAJERO", "CAJERA", "MEDECIN", "INFIRMIER", "INFIRMIERE",
                 "CAISSIER", "CAISSIERE"}
#: Every label that says the names after its colon are a person's (:func:`_role_labelled_name`).
_PERSON_LABELS = frozenset(_ROLE_LABELS | _STAFF_LABELS)
#: Staff of a till or a counter, whom a receipt or a badge names without a colon too
#: ("CASHIER RUBY", "Server Joy"; "Server Room" and "Host Stand" name no one).
_COUNTER_STAFF = {"CASHIER", "SERVER", "WAITER", "WAITRESS", "HOST", "HOSTESS", "BARISTA", "BARTENDER", "CLERK",
                  "OPERATOR", "ASSOCIATE", "STYLIST", "TECHNICIAN", "COURIER", "RECEPTIONIST", "PHARMACIST",
                  "ADVISOR", "ADVISER", "ATTENDANT", "KASSIERER", "KASSIERERIN", "CAJERO", "CAJERA", "CAISSIER",
                  "CAISSIERE"}
#: Shifts and states a role label is followed by, each a census surname or a given name of
#: some list too ("Nurse: Day", "Operator: Ready", "Patient: Unknown", "Patient: Male"): not a
#: person.
_DUTY_WORDS = {"DAY", "DUTY", "CALL", "READY", "MAIN", "NEW", "SALES", "KEY", "BANK", "JUNIOR", "HEAD", "EARLY", "SOON",
               "BACK", "FREE", "IN", "SELF", "TEMP", "TBC", "TBA", "UNKNOWN", "MALE", "FEMALE", "VALID", "INFANT"}
#: Small letters shaped as their capitals, which OCR reads in either case ("stone" for "Stone").
_CASE_ALIKE = frozenset("cosuvwxz")
# Labels of credentials and birth dates: what follows them is private whatever it reads.
_SECRET_LABELS = {"PASSWORD", "PASSWD", "PWD", "PASSCODE", "PASSPHRASE", "PASSWORT", "USERNAME", "LOGIN", "DOB",
                  "BORN", "BIRTH", "GEBURTSDATUM", "NAISSANCE", "NACIMIENTO"}
#: The long credential labels, found even run together with the words around them.
_RUN_TOGETHER_LABEL = re.compile(r"PASSWORD|PASSWD|PASSCODE|PASSPHRASE|PASSWORT|USERNAME", re.IGNORECASE)
# Words of public signage that general dictionaries lack (loan words, abbreviations).
_SIGNAGE = {"CAFE", "TAXI", "WC", "ATM", "EXIT", "HOTEL", "BAR", "PUB", "PIZZA", "SUSHI", "DELI", "SPA",
            "GYM", "BISTRO", "KEBAB", "METRO", "TRAM", "BUS", "PARKING", "TOILETS", "INFO", "STREET", "ST",
            "RD", "AVE", "NO", "OPEN", "CLOSED", "SALE", "FREE", "WIFI", "POLICE", "CENTRE", "THEATRE",
            "CINEMA", "OK", "STOP", "TICKETS", "ENTRANCE", "PHARMACY", "MUSEUM", "GALLERY", "BAKERY",
            "LTD", "INC", "CO", "THE", "AND", "OF", "WI-FI", "TEL", "FAX",
            # months as opening hours write them ("Closed 24 Dec"; days: _DAYS)
            "FEB", "APR", "AUG", "SEPT", "OCT", "NOV", "DEC",
            # acronyms of notices and shop windows, and the services they name ("CCTV in
            # operation", "Follow us on Instagram", "We accept PayPal")
            "CCTV", "LPG", "USB", "SIM", "DVD", "GPS", "NHS", "DIY", "BBQ", "VIP", "RSVP", "SOS", "AED", "SMS", "APP",
            "APPS", "WWW", "HTTP", "HTTPS", "INSTAGRAM", "FACEBOOK", "TWITTER", "TIKTOK", "WHATSAPP", "YOUTUBE",
            "LINKEDIN", "SNAPCHAT", "PINTEREST", "TRIPADVISOR", "PAYPAL", "VISA", "MASTERCARD", "AMEX", "MAESTRO",
            "UBER", "DELIVEROO", "AIRBNB", "BLUETOOTH", "EMAIL", "E-MAIL"}
#: Days as opening hours write them ("Open Mon-Sun", "MON-FRI 9-5").
_DAYS = {"MON", "TUE", "TUES", "WED", "THU", "THUR", "THURS", "FRI", "SAT", "SUN"}
_SIGNAGE |= _DAYS

#: Words that end the name of a street, a station, a building or a business ("George Street",
#: "Victoria Station", "Taj Mahal Restaurant", "Karl Marx Allee"): the name before them names the
#: place, not a person standing there. Common surnames (US census rank under 1,500: "Hall",
#: "Castle"; a locale's of Faker: "Plaza", "Bridge") are in :data:`_SURNAME_PLACE_ENDS`
#: instead, the commonest of all ("HILL", "WOOD", "GREEN", "FIELD") in neither; rarer ones
#: ("Street", "Way") stay here.
_PLACE_ENDS = {
    "STREET", "ST", "ROAD", "RD", "AVENUE", "AVE", "BOULEVARD", "BLVD", "ALLEY", "CIRCLE", "TRAIL", "EXPRESSWAY",
    "FREEWAY", "TURNPIKE", "BYPASS", "CAUSEWAY", "PARADE", "ARCADE", "CONCOURSE", "LN", "DRIVE", "WAY", "PLACE",
    "PL", "SQUARE", "SQ", "COURT", "CT", "TERRACE", "CRESCENT", "GARDENS", "PARKWAY", "PKWY", "HIGHWAY", "HWY",
    "STATION", "LINE", "TERMINAL", "AIRPORT", "HARBOUR", "HARBOR", "DOCK", "DOCKS", "PIER", "WHARF", "QUAY",
    "CENTER", "CENTRE", "STADIUM", "ARENA", "THEATRE", "THEATER", "MUSEUM", "GALLERY", "LIBRARY", "HOSPITAL",
    "CLINIC", "SCHOOL", "ACADEMY", "COLLEGE", "UNIVERSITY", "CATHEDRAL", "CHAPEL", "MOSQUE", "SYNAGOGUE", "ABBEY",
    "TOWER", "PALACE", "MARKET", "HOTEL", "INN", "MOTEL", "HOSTEL", "TOWN", "CITY", "VILLAGE", "HEIGHTS", "ZOO",
    "ISLAND", "RIVER", "MEMORIAL", "MONUMENT", "BUILDING", "TUNNEL", "HUIS", "HAUS", "CROSSING", "JUNCTION", "MEWS",
    "EMBANKMENT", "PROMENADE", "ESPLANADE", "CIRCUS", "STRASSE", "STR", "PLATZ", "ALLEE", "WEG", "GASSE", "STRAAT",
    "PLEIN", "GRACHT", "GATAN", "GATA", "VAGEN", "VEIEN", "STRAEDE", "VEJ", "CAFE", "BAKERY", "PIZZERIA", "DINER",
    "RESTAURANT", "SHOP", "STORE", "SALON",
    "DELI", "BOUTIQUE", "TAVERN", "BREWERY", "GARAGE", "FLORIST", "BISTRO", "BRASSERIE", "TRATTORIA", "OSTERIA",
    "PATISSERIE", "BOULANGERIE", "PUB", "KEBAB", "PIZZA", "SUSHI", "TACOS", "BURGERS", "COFFEE", "PHARMACY",
    "APOTHEKE", "EMPORIUM", "OUTLET", "MOTORS", "LTD", "INC", "LLC", "GMBH", "PLC",
    # trades, chains and institutions by what they are ("Alpha Bank", "Tesco Express", "Royal
    # Bank of Scotland", "Supermercados Iberia", "Smith Dental")
    "BANK", "BANKEN", "BANCORP", "BANKING", "SPARKASSE", "VOLKSBANK", "INSURANCE", "ASSURANCE", "ASSURANCES",
    "VERSICHERUNG", "AIRLINES", "AIRWAYS", "AIRLINE", "TELECOM", "TELEKOM", "TELECOMS", "WIRELESS", "NETWORKS",
    "SUPERMARKET", "SUPERMARKT", "SUPERMERCADO", "SUPERMERCADOS", "SUPERMERCATO", "HYPERMARKET", "SUPERSTORE",
    "EXPRESS", "FOODS", "TRAVEL", "TOURS", "TAXIS", "CABS", "RENTALS", "RENTAL", "CHICKEN", "DONUTS", "BAGELS",
    "NOODLES", "RAMEN", "LOUNGE", "CLUB", "GYM", "FITNESS", "SPA", "NAILS", "BEAUTY", "OPTICIANS", "OPTICIAN",
    "OPTICAL", "DENTAL", "DENTIST", "VETS", "LAUNDRY", "LAUNDRETTE", "LAUNDROMAT", "CLEANERS", "HARDWARE", "BOOKS",
    "BOOKSHOP", "BOOKSTORE", "JEWELLERS", "JEWELERS", "ELECTRONICS", "FURNITURE", "TOYS", "SHOES", "FASHION",
    "BUTCHERS", "BAKERS", "GROCERY", "GROCERS", "CHEMISTS", "NEWSAGENTS", "PHARMACIE", "FARMACIA", "APOTHEEK",
    "BACKEREI", "METZGEREI", "CAFFE", "RISTORANTE", "TAQUERIA", "CANTINA", "PANADERIA", "CARNICERIA", "PAPELERIA",
    "LIBRERIA", "FERRETERIA", "CAFETERIA", "BARBERSHOP", "TATTOO", "STUDIO", "STUDIOS", "AGENCY", "ESTATES",
    "PROPERTIES", "SERVICES", "SOLUTIONS", "GROUP", "HOLDINGS", "PARTNERS", "ASSOCIATES", "CONSULTING",
    "INTERNATIONAL", "COMPANY", "CORP", "CORPORATION", "INDUSTRIES", "ENTERPRISES", "TECHNOLOGIES", "SYSTEMS", "LABS",
    "ENERGY", "PETROLEUM", "OIL", "AUTO", "AUTOS", "CARS", "PHARMA"}
#: Place words that are common US surnames too ("Grace Park", "Lois Lane", "Anna Hall" are
#: people): a place only beside a word no person's name holds ("Central Park", "Royal Albert
#: Hall", "City Hall") or after a possessive ("Lucy's Kitchen").
_SURNAME_PLACE_ENDS = {
    "HALL", "PARK", "LANE", "CHURCH", "BEACH", "BARBER", "TEMPLE", "KITCHEN", "LAKE", "BRIDGE", "CASTLE", "PLAZA",
    "GRILL", "MALL", "BAR", "GADE", "MART", "MARKT", "BURGER", "POWER", "MEDIA"}
#: Words that start a place's name ("Rue Victor Hugo", "Via Giuseppe Verdi", "St George's
#: Hospital", "Mount Kenya", "Bahnhof Zoo").
_PLACE_STARTS = {
    "RUE", "VIA", "VIALE", "PIAZZA", "PIAZZALE", "CORSO", "LARGO", "CALLE", "AVENIDA", "PASEO", "PRACA", "CAMINO",
    "RAMBLA", "GLORIETA", "ALAMEDA", "CALZADA", "JALAN", "JL", "LORONG", "ALEJA", "PLAC", "ULICA", "UL", "STRADA",
    "ALEEA", "BULEVARDUL", "TRAVESSA", "RODOVIA", "CHEMIN", "AVENUE", "BOULEVARD", "QUAI", "BAHNHOF", "ST", "SAINT",
    "SANKT", "SANTA", "SANTO", "SAO", "STE", "MOUNT", "MT", "FORT", "LAKE", "CAPE", "PORT",
    "BANK", "BANCO", "BANQUE", "BANCA", "CAJA", "CAIXA",  # "Bank of Baroda", "Banco Santander"
    # French, Spanish, Italian, Portuguese, Romanian and Indonesian street words before the name
    "IMPASSE", "PLACE", "ALLEE", "ROUTE", "RONDA", "ACCESO", "CARRETERA", "TRAVESIA", "PASAJE", "CALLEJON",
    "BULEVAR", "CERRADA", "PRIVADA", "ANDADOR", "PROLONGACION", "CIRCUNVALACION", "RETORNO", "VICOLO", "CONTRADA",
    "BORGO", "SALITA", "LUNGOMARE", "RUA", "ESTRADA", "VIELA", "BECO", "SOSEAUA", "DRUMUL", "CALEA",
    "SPLAIUL", "INTRAREA", "PIATA", "GANG", "GG", "CONTINUACION", "CORREDOR", "PERIFERICO", "DIAGONAL", "EJE",
    "VIADUCTO", "ROTONDA", "INCROCIO", "STRETTO", "PATIO", "RESIDENCIAL", "RECANTO", "CONJUNTO", "SETOR", "QUADRA",
    "NUCLEO", "CHACARA", "LOTEAMENTO", "TRG", "CANADA", "CUESTA"}
#: A saint's title, which starts a place's name even joined to the saint's by a hyphen.
_SAINTS = {"ST", "STE", "SAINT", "SAINTE", "SANKT", "SANTA", "SANTO", "SAO"}
#: Street words first that are given names too ("Rua" in Swahili, "Ronda" in English): a street
#: only with a particle after them ("Rua da Prata", "Ronda de Atocha"). Not "Av.": a Turkish
#: lawyer's title as well ("Av. Tülin Zengin").
_GIVEN_PLACE_STARTS = {"RUA", "RONDA"}
#: Street words first that are English words too: a street only before name words ("Mount
#: Kenya", "Port Louis"; not "PORT PLANNED BY JOHN SMITH", a sentence in capitals).
_WORD_PLACE_STARTS = {"PLACE", "ROUTE", "DIAGONAL", "PATIO", "IMPASSE", "GANG", "CANADA", "SETOR", "EJE", "AVENUE",
                      "BOULEVARD", "MOUNT", "FORT", "LAKE", "CAPE", "PORT", "BANK"}
#: Street words of English-speaking countries after the name ("Kyle Stream", "Faulkner Knolls",
#: "Christopher Ridge", "Taurua Circuit"), as postal services list them. Those that are
#: surnames or given names too ("Brooks", "Hill", "Glen") make a place only beside a dictionary
#: word no name list holds (:func:`_place_end`); a plural counts as its singular ("Squares", "Courts").
_STREET_WORDS = {
    "ANNEX", "BAYOU", "BEND", "BLUFF", "BOTTOM", "BRANCH", "BROOK", "BURG", "CAMP", "CANYON",
    "CIRCUIT", "CLIFF", "CLOSE", "CLUB", "COMMON", "CORNER", "COURSE", "COVE", "CREEK", "CREST", "CROSSROAD",
    "CURVE", "DALE", "DAM", "DIVIDE", "DRIVEWAY", "ESTATE", "EXTENSION", "FALL", "FAIRWAY", "FERRY", "FIELD",
    "FLAT", "FORD", "FOREST", "FORGE", "FORK", "GATEWAY", "GLADE", "GLEN", "GREEN", "GROVE", "HAVEN", "HILL",
    "HOLLOW", "INLET", "ISLE", "KNOLL", "LANDING", "LOOP", "MANOR", "MEADOW", "MILL", "MISSION", "MOTORWAY",
    "MOUNTAIN", "NECK", "ORCHARD", "OVAL", "OVERPASS", "PASS", "PASSAGE", "PATH", "PIKE", "PINE", "PLAIN",
    "POINT", "PRAIRIE", "QUADRANGLE", "RADIAL", "RAMP", "RANCH", "RAPID", "RIDGE", "RISE", "ROUTE", "ROW", "RUN",
    "SHOAL", "SHORE", "SKYWAY", "SPRING", "SPUR", "STRAVENUE", "STREAM", "SUMMIT", "THROUGHWAY", "TRACE",
    "TRACK", "TRAFFICWAY", "UNDERPASS", "UNION", "VALLEY", "VIADUCT", "VIEW", "VILLA", "VILLE", "VISTA", "WALK",
    "WALL", "WELL", "WYND", "YARD",
    # other languages' street words after the name ("Lajoshídi utca", "Salvi Marg", "Egils Allé")
    "UTCA", "UT", "KORUT", "TER", "ULICA", "CESTA", "TRG", "PUT", "MARG", "CHOWK", "GALI", "NAGAR", "ALLE",
    "PLADS", "TORV", "KATU", "TIE", "BULEVARDI", "POLKU", "KUJA", "SETANY"}
#: Every word that ends a place's name but those that are common surnames (the singulars of plurals).
_ANY_PLACE_ENDS = frozenset(_PLACE_ENDS | _STREET_WORDS)
#: Street words of languages that name streets after whole names and write the street word in
#: lower case or joined by a hyphen ("Olof Palmes gata", "Karl-Marx-Allee", "Hans-J.
#: Rosenow-Platz", "Drottninggatan"): written so, a whole name before them is the street's
#: namesake. Capitalised on its own after a whole name ("PRIYA BENALI PLATZ") it may be a
#: badge OCR read with the sign beside it, and the name stays private.
_NAMESAKE_PLACE_ENDS = {
    "STRASSE", "STR", "PLATZ", "ALLEE", "WEG", "GASSE", "STRAAT", "PLEIN", "GRACHT", "GATAN", "GATA", "VEJ", "GADE",
    "VAGEN", "VEIEN", "STEIG", "KATU", "UTCA", "STRAEDE", "HUIS", "HAUS", "DAMM", "UFER", "PFAD", "CHAUSSEE",
    "SINGEL", "DREEF", "KADE", "PAD", "STIGEN", "TORGET", "GRAND", "BACKEN", "KUJA", "POLKU", "BULEVARDI", "PLADS",
    "TORV", "RING", "TIE", "LAAN", "STEEG", "ALLE", "UT", "KORUT", "TER", "ULICA", "CESTA", "TRG"}
#: Of those, the ones that end a street only as a word of their own ("Olof Palmes gata", "Váci
#: utca", "Anne Frank Huis"): as the end of one word they end names too ("Backhaus", "Peter").
_SEPARATE_PLACE_ENDS = {"GATA", "HUIS", "HAUS", "ALLE", "UT", "KORUT", "TER", "ULICA", "CESTA", "TRG"}
#: Endings of a place's name OCR runs together in English ("GEORGESTREET", "KEZIAHCAFE").
_ENGLISH_COMPOUND_ENDS = (
    "STREET", "ROAD", "AVENUE", "BOULEVARD", "STATION", "SQUARE", "AIRPORT", "HOSPITAL", "MUSEUM", "LIBRARY",
    "GALLERY", "THEATRE", "THEATER", "STADIUM", "SCHOOL", "COLLEGE", "ACADEMY", "CAFE", "BAKERY", "PIZZERIA",
    "RESTAURANT", "PHARMACY", "HOTEL")
#: Endings that end names too, allowed only where a name would not have them: "RING" after
#: four letters at least (not Goering), "TIE" after an N (Mannerheimintie; not Hattie),
#: "LAAN" and "STEEG" not after a Dutch particle (Vanderlaan).
_GUARDED_ENDS = {"RING": r"(?<=[A-Z'-]{4})RING", "TIE": r"(?<=N)TIE",
                 "LAAN": r"(?<!VAN)(?<!DER)(?<!TER)(?<!DE)LAAN", "STEEG": r"(?<!VAN)(?<!DER)(?<!TER)(?<!DE)STEEG"}
#: A place's name written as one word, as Germanic and Nordic languages write streets
#: ("Friedrichstrasse", "Kalverstraat", "Drottninggatan", "Nørregade", "Alwina-Etzold-Ring")
#: and OCR runs a sign together ("GEORGESTREET", "ELMSTREET", "KEZIAHCAFE"): at least three
#: letters, then one of these endings. Not the endings of names: "LINE" (Caroline), "HAUS"
#: (Backhaus), "GATE" (Southgate), "HOF" (Bischof).
_PLACE_COMPOUND = re.compile(r"([A-Z'-]{3,})(" + "|".join(
    _GUARDED_ENDS.get(end, end)
    for end in sorted({*_ENGLISH_COMPOUND_ENDS, *(_NAMESAKE_PLACE_ENDS - _SEPARATE_PLACE_ENDS)})) + ")")
#: Words before a place word that no person's name holds, though the census lists some as rare names.
_PLACE_QUALIFIERS = {
    "ROYAL", "NEW", "OLD", "NORTH", "SOUTH", "EAST", "WEST", "HIGH", "MAIN", "LITTLE", "GREAT", "GRAND", "UPPER",
    "LOWER", "CENTRAL", "CITY", "TOWN", "MEMORIAL", "NATIONAL", "ST", "SAINT"}
#: A firm's legal form or family-firm ending at the end of a line ("Müller GmbH", "Schiavone
#: S.p.A.", "Baker & Sons", "Kowalski Sp. z o.o.", "Leroy et Fils", "Hazenveld Groep"),
#: matched on the folded, upper-case line. Never right after a comma ("Smith, A.B." is
#: initials), and kinship words only after "&" or "and" ("Kim Son" is a name).
_LEGAL_FORM = re.compile(
    r"(?<![,\w])\s*(?:"
    # family firms and partnerships after "&" or "and": "Baker & Sons", "Leroy et Fils", "Smith & Co."
    r"(?:&|AND|ET|E|Y|UND|EN)\s*(?:SONS?|SOHNE|SOEHNE|FILS|FIGLI|HIJOS|ZONEN|CIE\.?|CO\.?|PARTNERS|ASSOCIATES|"
    r"ASOCIADOS|ASSOCIES|DAUGHTERS?)"
    # legal forms: "Müller GmbH", "Acme Inc.", "Schiavone S.p.A.", "Kowalski Sp. z o.o.", "Volvo AB"
    r"|GMBH(?:\s*&\s*CO\.?\s*KG)?|AG|KG|OHG|GBR|E\.\s?V\.|LTD\.?|LIMITED|PLC|L\.?L\.?C\.?|LLP|INC\.?|"
    r"INCORPORATED|CORP\.?|CORPORATION|COMPANY|PTY\.?\s*LTD\.?|PTE\.?\s*LTD\.?|SDN\.?\s*BHD\.?|BROS\.?|"
    r"HERMANOS|GROUP|GROUPE|GRUPPE|GRUPPO|GRUPO|GROEP|HOLDINGS?|"
    r"S\.A\.S\.?|SAS|SASU|SARL|EURL|SNC|S\.P\.A\.?|SPA|S\.R\.L\.?|SRL|S\.A\.|S\.L\.(?:N\.E\.?)?|SLNE|"
    r"S\.\s?COOP\.?|B\.V\.|BV|N\.V\.|NV|VOF|"
    r"SP\.\s?Z\s?O\.\s?O\.?(?:\s*SP\.\s?K\.?)?|SP\.\s?[KJ]\.?|S\.C\.|AB|ASA|A/S|APS|OYJ?|KFT\.?|ZRT\.?|"
    r"S\.R\.O\.?|D\.O\.O\.?)\s*$")

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
_SPELLED_EMAIL = re.compile(r"[\w.+-]+\s*[\[({<]\s*at\s*[\])}>]\s*[\w-]+"
                            r"(?:\s*(?:\.|[\[({<]?\s*dot\s*[\])}>]?)\s*[\w-]+)+", re.IGNORECASE)
#: An IBAN, grouped or not: a country code, two check digits and 11-30 letters and digits
#: (:func:`id_score` asks for 12 digits or more in it).
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b")
#: Words a single letter follows as a designation, not as a person's initial ("Vitamin C. Green
#: tea", "Gate B. Boarding", "Terminal A. Taxis"): the letter and its dot start no name.
_LETTER_LABELS = {
    "VITAMIN", "PLAN", "TYPE", "GATE", "TERMINAL", "BLOCK", "WING", "LEVEL", "ZONE", "PLATFORM", "CLASS", "GRADE",
    "SECTION", "ROW", "BUILDING", "EXIT", "ENTRANCE", "SIZE", "CATEGORY", "GROUP", "HALL", "FLOOR", "UNIT", "BAY",
    "TOWER", "STAND", "LOT", "AREA", "SECTOR", "STAGE", "TRACK", "LINE", "ROUTE", "PART", "APPENDIX", "ANNEX",
    "OPTION", "MODEL", "SERIES", "CORRIDOR", "ROOM", "DOOR", "CAR", "DECK", "POOL", "PHASE", "TIER"}
#: Forms of address before a name ("Dr. Anna Müller", "Mr Smith"); the dot is optional.
_HONORIFICS = {"MR", "MRS", "MS", "MISS", "MX", "DR", "PROF", "SIR", "DAME", "REV", "HERR", "FRAU", "MME", "MLLE",
               "MONSIEUR", "MADAME", "SR", "SRA", "SRTA", "DOTT", "DOTTSSA", "ING", "CAPT", "SGT", "HON", "SEN",
               "MISTER", "MADAM", "DOCTOR", "OFFICER", "CAPTAIN", "SERGEANT", "DETECTIVE", "INSPECTOR", "JUDGE"}
#: Roles and kinship words people are called by before their surname ("Coach Frost", "Pastor
#: Baker", "Sgt. Cole", "Aunt Rose"). Unlike :data:`_HONORIFICS` each is also a plain word
#: ("Coach Parking", "Nurse Call", "Deputy Head"), so :func:`_role_then_surname` asks for a
#: common name after it. "Major", "General", "Private", "Principal" and "Justice" are left out
#: in full ("General Store", "Private Road", "Major League"): their abbreviations are in.
_ROLE_TITLES = {
    "PASTOR", "FATHER", "FR", "SISTER", "BROTHER", "BR", "REVEREND", "RABBI", "IMAM", "BISHOP", "DEACON", "ELDER",
    "VICAR", "PADRE", "PFARRER", "COACH", "NURSE", "PROFESSOR", "DEAN", "COLONEL", "COL", "LIEUTENANT", "LT", "GEN",
    "MAJ", "CORPORAL", "CPL", "PVT", "ADMIRAL", "ADM", "COMMANDER", "CDR", "CMDR", "CHIEF", "SHERIFF", "DEPUTY",
    "TROOPER", "CONSTABLE", "PC", "AGENT", "DET", "SUPT", "INSP", "SENATOR", "MAYOR", "GOVERNOR", "GOV", "COUNCILLOR",
    "CLLR", "COUNCILMAN", "COUNCILWOMAN", "AUNT", "AUNTIE", "UNCLE", "GRANDMA", "GRANDPA", "GRANNY", "NANA", "CHEF",
    "MAESTRO", "LORD", "LADY", "MISSUS"}
#: Common names that after a role word are more often a thing than a surname ("Coach House",
#: "Nurse Call", "Deputy Head", "Father Christmas", "Lady Bird").
_ROLE_OBJECTS = {"HOUSE", "BAY", "CALL", "HEAD", "CHRISTMAS", "BIRD", "PASS", "BOARD", "BANK", "CENTER", "KEY",
                 "CLASS", "CARD", "CHAIR", "DESK", "ROOM", "TIME", "DAY", "SHIP", "BUS", "CAR", "BOOK"}
#: Trades that are surnames too: after a rank or a working role they name a job ("Chief Baker",
#: "Coach Driver", "Head Porter"), not a person (:data:`_JOB_ROLES`). A nurse or an agent is
#: no trade's head: "Nurse Baker", "Agent Smith" are people.
_TRADES = {"BAKER", "COOK", "BUTLER", "CARPENTER", "MASON", "PORTER", "FISHER", "FARMER", "MILLER", "TURNER",
           "WEAVER", "HUNTER", "GARDENER", "GARDNER", "POTTER", "DRIVER", "PAINTER", "CLERK", "STEWARD", "SHEPHERD",
           "GUARD", "WARDEN", "KEEPER", "BREWER", "BUTCHER", "PILOT", "SINGER", "DEALER", "MARSHAL", "SMITH",
           "CHANDLER", "TAILOR", "COOPER", "FLETCHER", "THATCHER", "GLOVER", "DYER", "SAWYER", "SEXTON", "WALKER"}
_JOB_ROLES = {"CHIEF", "DEPUTY", "COACH", "CHEF"}
_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*")
#: Digits OCR reads for a letter inside a word ("W6jcik" for "Wójcik", "B0NNER"), and the letter.
_DIGIT_SLIPS = str.maketrans("01568", "OISGB")
_SLIPPED = re.compile(r"(?<=[^\W\d_])[01568](?=[^\W\d_])")
#: Latin letters that do not decompose into a base letter and a diacritic.
_LATIN_FOLD = str.maketrans({"ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "ß": "ss", "đ": "d", "Đ": "D", "þ": "th",
                             "Þ": "Th", "ð": "d", "Ð": "D", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ı": "i",
                             "ə": "a", "Ə": "A"})  # Azerbaijani schwa, romanized "a": "Əliyev" is "Aliyev"
#: Share of a line's letters outside the Latin script from which it is ``unread``: the cues
#: (formats and word lists) cannot judge a line in Greek, Cyrillic, CJK, Arabic... script.
FOREIGN_SCRIPT_SHARE = 0.3


@functools.lru_cache(maxsize=1)
@listcache.on_disk("vocabulary", words_to_json, words_from_json)
def _vocabulary() -> frozenset[str]:
    """Lower-case English words: those Webster's 2nd (web2) and GCIDE agree on, plus those
    either one holds that are not a US census given name or surname.

    Either list alone holds many surnames and given names as lower-case entries ("walsh",
    "murphy" in web2), so a word only one dictionary knows counts only when no census list
    has it as a name ("stationery" stays a word, "walsh" becomes a name).
    """
    web2, gcide = _dictionaries()
    names = {n.lower() for n in _census_names()}
    return frozenset((web2 & gcide) | ((web2 | gcide) - names))


@functools.lru_cache(maxsize=1)
def _dictionaries() -> tuple[frozenset[str], frozenset[str]]:
    """The lower-case alphabetic words of Webster's 2nd (web2) and of GCIDE."""
    from english_words import get_english_words_set

    return (frozenset(get_english_words_set(["web2"], lower=True, alpha=True)),
            frozenset(get_english_words_set(["gcide"], lower=True, alpha=True)))


@functools.cache
def _census_list(fname: str) -> tuple[str, ...]:
    """One US census list shipped in the ``names`` package (``dist.male.first``,
    ``dist.female.first``, ``dist.all.last``), upper case, most common first."""
    import names

    with open(os.path.join(os.path.dirname(names.__file__), fname), encoding="utf-8") as fh:
        return tuple(line.split()[0].upper() for line in fh if line.strip())


_GIVEN_LISTS = ("dist.male.first", "dist.female.first")


@functools.lru_cache(maxsize=1)
def _census_names() -> frozenset[str]:
    """Every given name and surname of the US census lists shipped in the ``names`` package."""
    return frozenset(n for fname in (*_GIVEN_LISTS, "dist.all.last") for n in _census_list(fname))


@functools.cache
def _given_names(top: int | None = 1500) -> frozenset[str]:
    """The ``top`` most common given names of each US census list shipped in the ``names``
    package (None: all of them)."""
    return frozenset(n for fname in _GIVEN_LISTS for n in _census_list(fname)[:top])


def _stems(word: str) -> list[str]:
    w = word.lower().strip("'’-")
    out = [w]
    for suf, rep in (("ies", "y"), ("es", ""), ("s", ""), ("ed", ""), ("ed", "e"), ("ing", ""), ("ing", "e"),
                     ("'s", ""), ("’s", "")):
        if w.endswith(suf) and len(w) > len(suf) + 2:
            out.append(w[: -len(suf)] + rep)
    return out


def _single_known(word: str) -> bool:
    if word.upper() in _SIGNAGE:
        return True
    parts = word.upper().split("-")
    if len(parts) > 1 and all(p in _SIGNAGE for p in parts):
        return True  # "Mon-Sat", "Fri-Sun"
    vocab = _vocabulary()
    return any(s in vocab for s in _stems(word))


# Short words allowed as pieces of a run-together line (longer pieces: any dictionary word).
_SHORT = {"no", "of", "to", "in", "on", "at", "by", "the", "and", "for", "car", "bus", "way", "one", "all", "new",
          "old", "art", "bar", "pub", "spa", "gym", "inn", "zoo", "tea", "tax", "box", "day", "sun", "sea", "hot",
          "big", "top", "red", "kid", "pet", "fun", "eat", "bay", "hall", "shop"}


def _segments(word: str, pieces: int = 3, min_len: int = 4) -> bool:
    """True when ``word`` splits into at most ``pieces`` known words (``min_len``+ letters, or
    common short words).

    OCR engines often drop the space between words ("CARPARK", "THECOPYCENTRE"); a line
    that segments into dictionary words is vocabulary, not a name. Short pieces are limited
    to a list because dictionaries hold many 3-letter oddities ("ess", "jam") that would
    let any name segment.
    """
    w = word.lower()
    if w in _SHORT or (len(w) >= min_len and _single_known(w)):
        return True
    if pieces <= 1:
        return False
    for i in range(2, len(w) - 1):
        head = w[:i]
        if (head in _SHORT or (i >= min_len and _single_known(head))) and _segments(w[i:], pieces - 1, min_len):
            return True
    return False


def is_known_word(word: str) -> bool:
    """True when ``word`` (any case) is an English dictionary or signage word, or a few of them
    written without spaces."""
    w = word.strip("'’-")
    if len(w) <= 2 or _single_known(w) or w.lower() in _SHORT:
        return True
    return _segments(w) if len(w) <= 24 else False


def _alnum(text: str) -> str:
    return "".join(c for c in text if c.isalnum())


#: Numbers that signs write and that no phone number or plate holds: a time of day ("7:00",
#: "17h30", "9:30pm", "10am", "9.00-20.00"), a percentage ("50% OFF", "-30 %"), an amount with its
#: currency ("£4.50", "12,90 €", "1.99 EUR"), a measure with its unit ("3.5 t", "30 km/h"), a
#: founding year ("Est. 1902", "Seit 1948") and a span of years ("1914-1918"). Removed before
#: the phone and plate formats look at a line, so "Breakfast 7:00 - 11:00" is no phone number
#: and "SALE 50% OFF" no plate. Dates stay: a birth date is private.
_CURRENCY_SIGNS = "[£$€¥₹₽₺₴₩₪]"
_CURRENCY_CODES = ("(?:EUR|USD|GBP|CHF|JPY|CNY|INR|RUB|TRY|PLN|CZK|SEK|NOK|DKK|HUF|RON|AUD|CAD|NZD|MXN|BRL|ZAR|EURO"
                   "|EUROS)")
_SIGN_NUMBER = re.compile(
    r"(?<![\w:.])(?:[01]?\d|2[0-3])(?::[0-5]\d|(?-i:h)[0-5]\d)(?:\s?[ap]\.?m\b\.?)?(?!\d|[:.]\d)"
    r"|(?<![\w:.])(?:1[0-2]|0?[1-9])(?:[ap]m\b|\s?[ap]\.m\.)"
    r"|(?<![\w:.])(?:[01]?\d|2[0-3])[.:][0-5]\d\s?[-–]\s?(?:[01]?\d|2[0-3])[.:][0-5]\d(?!\d|[:.]\d)"
    r"|(?<![\d.\-–/])\b(?:1[5-9]|20)\d{2}\s?[-–]\s?(?:1[5-9]|20)\d{2}\b(?![-–.]?\d)"
    r"|[-−–]?\d+(?:[.,]\d+)?\s?%"
    rf"|{_CURRENCY_SIGNS}\s?\d+(?:[.,]\d+)*(?:[.,]-)?|\d+(?:[.,]\d+)*\s?{_CURRENCY_SIGNS}"
    rf"|\b{_CURRENCY_CODES}\s?\d+[.,]\d{{2}}\b|\b\d+[.,]\d{{2}}\s?{_CURRENCY_CODES}\b"
    r"|\b\d+(?:[.,]\d+)?\s?(?-i:km/h|mph|km|kg|cm|mm|ml|kW|kWh)\b|\b\d+[.,]\d+\s?(?-i:[tmlg])\b"
    r"|\b(?:EST|ESTD|ESTABLISHED|SINCE|SEIT|DEPUIS|DESDE|DAL|SINDS|FOUNDED|GEGR|FOND[EÉ]E?)\.?\s+(?:IN\s+)?"
    r"(?:1[5-9]|20)\d{2}\b",
    re.IGNORECASE)
#: A number as phone numbers are written: digits with spaces, dots, dashes, slashes or brackets
#: between them (and a leading "+").
_DIGIT_RUN = re.compile(r"\+?\(?\d(?:[\d\s().\-–/]*\d)?")
#: Letters a recogniser reads for digits inside a number ("O161 496 O123", "07700 9l0123").
_LETTER_SLIPS = str.maketrans({"O": "0", "o": "0", "I": "1", "l": "1", "|": "1"})


def without_sign_numbers(text: str) -> str:
    """``text`` with its times, percentages, prices, measures and founding years blanked
    (:data:`_SIGN_NUMBER`)."""
    def blank(m: re.Match[str]) -> str:
        years = re.fullmatch(r"(\d{4})\s?[-–]\s?(\d{4})", m.group())
        # "2017-1999", "1916-2051": no span of years (a phone number's groups)
        return m.group() if years and not years[1] <= years[2] <= "2030" else " "

    return _SIGN_NUMBER.sub(blank, text)


def _unslip_digits(text: str) -> str:
    """Letters a recogniser read for digits turned back, in tokens of digits and such letters."""
    return re.sub(r"\S+", lambda m: m.group().translate(_LETTER_SLIPS)
                  if any(c.isdigit() for c in m.group()) and re.fullmatch(r"[\dOoIl|()+\-–./]+", m.group())
                  else m.group(), text)


def phone_score(text: str) -> float:
    """1 for a phone number, else 0 (see the module doc). The digits must stand together
    (one number, however grouped): a price list ("Coffee 2.50 Tea 1.80 Cake 3.20") or opening
    hours are no phone number."""
    text = without_sign_numbers(text)
    runs = [sum(c.isdigit() for c in m.group()) for m in _DIGIT_RUN.finditer(_unslip_digits(text))]
    if not runs or max(runs) < 7:
        return 0.0
    digits = sum(c.isdigit() for c in text)
    up = text.upper()
    words = set(re.findall(r"[A-Z]+", up))
    grouped = len(re.findall(r"\d+", text)) >= 2 and digits <= 15
    if words & _PHONE_WORDS or text.strip().startswith("+") or grouped or 10 <= digits <= 13:
        return 1.0
    return 0.0


def email_score(text: str) -> float:
    """1 for an e-mail address (or a lone ``@`` between word characters, an address written
    out against scrapers: "jane.doe [at] example.com", "jane (at) example dot org", or one
    whose "@" OCR misread before a mail provider's domain, :data:`_GLUED_MAIL`), else 0."""
    if _EMAIL.search(text.replace(" ", "")) or _SPELLED_EMAIL.search(text) or _GLUED_MAIL.search(text):
        return 1.0
    if "@" not in text:
        return 0.0
    plain = text
    for handle in mentioned_handles(text):  # "Follow us @joesbakery" names a user, no address
        plain = plain.replace("@" + handle, " ")
    return 1.0 if re.search(r"\w@\w", plain.replace(" ", "")) else 0.0


#: Messaging and social services whose name, before a colon or an "@", labels a user name
#: ("Snapchat: anna.k99", "IG: grace_hill", "Skype: john.smith.42").
_HANDLE_SERVICES = (r"snapchat", r"snap", r"instagram", r"insta", r"ig", r"tik\s?tok", r"twitter", r"skype",
                    r"discord", r"telegram", r"kik", r"wechat", r"weixin", r"viber", r"facebook", r"fb", r"threads",
                    r"mastodon", r"bluesky", r"bsky", r"twitch", r"youtube", r"yt", r"github", r"reddit",
                    r"onlyfans", r"venmo", r"cash\s?app", r"psn", r"xbox", r"gamertag", r"steam", r"roblox",
                    r"kakao(?:\s?talk)?", r"line", r"signal", r"x")
#: Words after which an "@" mentions a user ("Follow us @cityzoo", "Photo by @grace_hill").
_MENTION_CUES = {"FOLLOW", "US", "ME", "BY", "ON", "VIA", "WITH", "TAG", "DM", "FIND", "JOIN", "SEE", "AND", "OR",
                 "PHOTO", "PHOTOS", "CREDIT", "CREDITS", "THANKS", "FT", "FEAT", "SHOP", "VISIT"}
#: The names of :data:`_HANDLE_SERVICES` as one pattern ("IG @cityzoo", "Insta: @grace_hill").
_SERVICE_NAMES = "|".join(_HANDLE_SERVICES)
_SERVICE_NAME = re.compile(_SERVICE_NAMES, re.IGNORECASE)
#: Mail providers: "anna @gmail" is an e-mail address that lost its ".com", not a mention.
#: Mail providers whose names no common word ends in: their domain run on to a word is an address.
_DISTINCT_MAIL_PROVIDERS = {"GMAIL", "GOOGLEMAIL", "OUTLOOK", "HOTMAIL", "YAHOO", "ICLOUD", "GMX", "POSTEO",
                            "PROTONMAIL", "YANDEX", "FASTMAIL", "TUTANOTA", "BTINTERNET", "LIBERO", "SEZNAM",
                            "LAPOSTE"}
_MAIL_PROVIDERS = _DISTINCT_MAIL_PROVIDERS | {"WEB", "PROTON", "AOL", "LIVE", "MSN", "MAIL", "QQ", "ORANGE", "FREE",
                                              "VIRGILIO", "ONET", "WP", "T-ONLINE", "ME"}
#: An e-mail address whose "@" OCR read as a letter or dropped ("przybylski.hoicloud.com" for
#: "przybylski.h@icloud.com", "annak99gmail.com"): a mail provider's domain run on to the word
#: before it. A provider's own site ("www.gmail.com", "Outlook.com") has nothing run on.
_GLUED_MAIL = re.compile(r"(?<![\w.+-])[\w.+-]*[^\W_](?:" + "|".join(sorted(_DISTINCT_MAIL_PROVIDERS))
                         + r")\.[a-z]{2,3}\b", re.IGNORECASE)


def mentioned_handles(text: str) -> list[str]:
    """The user names a line mentions after an "@" that cannot be an e-mail address read with
    a space: no dot after the "@" ("jane @example.com" is an address), no mail provider, and
    the line's start, a word that introduces a mention (:data:`_MENTION_CUES`) or a service's
    name before it ("Follow us @joesbakery" gives "joesbakery"; "j.smith @outlook",
    "stricklandmark @example" nothing: an address's local part before it)."""
    out = []
    for m in re.finditer(r"(?:^|(?P<before>\S+)\s+)@(?P<handle>\w+)(?![\w.@-])", text):
        before = m.group("before")
        if m.group("handle").upper() in _MAIL_PROVIDERS:
            continue
        word = (before or "").rstrip(":").upper()
        if before is None or word in _MENTION_CUES or _SERVICE_NAME.fullmatch(word):
            out.append(m.group("handle"))
    return out


#: Words before a code that say it is no number plate ("FLIGHT BA 2490", "MODEL XR 2000").
_NOT_PLATE_LABELS = _LETTER_LABELS | {"FLIGHT", "TRAIN", "SERVICE", "VERSION", "PRODUCT", "ITEM", "ORDER",
                                      "ARTICLE", "CODE", "VOUCHER", "COUPON", "PROMO"}


def plate_score(text: str) -> float:
    """1 for a licence-plate-like code, else 0 (:func:`_plate_format`), also after a word that
    labels it ("TAXI AB12 CDE", "PLATE B-MK 4521": the sign on a car's roof and its plate
    read as one line), unless the word names another kind of code (:data:`_NOT_PLATE_LABELS`:
    "FLIGHT BA 2490"); the code's letter groups as short as plates write them ("Concetto
    ridotta 24/7" is none)."""
    if _plate_format(text):
        return 1.0
    label, _, rest = without_sign_numbers(text).strip().partition(" ")  # "Founded in 1978" is a year
    label = label.rstrip(":.")
    if (len(label) >= 3 and label.isalpha() and label.upper() not in _NOT_PLATE_LABELS
            and len(_alnum(rest)) >= 6 and all(len(run) <= 4 for run in re.findall(r"[^\W\d_]+", rest))
            and _plate_format(rest)):
        return 1.0
    return 0.0


def _plate_format(text: str) -> float:
    """1 for a licence-plate-like code, else 0. A word of 4+ letters that dictionaries know is
    no plate's letter group ("ONLY 9.99", "PLATFORM 10"); times, prices, percentages and
    measures are left out first (:func:`without_sign_numbers`: "SALE 50% OFF")."""
    text = without_sign_numbers(text)
    groups = [g for g in re.split(r"[\s\-·•.]+", text.strip().upper()) if g]  # "18D•259"
    code = _alnum(text).upper()
    if not 5 <= len(code) <= 10 or not 1 <= len(groups) <= 4:
        return 0.0
    if any(len(g) >= 4 and g.isalpha() and _single_known(g) for g in groups):
        return 0.0
    if sum(g in _DAYS for g in groups) >= 2:
        return 0.0  # "MON-FRI 9-5": opening hours
    letters, digits = sum(c.isalpha() for c in code), sum(c.isdigit() for c in code)
    if letters == 1 and digits >= 4 and len(groups) >= 2 and "X" not in groups and all(g.isalnum() for g in groups):
        return 1.0  # one letter among digit groups: "06 A 1234" (Turkey), "1A2 3456" (Czechia), "A 12345" (Dubai)
    if letters < 2 or digits < 2 or len(code) < 6 or _labelled_number(groups, code):
        return 0.0
    return 1.0


def _labelled_number(groups: list[str], code: str) -> bool:
    """A sign's word and a short number after it ("PLATFORM 10", "ROOM 101", "GATE B12", run
    together or not): a dictionary word of 4+ letters, which the letter groups of number
    plates are not, then at most 4 characters."""
    if len(groups) == 2:
        word, number = groups
    else:
        run = re.fullmatch(r"([A-Z]{4,})(\d[A-Z0-9]{0,3})", code)
        if len(groups) != 1 or run is None:
            return False
        word, number = run.groups()
    return len(word) >= 4 and word.isalpha() and len(number) <= 4 and _single_known(word)


def id_score(text: str) -> float:
    """1 for an identity, card or account number, else 0."""
    up = text.upper()
    words = set(re.findall(r"[A-Z]+", up))
    tokens = re.findall(r"[A-Z0-9]+", up)
    if any(sum(c.isdigit() for c in t) >= 6 for t in tokens):
        return 1.0
    if any(len(t) >= 8 and any(c.isdigit() for c in t) and any(c.isalpha() for c in t)
           and not _labelled_number([t], t) for t in tokens):  # "PLATFORM10" is a sign
        return 1.0
    if words & _ID_WORDS and sum(c.isdigit() for c in up) >= 4:
        return 1.0
    if any(sum(c.isdigit() for c in m.group()) >= 12 for m in _IBAN.finditer(up)):
        return 1.0  # "DE89 3704 0044 0532 0130 00" (IBANs are mostly digits; "RT66 HISTORIC ROUTE" is no IBAN)
    groups = re.findall(r"\d+", up)
    if len(groups) >= 2 and 12 <= sum(len(g) for g in groups) <= 19 and not words:
        return 1.0  # a payment card or account number written in groups ("4111 1111 1111 1111")
    spaced = up.split()
    digit_groups = [t for t in spaced if t.isdigit()]
    if (len(digit_groups) >= 3 and sum(len(t) for t in digit_groups) >= 6
            and all(t.isdigit() or (t.isalpha() and len(t) <= 2) for t in spaced) and len(spaced) > len(digit_groups)):
        return 1.0  # letters and digits in pairs: a national insurance number ("QQ 12 34 56 C")
    for code in re.findall(r"[A-Z0-9]+(?:-[A-Z0-9]+)+", up):
        # a dashed code with letters and 5+ digits ("IDEMP-96666-C": a label OCR ran into an
        # employee number); a plate-like one ("EMP-96666-C" alone) stays a plate
        if sum(c.isdigit() for c in code) >= 5 and any(c.isalpha() for c in code) and not plate_score(code):
            return 1.0
    return 0.0


@functools.lru_cache(maxsize=1)
def _common_names(top_surnames: int = 10_000) -> frozenset[str]:
    """Every census given name and the ``top_surnames`` most common census surnames (the long
    tail holds words as rare surnames: "CAR", "GATE", "STATION")."""
    return _given_names(top=None) | frozenset(_census_list("dist.all.last")[:top_surnames])


def is_census_name(word: str) -> bool:
    """True when ``word`` (any case, accents folded) is any census given name or surname, the
    rare ones included ("OBI")."""
    return fold_latin(word.strip(" .,'’-")).upper() in _census_names()


def is_common_name(word: str) -> bool:
    """True when ``word`` (any case, accents folded) is a census given name or one of the
    common census surnames: a cue that a dictionary word ("STONE", "HILL", "YEN") is here
    part of a name."""
    return fold_latin(word.strip(" .,'’-")).upper() in _common_names()


#: A given name that is also one of this many most common US census surnames names places,
#: hotels and firms too (LONDON is the 1,820th, HILTON the 1,160th, BRADFORD the 535th): no cue.
_PLACE_LIKE_SURNAMES = 3000


def _person_providers() -> Iterator[tuple[str, dict[str, Any]]]:
    """(locale, class attributes) of each person provider of the ``faker`` package."""
    import importlib
    import pkgutil

    import faker.providers.person as person

    for module in pkgutil.iter_modules(person.__path__):
        provider = getattr(importlib.import_module(f"{person.__name__}.{module.name}"), "Provider", None)
        if provider is not None:
            yield module.name, vars(provider)


def _name_parts(listed: dict[str, Any], attrs: Sequence[str], min_len: int) -> set[str]:
    """The names of the lists ``attrs`` of a provider, in Latin script (names in a script of
    India spelled in Latin letters: "राजेश" is "RAJESH", :func:`~veil.privacy.romanize.romanize_indic`),
    accents folded, upper case, each part of a compound name ("Anna-Lena") on its own, at
    least ``min_len`` letters; lists a locale builds in code are skipped."""
    out: set[str] = set()
    for attr in attrs:
        names = listed.get(attr)
        if isinstance(names, (list, tuple, dict)):
            out.update(part for name in names
                       for part in re.split(r"[\s\-]+", fold_latin(romanize_indic(str(name))).upper())
                       if len(part) >= min_len and part.isascii() and part.isalpha())
    return out


#: The lists of given names and of surnames of a Faker person provider.
_FIRST_NAME_LISTS = ("first_names", "first_names_male", "first_names_female", "first_names_nonbinary")
_LAST_NAME_LISTS = ("last_names", "last_names_male", "last_names_female")


def _counts_from_json(data: Any) -> dict[str, int]:
    """A JSON object of name -> count back as a dict (every key a string, every count an int)."""
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, int) for k, v in data.items()):
        raise ValueError("not a table of counts")
    return data


@functools.lru_cache(maxsize=1)
@listcache.on_disk("world-given", dict, _counts_from_json)
def _world_given_locales() -> dict[str, int]:
    """Given names of the locales of Faker's person providers (``faker`` package, about 80
    countries), in Latin script, accents folded, upper case, each part of a compound name
    ("Anna-Lena") on its own, with the number of locales that list each: about 19,000
    names, where the census lists know US names only ("MATTHIAS", "INGRID", "DECLAN" are
    not among their common ones)."""
    out: dict[str, set[str]] = {}
    for locale, listed in _person_providers():
        for name in _name_parts(listed, _FIRST_NAME_LISTS, 3):
            out.setdefault(name, set()).add(locale)
    return {name: len(locales) for name, locales in out.items()}


def _widely_given(word: str) -> bool:
    """A given name at least two of Faker's locales list ("FLORIN", "ROSE"; not "NORTH" or
    "SISTER", which one locale's list holds): a name even when it is a dictionary word."""
    return _world_given_locales().get(fold_latin(word).upper(), 0) >= 2


def is_world_given_name(word: str) -> bool:
    """True when ``word`` (any case, accents folded) is a given name of some country that no
    dictionary explains as it is: not a dictionary or signage word nor the plural of one, and
    not a common US surname (those name places and firms too: :data:`_PLACE_LIKE_SURNAMES`).

    Such a word counts as a name even when OCR-style segmentation or a one-letter slip would
    explain it as words ("MATTHIAS" is "MATT" + "HIAS", "DECLAN" a slip from "DECLAW"): a
    chat title "Matthias Strand" is a person, though "Strand" is a dictionary word.
    """
    up = fold_latin(word.strip(" .,'’-")).upper()
    return (len(up) >= 3 and up in _world_given_locales() and up not in _SIGNAGE and not _single_known(up)
            and up not in _place_like_surnames())


def _census_or_world_given(word: str) -> bool:
    """``word`` (upper case, folded) is a census given name or some country's (Faker's locales)."""
    return word in _given_names(top=None) or word in _world_given_locales()


@functools.lru_cache(maxsize=1)
def _romanized_names() -> tuple[tuple[frozenset[str], frozenset[str]], ...]:
    """(surnames, given names) of each Faker locale that lists its names romanized (Chinese,
    Taiwanese and Japanese: "WANG" and "FANG", "SATO" and "AKIRA"), upper case, each part of
    a hyphenated name on its own."""
    given = ("first_romanized_names", "first_romanized_names_male", "first_romanized_names_female")
    out = []
    for _, listed in _person_providers():
        surnames = _name_parts(listed, ("last_romanized_names",), 1)
        if surnames:
            out.append((frozenset(surnames), frozenset(_name_parts(listed, given, 1))))
    return tuple(out)


def _romanized_name(first: str, second: str) -> bool:
    """A romanized surname and given name of one locale, in either order ("Wang Fang", "Li
    Na", "Akira Sato"): many are dictionary words, or too short for the other cues."""
    a, b = first.upper(), second.upper()
    return any((a in last and b in given) or (a in given and b in last) for last, given in _romanized_names())


@functools.lru_cache(maxsize=1)
def _place_like_surnames() -> frozenset[str]:
    return frozenset(_census_list("dist.all.last")[:_PLACE_LIKE_SURNAMES])


def _rare_word_given_name(word: str) -> bool:
    """A given name of some country that at most one of the two dictionaries knows ("CORMAC";
    not "NORTH", which a locale's list also holds)."""
    up = fold_latin(word).upper()
    return up in _world_given_locales() and up.lower() not in _common_vocabulary()


def _personal_given_name(word: str) -> bool:
    """A given name of some country that at most one dictionary holds and that names no place
    or firm: not signage, not one of the most common US surnames ("PIOTR", "AOIFE", "LARS";
    not "LONDON" or "MANSFIELD", which Webster's 2nd and a locale's list hold too)."""
    up = fold_latin(word).upper()
    return _rare_word_given_name(up) and up not in _SIGNAGE and up not in _place_like_surnames()


@functools.lru_cache(maxsize=1)
def _common_vocabulary() -> frozenset[str]:
    """Lower-case words both web2 and GCIDE hold."""
    web2, gcide = _dictionaries()
    return web2 & gcide


def _compound_surname(word: str) -> bool:
    """A US census surname that is no dictionary word itself, only words run together
    ("WHITFIELD" is "WHIT" + "FIELD", "BERGSTROM" "BERG" + "STROM")."""
    up = word.upper()
    return up in _surnames() and not _single_known(up)


@functools.lru_cache(maxsize=1)
def _surnames() -> frozenset[str]:
    return frozenset(_census_list("dist.all.last"))


def _common_given(word: str) -> bool:
    """``word`` (any case) is one of the census's commonest given names or a given name of some
    country that no dictionary explains (:func:`is_world_given_name`)."""
    return fold_latin(word).upper() in _given_names() or is_world_given_name(word)


def _given_then_surname(given: str, surname: str) -> bool:
    """``given`` is a given name and ``surname`` a surname, as two words or run together:
    a common census given name or a given name of some country (:func:`is_world_given_name`)
    and any census name ("JAMES SMITH", "MatthiasStrand"); a given name at most one dictionary
    holds or two locales list, and a census surname made of words (:func:`_compound_surname`:
    "Cormac Whitfield", "FlorinCastellano"); or a given name that names no place
    (:func:`_personal_given_name`) and any census surname ("Piotr Smith", "LARSSTONE")."""
    g, s = fold_latin(given).upper(), fold_latin(surname).upper()
    return ((_common_given(g) and s in _census_names())
            or ((_rare_word_given_name(g) or _widely_given(g)) and _compound_surname(s))
            or (_personal_given_name(g) and s in _surnames()))


def _listed_given_then_surname(given: str, surname: str) -> bool:
    """``given`` is on some country's list of given names and ``surname`` on its list of
    surnames or among the 5,000 commonest US ones, both written as names are (capitalised
    or capitals): "Maia Smith", "Marine Müller", "Mare Miller", "Dag Lie", where both are
    words too. Lines that name places or firms are judged before this."""
    g, s = fold_latin(given).upper(), fold_latin(surname).upper()
    if not (given[:1].isupper() and surname[:1].isupper()) or len(g) < 2 or len(s) < 2:
        return False
    if g in _PLACE_QUALIFIERS or g in _place_like_surnames() or _place_end(s) is not None or s in _SIGNAGE:
        return False  # "West John", "Smith Field", "Abbey Lane": places
    if g in _HONORIFICS or g in _ROLE_TITLES or (len(g) == 2 and g.lower() in _common_vocabulary()):
        return False  # "Lady Bird" (roles have rules of their own), "In Person"
    return (_census_or_world_given(g)
            and (s in _world_surnames() or s in _common_surnames()))


def _surname_then_given(surname: str, given: str) -> bool:
    """A family name of some country's list, then a common census given name or one two
    locales list, as Hungarians write names ("Kiss Péter", "Nagy Anna"), both written as
    names are; not a place's first word (a qualifier, a saint, "Villa"), a role or a form of
    address first, nor a place or sign word last. Lines that name places or firms are judged before this."""
    s, g = fold_latin(surname).upper(), fold_latin(given).upper()
    if not (surname[:1].isupper() and given[:1].isupper()) or len(s) < 3 or len(g) < 3:
        return False
    if s in _PLACE_FIRST_WORDS or s in _HONORIFICS or s in _ROLE_TITLES or _place_end(g) is not None or g in _SIGNAGE:
        return False  # "Villa Carmine", "Royal Albert", "Dr. John"
    return s in _world_surnames() and (g in _given_names() or _widely_given(g))


@functools.lru_cache(maxsize=1)
def _common_surnames() -> frozenset[str]:
    return frozenset(_census_list("dist.all.last")[:5000])


def _given_prefix(word: str) -> bool:
    """A given name run together with a surname (:func:`_given_then_surname` at some split)
    that is not one dictionary word ("SALESMANAGER" starts with "SAL", but "ESMANAGER" is no
    name)."""
    up = word.upper()
    if len(up) < 7 or _single_known(up):
        return False
    return any(_given_then_surname(up[:i], up[i:]) or _romanized_name(up[:i], up[i:]) for i in range(3, len(up) - 2))


# Letters a text recogniser confuses with each other (shapes alike in common fonts).
_CONFUSABLE = ("iljtf", "oceaq", "uvn", "nhm", "bh")


def _ocr_slips(word: str) -> set[str]:
    """Every string one typical OCR slip away from ``word``: a letter read as a look-alike
    (``i`` / ``l``, ``c`` / ``e``), or a letter doubled or a doubled letter read once."""
    w = word.lower()
    out: set[str] = set()
    for i, ch in enumerate(w):
        for group in _CONFUSABLE:
            if ch in group:
                out.update(w[:i] + c + w[i + 1:] for c in group if c != ch)
        if i and w[i - 1] == ch:
            out.add(w[:i] + w[i + 1:])  # "PRIIORY" -> "priory"
        out.add(w[:i] + ch + w[i:])  # "GALERIES" -> "galleries"
    return out


def is_misread_word(word: str, min_len: int = 6) -> bool:
    """True when ``word`` is one OCR slip (:func:`_ocr_slips`) from a dictionary word and is not
    itself a census given name or surname: "GALLERLES", "PRlORY" are sign words read badly,
    not names. Words under ``min_len`` letters are never judged so (short names are often
    one slip from some word), nor are other edits ("STELLAN" is not a misread "STELLAR"),
    nor is a word whose dictionary neighbour is a given name: "Aurelie" is a name beside
    "Aurelia", not a misread word."""
    w = word.strip("'’-")
    if len(w) < min_len or not w.isalpha() or w.upper() in _census_names():
        return False
    given = _given_names(top=None)
    return any(_single_known(c) and c.upper() not in given for c in _ocr_slips(w))


def _unslip(text: str) -> str:
    """``text`` with each lone digit OCR read for a letter inside a word put back as a letter
    ("Matgorzata W6jcik" -> "Matgorzata WGjcik"): a word of at least 3 letters with exactly
    one digit, from 0 1 5 6 8, between two letters. Numbers, codes and "Level3" keep theirs."""
    def fix(token: str) -> str:
        if sum(c.isdigit() for c in token) != 1 or sum(c.isalpha() for c in token) < 3:
            return token
        return _SLIPPED.sub(lambda m: m.group().translate(_DIGIT_SLIPS), token)

    return " ".join(fix(t) for t in text.split(" "))


def foreign_script_share(text: str) -> float:
    """The share of the letters of ``text`` that are not Latin (0 with no letter)."""
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return 0.0
    return sum(not unicodedata.name(c, "").startswith("LATIN") for c in letters) / len(letters)


def mixes_scripts(text: str) -> bool:
    """True when a word of ``text`` holds Latin letters and letters of another script: OCR
    reading Cyrillic or Greek with a Latin model ("ИBaH" for "Иван"), which no word list
    can judge. Real words do not mix scripts ("Café", "Straße" are Latin throughout)."""
    for word in text.split():
        scripts = {unicodedata.name(c, "").startswith("LATIN") for c in word if c.isalpha()}
        if len(scripts) > 1:
            return True
    return False


def fold_latin(text: str) -> str:
    """Latin letters without their diacritics ("Hélène Bérubé" -> "Helene Berube", "Łukasz"
    -> "Lukasz", "Größer" -> "Grosser"); other characters as they are. The word lists are
    plain ASCII, and OCR keeps an accent on one letter and drops it on the next."""
    plain = unicodedata.normalize("NFKD", text.translate(_LATIN_FOLD))
    return unicodedata.normalize("NFC", "".join(c for c in plain if not unicodedata.combining(c)))


def business_name(text: str) -> bool:
    """True when the line is a firm's name: a legal form or family-firm ending
    (:data:`_LEGAL_FORM`: "Müller GmbH", "Baker & Sons", "Kowalski Sp. z o.o.") after one to
    four words that are not a whole personal name. A sole trader's full name stays a name
    ("John Smith Ltd", "Leroy Didier et Fils"): it names a person as much as the firm."""
    folded = fold_latin(text.strip()).upper()
    m = _LEGAL_FORM.search(folded)
    if m is None or m.start() == 0:
        return False
    before = folded[:m.start()].strip(" ,&-")
    words = _WORD.findall(before)
    return (1 <= len(words) <= 4 and len("".join(words)) >= 3 and not any(c.isdigit() for c in before)
            and not _named_after_whole_name(" ".join(words)) and words[0] not in _HONORIFICS)


#: A web address: a host of two or more labels ending in a top-level domain of letters, with
#: or without its scheme and path ("www.bakery.co.uk", "https://johnsmith.com/about").
#: Sites whose host is one or two letters ("fb.com", "x.com", "t.me").
_SHORT_SITES = ("fb", "vk", "x", "t", "ig", "yt")
_WEB_ADDRESS = re.compile(
    r"(?:https?://(?P<h1>[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,6})"
    r"|(?P<h2>www\.[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,6})"
    r"|(?P<h3>(?:[A-Za-z0-9-]{3,}|(?<![\w.-])(?:" + "|".join(_SHORT_SITES) + r"))(?:\.[A-Za-z0-9-]+)*"
    r"\.(?:com|org|net|edu|gov|info|biz|io|app|shop|online|store|eu|uk|de|fr"
    r"|es|it|nl|pl|ch|at|be|se|dk|fi|pt|ie|ca|au|br|mx|jp|ru|us|me)))(?:/\S*)?",
    re.IGNORECASE)  # not "Dr.Smith", "Mr.Li": a dot OCR left without its space; "fb.com", "t.me" are sites


#: Sites whose addresses name a profile after the host ("twitter.com/johnsmith").
_PROFILE_SITES = {"twitter", "x", "instagram", "facebook", "fb", "tiktok", "linkedin", "youtube", "github", "gitlab",
                  "pinterest", "threads", "snapchat", "medium", "vimeo", "soundcloud", "flickr", "behance",
                  "dribbble", "twitch", "reddit", "mastodon", "bsky", "xing", *_SHORT_SITES}
#: Path pieces of those sites before the profile's name ("linkedin.com/in/...", "youtube.com/c/...").
_PROFILE_PREFIXES = {"in", "user", "users", "u", "c", "channel", "people", "profile", "pub", "add"}


def _profile_handle(address: str, host: str) -> str | None:
    """The profile name in a social site's address ("johnsmith" of "twitter.com/johnsmith",
    "anna-kowalska" of "linkedin.com/in/anna-kowalska"), or None for other sites."""
    labels = _site_labels(host)
    if not labels or labels[-1].lower() not in _PROFILE_SITES:
        return None
    path = address[address.lower().find(host.lower()) + len(host):]
    pieces = [p.lstrip("@") for p in re.split(r"[/?#]", path) if p and p.lower() not in _PROFILE_PREFIXES]
    return pieces[0] if pieces and pieces[0] else None


def _site_labels(host: str) -> list[str]:
    """The labels of a host that name the site: no "www", no top-level domain, no second-level
    one of up to three letters ("co" of "co.uk")."""
    labels = [label for label in host.split(".") if label.lower() != "www"][:-1]
    if len(labels) > 1 and len(labels[-1]) <= 3:
        labels = labels[:-1]
    return labels


def name_score(text: str) -> float:
    """1 for a personal name, 0.5 for a single unknown word, else 0 (see the module doc)."""
    stripped = _unslip(fold_latin(text.strip()))
    address = _WEB_ADDRESS.fullmatch(stripped)
    if address:  # "www.bakery.co.uk" is a shop's, "www.johnsmith.com" a person's
        host = address.group("h1") or address.group("h2") or address.group("h3")
        handle = _profile_handle(address.group(), host)
        if handle is not None and personal_handle(handle):
            return 1.0  # "twitter.com/johnsmith", "tiktok.com/@annak99": a person's profile
        # labels as words of a line ("john-smith" as "John Smith"): the name rules read capitals
        return max((name_score(label.replace("-", " ").title()) for label in _site_labels(host)), default=0.0)
    if not stripped or any(c.isdigit() for c in stripped):
        return 0.0
    # a web address inside a line counts as the words of its site ("Visit www.citymuseum.org")
    stripped = _WEB_ADDRESS.sub(lambda m: " ".join(_site_labels(m.group("h1") or m.group("h2") or m.group("h3"))),
                                stripped)
    words = _WORD.findall(stripped)
    if _particle_name(stripped) and not place_name(words) and not public_place(words) and not business_name(stripped):
        return 1.0  # "Catharina van den Berg", "Puk van Dijk-van der Velde", "Luce du Camus"
    if not 1 <= len(words) <= 4 or len("".join(words)) < 0.8 * len(_alnum(stripped)):
        return 0.0
    if len(words) >= 2 and words[0].upper() in _HONORIFICS and all(w[0].isupper() for w in words[1:]):
        return 1.0  # a form of address and a name: "Dr. Anna Müller", "MR SMITH"
    if _initial_and_surname(stripped, words):
        return 1.0  # an initial and a surname: "J. SMITH", "B. Hall", "A. Park"
    if _surname_and_initial(stripped, words):
        return 1.0  # a surname and an initial, as lists write them: "Smith J.", "Wood, R."
    if _vietnamese_addressed(text):
        return 1.0  # "Chị Linh": Ms Linh ("Chí Linh" is a town)
    if place_name(words) or public_place(words):
        return 0.0  # "George Street", "Rue Victor Hugo", "Lucy's Cafe", "Frankfurt am Main": a place or a business
    if business_name(stripped):
        return 0.0  # "Müller GmbH", "Baker & Sons": a firm named after someone
    if len(words) == 2 and _role_then_surname(words[0], words[1]):
        return 1.0  # "Coach Frost", "PASTOR BAKER", "Col. White": a role and a surname
    if _vietnamese_name(text):
        return 1.0  # "An Vũ", "Đỗ Hùng": syllables that are words of the language too
    if len(words) == 2 and re.fullmatch(r"[^,]+,\s*[^,]+", stripped) and name_score(f"{words[1]} {words[0]}") == 1.0:
        return 1.0  # a surname, a comma and a given name: "Smith, John" as "John Smith", "Wood, Radek"
    given = _given_names()
    first_given = words[0].upper() in given or (_hyphenated_given(words[0]) and (
        len(words) >= 2 or all(p in given for p in fold_latin(words[0]).upper().split("-"))))  # "Anna-Lena" alone
    other_known = _other_known_words(words)
    unknown = [w for i, w in enumerate(words)
               if len(w) >= 3 and (is_world_given_name(w) or (not is_known_word(w) and not is_misread_word(w)
                                                              and i not in other_known))]
    if len(words) >= 2 and (first_given or unknown):
        return 1.0
    if len(words) == 1 and first_given:
        return 0.5
    if len(words) == 1 and unknown:
        # a lone unknown word: a name ("KOWALCZYK") or a brand ("SANYO"); a sign word OCR
        # misread ("GALLERLES") is not counted unknown
        return 0.5
    if len(words) == 1 and _given_prefix(words[0]) and not other_known:
        return 1.0
    if len(words) == 2 and _romanized_name(words[0], words[1]):
        return 1.0  # "Wang Fang", "Li Na"
    if len(words) == 2 and _given_then_surname(words[0], words[1]):
        return 1.0  # "Cormac Whitfield", "Florin Castellano", "Piotr Smith": surnames that are words
    if len(words) == 2 and _listed_given_then_surname(words[0], words[1]):
        return 1.0  # "Maia Smith", "Marine Müller", "Dag Lie": a given name that is a word too
    if len(words) == 2 and _surname_then_given(words[0], words[1]):
        return 1.0  # "Kiss Péter", "NAGY ANNA": the family name first
    return 0.0


#: Letters only Vietnamese writes among Latin scripts (horns, breves, dots below, hooks above,
#: tildes on i, u, y, and the crossed d), not French, Spanish or Portuguese accents.
_VIETNAMESE_LETTERS = re.compile("[ăắằẳẵặơớờởỡợưứừửữựđĩũỹạảấầẩẫậẹẻẽếềểễệỉịọỏốồổỗộụủỳỵỷ]", re.IGNORECASE)
#: Vietnam's commonest family names (folded): about nine in ten people bear one of them.
_VIETNAMESE_SURNAMES = {"NGUYEN", "TRAN", "LE", "PHAM", "HOANG", "HUYNH", "PHAN", "VU", "VO", "DANG", "BUI", "DO",
                        "HO", "NGO", "DUONG", "LY", "DINH", "TRUONG", "DOAN", "LAM", "MAI", "TRINH", "CAO",
                        "LUONG", "TO", "TA", "HA", "LA", "VUONG", "THAI", "KIEU", "QUACH", "TANG", "CHAU"}


#: Vietnamese forms of address before a given name ("Cô Lan": Miss Lan, "Bác Hùng": uncle
#: Hùng), those written with letters or accents no other Latin-script language gives these
#: words ("Anh", "Em" are left out).
_VIETNAMESE_TITLES = {"ông", "bà", "chị", "cô", "chú", "bác", "thầy", "dì", "cậu", "mợ", "thím", "cụ"}


def _vietnamese_name(text: str) -> bool:
    """Two to four one-syllable words written with letters only Vietnamese has, the first or
    the last a common Vietnamese family name ("An Vũ", "Hà Thế Vũ", "Đỗ Hùng", "Vũ Hà"): each
    syllable is a word of the language too, so no other cue tells such a name from words."""
    text = unicodedata.normalize("NFC", text)
    words = text.split()
    if not 2 <= len(words) <= 4 or not _VIETNAMESE_LETTERS.search(text):
        return False
    if not all(w.isalpha() and len(w) <= 7 for w in words):
        return False
    folded = [fold_latin(w).upper() for w in words]
    return folded[0] in _VIETNAMESE_SURNAMES or folded[-1] in _VIETNAMESE_SURNAMES


def _vietnamese_addressed(text: str) -> bool:
    """A Vietnamese form of address (:data:`_VIETNAMESE_TITLES`, with its tone mark) before one
    to three capitalised syllables: "Cô Lan" (Miss Lan), "Bác Hùng", "Chị Linh", "Ông Nguyễn
    Văn An". Folded, some read as places ("Chi Linh", "Bac Quang" are towns: "Chí Linh",
    "Bắc Quang"), so this is judged on the line as written, before the place lists."""
    words = unicodedata.normalize("NFC", text).split()
    return (2 <= len(words) <= 4 and words[0].lower() in _VIETNAMESE_TITLES
            and all(w.isalpha() and len(w) <= 7 and w[0].isupper() for w in words[1:]))


#: Particles of family names written lower case between a given name and the surname ("van
#: den", "du", "della"); "la", "le" only after another ("de la").
_PERSON_PARTICLES = {"van", "von", "de", "den", "der", "ten", "ter", "te", "du", "da", "di", "del", "della", "dos",
                     "das", "do", "zu", "la", "le"}
_FIRST_PARTICLES = _PERSON_PARTICLES - {"la", "le"}


def _particle_name(text: str) -> bool:
    """A given name of some list, then a family name written with its particles in lower case
    (or the whole line in capitals): "Catharina van den Berg", "Puk van Dijk-van der Velde",
    "Luce du Camus", "PIETER VAN DAM". The particles say a surname follows, whatever it is
    ("Dam" is a word and a street word too); names so long fall outside the other rules.
    Every other piece is capitalised, not in capitals in a mixed-case line ("Art van Gogh
    EXHIBITION" is no name by this rule)."""
    pieces = [p for p in re.split(r"[\s-]+", text.strip()) if p]
    if not 3 <= len(pieces) <= 9 or not pieces[0][:1].isupper() or not all(p.isalpha() for p in pieces):
        return False
    caps = text.isupper()
    case = str.upper if caps else str
    particles = {case(p) for p in _PERSON_PARTICLES}
    if not _census_or_world_given(pieces[0].upper()):
        return False
    if pieces[1] not in {case(p) for p in _FIRST_PARTICLES} or pieces[-1] in particles:
        return False
    return all(p in particles or (p[:1].isupper() and (caps or not p.isupper() or len(p) == 1)) for p in pieces[2:])


#: Initials a street sign abbreviates a compass point to ("E. Hall", "N. Park Ave").
_COMPASS_INITIALS = {"N", "E", "S", "W"}


def _hyphenated_given(word: str) -> bool:
    """A compound given name: two or three given names joined by hyphens ("Hans-Henning",
    "Per-Olof", "Joseph-Noël"), each a common census given name or some country's given name
    of two letters or more (not "Smith-Brown", a double-barrelled surname or a firm)."""
    parts = fold_latin(word).upper().split("-")
    world = _world_given_locales()
    return 2 <= len(parts) <= 3 and all(len(p) >= 2 and (p in _given_names() or p in world) for p in parts)


def _initial_and_surname(stripped: str, words: Sequence[str]) -> bool:
    """An initial with its dot, then a census surname: "J. SMITH", and "B. Hall", "J. Church",
    "A. Park" though the surname is a place word too (no sign writes an initial before "Hall";
    a person's badge does). A compass point before a place word stays a place ("E. Hall",
    "N. Park"); a place word no surname list holds ("A. Street") is no name."""
    if len(words) != 2 or len(words[0]) != 1 or stripped[1:2] != ".":
        return False
    surname = words[1].upper()
    if surname not in _census_names() or surname in _PLACE_ENDS:
        return False
    return not (words[0].upper() in _COMPASS_INITIALS and surname in _SURNAME_PLACE_ENDS)


def _surname_and_initial(stripped: str, words: Sequence[str]) -> bool:
    """A census surname, then an initial with its dot, as class lists, rotas and references
    write names: "Smith J.", "SMITH J.", "Wood, R.", "Hall, J." Without the comma not after
    a place, street or designating word that is a surname too ("Park A.", "Hall B.", "Gate B.")."""
    if len(words) != 2 or len(words[1]) != 1 or not re.fullmatch(r"[^\W\d_][\w'’-]*,?\s+[A-Z]\.", stripped):
        return False
    surname = fold_latin(words[0]).upper()
    if surname not in _census_names():
        return False
    return "," in stripped or surname not in _ANY_PLACE_ENDS | _SURNAME_PLACE_ENDS | _LETTER_LABELS


def _role_then_surname(role: str, surname: str) -> bool:
    """``role`` is a role or kinship word (:data:`_ROLE_TITLES`) and ``surname`` a capitalised
    common name that is no sign word, place word or thing often named after a role
    (:data:`_ROLE_OBJECTS`), nor a trade after a working role (:data:`_TRADES`): "Coach Frost",
    "Pastor Baker", "Aunt Rose"; not "Coach Parking", "Nurse Station", "Deputy Head", "Chief
    Baker"."""
    up = fold_latin(surname).upper()
    return (role.upper() in _ROLE_TITLES and len(up) >= 3 and surname[:1].isupper() and is_common_name(up)
            and up not in _SIGNAGE and up not in _PLACE_ENDS and up not in _SURNAME_PLACE_ENDS
            and up not in _ROLE_OBJECTS and not (role.upper() in _JOB_ROLES and up in _TRADES))


def _run_together_name(word: str) -> bool:
    """A given name run together with a surname, as OCR reads a badge ("PRIYABENALI",
    "TARIQIVANOVA"): no word or name by itself, a given name of some country or a census one
    and at least three more letters (:func:`_given_prefix` also asks for a census surname)."""
    up = fold_latin(word).upper()
    if len(up) < 7 or up.endswith("'S") or is_known_word(up) or is_census_name(up) or up in _world_given_locales():
        return False
    given, world = _given_names(top=None), _world_given_locales()
    return any(up[:i] in given or up[:i] in world for i in range(3, len(up) - 2))


def _named_after_whole_name(before: str) -> bool:
    """The words before a place word are a whole name (given name and surname, run together
    or not): "PRIYA BENALI" of "PRIYA BENALI STATION", a badge read as one line with the sign
    beside it, not a place named after someone ("George Street")."""
    return name_score(before) == 1.0 or (" " not in before.strip() and _run_together_name(before))


def _place_end(word: str) -> str | None:
    """How a last word (upper case, folded) says a line names a place: ``place`` (a place or
    business word, :data:`_PLACE_ENDS`, or a street word no name list holds, :data:`_STREET_WORDS`:
    "Stream", "Knolls"; plurals as singulars), ``surname`` (:data:`_SURNAME_PLACE_ENDS`: a place
    only beside a word that is no name, "Central Park"), ``named`` (a street word a surname or
    given-name list holds, "Hill", "Glen", "Amble": a place only beside a dictionary word no
    name list holds, "Maple Grove"), else None."""
    if word in _SURNAME_PLACE_ENDS:
        return "surname"
    if word in _PLACE_ENDS:
        return "place"
    street = (word if word in _STREET_WORDS
              else word[:-1] if word.endswith("S") and word[:-1] in _ANY_PLACE_ENDS else None)
    if street is None:
        return None
    named = (word in _place_like_surnames() or street in _place_like_surnames() or _widely_given(word)
             or word in _given_names(top=None) or word in _world_surnames() or street in _SURNAME_PLACE_ENDS)
    return "named" if named else "place"


def _namesake_street_word(word: str) -> bool:
    """A street word of :data:`_NAMESAKE_PLACE_ENDS` written as it follows a street's namesake,
    not as a sign beside a badge: lower case ("Olof Palmes gata", "Werner Wirénin katu") or
    joined by a hyphen ("Rosenow-Platz")."""
    last = fold_latin(word).upper().rstrip(".").rsplit("-", 1)[-1]
    return last in _NAMESAKE_PLACE_ENDS and (word[:1].islower() or "-" in word)


def _adjectival_place(words: Sequence[str]) -> bool:
    """One word in -er before a capitalised street word of :data:`_NAMESAKE_PLACE_ENDS`: how
    German names a street after a place ("Mariahilfer Straße", "Frankfurter Allee")."""
    return (len(words) == 2 and words[0][:1].isupper() and fold_latin(words[0]).upper().endswith("ER")
            and fold_latin(words[1]).upper().rstrip(".") in _NAMESAKE_PLACE_ENDS
            and not _given_prefix(words[0]))  # not "JAMESMULLER Platz": a name run together


def _name_word(word: str) -> bool:
    """A particle (:data:`_NAME_PARTICLES`), or a capitalised word that no dictionary holds or
    a name list does ("Victor", "Poirier", "KH"; not "PLANNED", "BY")."""
    word = re.sub(r"^(?:d|l|dell|dall|all|sull)['’](?=\w)", "", word, flags=re.IGNORECASE)  # "d'Orsay"
    up = fold_latin(word).upper().rstrip(".")
    if up in _NAME_PARTICLES:
        return True
    return word[:1].isupper() and all(
        len(part) <= 1 or part.lower() not in _common_vocabulary() or is_common_name(part)
        or part in _world_given_locales() or part in _world_surnames()
        for part in up.split("-"))


def _place_start(words: Sequence[str]) -> bool:
    """The first of ``words`` starts a place's name (:data:`_PLACE_STARTS`): a given name
    among them only with a particle after it, an English word (:data:`_WORD_PLACE_STARTS`)
    only before name words ("Place de la Concorde"; not "PLACE ORDER WITH JOHN SMITH")."""
    up = [fold_latin(w).upper().rstrip(".") for w in words]
    first = up[0]
    if first.split("-", 1)[0] in _SAINTS:
        return True  # "Sainte-Catherine Street", "St-Denis"
    if first not in _PLACE_STARTS:
        return False
    if first in _GIVEN_PLACE_STARTS:
        return len(up) > 2 and up[1] in _NAME_PARTICLES
    return first not in _WORD_PLACE_STARTS or all(_name_word(w) for w in words[1:])


@functools.lru_cache(maxsize=1)
@listcache.on_disk("world-surnames", words_to_json, words_from_json)
def _world_surnames() -> frozenset[str]:
    """Surnames of the locales of Faker's person providers, in Latin script, upper case (about
    21,000): a street word one of them holds ("Mill", "Ford") may be a person's name."""
    out: set[str] = set()
    for _, listed in _person_providers():
        for attr in _LAST_NAME_LISTS:
            names = listed.get(attr)
            if isinstance(names, (list, tuple, dict)):
                out.update(up for name in names if (up := fold_latin(str(name)).upper()).isalpha())
    return frozenset(out)


#: First words that make a place's name, not a person's: a saint, a place qualifier, an
#: article ("San Vicente", "New Milton", "El Salvador").
_PLACE_FIRST_WORDS = _SAINTS | _PLACE_QUALIFIERS | {"SAN", "SANT", "SINT", "VILA", "VILLA", "PORTO", "PUERTO",
                                                    "EL", "AL", "LA", "LE", "LOS", "LAS", "LES", "IL"}


#: Endings of family names in many countries (Slavic, Armenian, Georgian, Turkish, Nordic):
#: a town spelled so is often named after a person ("Shevchenko", "Zhukov", "Abovyan") and
#: the lists of romanized names are short, so such a word stays a name unless a city of a
#: million people bears it ("Kiev").
_SURNAME_ENDINGS = ("OVA", "EVA", "OV", "EV", "SKI", "SKA", "SKY", "ENKO", "CHUK", "VICH", "VIC", "DZE", "SHVILI",
                    "YAN", "IAN", "OGLU", "ZADE", "SSON")


@functools.lru_cache(maxsize=1)
@listcache.on_disk("public-places", lambda v: [words_to_json(v[0]), words_to_json(v[1])],
                  lambda d: (words_from_json(d[0]), words_from_json(d[1])))
def _public_places() -> tuple[frozenset[str], frozenset[str]]:
    """(one word, several words) of the world's place names (:mod:`veil.privacy.places`), upper
    case, accents folded, that read as places, not as people.

    One word: 4 letters or more, on no country's list of surnames (Faker's), not ending as
    family names do (:data:`_SURNAME_ENDINGS`), and no given name of any list nor one of the
    5,000 commonest US surnames; a city of a million people or more, or a country, only needs
    to be no common given name ("KISLOVODSK", "SOUTHAMPTON", "TORONTO", "LEEDS", "BERLIN"; not
    "MADRID", "SHEFFIELD", "FLORENCE", "PARIS", "SHEVCHENKO"). Several words: no family name
    written in words ("LE ROUX"), and not a given name then a surname unless they end in a
    place word ("NEW YORK", "FRANKFURT AM MAIN", "RIO DE JANEIRO", "CRYSTAL LAKE"; not
    "FLORENCIO VARELA", "CARLOS A CARRILLO": towns named after a person, whose badge reads
    the same, nor "HONG KONG", "AN DUONG", which read as names of people of their countries)."""
    given = _listed_given()
    surnames = _common_surnames() | _world_surnames()
    for romanized_surnames, _ in _romanized_names():
        surnames |= romanized_surnames
    compound_surnames = {" ".join(_WORD.findall(fold_latin(str(name)).upper()))  # "Le Roux", "De la Cruz"
                         for _, listed in _person_providers()
                         for attr in _LAST_NAME_LISTS
                         if isinstance(listed.get(attr), (list, tuple, dict)) for name in listed[attr]}
    single: set[str] = set()
    multi: set[str] = set()
    own, other = places.place_populations()
    for place, population in [*own.items(), *((name, 0) for name in other)]:  # "Lamy" is no Lima
        words = _WORD.findall(fold_latin(place).upper())
        if len(words) == 1:
            word, bare = words[0], words[0].replace("'", "")  # "O'Connor" as the lists write it
            if len(word) < 4 or bare in _world_surnames():
                continue  # "Madrid", "Lima", "Trujillo": family names of their countries too
            if population >= places.LARGE:
                public = word not in _given_names() and not _widely_given(word)  # "Toronto", "Leeds", "Berlin"
            else:
                public = word not in given and bare not in surnames and not word.endswith(_SURNAME_ENDINGS)
            if public:
                single.add(word)
        elif (len(words) >= 2 and " ".join(words) not in compound_surnames
              and (words[0] not in given or words[0] in _PLACE_FIRST_WORDS or words[-1] not in surnames
                   or _place_end(words[-1]) is not None)):
            multi.add(" ".join(words))
    return frozenset(single), frozenset(multi)


def public_place(words: Sequence[str]) -> bool:
    """True when the words are a place's whole name that is no person's
    (:func:`_public_places`): "Kislovodsk", "New York", "Frankfurt am Main", a road sign's
    or a station board's town."""
    key = " ".join(fold_latin(w).upper() for w in words)
    single, multi = _public_places()
    return key in (single if len(words) == 1 else multi)


@functools.lru_cache(maxsize=1)
@listcache.on_disk("listed-given", words_to_json, words_from_json)
def _listed_given() -> frozenset[str]:
    """Every given name some list holds, upper case, accents folded: the census lists, every
    part of Faker's locales' given names of 2 letters or more ("An"), and the romanized ones."""
    out = set(_given_names(top=None)) | set(_world_given_locales())
    for _, listed in _person_providers():
        out |= _name_parts(listed, _FIRST_NAME_LISTS, 2)
    for _, given in _romanized_names():
        out |= given
    return frozenset(out)


@functools.lru_cache(maxsize=1)
@listcache.on_disk("listed-names", words_to_json, words_from_json)
def _listed_names() -> frozenset[str]:
    """Every given name and surname some list holds, upper case, accents folded: the given names
    of :func:`_listed_given`, the census surnames, every part of Faker's locales' surnames
    (2 letters or more) and the romanized ones."""
    out = set(_listed_given()) | _census_names() | _world_surnames()
    for _, listed in _person_providers():
        out |= _name_parts(listed, _LAST_NAME_LISTS, 2)
    for surnames, _ in _romanized_names():
        out |= surnames
    return frozenset(out)


def _other_known_words(words: Sequence[str]) -> set[int]:
    """The places of the words to count as known words, not as unknown ones that could be
    surnames: towns' names no person bears (:func:`_public_places`: "Southampton" in
    "Welcome to Southampton") and common words of German, French, Spanish, Italian, Dutch
    and Portuguese that no name list holds (:mod:`veil.privacy.lexicon`: "Ausgang",
    "Boulangerie", "Geschlossen"). None when another word is a given name or a form of
    address ("Senna Beek": a person named after a town, as many are), and not after a
    name's particle ("Senna van Beek", "Leonardo da Vinci")."""
    up = [fold_latin(w).upper() for w in words]
    if any(w in _HONORIFICS or _census_or_world_given(w) for w in up):
        return set()
    towns, foreign, names = _public_places()[0], lexicon.foreign_words(), _listed_names()

    def common(word: str, w: str) -> bool:
        if w in names:
            return False
        forms = {word.lower(), lexicon.plain(word)}
        if len(w) >= 5:  # a plural of a listed word ("Salidas", "Rebajas", "Toiletten")
            forms |= {f[:-n] for f in list(forms) for n, end in ((1, "s"), (2, "es"), (1, "n"), (2, "en"))
                      if f.endswith(end) and f[:-n].upper() not in names}
        return any(f in foreign for f in forms)

    return {i for i, (word, w) in enumerate(zip(words, up, strict=True))
            if not (i and up[i - 1] in _NAME_PARTICLES) and (w in towns or common(word, w))}


def place_name(words: Sequence[str]) -> bool:
    """True when the words name a place or a business, not a person: one word that is a
    street's name ("Friedrichstrasse", :data:`_PLACE_COMPOUND`); or, of two or more, the last is a
    place or business word (:data:`_PLACE_ENDS`: "Madison Avenue", "Victoria Station",
    "Ali Baba Kebab"; a street word, :func:`_place_end`: "Kyle Stream"), or the first starts a
    place's name (:func:`_place_start`: "Rue Victor Hugo", "St George's Hospital"); a place
    word that is a common surname too (:data:`_SURNAME_PLACE_ENDS`: "Hall", "Park") counts
    after a possessive ("Lucy's Kitchen") or beside a word that is no name ("Central Park",
    "City Hall"), so "Grace Park" and "Lois Lane" stay names. A place word after a whole name
    ("Louis Armstrong Stadium") is no cue: a name badge and the sign beside it read as one
    line say the same ("PRIYA BENALI STATION"), unless a place qualifier starts it ("Royal
    Albert Hall", "New Victoria Station") or the street word is written as after a namesake
    ("Olof Palmes gata", "Hans-J. Rosenow-Platz", "Mariahilfer Straße")."""
    up = [fold_latin(w).upper().replace("’", "'") for w in words]
    if not up:
        return False
    if len(up) == 1:
        compound = _PLACE_COMPOUND.fullmatch(up[0].rstrip("."))
        return compound is not None and (compound.group(2) in _NAMESAKE_PLACE_ENDS
                                         or not _named_after_whole_name(compound.group(1)))
    if _place_start(words):
        return True
    if _place_word_of(words, up):
        return True
    last = up[-1].rstrip(".").rsplit("-", 1)[-1]  # "Hans-J. Rosenow-Platz"
    kind = _place_end(last)
    if kind is None:
        return False
    if (up[0] not in _PLACE_QUALIFIERS and not _namesake_street_word(words[-1]) and not _adjectival_place(words)
            and _named_after_whole_name(" ".join(words[:-1]))):
        return False  # "PRIYA BENALI STATION": a name badge OCR read as one line with the sign beside it
    if kind == "place":
        return True
    if kind == "named":  # "Maple Grove", "Kings Ridge"; not "Vedika Amble", "Coach Hill"
        return any(w.endswith("'S") or w in _PLACE_QUALIFIERS
                   or (_single_known(w) and not is_common_name(w) and w not in _world_given_locales()
                       and w not in _ROLE_TITLES and w not in _HONORIFICS)
                   for w in up[:-1])
    return any(w.endswith("'S") or w in _PLACE_QUALIFIERS or (is_known_word(w) and not is_common_name(w))
               for w in up[:-1])


#: Words between a place or business word and what it is of ("Bank of Scotland", "Banco de Occidente").
_OF_WORDS = {"OF", "DE", "DEL", "DI", "DU", "DES", "DA", "DO", "FOR"}


def _place_word_of(words: Sequence[str], up: Sequence[str]) -> bool:
    """A place or business word, then "of" and what it is of, not a whole person's name
    ("Royal Bank of Scotland", "University of Manchester", "Church of England"; not "Gallery
    of Maria Kowalski"), after no whole name; a given name is no place word ("Ties de Brink")."""
    for i in range(len(up) - 2):
        if (up[i + 1] in _OF_WORDS and _place_end(up[i].rstrip(".")) in ("place", "surname")
                and not _census_or_world_given(up[i].rstrip("."))  # "Ties van de Brink" is a person
                and (len(words) - i - 2 < 2 or name_score(" ".join(words[i + 2:])) < 1.0)
                and (i == 0 or not _named_after_whole_name(" ".join(words[:i])))):
            return True
    return False


def warm_up() -> None:
    """Load every list the classifier reads (dictionaries, names, places, other languages' words)
    now rather than on the first line it judges: about 0.2 s from the disk caches
    (:mod:`veil.privacy.listcache`, :mod:`veil.privacy.lexicon`), about 7 s once per machine to
    build them. The proxy calls it at start for a model that reads text, so its first request
    does not pay it."""
    _vocabulary()
    _given_names(top=None)
    _public_places()
    _large_places()
    _listed_names()
    lexicon.foreign_words()
    text_category("Welcome to Southampton: Ausgang")
    text_category("Dr. Anna Müller, 14 Elm Road")


def pii_scores(text: str) -> dict[str, float]:
    """The score in [0, 1] of each private category (:data:`PRIVATE_TEXT_CATEGORIES`) for one line.
    Compatibility forms are folded first: recognisers trained on Chinese text read
    punctuation and digits full width ("(at）", "０１６１")."""
    text = unicodedata.normalize("NFKC", text)
    return {"name": name_score(text), "phone": phone_score(text), "plate": plate_score(text),
            "email": email_score(text), "id": id_score(text)}


def text_category(text: str, confidence: float = 1.0, min_confidence: float = 0.5, *, phrases: bool = True) -> str:
    """The category of one recognised line: a private one, ``public`` or ``unread``.

    Args:
        text: what the OCR read.
        confidence: the recogniser's score for it.
        min_confidence: below this (or with fewer than 2 letters or digits) the line is
            ``unread``: its content cannot be judged, so a privacy policy hides it.
        phrases: judge names by the phrases around them too ("Hello my name is Oliver",
            "Order for Kevin", "Tom paid you"); :func:`name_span` turns it off to learn whether
            a phrase alone made the line a name.
    """
    if confidence < min_confidence or len(_alnum(text)) < 2:
        return "unread"
    text = unicodedata.normalize("NFKC", text)  # full-width punctuation: "Tel：", "(at）"
    best = _best_category(text)
    if best == "public" and ":" in text:  # "Card holder: J. SMITH": the value after a label
        label, value = text.rsplit(":", 1)
        best = _best_category(value)
        named = set(re.findall(r"[A-Z]+", fold_latin(label).upper())) & _NAME_LABELS  # "Prénom:" too
        if best == "public" and named and any(c.isalpha() for c in value):
            best = "name"  # "Surname: STRAND": the label says whose
        elif best == "public" and _role_labelled_name(label, value):
            best = "name"  # "Patient: Hill", "Tenant: Wood": the label says a person, the value is names
    elif best == "public" and _counter_staff_name(text):
        best = "name"  # "CASHIER RUBY", "Server Joy": a till's staff word, then names
    if best == "public" and _name_beside_number(text):
        best = "name"  # "Chloe, 9", "Locker 12 - Kowalski": a number beside a name hides none of it
    if best == "public" and _secret_after_label(text):
        best = "id"  # "password: hunter2", "Born 12 March 1985": a secret or a birth date after its label
    if (best == "public" and _name_inside(text) and not business_name(text) and not street_line(text)
            and not public_place(_WORD.findall(fold_latin(text)))):  # "Vila Nova de Gaia": no "Vila Nova" inside
        best = "name"  # "Property of John Smith", "Delivered to: Keziah Moreau, 14 Elm Road"
    if best == "public" and any(name_score(m.group()) == 1.0 for m in _WEB_ADDRESS.finditer(text)):
        best = "name"  # "Visit www.johnsmith.com": a person's site inside a sentence
    if phrases and best == "public" and (_addressed_name(text) or _notified_span(text) is not None):
        best = "name"  # "Hello my name is Oliver", "Welcome back, Oliver", "Love, Tom", "Tom paid you"
    if best == "public":
        spaced = _RUN_TOGETHER_WORDS.sub(" ", text)
        if (phrases and _addressed_name(spaced, _ADDRESSED_RUN)) or (spaced != text and _counter_staff_name(spaced)):
            best = "name"  # "ServedbyMark", "Servedby Mark", "CashierVictor": small print OCR read without spaces
    if best == "public" and (_labelled_handle(text) or _bare_handle(text) or _mentioned_person(text)):
        best = "name"  # a person's user name: "Snapchat: anna.k99", "My insta is grace_hill", "@the.real.anna"
    if best == "public" and (foreign_script_share(text) >= FOREIGN_SCRIPT_SHARE or mixes_scripts(text)
                             or any(garbled_word(w) for w in _unslip(text).split())):
        return "unread"  # "王小明", "Ελένη Παπαδοπούλου", "ИBaH", "RA3HGOB": no cue can tell a name from a sign
    return best


#: Small words between a street word and the name it is named after ("Paseo de Julieta Collado",
#: "Rue de la Paix", "Praça da República").
_NAME_PARTICLES = {"DE", "DEL", "DELA", "LA", "LE", "LES", "DES", "DU", "D", "DA", "DAS", "DO", "DOS", "DI", "DELLA",
                   "DEGLI", "DEI", "VAN", "VON", "DER", "DEN", "TER", "TEN", "Y", "E", "ET", "AND", "OF", "THE"}


def street_line(text: str) -> bool:
    """True when the line is a street's name: a street word first ("avenue Augustin Poirier",
    "Paseo de Julieta Collado", "Jl. KH Amin Jasuta") or last ("Birger Kaipiaisen bulevardi",
    "Petőfi Sándor tér"), in any case, and every other word a capitalised name word, an
    initial or a particle (:data:`_NAME_PARTICLES`). The name inside is the street's
    namesake, not a person there; a sentence ("Route planned by John Smith") is no street."""
    raw = re.findall(r"[^\W\d_][\w'’.-]*", text)
    if not 2 <= len(raw) <= 6 or re.search(r"[,;:/|()]", text):
        return False  # "Rajesh Hill, 14 Elm Road": a name, then an address
    if _place_start(raw):
        return all(_name_word(w) for w in raw[1:])
    last = fold_latin(raw[-1]).upper().rstrip(".").rsplit("-", 1)[-1]
    if _namesake_street_word(raw[-1]) or (_place_end(last) == "place"
                                          and not _named_after_whole_name(" ".join(raw[:-1]))):
        return all(_name_word(w) for w in raw[:-1])  # not "RAJESH CHEN STATION" (a badge and a sign)
    return False


#: Street words of postal addresses, anywhere in the line ("14 Elm Road", "539 Garcia Street Apt.
#: 894"), with :data:`_NAMESAKE_PLACE_ENDS`; after a leading house number, any last word that
#: :func:`_place_end` knows counts too ("938 Karen Junctions").
_POSTAL_STREET_ENDS = frozenset({
    "ROAD", "RD", "STREET", "ST", "AVENUE", "AVE", "AV", "LANE", "LN", "DRIVE", "DR", "TERRACE", "TCE", "WAY",
    "COURT", "CT", "PLACE", "PL", "CRESCENT", "CRES", "BOULEVARD", "BLVD", "SQUARE", "SQ", "PARADE", "GARDENS",
    "MEWS", "HIGHWAY", "HWY", "PARKWAY", "PKWY", "CIRCLE", "CIR"} | _NAMESAKE_PLACE_ENDS)
#: Endings of street names written as one word ("Musterstrasse", "Björkgatan", "Villavägen").
_POSTAL_COMPOUND_ENDS = tuple(sorted({e for e in _NAMESAKE_PLACE_ENDS if len(e) >= 4}
                                   | {"STR", "WEG", "RING", "GATA", "BOULEVARD"}))
#: Street words of postal addresses before the street's name ("12 rue de la Paix", "Via Roma 5",
#: "ul. Brzozowa 10"): :data:`_PLACE_STARTS` but banks, lakes, mountains and ports, and the
#: abbreviations and words it lacks.
_POSTAL_STREET_STARTS = frozenset(
    {"AL", "AV", "AVDA", "BD", "C", "CANALE", "CARRER", "OSIEDLE", "PL", "PLAZA"}
    | (_PLACE_STARTS - {"BANK", "BANCA", "BANCO", "BANQUE", "CAIXA", "CAJA", "BAHNHOF", "LAKE", "MOUNT", "MT", "FORT",
                        "CAPE", "PORT", "CANADA"}))
_HOUSE_NUMBER = re.compile(r"^\d{1,5}[A-Za-z]?[,.]?$|^\d{1,5}[-/]\d{1,5}[,.]?$")
#: A flat, suite or post-office box with its number; a postcode and its town ("10115 Berlin",
#: "1012 AB Amsterdam", "89-650 Bialystok", "33043, Purgessimo"); a town and its postcode
#: ("Badajoz, 30267", "Springfield, IL 62704", "Paultown, QC J8J 7B7", "Perth, WA, 2709"); a UK postcode.
_POSTAL_UNIT = re.compile(r"^(?:flat|apt\.?|apartment|unit|suite|ste\.?|studio|p\.?\s?o\.?\s?box|postfach|apartado)"
                          r"\s*\w*\d", re.IGNORECASE)
_POSTCODE_TOWN = re.compile(r"^(?:[A-Z]{1,2}-)?(?:\d{4,5}|\d{2}-\d{3})(?:\s?[A-Z]{2})?,?\s+[^\W\d_]{2,}")
_TOWN_POSTCODE = re.compile(r"^[^\W\d_][^\d,]*,\s*(?:[A-Z]{2,3},?\s+)?(?:\d{4,5}(?:-\d{4})?|[A-Z]\d[A-Z]\s?\d[A-Z]\d)$")
_UK_POSTCODE = re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]?\s?\d[A-Z]{2}$")


def postal_line(text: str) -> bool:
    """True when the line is a line of a postal address: a house number with a street
    ("14 Elm Road", "221B Baker Street", "Musterstrasse 12", "12 rue de la Paix"), a flat,
    suite or box ("Flat 3", "PO Box 123"), or a postcode with its town ("10115 Berlin",
    "Springfield, IL 62704", "London SW1A 1AA"). Alone such a line is public: shops write
    their address on their signs; under a person's name it is where that person lives
    (``join_addressed_lines`` in :mod:`veil.anonymizers.guides`)."""
    text = unicodedata.normalize("NFKC", text).strip()
    if _POSTAL_UNIT.match(text) or _POSTCODE_TOWN.match(text) or _TOWN_POSTCODE.match(text) \
            or _UK_POSTCODE.search(text):
        return True
    tokens = fold_latin(text).replace(",", " ").split()
    words = [t.upper().rstrip(".") for t in tokens if t.rstrip(".").replace("-", "").isalpha()]
    if not any(_HOUSE_NUMBER.match(t) for t in tokens) or not words or len(tokens) > 8:
        return False
    return ((_HOUSE_NUMBER.match(tokens[0]) is not None and _place_end(words[-1]) is not None)  # "938 Karen Junctions"
            or words[0] in _POSTAL_STREET_STARTS
            or any(w in _POSTAL_STREET_ENDS or w.endswith(_POSTAL_COMPOUND_ENDS) for w in words))


#: A label's last word and the punctuation after it ("Patient:", "Given names :", "Attn. -").
_LABEL_END = re.compile(r"([^\W\d_]+)([\s:.,\-–]*)$")


def _counter_staff_name(text: str) -> bool:
    """True when ``text`` is a till's or counter's staff word (:data:`_COUNTER_STAFF`) and
    then names, without a colon: "CASHIER RUBY", "Server Joy"; not "Server Room", "Cashier
    Desk" (:func:`_role_labelled_name` judges the names)."""
    staff = re.fullmatch(r"\s*([^\W\d_]+)\s+(\S.*)", text)
    return (staff is not None and staff.group(1).upper() in _COUNTER_STAFF
            and _role_labelled_name(staff.group(1), staff.group(2))
            and not _ROLE_OBJECTS & set(staff.group(2).upper().split()))


def _unexplained_word(word: str) -> bool:
    """``word`` has 3 letters or more and no dictionary of the seven languages nor an OCR slip
    explains it ("Oluwaseun", "Radek" is explained): after a phrase or a label that points at
    a person, such a word is taken for a name."""
    return (len(word) >= 3 and not is_known_word(word) and not is_misread_word(word)
            and not _other_known_words([word]))


def _role_labelled_name(label: str, value: str) -> bool:
    """True when a person's role ends ``label`` (:data:`_ROLE_LABELS`; a line's text before its
    last colon) and ``value``, the one to three words after the colon, are each a common census
    name or a listed given name (in any case: OCR reads "Stone" as "stone"; "Radek" though a
    dictionary has the word), or capitalised and an initial, a form of
    address or a word no dictionary knows: "Patient: Hill", "Tenant: Wood", "Attn: J. Reed",
    "Kunde: Vogel"; not "Customer: Service Desk", "Guest: Wi-Fi", "Owner: Private", nor a place
    or a business ("Sender: Acme Ltd"). Staff roles too (:data:`_STAFF_LABELS`: "Nurse: Baker",
    "Cashier: Brenda"), not before a shift or a state ("Nurse: Day"). A small first letter
    counts only where OCR mistakes it for its capital ("stone") or the label is small too:
    "Guest: house" is no name."""
    label, value = fold_latin(label), fold_latin(value)
    last = _LABEL_END.search(label)
    if not last or last.group(1).upper() not in _PERSON_LABELS:
        return False
    words = value.split()
    if not 1 <= len(words) <= 3:
        return False
    plain = [w.rstrip(".,") for w in words]
    if (public_place(plain) or place_name(plain) or business_name(value) or street_line(value)
            or any(w.upper() in _DUTY_WORDS for w in plain)):
        return False
    small_label = not any(c.isupper() for c in label)

    def name_like(word: str) -> bool:
        up = word.upper()
        if not re.fullmatch(r"[^\W\d_][\w'’-]*", word) or up in _SIGNAGE or up in _NOT_ADDRESSED:
            return False
        if ((is_common_name(up) or _census_or_world_given(up))  # "Cashier: Radek", though "radek" is a word
                and (word[:1].isupper() or word[:1] in _CASE_ALIKE or small_label)):
            return True  # "Hill"; "stone" too: OCR reads a capital S, C, O, W as small
        return word[:1].isupper() and (len(up) == 1 or up in _HONORIFICS  # "J. Reed", "Mrs Hill"
                                       or _unexplained_word(word))
    return all(name_like(w) for w in plain)


#: A number, or a mark that only separates ("#", "-", "/", ":"): what :func:`_name_beside_number`
#: cuts a line at, after parting digits from the letters OCR runs them into ("Locker14-Oliver").
_NUMBER_OR_MARK = re.compile(r"(?<![^\W\d_])\d[\d.,:/]*|[#№/|–—:;,]+|\s-+\s|\bN[or]\.?(?=\s*\d)", re.IGNORECASE)
#: (Not a lone 0, 1, 5, 6 or 8 ending a word: OCR's slip for a letter, "Hal1" for "Hall".)
_LETTERS_DIGITS = re.compile(r"(?<=[^\W\d_])(?=\d)(?![01568]\b)|(?<=\d)(?=[^\W\d_])")
#: Words signs and addresses write beside a number that read as names alone too, name lists
#: holding them: a limit ("MAX 30"), a door, stair, room, hall or house of the six other
#: languages ("Puerta 1", "Haus 3", "Sala 2", "Zimmer 12"), a hospital's ward ("Ward 7B").
_NUMBER_SIGN_WORDS = {"MAX", "MIN", "PUERTA", "ESCALERA", "ESC", "IZQ", "DCHA", "DEPTO", "DPTO", "PORTE", "SALA",
                      "CASA", "LOJA", "HAUS", "HALLE", "ZIMMER", "RAUM", "KAMER", "WARD"}


def _name_beside_number(text: str) -> bool:
    """True when a line holds a number and, cut at its numbers and separating marks, one of
    the pieces is a name of one word: "Chloe, 9" (a name and an age), "Order 4411 - Priya",
    "Locker 12 Kowalski", "Priya 4411" (a cup, a locker, a shirt's back). A digit beside it
    does not make a name public. The numbers signs write go first (:func:`without_sign_numbers`:
    "Darwin 12 km", "Seit 1948"), a postal address line is left to :func:`join_addressed_lines`;
    the piece must be a name alone too, capitalised, and no limit or room word
    (:data:`_NUMBER_SIGN_WORDS`: "MAX 30", "Haus 3", "Ward 7B"), large place ("Platform 9
    Paris"), street or business; "Route 66 Diner", "Studio 54", "Gate B12" stay public. Names of two words or
    more are found inside any line already (:func:`_name_inside`)."""
    text = without_sign_numbers(text)  # "Darwin 12 km", "Seit 1948", "Lun-Ven 9h-18h": a sign's numbers
    # an address's number and street, or postcode and town, is left to join_addressed_lines; a
    # flat's number before one word is a door's ("Flat 2 Kowalski")
    if not any(c.isdigit() for c in text) or (postal_line(text) and not _POSTAL_UNIT.match(text.strip())):
        return False
    spaced = _LETTERS_DIGITS.sub(" ", fold_latin(text))
    pieces = [piece.strip(" ,.;:!?()[]'\"-").split() for piece in _NUMBER_OR_MARK.split(spaced)]
    pieces = [words for words in pieces if words]
    if sum(len(words) for words in pieces) > 5:
        return False  # a sentence with a number in it ("Zachód 40 południowy"), not a label
    for words in pieces:
        if len(words) != 1 or not re.fullmatch(r"[^\W\d_][\w.'’-]*", words[0]) or not words[0][:1].isupper():
            continue  # names are capitalised: "framework ottimizzata 24 ore" is no name
        word = words[0].rstrip(".")
        up = word.upper()
        if (len(up) < 3 or up in _NUMBER_SIGN_WORDS or up in _SIGNAGE or up in _NOT_ADDRESSED
                or up in _large_places() or _other_known_words([word])):  # a common word of six other languages
            continue
        # a given name a greeting may address ("Grant", "Chloe") or some list's surname
        # ("Kowalski"), not any unknown word ("1.99 EUR", "2e Exloërmond"), and a name alone too:
        # no town, street or business ("Chita 12" stays a town; name_score takes them out)
        if ((_addressable_given(word) or is_common_name(up) or up in _world_surnames())
                and _best_category(word) == "name"):
            return True
    return False


def _secret_after_label(text: str) -> bool:
    """True when one of the first three words is a credential or birth-date label
    (:data:`_SECRET_LABELS`) and a value follows it: after a colon, or holding a number or a
    word no dictionary knows ("password: sunflower", "PASSWORD hunter2", "Born 12 March
    1985"); "Forgot password?", "Born to run" are not."""
    folded = fold_latin(text)
    labels = [m for m in list(re.finditer(r"[A-Za-z]+", folded))[:3] if m.group().upper() in _SECRET_LABELS]
    labels += list(_RUN_TOGETHER_LABEL.finditer(folded[:40]))  # "Wi-Fipassword:violet51", as OCR reads it
    for m in labels:
        after = folded[m.end():]
        tokens = re.findall(r"[\w@.+-]*\w", after)
        if tokens and (after.lstrip().startswith(":") or  # fold_latin made a full-width colon ":"
                       any(not t.isalpha() or not is_known_word(t) for t in tokens)):
            return True
    return False


#: Services whose name is a common word too ("Line 2", "Signal: red"): a handle after them needs
#: its "@" or an "ID" label ("LINE ID: annak99").
_AMBIGUOUS_SERVICES = {"LINE", "SIGNAL", "X", "THREADS", "STEAM"}
_LABELLED_HANDLE = re.compile(
    r"(?:^|(?<=[\s,.!(]))(?:(?:my|add\s+me\s+on|find\s+me\s+on|follow\s+me\s+on|dm\s+me\s+on|message\s+me\s+on)\s+)?"
    r"(?P<service>" + _SERVICE_NAMES + r")(?P<id>\s*(?:id|name|handle|username|user\s?name|tag))?"
    r"(?:\s*[:：]\s*|\s+is\s+|\s+(?=@))(?P<at>@)?(?P<handle>[A-Za-z0-9][\w.]{1,29})(?!\w)", re.IGNORECASE)
#: Words that say an organisation speaks ("Follow us on Instagram: cityzoo").
_ORGANISATION_WORDS = {"US", "OUR", "OFFICIAL", "UNS", "NOUS", "NOS", "NOSOTROS", "SIGUENOS", "SEGUICI", "VOLG",
                       "ONS", "SIGA-NOS"}


def _organisation_speaks(folded: str) -> bool:
    """True when a line (accents folded) says an organisation speaks (:data:`_ORGANISATION_WORDS`:
    "Follow us ...")."""
    return bool(set(re.findall(r"[A-Z-]+", folded.upper())) & _ORGANISATION_WORDS)


def _labelled_handle(text: str) -> bool:
    """True when a messaging or social service's name labels a user name that reads as a
    person's (:func:`personal_handle`): "Snapchat: anna.k99", "My insta is grace_hill", "LINE ID:
    annak99", "Add me on Skype: john.smith.42". Not when an organisation speaks ("Follow us on
    Instagram: cityzoo"), nor after a service whose name is a word too ("Line 2", "Signal: red")
    without an "@" or an "ID" label."""
    folded = fold_latin(text)
    if _organisation_speaks(folded):
        return False
    for m in _LABELLED_HANDLE.finditer(folded):
        service = re.sub(r"\s", "", m.group("service")).upper()
        if service in _AMBIGUOUS_SERVICES and not (m.group("at") or m.group("id")):
            continue
        if personal_handle(m.group("handle")):
            return True
    return False


#: A line that is a user name by itself: "@" and the name, or lower-case pieces joined by dots
#: or underscores as only user names write them ("anna.k99", "radek.hill24").
_BARE_HANDLE = re.compile(r"@[A-Za-z0-9][\w.]{2,29}|[a-z][a-z0-9]*(?:[._][a-z0-9]+)+")


#: A Reddit user's name, which the site writes after "u/" ("Posted by u/throwaway_kate"; "r/"
#: names a forum): a user name wherever it stands.
_FORUM_USER = re.compile(r"(?<![\w/.])/?u/(?P<handle>[A-Za-z0-9][\w-]{2,19})(?![\w/])")


def _mentioned_person(text: str) -> bool:
    """True when the line mentions a person's user name after its "@" (:func:`mentioned_handles`,
    :func:`personal_handle`: "Follow me @annak99", "Photo by @grace_hill") or its "u/"
    (:data:`_FORUM_USER`: "Posted by u/throwaway_kate"), unless an organisation speaks ("Follow
    us @joesbakery")."""
    folded = fold_latin(text)
    handles = mentioned_handles(folded) + [m.group("handle") for m in _FORUM_USER.finditer(folded)]
    return not _organisation_speaks(folded) and any(personal_handle(h) for h in handles)


def _bare_handle(text: str) -> bool:
    """True when the line is a user name alone that reads as a person's
    (:func:`personal_handle`): "@the.real.anna", "@grace99"; without its "@", a given name
    among its pieces too ("anna.k99", "radek.hill24"; not "index.html", "co.uk", "ext.24")."""
    stripped = fold_latin(text.strip())
    if _BARE_HANDLE.fullmatch(stripped) is None or _WEB_ADDRESS.search(stripped) is not None:
        return False
    if not stripped.startswith("@") and not any(
            _common_given(p) or _addressable_given(p) for p in re.findall(r"[a-z]{3,}", stripped)):
        return False
    return personal_handle(stripped)


def personal_handle(handle: str) -> bool:
    """True when a user name reads as a person's rather than an organisation's: a whole name
    ("john.smith.42", "gracehill", "tomfrost"), one word and a number ("grace99", "hoper26";
    not a sign word: "cafe24"), a given name among its pieces or beside an initial
    ("the.real.anna", "freya.w"), or letters no dictionary, word run or place makes
    ("annak99", "thandiwebrook"). Handles of words and places ("cityzoo", "joesbakery",
    "CityMuseumLondon", "thecoffeehouse") are organisations'."""
    folded = fold_latin(handle.strip().lstrip("@"))
    pieces = [p for chunk in re.findall(r"[^\W\d_]+", folded) for p in re.findall(r"[A-Z]?[^\W\d_A-Z]+|[A-Z]+(?![a-z])",
                                                                                  chunk)]
    if not pieces or len("".join(pieces)) < 3:
        return False
    if name_score(" ".join(p.title() for p in pieces)) == 1.0:
        return True
    joined = "".join(pieces)
    if any(c.isdigit() for c in folded) and len(pieces) == 1 and joined.upper() not in _SIGNAGE:
        return True  # "grace99", "hoper26": a word or a name and a number, as people pick them ("cafe24" no)
    if len(pieces) == 1 and any(_given_then_surname(joined[:i], joined[i:]) and _place_end(joined[i:].upper()) is None
                                for i in range(3, len(joined) - 2)):
        return True  # "tomfrost": a given name and a census surname run together, both words too
    if len(pieces) >= 2 and (any(_addressable_given(p) for p in pieces) or (
            any(len(p) == 1 for p in pieces) and any(_common_given(p) for p in pieces if len(p) >= 3))):
        return True  # "the.real.anna", "freya.w": a given name among the pieces, or beside an initial
    words = [p.title() for p in pieces]
    # "cityzoo", "thecoffeehouse", "CityMuseumLondon" are an organisation's; "freya.w" has an initial
    return not (is_known_word(joined) or place_name(words) or public_place(words) or all(
        (len(p) >= 3 and is_known_word(p)) or fold_latin(p).upper() in _large_places() or public_place([p.title()])
        for p in pieces))


def _name_inside(text: str) -> bool:
    """True when a run of 2 to 4 capitalised words inside a longer line, starting with a given
    name of some country or a form of address, or written Title Case and ending with a census
    name ("Olusegun Lindgren"), is a name by itself (:func:`name_score` 1): a
    name in a sentence, a dedication or an address line ("Signed by Radek Hill", "In loving
    memory of Margaret Whitfield", "Property of J. Smith"), which the whole line's rules, made for lines of up to four
    words without digits, do not see; a brand or acronym in a sentence ("the OpenAI API") is
    no name. Runs end at punctuation other than the dot of an initial or a form of address."""
    # a lower-case word OCR ran into the name after it: "Meeting withYevgenia Iwasaki"
    spaced = re.sub(r"\b([a-z]{2,})(?=[A-Z][a-z]{2})", r"\1 ", fold_latin(text))
    # a designation's letter is no initial: "Vitamin C. Green tea" (the dot dropped: no name starts there)
    spaced = re.sub(r"\b([A-Za-z]+)(\s+[A-Z])\.",
                    lambda m: m.group(1) + m.group(2) if m.group(1).upper() in _LETTER_LABELS else m.group(0), spaced)
    tokens = re.findall(r"[^\s,;:!?()\[\]\"/|]+|[,;:!?()\[\]\"/|]", spaced)
    if len(tokens) <= 2:
        return False
    runs: list[list[str]] = [[]]
    for tok in tokens:
        word = tok.rstrip(".")
        if word[:1].isupper() and word.replace("-", "").replace("'", "").isalpha():
            runs[-1].append(tok)
            if tok.endswith(".") and len(word) > 1 and word.upper() not in _HONORIFICS | _ROLE_TITLES:
                runs.append([])  # a full stop ends the run ("... Hill. Open daily")
        else:
            runs.append([])
    whole = [w for w in tokens if w[:1].isalnum()]
    for run in runs:
        words = [w.rstrip(".") for w in run]
        if public_place(words):
            continue  # "NEXT STOP RIO DE JANEIRO": a town's name ("RIO DE" is no name)
        if place_name(words) and not _initial_and_surname(" ".join(run[-2:]), words[-2:]):
            # "Services at St Mary Magdalene Church", "Platform 2 Victoria Line": a place's name,
            # unless it ends in an initial and a surname ("PROPERTY OF A. HALL")
            continue
        for size in range(2, min(4, len(run)) + 1):
            for i in range(len(run) - size + 1):
                window = run[i:i + size]
                first = window[0].rstrip(".").upper()
                # a form of address, a given name, or a role and a surname ("Thanks to Coach Frost")
                given = (first in _HONORIFICS or _census_or_world_given(first)
                         or (size == 2 and _role_then_surname(window[0].rstrip("."), window[1]))
                         or (size == 2 and len(first) == 1 and window[0].endswith(".")))  # "Property of J. Smith"
                titled = all(len(w) >= 3 and w[0].isupper() and w[1:].islower() for w in window) \
                    and window[-1].upper() in _census_names()  # "Olusegun Lindgren"; not "OpenAI API"
                if (given or titled) and len(window) < len(whole) and name_score(" ".join(window)) == 1.0:
                    return True
    return False


#: Phrases that introduce, address, thank or sign off a person, in the six languages of the
#: word lists and English (accents folded, any case): the capitalised given name after one is
#: that person's, even when it is a dictionary word too ("Hello my name is Oliver", "Thank
#: you Tom", "Lieber Max", "Happy Birthday Grace"); after an introduction (or ending a
#: greeting), any capitalised word no dictionary knows ("My name is Oluwaseun"). Longer phrases
#: first, so "welcome back" wins over "welcome".
_INTRODUCTIONS = (
    # introductions and service ("Your server today is Marco")
    r"hello,?\s+my\s+name\s+is", r"hi,?\s+my\s+name\s+is", r"my\s+name\s+is", r"my\s+name['’]?s", r"i['’]m", r"i\s+am",
    r"call\s+me", r"ask\s+for", r"served\s+by", r"attended\s+by",
    r"your\s+(?:server|host|hostess|driver|guide|waiter|waitress|barista|cashier|nurse|doctor|teacher|stylist"
    r"|therapist|technician|agent|advisor|adviser|consultant|instructor|trainer|captain|pilot)"
    r"(?:\s+today|\s+tonight)?(?:\s+is|\s*:)",
    r"mein\s+name\s+ist", r"ich\s+heisse", r"ich\s+bin", r"je\s+m'?appelle", r"je\s+suis", r"me\s+llamo",
    r"mi\s+nombre\s+es", r"mi\s+chiamo", r"il\s+mio\s+nome\s+e", r"mijn\s+naam\s+is", r"ik\s+heet", r"ik\s+ben",
    r"meu\s+nome\s+e", r"me\s+chamo", r"eu\s+sou")
_GREETINGS = (
    # greetings, wishes and thanks ("Welcome back, Oliver", "Happy Birthday Grace")
    r"welcome\s+back", r"welcome\s+home", r"welcome", r"dear", r"hello", r"hi", r"hey", r"thank\s+you", r"thanks",
    r"happy\s+(?:birthday|anniversary|retirement|graduation|wedding\s+day)", r"congratulations", r"congrats",
    r"good\s+luck", r"get\s+well\s+soon", r"well\s+done", r"miss\s+you", r"we\s+love\s+you", r"love\s+from",
    r"with\s+love", r"r\.?i\.?p\.?", r"rest\s+in\s+peace",
    # memorials and dedications ("In loving memory of Arthur", "Zum Gedenken an Ilse")
    r"in\s+(?:loving\s+)?memory\s+of", r"in\s+memoriam", r"in\s+hono(?:u)?r\s+of",
    r"dedicated\s+to(?:\s+the\s+memory\s+of)?", r"zum\s+gedenken\s+an", r"in\s+erinnerung\s+an",
    r"a\s+la\s+memoire\s+de", r"en\s+memoria\s+de", r"in\s+memoria\s+di", r"ter\s+nagedachtenis\s+aan",
    r"em\s+memoria\s+de",
    r"liebe[rs]?", r"hallo", r"danke", r"vielen\s+dank", r"alles\s+gute(?:\s+zum\s+geburtstag)?",
    r"herzlichen\s+gluckwunsch(?:\s+zum\s+geburtstag)?", r"willkommen", r"cher", r"chere", r"bonjour", r"salut",
    r"merci", r"bienvenue", r"(?:joyeux|bon)\s+anniversaire", r"querid[oa]", r"hola", r"gracias",
    r"bienvenid[oa]", r"feliz\s+(?:cumpleanos|aniversario)", r"felicidades", r"car[oa]", r"ciao",
    r"grazie", r"benvenut[oa]", r"buon\s+compleanno", r"auguri", r"lieve", r"hoi", r"bedankt",
    r"dank\s+je(?:\s+wel)?", r"welkom", r"gefeliciteerd", r"fijne\s+verjaardag", r"ola", r"oi", r"obrigad[oa]",
    r"bem-vind[oa]", r"parabens")
#: Phrases that hand an order, a delivery or a ride to a person, as apps' notifications, coffee
#: cups, receipts and labels write them ("Order for Kevin", "Order #4411 for Priya", "Your
#: driver Ahmed is arriving", "Delivered to Tom"), in the six languages of the word lists and
#: English: the name after one is judged as a greeting's, and a capitalised word no dictionary
#: knows counts anywhere in the line ("Your driver Oluwaseun is arriving"); "Order for Pickup",
#: "Reserved for Staff", "Delivered to Reception", "Delivered to Paris" stay public.
_HANDOVERS = (
    r"(?:order|pick-?\s?up|collection|delivery|parcel|package|booking|reservation|table)"
    r"(?:\s*(?:#|no\.?)\s*\d[\w-]*|\s+\d[\w-]*)?\s+for",
    r"(?:table\s+)?reserved\s+for", r"ready\s+for\s+(?:pick-?\s?up|collection)",
    r"(?:your\s+)?(?:driver|courier|rider|shopper|dasher|chauffeur|delivery\s+(?:driver|partner|person))",
    r"(?:delivered|handed(?:\s+over)?)\s+to",
    r"(?:bestellung|abholung|lieferung|reservierung)\s+fur", r"(?:geliefert|zugestellt|ubergeben)\s+an",
    r"(?:ihr|dein)\s+(?:fahrer|kurier)", r"(?:commande|reservation|livraison)\s+pour", r"livree?\s+a",
    r"votre\s+(?:chauffeur|livreur)", r"(?:pedido|reserva)\s+para", r"entregad[oa]\s+a",
    r"tu\s+(?:conductor|repartidor)", r"(?:ordine|prenotazione)\s+per", r"consegnat[oa]\s+a",
    r"il\s+tuo\s+(?:autista|corriere)", r"(?:bestelling|reservering)\s+voor", r"bezorgd\s+(?:aan|bij)",
    r"je\s+(?:chauffeur|bezorger)", r"entregue\s+a", r"seu\s+(?:motorista|entregador)")
#: Phrases that say who sent, posted, paid or called, whom a message, a payment or a meeting is
#: from, to or with, or whose turn it is, as phones' notifications, calendars and receipts
#: write them ("Posted by Grace", "Missed call from Tom", "Meeting with Priya at 3pm", "You
#: sent £20 to Grace", "Now serving KEVIN"), in the six languages of the word lists and
#: English: the name after one is judged as a greeting's (a brand, a role or a dish is as
#: likely: "Paid by Card", "Message from Apple", "Call from Dad", "Now serving Breakfast").
#: Credits ("Written by", "Photo by") name authors, not customers, and are left out.
_SENDERS = (
    r"(?:posted|sent|shared|paid|requested|ordered|booked|collected|received|signed\s+for)\s+by", r"now\s+serving",
    r"(?:missed\s+(?:video\s+|voice\s+)?call|(?:incoming\s+|video\s+|voice\s+)?call|voicemail|voice\s+(?:message|note)"
    r"|(?:new\s+)?(?:message|text|e-?mail)s?|invit(?:e|ation)|friend\s+request|payment(?:\s+request)?|money|request"
    r"|reply|gift|note|photo|video)\s+from",
    r"(?:meeting|(?:video\s+)?call|facetime|lunch|dinner|breakfast|coffee|drinks|chat|catch-?\s?up|appointment|session"
    r"|interview|conversation|shared)\s+with",
    r"(?:reply(?:ing)?|replied)\s+to", r"(?:you\s+)?(?:sent|paid|transferred)\s+(?:[£$€]\s?\d[\d.,]*\s+)?to",
    r"(?:verpasster\s+)?anruf\s+von", r"nachricht\s+von", r"termin\s+mit",
    r"appel\s+(?:manque\s+)?de", r"message\s+de", r"rendez-vous\s+avec", r"llamada\s+(?:perdida\s+)?de",
    r"mensaje\s+de", r"reunion\s+con", r"chiamata\s+(?:persa\s+)?da", r"messaggio\s+da", r"riunione\s+con",
    r"(?:gemiste\s+)?oproep\s+van", r"bericht\s+van", r"afspraak\s+met", r"chamada\s+(?:perdida\s+)?de",
    r"mensagem\s+de", r"reuniao\s+com")
#: What a phone's notification says a person did, after their name ("Ahmed sent you a photo",
#: "Tom paid you $12", "Grace and 3 others reacted", "Priya is calling..."): the name before
#: it is judged as a greeting's ("Apple sent you a receipt", "London is calling" stay public).
_NOTIFIED = re.compile(
    r"^\W*(?P<name>[^\W\d_][\w'’-]*)\s+(?:and\s+\d+\s+others?\s+)?(?:sent\s+you|paid\s+you|requested|liked|loved"
    r"|reacted|commented|mentioned\s+you|tagged\s+you|invited\s+you|shared\s+(?:a|an|the|your)|is\s+calling"
    r"|is\s+typing|wants\s+to|added\s+you|started\s+following|followed\s+you|replied|accepted\s+your|is\s+live"
    r"|has\s+joined|joined\s+(?:the|your)|left\s+the|changed\s+the|missed\s+your|called\s+you|texted|messaged"
    r"|and\s+\d+\s+others?)\b", re.IGNORECASE)


def _notified_span(text: str) -> tuple[int, int] | None:
    """Where (characters ``[start, end)`` of the line with its accents folded) a phone's
    notification names the person it is about, when it starts with a given name and what
    that person did (:data:`_NOTIFIED`): a given name a greeting may address or,
    capitalised, a word no dictionary knows ("Oluwaseun sent you a photo"). None otherwise."""
    m = _NOTIFIED.match(fold_latin(text))
    if m is None:
        return None
    name = m.group("name")
    if name[:1].isupper() and (_addressable_given(name) or (
            _unexplained_word(name) and not public_place([name]) and name.upper() not in _large_places())):
        return m.start("name"), m.end("name")
    return None


def name_span(text: str) -> tuple[int, int] | None:
    """The characters ``[start, end)`` of the name in a line that is a name only because a
    phrase around the name says a person is meant ("Your driver Frank is arriving in a grey
    Toyota Prius", "Missed call from Grace", "Tom paid you $12", "Hello my name is Oliver"):
    the rest of the line is public, so a guide can hide the name and leave the rest readable
    (a notification's, a receipt's or a badge's words an MLLM is asked about). None when the
    line is a name or private by itself or by another rule ("Grace Hill", "Patient: Hill",
    "Delivered to: Keziah Moreau, 14 Elm Road"), when what is left reads as anything but
    public or holds another given name ("Missed call from Tom and Grace"), when a
    capitalised word after the name may be its surname ("Your driver Frank Oduya is
    arriving"), or when folding the accents changed the line's length (the span would not
    be the line's)."""
    text = unicodedata.normalize("NFKC", text)
    folded = fold_latin(text)
    if len(folded) != len(text) or text_category(text, phrases=False) != "public":
        return None
    span = _addressed_span(text) or _notified_span(text)
    if span is None:
        return None
    rest = text[:span[0]] + " " + text[span[1]:]
    after = re.match(r"\s+([A-Z][\w'’-]*)", folded[span[1]:])
    if (text_category(rest) not in ("public", "unread")
            or any(w[:1].isupper() and _addressable_given(w)
                   for w in _WORD.findall(folded[:span[0]] + " " + folded[span[1]:]))
            or (after and (not is_known_word(after.group(1)) or is_common_name(after.group(1).upper())))):
        return None  # "Your driver Frank Oduya is arriving": a surname the span left out
    return span


#: Sign-offs: the name after them needs the comma ("Love, Tom", "Cheers, Sam"; not "Love Island").
_SIGN_OFFS = (r"love", r"cheers", r"kind\s+regards", r"regards", r"best\s+wishes", r"best", r"yours\s+sincerely",
              r"yours\s+truly", r"sincerely", r"yours", r"xoxo", r"viele\s+grusse", r"liebe\s+grusse", r"grusse",
              r"gruss", r"bisous", r"amities", r"besos", r"un\s+abrazo", r"abrazos", r"baci", r"un\s+abbraccio",
              r"groetjes", r"beijos", r"abracos")


def _addressed_pattern(run_together: bool) -> re.Pattern[str]:
    """A phrase of :data:`_INTRODUCTIONS`, :data:`_HANDOVERS`, :data:`_SENDERS`,
    :data:`_GREETINGS` or :data:`_SIGN_OFFS`, then the name it addresses; with
    ``run_together`` the spaces inside a phrase are optional, as OCR reads small print
    ("Servedby Mark"), not the one before the name ("HILTON" is no "Hi")."""
    def phrases(group: tuple[str, ...]) -> str:
        return "|".join(p.replace(r"\s+", r"\s*") if run_together else p for p in group)
    return re.compile(
        r"(?:^|(?<=[\s,.!:;\"(]))(?:(?:(?P<intro>" + phrases(_INTRODUCTIONS) + ")|(?P<hand>" + phrases(_HANDOVERS)
        + ")|" + phrases(_SENDERS) + "|" + phrases(_GREETINGS) + r")(?:\s*[,:!]\s*|\s+)|(?:" + phrases(_SIGN_OFFS)
        + r")\s*,\s*)(?P<name>[^\W\d_][\w'’-]*)", re.IGNORECASE)


_ADDRESSED = _addressed_pattern(run_together=False)
_ADDRESSED_RUN = _addressed_pattern(run_together=True)
#: Where OCR ran two words together, a small letter then a capital ("CashierVictor").
_RUN_TOGETHER_WORDS = re.compile(r"(?<=[a-z])(?=[A-Z])")
#: Given names that are months, seasons or greetings' objects more often than people
#: ("Hello May", "Welcome Summer", "Happy Birthday Jesus" stays a name).
_NOT_ADDRESSED = {"JANUARY", "FEBRUARY", "MARCH", "APRIL", "MAY", "JUNE", "JULY", "AUGUST", "SEPTEMBER", "OCTOBER",
                  "NOVEMBER", "DECEMBER", "SPRING", "SUMMER", "AUTUMN", "WINTER", "SUNSHINE", "HONEY", "BABY",
                  "DARLING", "SWEETIE", "ANGEL", "EVERYONE", "ALL", "FRIENDS", "GUYS", "TEAM"}


#: A line that ends by introducing a name, with nothing after it ("HELLO my name is", "I am"):
#: a badge writes the name on the line below. OCR drops the spaces of small print ("my nameis").
_DANGLING_INTRODUCTION = re.compile(
    r"(?:^|(?<=[\s,.!:;\"(]))(?:" + "|".join(i.replace(r"\s+", r"\s*") for i in _INTRODUCTIONS) + r")\s*[:,.]?\s*$",
    re.IGNORECASE)


def cued_name_line(cue: str, value: str) -> str | None:
    """The line ``cue`` and the line ``value`` written under or beside it, joined as one line
    the classifier can judge, when ``cue`` ends by introducing or labelling a name with
    nothing after it: "HELLO my name is" + "Sky" -> "My name is Sky" (any introduction, as
    read: "my nameis", "Call me"), "NAME" + "Sage" -> "NAME: Sage" (a label takes its colon
    back), "Patient:" / "NURSE:" + "Hill" -> "Patient: Hill" (a role or staff label labels a
    name with its colon only: "LEARNER DRIVER" labels nothing); None when it does not ("NO
    PARKING")."""
    folded = fold_latin(unicodedata.normalize("NFKC", cue)).strip()
    if _DANGLING_INTRODUCTION.search(folded):
        return f"My name is {value.strip()}"
    last = _LABEL_END.search(folded)
    if last and (last.group(1).upper() in _NAME_LABELS  # "Patient:" over "Hill", "NURSE:" over "Baker"
                 or (last.group(1).upper() in _PERSON_LABELS and ":" in last.group(2))):
        return f"{cue.strip().rstrip(':').rstrip()}: {value.strip()}"
    return None


def _addressed_name(text: str, pattern: re.Pattern[str] | None = None) -> bool:
    """True when :func:`_addressed_span` finds a name (``pattern``: :data:`_ADDRESSED_RUN` for
    a line OCR ran together)."""
    return _addressed_span(text, pattern) is not None


def _addressed_span(text: str, pattern: re.Pattern[str] | None = None) -> tuple[int, int] | None:
    """Where (characters ``[start, end)`` of the line with its accents folded) a capitalised
    given name follows a phrase that addresses, introduces, thanks or signs off a person, or
    hands an order to one or says who sent it (:data:`_INTRODUCTIONS`, :data:`_HANDOVERS`,
    :data:`_SENDERS`, :data:`_GREETINGS`, :data:`_SIGN_OFFS`): "Hello my name is Oliver",
    "Your server today is Marco", "Order for Kevin", "Welcome back, Oliver", "Best wishes,
    Tom". A given name that is a dictionary word too ("Oliver", "Will", "Grace") reads public alone,
    as signs use such words; the phrase says a person is meant. Not a possessive ("Welcome
    to Oliver's", "Hello Oliver's Bakery"), nor a place or business the name starts ("Thank
    you Rose Garden volunteers"), nor a month or season (:data:`_NOT_ADDRESSED`); the span
    takes in the capitalised word after the name when the two are a whole name ("Welcome
    Oliver Smith"). None when there is none."""
    folded = fold_latin(text)
    for m in (pattern or _ADDRESSED).finditer(folded):
        name = m.group("name")
        if not name[:1].isupper() and sum(c.isupper() for c in name) >= 2:
            name = name.upper()  # capitals OCR read in mixed case: "for vIcToR"
        intro, handed = m.group("intro") is not None, m.group("hand") is not None
        if handed and fold_latin(name).upper() in _large_places():
            continue  # "Delivered to Paris", "Reservation for Jordan": a place
        last = not re.search(r"\w", folded[m.end():])
        # "My name is Oluwaseun", "Alles Gute zum Geburtstag Yevgenia", "Your driver Oluwaseun
        # is arriving": a word no dictionary knows after an introduction or a handover, or ending
        # a greeting; any list's given name after an introduction ("My name is Florin", though
        # a florin is a coin; not after a handover: "Booking for Easter", "Delivered to Heaven")
        unknown = (intro or handed or last) and _unexplained_word(name) and not public_place([name])  # "Welkom Thuis"
        listed = intro and _census_or_world_given(fold_latin(name).upper()) and name.upper() not in _NOT_ADDRESSED
        if (not name[:1].isupper() or re.search(r"['’]s$", name, re.IGNORECASE)
                or not (unknown or listed or _addressable_given(name))):
            continue
        rest = re.match(r"\s+([^\W\d_][\w'’-]*)", folded[m.end():])
        after = rest.group(1) if rest and rest.group(1)[:1].isupper() else None
        if after is not None:
            pair = f"{name} {after}"
            if name_score(pair) == 1.0:
                return m.start("name"), m.end() + rest.end()  # "Welcome Oliver Smith"
            if (_place_end(fold_latin(after).upper().rstrip(".")) is not None or place_name([name, after])
                    or public_place([name, after]) or business_name(pair)):
                continue  # "Thank you Rose Garden volunteers"
        return m.start("name"), m.end()
    return None


def _addressable_given(word: str) -> bool:
    """``word`` is a given name a greeting may address: some list's given name that is no
    dictionary word ("Priya", "Yevgenia"), or a word too that the US census lists and at least
    three countries' lists hold ("Oliver", "Grace", "Tom"; not "Queen", "Kitty", "Phoenix",
    "Mate") or that at most one dictionary holds (:func:`_personal_given_name`: "Radek"); no
    month or season (:data:`_NOT_ADDRESSED`), and no country or city of a million people
    ("Hello Sydney", "Welcome India")."""
    up = fold_latin(word).upper().strip("'’-")
    if len(up) < 3 or up in _NOT_ADDRESSED or up in _SIGNAGE or up in _large_places():
        return False
    if _single_known(up):
        return (up in _given_names() and _world_given_locales().get(up, 0) >= 3) or _personal_given_name(up)
    return up in _given_names() or _widely_given(up) or is_world_given_name(up)


@functools.lru_cache(maxsize=1)
@listcache.on_disk("large-places", words_to_json, words_from_json)
def _large_places() -> frozenset[str]:
    """Countries and places of a million people or more (:data:`places.LARGE`), upper case,
    accents folded."""
    own, _ = places.place_populations()
    return frozenset(fold_latin(name).upper() for name, population in own.items() if population >= places.LARGE)


_DIGIT_IN_WORD = re.compile(r"[^\W\d_]{2}\d+[^\W\d_]{2}")


def garbled_word(word: str) -> bool:
    """True when ``word`` has digits between two letters on each side: what a
    recogniser trained on Latin text makes of another script ("Кузнецов" read "RA3HGOB": З as
    3, О as 0) or of a word it cannot read. No word list can judge such a reading, and real
    words and codes rarely look so ("H2O", "MP3", "COVID19", "A320", "Room4B" do not). Call it on a
    word whose lone slipped digit is already a letter (:func:`_unslip`: "W6jcik")."""
    w = word.strip(".,:;!?()[]\"'’")
    return _DIGIT_IN_WORD.search(w) is not None


def _best_category(text: str) -> str:
    scores = pii_scores(text)
    order = ("email", "phone", "id", "plate", "name")  # the most specific format wins
    best = max(order, key=lambda c: (scores[c], -order.index(c)))
    return best if scores[best] >= 0.5 else "public"
