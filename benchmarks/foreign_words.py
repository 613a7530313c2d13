"""Signs in other languages against people's names: which does the text classifier keep?

"Ausgang", "Boulangerie", "Farmacia", "Geschlossen": the classifier's dictionaries are
English, and a word they do not know may be a family name, so most of Europe's signs were
hidden. This check measures both sides on the line as read, with no image and no OCR (the
classifier alone, as ``place_names.py`` does):

* **sign words**: :data:`SIGN_WORDS`, words of shop fronts, stations and notices in German,
  French, Spanish, Italian, Dutch and Portuguese, written out here;
* **common words**: every word of 4 letters or more of ``faker``'s word lists of nine
  languages (its ``lorem`` lists: German, French, Spanish, Italian, Dutch, and Czech, Danish,
  Polish, Latin, which :mod:`veil.privacy.lexicon` does not read), capitalised as a sign's
  first word is; the share read as ``public``;
* **names**: people's names and surnames alone (``place_names.py``'s draws), the share read
  as private.

    PYTHONHASHSEED=0 .venv/bin/python benchmarks/foreign_words.py

Writes ``--out`` (default ``runs/bench/foreign_words.json``) atomically.
"""

from __future__ import annotations

import argparse
import importlib
import json
from typing import Any

from place_names import names_read

#: Sign words as shops, stations and notices write them.
SIGN_WORDS = {
    "de": ("Ausgang", "Eingang", "Notausgang", "Bahnhof", "Hauptbahnhof", "Bäckerei", "Rathaus", "Polizei",
           "Geöffnet", "Geschlossen", "Toiletten", "Damen", "Willkommen", "Sonderangebot", "Ausverkauf", "Kasse",
           "Parkplatz", "Apotheke", "Metzgerei", "Friseur", "Zahnarzt", "Krankenhaus", "Kirche", "Schule", "Gleis",
           "Abfahrt", "Ankunft", "Rauchen verboten"),
    "fr": ("Sortie", "Entrée", "Boulangerie", "Ouvert", "Fermé", "Bienvenue", "Soldes", "Caisse", "Stationnement",
           "Boucherie", "Tabac", "Coiffeur", "Dentiste", "Hôpital", "Église", "École", "Poste", "Banque", "Voie",
           "Départs", "Arrivées", "Défense de fumer"),
    "es": ("Salida", "Entrada", "Farmacia", "Ayuntamiento", "Biblioteca", "Abierto", "Cerrado", "Aseos",
           "Caballeros", "Señoras", "Bienvenidos", "Rebajas", "Caja", "Aparcamiento", "Carnicería", "Panadería",
           "Estanco", "Peluquería", "Dentista", "Iglesia", "Escuela", "Correos", "Banco", "Andén", "Salidas",
           "Llegadas", "Prohibido fumar"),
    "it": ("Uscita", "Ingresso", "Aperto", "Chiuso", "Benvenuti", "Saldi", "Cassa", "Parcheggio", "Macelleria",
           "Panetteria", "Tabaccheria", "Parrucchiere", "Ospedale", "Chiesa", "Scuola", "Binario", "Partenze",
           "Arrivi", "Vietato fumare"),
    "nl": ("Uitgang", "Ingang", "Ziekenhuis", "Welkom", "Geopend", "Gesloten", "Kassa", "Apotheek", "Bakkerij",
           "Slagerij", "Kapper", "Tandarts", "Kerk", "School", "Spoor", "Vertrek", "Aankomst", "Verboden te roken"),
    "pt": ("Saída", "Entrada", "Farmácia", "Aberto", "Fechado", "Bem-vindo", "Promoção", "Caixa", "Estacionamento",
           "Padaria", "Talho", "Cabeleireiro", "Dentista", "Hospital", "Igreja", "Escola", "Correios", "Partidas",
           "Chegadas", "Proibido fumar"),
}
#: ``faker`` locales whose ``lorem`` word list is a language's own words.
WORD_LOCALES = ("de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "cs_CZ", "da_DK", "pl_PL", "la")


def lorem_words(locale: str) -> list[str]:
    """The words of 4 letters or more of ``faker``'s word list for ``locale``, capitalised."""
    module = importlib.import_module(f"faker.providers.lorem.{locale}")
    words = module.Provider.word_list
    return sorted({w[:1].upper() + w[1:] for w in words if len(w) >= 4 and w.isalpha()})


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--per-locale", type=int, default=150, help="people's names and surnames drawn per locale")
    ap.add_argument("--out", default="runs/bench/foreign_words.json")
    args = ap.parse_args(argv)

    from veil.fsutil import atomic_write_text
    from veil.privacy.pii import text_category

    signs = {lang: [w for w in words if text_category(w) != "public"] for lang, words in SIGN_WORDS.items()}
    n_signs = sum(len(w) for w in SIGN_WORDS.values())
    n_hidden = sum(len(h) for h in signs.values())
    print(f"sign words: {n_signs - n_hidden} of {n_signs} public")
    for lang, hidden in signs.items():
        print(f"  {lang}: {len(SIGN_WORDS[lang]) - len(hidden)} of {len(SIGN_WORDS[lang])}"
              + (f"; hidden: {', '.join(hidden)}" if hidden else ""))
    common: dict[str, Any] = {}
    for locale in WORD_LOCALES:
        words = lorem_words(locale)
        hidden = [w for w in words if text_category(w) != "public"]
        common[locale] = {"words": len(words), "public": len(words) - len(hidden), "hidden": hidden[:10]}
        print(f"{locale:6} common words public: {len(words) - len(hidden)} of {len(words)}; hidden e.g. "
              + ", ".join(hidden[:6]))
    names = names_read(text_category, args.per_locale)
    for kind, n in names.items():
        print(f"{kind}: {n['private']} of {n['names']} private ({100 * n['private'] / n['names']:.2f} %)")
    atomic_write_text(args.out, json.dumps({"sign_words": n_signs, "sign_words_hidden": signs, "common": common,
                                            "names": names}, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
