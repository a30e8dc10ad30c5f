#!/usr/bin/env python3
"""Generate Digital Archive record pages for the extraction benchmark.

    bench/gen_pages.py [-n 10000] [--seed 1] [--min-kb 50] [--max-kb 120] DIR

Writes DIR/page-00000.html ... in the shape of the live site's record
pages (PROVENANCE.md section 1): Drupal head with settings JSON, navigation,
header with date, title, summary and funders, the document tabs, pill
sections, Document Information blocks, Related Documents and a footer with
scripts. Sizes are spread between --min-kb and --max-kb like live pages,
most of the bulk being navigation, inline scripts and the document text.
The same seed always gives the same pages."""

import argparse
import html
import os
import random
import zlib

WORDS = """the of and to in a is that for on was with as by at from this be which
it are not or have had has were an but their they been one all would there
ambassador minister delegation committee embassy government party soviet
chinese polish hungarian german treaty agreement question conversation
memorandum report telegram cable meeting comrade proposal position border
troops economic assistance deliveries reparations negotiations plenum
conference commission secretary central union republic foreign affairs
instructions reply situation military political cooperation relations""".split()

ARCHIVES = [
    ("RGASPI", "Russian State Archive of Socio-Political History (RGASPI)"),
    ("RGANI", "Russian State Archive of Contemporary History (RGANI)"),
    ("APRF", "Archive of the President of the Russian Federation (APRF)"),
    ("AVPRF", "Archive of Foreign Policy of the Russian Federation (AVPRF)"),
    ("GARF", "State Archive of the Russian Federation (GARF)"),
]
MONTHS = ["January", "February", "March", "April", "May", "June", "July",
          "August", "September", "October", "November", "December"]
TYPES = ["Telegram", "Cable", "Memorandum", "Report", "Letter", "Minutes",
         "Memorandum of Conversation", "Resolution"]
PEOPLE = ["Stalin, Joseph, 1879-1953", "Molotov, Vyacheslav Mikhailovich, 1890-1986",
          "Mikoyan, Anastas Ivanovich, 1895-1978", "Khrushchev, Nikita Sergeevich, 1894-1971",
          "Mao, Zedong, 1893-1976", "Zhou, Enlai, 1898-1976", "Gomułka, Władysław, 1905-1982",
          "Gromyko, Andrei Andreevich, 1909-1989"]
PLACES = ["Soviet Union", "China", "Poland", "Hungary", "Korea (North)", "Germany (East)",
          "Turkey", "Moscow (Russia)", "Beijing (China)"]
SUBJECTS = ["Sino-Soviet relations", "Reparations", "Borders", "Lend-Lease",
            "Berlin Crisis, 1958-1962", "Korean War, 1950-1953", "Nuclear weapons",
            "Economic assistance, Soviet", "Diplomacy"]
FUNDERS = ["the Leon Levy Foundation", "the Carnegie Corporation of New York",
           "the John D. and Catherine T. MacArthur Foundation", "the Henry Luce Foundation"]
TRANSLATORS = ["Gary Goldberg", "Svetlana Savranskaya", "Anna Melyakova", "Sergey Radchenko"]
CONTRIBUTORS = ["Jamil Hasanli", "Vladislav Zubok", "Mark Kramer", "James G. Hershberg"]

E = html.escape


def sentence(rnd, lo=8, hi=24):
    words = [rnd.choice(WORDS) for _ in range(rnd.randint(lo, hi))]
    return words[0].capitalize() + " " + " ".join(words[1:]) + "."


def date(rnd):
    y = rnd.randint(1939, 1991)
    kind = rnd.random()
    if kind < 0.7:
        return "%s %d, %d" % (rnd.choice(MONTHS), rnd.randint(1, 28), y)
    if kind < 0.9:
        return "%s %d" % (rnd.choice(MONTHS), y)
    return str(y)


def citation(rnd):
    short, _ = rnd.choice(ARCHIVES)
    a, b = sorted(rnd.sample(range(1, 400), 2))
    if short == "AVPRF":
        return "AVPRF, f. 0%d, op. %d, p. %d, d. %d, ll. %d-%d." % (
            rnd.randint(6, 100), rnd.randint(1, 60), rnd.randint(1, 400), rnd.randint(1, 300), a, b)
    return "%s, f. %d, op. %d, d. %d, ll. %d-%d." % (
        short, rnd.randint(1, 600), rnd.randint(1, 170), rnd.randint(1, 2000), a, b)


