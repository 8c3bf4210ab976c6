"""Reading the corpus: real files in a temporary folder, one test per feature."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from qa.config import FieldMap, Settings
from qa.corpus import CorpusError, CorpusRead, article_id, read_corpus, read_file
from qa.types import Article

REPO = Path(__file__).resolve().parents[1]
SEEDS = REPO / "seeds"
NEWS = REPO.parent / "shared" / "eval" / "news"

WHATSAPP = "003_7389650ab9ad13f7.txt"
FACEBOOK = "000_3cb8fdc91b0e35f3.txt"

BODY = (
    "Der Bundestag hat am Donnerstag ein neues Gesetz zum Schutz von Hinweisgebern beschlossen. "
    "Beschäftigte, die Missstände in ihrem Unternehmen melden, sollen künftig besser vor "
    "Kündigung und Benachteiligung geschützt sein."
)

HTML_PAGE = """<!DOCTYPE html>
<html lang="de"><head><meta charset="utf-8">
<title>Bahnstreik legt Fernverkehr lahm | Beispiel-Zeitung</title>
<meta property="og:title" content="Bahnstreik legt Fernverkehr lahm">
<meta property="og:url" content="https://www.beispiel-zeitung.de/wirtschaft/bahnstreik-123">
<meta property="og:site_name" content="Beispiel-Zeitung">
<meta property="article:published_time" content="2023-03-27T08:15:00+02:00">
<script>var tracking = "SCRIPTGEHEIMNIS"; window.dataLayer = [];</script>
</head><body>
<div id="cookie-banner" class="cookie-consent">Wir verwenden Cookies, um Ihnen das beste
Erlebnis zu bieten. <button>Alle akzeptieren</button></div>
<header><nav><ul><li><a href="/">Startseite</a></li><li><a href="/politik">Politik</a></li>
</ul></nav></header>
<main><article>
<h1>Bahnstreik legt Fernverkehr lahm</h1>
<p>Ein bundesweiter Warnstreik der Gewerkschaft EVG hat am Montag den Fernverkehr der Deutschen
Bahn nahezu vollständig zum Erliegen gebracht. Millionen Pendler mussten auf das Auto oder das
Homeoffice ausweichen.</p>
<p>Nach Angaben der Bahn fielen mehr als 90 Prozent der Fernzüge aus. Auch an den Flughäfen in
München, Frankfurt und Hamburg ruhte der Betrieb weitgehend, weil zugleich die Gewerkschaft
Verdi zum Ausstand aufgerufen hatte.</p>
<p>Die Gewerkschaften fordern deutlich höhere Löhne, um die gestiegenen Preise auszugleichen.
Die Arbeitgeber nannten den Streik unverhältnismäßig und kündigten an, die Verhandlungen in der
kommenden Woche fortzusetzen.</p>
</article></main>
<footer><p>© 2023 Beispiel-Zeitung GmbH · Impressum · Datenschutz · FUSSZEILE</p></footer>
<script>console.log("SCRIPTENDE")</script>
</body></html>
"""


def by_source(read: CorpusRead) -> dict[str, Article]:
    return {a.source: a for a in read.articles}


def reasons(read: CorpusRead) -> dict[str, str]:
    return {s.source: s.reason for s in read.skipped}


def write(folder: Path, name: str, content: str | bytes) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


# --- Text files -------------------------------------------------------------------------------


@pytest.fixture
def seeds(tmp_path: Path) -> Path:
    for seed in SEEDS.glob("*.txt"):
        shutil.copy(seed, tmp_path / seed.name)
    return tmp_path


def test_seed_with_headline_and_publisher_boilerplate(seeds: Path) -> None:
    article = by_source(read_corpus(seeds))[WHATSAPP]

    assert article.title == "Smartphone Messaging-Dienst: WhatsApp für die Welt"
    assert article.text.startswith("Über den Handy-Dienstleister")
    assert "18 Milliarden" in article.text
    for boilerplate in ("taz lesen kann", "meistkommentiert", "Jetzt unterstützen", "Punk"):
        assert boilerplate not in article.text
    assert article.text.endswith("Koum betonte, die Firma wolle auf Jahrzehnte unabhängig bleiben.")


def test_seed_with_date_marker_before_the_body(seeds: Path) -> None:
    article = by_source(read_corpus(seeds))[FACEBOOK]

    assert article.date == "2020-06"
    assert article.text.startswith("Laut Facebook-Manager")
    assert "date 2020-06" not in article.text
    # No headline line: the title is derived from the body, never empty.
    assert article.title.startswith("Laut Facebook-Manager Marcus")
    assert article.title.endswith("…") and len(article.title) <= 81


def test_ids_are_stable_and_come_from_the_text(seeds: Path) -> None:
    first, second = read_corpus(seeds), read_corpus(seeds)

    assert [a.doc_id for a in first.articles] == [a.doc_id for a in second.articles]
    assert len({a.doc_id for a in first.articles}) == 2
    for article in first.articles:
        assert article.doc_id == article_id(article.text)
        assert len(article.doc_id) == 16
    assert article_id("Ein  Satz.\n") == article_id("Ein Satz.")
    assert article_id("Ein Satz.") != article_id("Ein anderer Satz.")


def test_markdown_heading_and_date_marker_on_its_own_line(tmp_path: Path) -> None:
    write(tmp_path, "note.md", f"# Neues Gesetz beschlossen.\n\ndate 2023-05-11\n\n{BODY}\n")

    article = read_corpus(tmp_path).articles[0]

    assert article.title == "Neues Gesetz beschlossen."
    assert article.date == "2023-05-11"
    assert article.text == BODY


def test_boilerplate_marker_early_in_the_article_is_kept(tmp_path: Path) -> None:
    text = f"Titel ohne Punkt\nLesen Sie auch die Erklärung der Ministerin.\n{BODY}\n{BODY}"
    write(tmp_path, "a.txt", text)

    article = read_corpus(tmp_path).articles[0]

    assert article.text.startswith("Lesen Sie auch die Erklärung")
    assert article.text.endswith(BODY)


def test_cp1252_german_round_trips(tmp_path: Path) -> None:
    text = "Größe Übermaß äöü\nDie Größe des Übermaßes: äöü ÄÖÜ ß, „Zitat“ – à la Señor, Café.\n"
    write(tmp_path, "windows.txt", text.encode("cp1252"))

    article = read_corpus(tmp_path).articles[0]

    assert article.title == "Größe Übermaß äöü"
    assert article.text == "Die Größe des Übermaßes: äöü ÄÖÜ ß, „Zitat“ – à la Señor, Café."


def test_utf8_bom_and_crlf(tmp_path: Path) -> None:
    raw = "\ufeffÜberschrift mit Umlaut\r\nErste Zeile.\r\n\r\nZweite Zeile.\r\n".encode()
    write(tmp_path, "bom.txt", raw)

    article = read_corpus(tmp_path).articles[0]

    assert article.title == "Überschrift mit Umlaut"
    assert article.text == "Erste Zeile.\n\nZweite Zeile."


def test_decomposed_umlauts_are_composed(tmp_path: Path) -> None:
    # macOS writes "ü" as "u" + combining diaeresis; search must see one spelling.
    write(tmp_path, "mac.txt", "Mu\u0308nchen im U\u0308berblick\nDie Stadt mu\u0308ht sich.")

    article = read_corpus(tmp_path).articles[0]

    assert (article.title, article.text) == ("München im Überblick", "Die Stadt müht sich.")


# --- HTML -------------------------------------------------------------------------------------


def test_html_main_text_and_metadata(tmp_path: Path) -> None:
    write(tmp_path, "web/bahn.html", HTML_PAGE)

    article = by_source(read_corpus(tmp_path))["web/bahn.html"]

    assert article.title == "Bahnstreik legt Fernverkehr lahm"
    assert article.date == "2023-03-27"
    assert article.url == "https://www.beispiel-zeitung.de/wirtschaft/bahnstreik-123"
    assert article.publisher == "Beispiel-Zeitung"
    assert article.text.startswith("Ein bundesweiter Warnstreik")
    assert "90 Prozent der Fernzüge" in article.text
    assert article.text.endswith("fortzusetzen.")
    for noise in ("Startseite", "Cookies", "akzeptieren", "SCRIPT", "FUSSZEILE", "Impressum"):
        assert noise not in article.text


def test_html_date_is_not_guessed_from_the_copyright_line(tmp_path: Path) -> None:
    published = '<meta property="article:published_time" content="2023-03-27T08:15:00+02:00">'
    undated = HTML_PAGE.replace(published, "")
    write(tmp_path, "undated.html", undated)

    article = read_corpus(tmp_path).articles[0]

    assert "© 2023" in undated and "2023-03-27" not in undated
    assert article.date is None


def test_html_without_main_text_is_skipped(tmp_path: Path) -> None:
    write(tmp_path, "good.html", HTML_PAGE)
    write(tmp_path, "empty.htm", "<html><head><title>Leer</title></head><body></body></html>")

    read = read_corpus(tmp_path)

    assert reasons(read) == {"empty.htm": "no main text found in HTML"}
    assert [a.source for a in read.articles] == ["good.html"]


# --- JSON and JSON Lines ----------------------------------------------------------------------


def test_jsonl_with_custom_fields_and_a_broken_line(tmp_path: Path) -> None:
    lines = [
        json.dumps(
            {
                "Schlagzeile": "Hinweisgeber besser geschützt",
                "Fliesstext": BODY,
                "veroeffentlicht": "2023-05-11T14:30:00Z",
                "adresse": "https://example.de/hinweisgeber",
                "verlag": "Beispiel-Zeitung",
            }
        ),
        '{"Schlagzeile": "kaputt", "Fliesstext": ',
        json.dumps({"Schlagzeile": "Ohne Text"}),
        "",
        json.dumps({"Fliesstext": "Ein Artikel ohne Überschrift über das Wetter in Hamburg."}),
    ]
    write(tmp_path, "feed.jsonl", "\n".join(lines))
    fields = FieldMap(
        title=("Schlagzeile",),
        text=("Fliesstext",),
        date=("veroeffentlicht",),
        url=("adresse",),
        source=("verlag",),
    )

    read = read_corpus(tmp_path, Settings(fields=fields))

    articles = by_source(read)
    assert list(articles) == ["feed.jsonl#1", "feed.jsonl#5"]
    first = articles["feed.jsonl#1"]
    assert (first.title, first.text, first.date) == (
        "Hinweisgeber besser geschützt",
        BODY,
        "2023-05-11",
    )
    assert first.url == "https://example.de/hinweisgeber"
    assert first.publisher == "Beispiel-Zeitung"
    assert articles["feed.jsonl#5"].title.startswith("Ein Artikel ohne Überschrift")
    skipped = reasons(read)
    assert skipped["feed.jsonl#2"].startswith("line 2: invalid JSON:")
    assert skipped["feed.jsonl#3"] == "no text"
    assert len(skipped) == 2


def test_json_array_wrapped_list_and_single_object(tmp_path: Path) -> None:
    records = [
        {"title": "Erster Artikel", "text": "Der erste Text.", "date": "12.03.2021"},
        {"headline": "Zweiter Artikel", "body": "Der zweite Text.", "link": "https://x.de/2"},
        "kein Objekt",
    ]
    write(tmp_path, "array.json", json.dumps(records))
    write(tmp_path, "wrapped.json", json.dumps({"articles": [{"content": "Der dritte Text."}]}))
    write(tmp_path, "single.json", json.dumps({"titel": "Vierter", "inhalt": "Der vierte Text."}))
    write(tmp_path, "broken.json", "[{")

    read = read_corpus(tmp_path)

    articles = by_source(read)
    assert articles["array.json#1"].title == "Erster Artikel"
    assert articles["array.json#1"].date == "2021-03-12"
    assert articles["array.json#2"].text == "Der zweite Text."
    assert articles["array.json#2"].url == "https://x.de/2"
    assert articles["wrapped.json#1"].text == "Der dritte Text."
    assert (articles["single.json"].title, articles["single.json"].text) == (
        "Vierter",
        "Der vierte Text.",
    )
    skipped = reasons(read)
    assert skipped["array.json#3"] == "not a JSON object"
    assert skipped["broken.json"].startswith("invalid JSON:")


# --- CSV and TSV ------------------------------------------------------------------------------


def test_csv_with_header_and_quoted_multiline_text(tmp_path: Path) -> None:
    csv_text = (
        "Titel,Text,Datum,URL\r\n"
        'Hinweisgeber,"Erster Absatz, mit Komma.\r\nZweiter Absatz mit ""Zitat"".",'
        "2023-05-11,https://x.de/1\r\n"
        "Kurzmeldung,Ein Text ohne Komma und ohne Anführungszeichen.,2023-05-12,\r\n"
    )
    write(tmp_path, "table.csv", csv_text)

    articles = read_corpus(tmp_path).articles

    assert [a.source for a in articles] == ["table.csv#1", "table.csv#2"]
    assert articles[0].title == "Hinweisgeber"
    assert articles[0].text == 'Erster Absatz, mit Komma.\nZweiter Absatz mit "Zitat".'
    assert (articles[0].date, articles[0].url) == ("2023-05-11", "https://x.de/1")
    assert articles[1].url is None


def test_tsv_without_header_keeps_literal_quotes(tmp_path: Path) -> None:
    tsv = (
        '"Twin Peaks"-Fortsetzung startet\tDie Serie kehrt zurück, sagt "Showtime".\tkultur\n'
        "Bahnstreik am Montag\tDie EVG ruft zum Warnstreik auf.\twirtschaft\n"
    )
    write(tmp_path, "news.tsv", tsv)

    articles = read_corpus(tmp_path).articles

    assert [(a.source, a.title, a.text) for a in articles] == [
        (
            "news.tsv#1",
            '"Twin Peaks"-Fortsetzung startet',
            'Die Serie kehrt zurück, sagt "Showtime".',
        ),
        ("news.tsv#2", "Bahnstreik am Montag", "Die EVG ruft zum Warnstreik auf."),
    ]


def test_csv_without_header_two_columns_semicolon_and_single_quotes(tmp_path: Path) -> None:
    csv_text = (
        "Sport;'Der Trainer sagte: ''Wir geben nicht auf''; das Team jubelte.'\n"
        "Kultur;Ein Museum in Wien zeigt Werke aus drei Jahrhunderten, teils erstmals.\n"
    )
    write(tmp_path, "labels.csv", csv_text)

    articles = read_corpus(tmp_path).articles

    assert [a.text for a in articles] == [
        "Der Trainer sagte: 'Wir geben nicht auf'; das Team jubelte.",
        "Ein Museum in Wien zeigt Werke aus drei Jahrhunderten, teils erstmals.",
    ]
    assert articles[1].title == articles[1].text  # short enough to be its own title


@pytest.fixture
def news() -> Path:
    if not NEWS.is_dir():
        pytest.skip(f"shared news files not found in {NEWS}")
    return NEWS


def test_real_10kgnad_file(news: Path, tmp_path: Path) -> None:
    shutil.copy(news / "10kgnad_test.csv", tmp_path)
    rows = (news / "10kgnad_test.csv").read_text(encoding="utf-8").splitlines()

    read = read_corpus(tmp_path)

    assert len(rows) == 1028
    assert len(read.articles) + len(read.skipped) == 1028
    assert all(s.reason.startswith("duplicate of") for s in read.skipped)
    assert len(read.articles) == 1028  # the file holds no exact duplicates
    first = read.articles[0]
    assert first.source == "10kgnad_test.csv#1"
    assert first.text.startswith('Die Gewerkschaft GPA-djp lanciert den "All-in-Rechner"')
    assert first.title.startswith("Die Gewerkschaft GPA-djp") and first.title.endswith("…")
    assert all(a.title and not a.text.startswith(("Wirtschaft;", "'")) for a in read.articles)
    assert any("Hebb'schem Prinzip" in a.text for a in read.articles)  # '' un-doubled


def test_real_xglue_file(news: Path, tmp_path: Path) -> None:
    shutil.copy(news / "xglue_nc_dev_de.tsv", tmp_path)

    read = read_corpus(tmp_path)

    assert len(read.articles) == 1000 and read.skipped == ()
    first = read.articles[0]
    assert first.title == "Felipe Massa: Sound wichtiger als drei Sekunden Rundenzeit"
    assert first.text.startswith("Zwei Rennen der Formel-1-Saison 2017")
    assert "news" not in {a.text for a in read.articles}  # the category column is not the text
    titles = {a.title for a in read.articles}
    assert '"Twin Peaks"-Fortsetzung hat einen Starttermin' in titles


# --- Bad input --------------------------------------------------------------------------------


def test_bad_files_are_skipped_with_a_reason_and_good_ones_kept(tmp_path: Path) -> None:
    write(tmp_path, "good.txt", f"Gesetz beschlossen\n{BODY}")
    write(tmp_path, "empty.txt", "")
    write(tmp_path, "blank.md", "  \n\n")
    write(tmp_path, "image.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    write(tmp_path, "zeros.txt", b"\x00\x00\x00\x01SQLite format 3\x00" + b"\x00" * 64)
    write(tmp_path, "huge.txt", "Zu lang\n" + "Wort " * 100)
    write(tmp_path, "slides.pptx", b"PK\x03\x04")
    write(tmp_path, "kopien/kopie.txt", f"Andere Überschrift\n{BODY}\n")
    write(tmp_path, ".hidden.txt", "Versteckt\nwird nicht gelesen.")
    write(tmp_path, ".git/HEAD.txt", "Versteckt\nwird nicht gelesen.")
    (tmp_path / "dangling.txt").symlink_to(tmp_path / "missing.txt")

    read = read_corpus(tmp_path, Settings(max_article_chars=300))

    assert [(a.source, a.text) for a in read.articles] == [("good.txt", BODY)]
    skipped = reasons(read)
    assert skipped == {
        "kopien/kopie.txt": "duplicate of good.txt",
        "blank.md": "empty file",
        "dangling.txt": skipped["dangling.txt"],
        "empty.txt": "empty file",
        "huge.txt": "text over 300 characters (limit: settings.max_article_chars)",
        "image.txt": "binary file",
        "zeros.txt": "binary file",
        "slides.pptx": "unsupported file type .pptx",
    }
    assert skipped["dangling.txt"].startswith("unreadable:")


def test_default_size_limit_is_named_in_the_reason(tmp_path: Path) -> None:
    write(tmp_path, "huge.txt", "x " * 500_001)

    assert reasons(read_corpus(tmp_path)) == {
        "huge.txt": "text over 1,000,000 characters (limit: settings.max_article_chars)"
    }


def test_unreadable_file_is_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests may run as root, where chmod 000 does not stop a read.
    locked = write(tmp_path, "locked.txt", f"Gesperrt\n{BODY}")
    write(tmp_path, "open.txt", f"Offen\n{BODY} Noch ein Satz.")
    real_read_bytes = Path.read_bytes

    def read_bytes(self: Path) -> bytes:
        if self == locked:
            raise PermissionError(13, "Permission denied", str(self))
        return real_read_bytes(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)

    read = read_corpus(tmp_path)

    assert reasons(read) == {"locked.txt": "unreadable: Permission denied"}
    assert [a.source for a in read.articles] == ["open.txt"]


def test_read_file_reads_one_file(tmp_path: Path) -> None:
    path = write(tmp_path, "sub/a.jsonl", '{"text": "Eins."}\n{"text": "Zwei."}\nnope\n')

    articles, skipped = read_file(path, tmp_path, Settings())

    assert [(a.source, a.text) for a in articles] == [
        ("sub/a.jsonl#1", "Eins."),
        ("sub/a.jsonl#2", "Zwei."),
    ]
    assert [s.source for s in skipped] == ["sub/a.jsonl#3"]


def test_files_are_read_in_sorted_path_order(tmp_path: Path) -> None:
    for name in ("b.txt", "a/z.txt", "a.txt"):
        write(tmp_path, name, f"Titel {name}\nText von {name}.")

    assert [a.source for a in read_corpus(tmp_path).articles] == ["a.txt", "a/z.txt", "b.txt"]


def test_missing_folder_raises(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="does not exist"):
        read_corpus(tmp_path / "nirgends")
    file = write(tmp_path, "a.txt", "Titel\nText.")
    with pytest.raises(CorpusError, match="not a folder"):
        read_corpus(file)


def test_links_out_of_the_corpus_are_skipped_unless_asked_for(tmp_path):
    outside = tmp_path / "outside"
    write(outside, "geheim.txt", "Geheim\nDieser Text liegt außerhalb und bleibt privat.")
    write(outside, "ordner/mehr.txt", "Mehr\nAuch dieser Ordner liegt außerhalb des Korpus.")
    corpus = tmp_path / "corpus"
    write(corpus, "good.txt", f"Gesetz\n{BODY}\n")
    (corpus / "passwd.txt").symlink_to(outside / "geheim.txt")
    (corpus / "ordner").symlink_to(outside / "ordner", target_is_directory=True)
    (corpus / "innen.txt").symlink_to(corpus / "good.txt")  # inside: read where it points
    (corpus / "schleife").symlink_to(corpus, target_is_directory=True)  # a loop

    read = read_corpus(corpus, Settings())
    assert [a.source for a in read.articles] == ["good.txt"]
    skipped = reasons(read)
    assert "outside the corpus folder" in skipped["passwd.txt"]
    assert "--follow-symlinks" in skipped["ordner"]
    assert not any("außerhalb" in a.text for a in read.articles)

    followed = read_corpus(corpus, Settings(follow_symlinks=True))
    sources = sorted(a.source for a in followed.articles)
    assert sources == ["good.txt", "ordner/mehr.txt", "passwd.txt"]