def source(rnd):
    s = citation(rnd)
    if rnd.random() < 0.2:
        s = s[:-1] + "; " + citation(rnd)
    r = rnd.random()
    if r < 0.5:
        s += " Contributed by %s and translated by %s." % (rnd.choice(CONTRIBUTORS),
                                                          rnd.choice(TRANSLATORS))
    elif r < 0.8:
        s += "Translated by %s." % rnd.choice(TRANSLATORS)
    return s


def settings_json(rnd, nid, size):
    parts = ['"path":{"baseUrl":"\\/","currentPath":"node\\/%d","isFront":false}' % nid,
             '"record_id":99999', '"nid":"%d"' % nid]
    i = 0
    while sum(len(p) for p in parts) < size:
        parts.append('"ajaxPageState%d":{"theme":"wilson","libraries":"%s"}' % (
            i, ",".join(rnd.choice(WORDS) + "\\/" + rnd.choice(WORDS) for _ in range(12))))
        i += 1
    return "{" + ",".join(parts) + "}"


def nav(rnd, items):
    out = ['<nav class="navbar navbar-expand-lg" aria-label="Main"><ul class="navbar-nav menu">']
    for i in range(items):
        out.append('<li class="nav-item menu-item--%d"><a class="nav-link" href="/topics/%d">%s</a>'
                   '<ul class="dropdown-menu"><li><a class="dropdown-item" href="/topics/%d/%d">%s</a>'
                   '</li></ul></li>' % (i, i, E(rnd.choice(WORDS).title()), i, i + 1,
                                        E(" ".join(rnd.choice(WORDS) for _ in range(3)))))
    out.append('</ul></nav>')
    return "\n".join(out)


def pills(heading, items, kind="pill"):
    out = ['<h2 class="title">%s</h2>' % E(heading), '<div class="pills">']
    for t in items:
        out.append('<a class="%s" href="/resource/%d"><span class="name"><span>%s</span></span></a>'
                   % (kind, zlib.crc32(t.encode()) % 997, E(t)))
    out.append('</div>')
    return "\n".join(out)


def block(label, value, classes="information-block col-md-6"):
    lab = '<span class="sub-title">%s</span>' % E(label) if label is not None else ""
    return '<div class="%s">%s<div class="text">%s</div></div>' % (classes, lab, value)


def page(rnd, index, target):
    nid = 40000 + index
    record_id = str(100000 + index)
    title = sentence(rnd, 6, 14)[:-1]
    d = date(rnd)
    archive = rnd.choice(ARCHIVES)[1]
    body_paras = []
    head = ('<!DOCTYPE html>\n<html lang="en" dir="ltr">\n<head>\n<meta charset="utf-8" />\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1.0" />\n'
            '<title>%s | Wilson Center Digital Archive</title>\n'
            '<link rel="canonical" href="https://digitalarchive.wilsoncenter.org/document/%s" />\n'
            '<script type="application/json" data-drupal-selector="drupal-settings-json">%s</script>\n'
            '</head>\n' % (E(title), record_id, settings_json(rnd, nid, rnd.randint(3000, 12000))))
    top = ('<body class="path-node page-node-type-document">\n'
           '<a href="#main-content" class="visually-hidden focusable skip-link">Skip to main content</a>\n'
           '<header class="site-header">%s</header>\n<main id="main-content" role="main">\n'
           '<div class="container document-page"><div class="row"><div class="col-12 col-lg-8">\n'
           % nav(rnd, rnd.randint(20, 60)))
    funders = rnd.sample(FUNDERS, rnd.randint(0, 2))
    hdr = ['<div class="document-header">', '<span class="date">%s</span>' % E(d),
           '<h1 class="title">%s</h1>' % E(title),
           '<div class="text-block"><p>%s</p></div>' % E(sentence(rnd, 15, 35))]
    if funders:
        hdr.append('<div class="donated">This document was made possible with support from %s.</div>'
                   % E(" and ".join(funders)))
    hdr.append('</div>')
    info = ['<section class="document-information"><h2 class="title">Document Information</h2>',
            '<div class="row">',
            block("Source" if rnd.random() < 0.8 else None, "<p>%s</p>" % E(source(rnd))),
            block("Original Archive", '<a href="/resource/archive">%s</a>' % E(archive)),
            block("Rights", "The Wilson Center Digital Archive has secured the rights to make "
                  "this document available."),
            block("Original Uploaded Date", "%d-%02d-%02d" % (rnd.randint(2009, 2023),
                                                             rnd.randint(1, 12), rnd.randint(1, 28))),
            block("Type", E(rnd.choice(TYPES))),
            block("Language", '<span class="pill"><span class="name"><span>Russian</span></span></span>'),
            block("Record ID", record_id),
            block("Original Classification", rnd.choice(["Secret", "Top Secret", "Confidential"])),
            '</div></section>']
    assoc = ['<section class="associated">',
             pills("Associated People & Organizations", rnd.sample(PEOPLE, rnd.randint(1, 4))),
             pills("Associated Places", rnd.sample(PLACES, rnd.randint(1, 3))),
             pills("Subjects Discussed", rnd.sample(SUBJECTS, rnd.randint(1, 4)), "pill pill-subject"),
             '</section>']
    related = ['</div><aside class="col-12 col-lg-4"><h2 class="title">Related Documents</h2>']
    for _ in range(rnd.randint(3, 10)):
        related.append('<div class="pill card"><span class="date">%s</span><a class="name" '
                       'href="/document/%d"><span>%s</span></a><div class="text-block">%s</div></div>'
                       % (E(date(rnd)), rnd.randint(1, 99999), E(sentence(rnd, 5, 10)),
                          E(sentence(rnd, 10, 20))))
    related.append('</aside></div></div></main>')
    footer = ('<footer class="site-footer"><div class="container">%s<p>&copy; Wilson Center. '
              'Record 99999.</p></div></footer>\n'
              '<script>var drupalSettings = {"record_id": 99999, "nid": "%d"};</script>\n'
              '<script src="/core/assets/vendor/jquery/jquery.min.js"></script>\n'
              '</body>\n</html>\n' % (nav(rnd, rnd.randint(10, 30)), nid))
    fixed = "\n".join([head, top] + hdr + assoc + info + related + [footer])
    # the document text fills the page up to its target size
    room = max(2000, target - len(fixed.encode()) - 600)
    size = 0
    while size < room:
        p = " ".join(sentence(rnd) for _ in range(rnd.randint(2, 6)))
        body_paras.append("<p>%s</p>" % E(p))
        size += len(p) + 8
    tabs = ('<div id="documentTabs" class="document-tabs"><ul class="nav nav-tabs" role="tablist">'
            '<li class="nav-item"><a class="nav-link active" href="#translation">English Translation</a></li>'
            '<li class="nav-item"><a class="nav-link" href="#original">Original Scan</a></li></ul>'
            '<div class="tab-content"><div class="tab-pane fade show active" id="translation">\n%s\n'
            '</div><div class="tab-pane fade" id="original"><object class="pdf-preview" data="/sites/'
            'default/files/shared-media/imported_document_original_file/%s.pdf"></object></div></div></div>'
            % ("\n".join(body_paras), record_id))
    return "\n".join([head, top] + hdr + [tabs] + assoc + info + related + [footer])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir")
    ap.add_argument("-n", type=int, default=10000, help="number of pages (10000)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--min-kb", type=int, default=50)
    ap.add_argument("--max-kb", type=int, default=120)
    args = ap.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    total = 0
    for i in range(args.n):
        rnd = random.Random(args.seed * 1000003 + i)
        target = rnd.randint(args.min_kb * 1024, args.max_kb * 1024)
        data = page(rnd, i, target).encode("utf-8")
        total += len(data)
        with open(os.path.join(args.dir, "page-%05d.html" % i), "wb") as f:
            f.write(data)
    print("%d pages, %.1f MB, %.1f KB on average" % (args.n, total / 1e6, total / 1024 / args.n))


if __name__ == "__main__":
    main()
