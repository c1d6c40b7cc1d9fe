"""Open the docs site that `make docs` built (_docs/) in headless Chromium and check it as a reader would.

For the home page, the learner pages (04_callbacks, 09b_learner), the optimizer page (09_optimizers),
the text page (12_text) and, with `--all` (the default in `make docs-test`), every other page:
- the page shows its title (the notebook's `# Title`) as its heading and in the window title;
- the API entries (show_doc) of its notebook are there, as headings with their signature;
- every link to another page of the site goes to a page that exists, and to an anchor on it that exists;
- every image (the plots) has loaded (naturalWidth > 0), and the page has as many as its notebook made;
- the navigation lists every page, in course order.
PNG screenshots of each page (its top, its first API entry, its first plot) go to build/docs/screenshots/.

Chromium is Debian's `chromium` with `chromium-driver` (selenium drives it, offline), started with
--headless --no-sandbox --disable-gpu. Without them the test is skipped: exit status 3 and a message.

    python tools/docs/browser_test.py [--all] [--site _docs]
"""
import argparse, json, os, shutil, sys, time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urldefrag, urlparse, unquote

here = Path(__file__).resolve().parent
root = here.parent.parent
SKIP = 3
REQUIRED = ['index.ipynb', '04_callbacks.ipynb', '09b_learner.ipynb', '09_optimizers.ipynb', '12_text.ipynb']

class _Ids(HTMLParser):
    "Every id= and name= in an HTML file: the anchors a link can point to."
    def __init__(self):
        super().__init__(); self.ids = set()
    def handle_starttag(self, tag, attrs):
        for k, v in attrs:
            if k in ('id', 'name') and v: self.ids.add(v)

_ids_cache = {}
def page_ids(path):
    if path not in _ids_cache:
        p = _Ids(); p.feed(path.read_text(encoding='utf-8', errors='replace')); _ids_cache[path] = p.ids
    return _ids_cache[path]

def find_browser():
    "Paths of chromium and chromedriver, or None."
    chrome = next((shutil.which(o) for o in ('chromium', 'chromium-browser', 'google-chrome') if shutil.which(o)), None)
    driver = shutil.which('chromedriver') or next((o for o in ('/usr/bin/chromedriver', '/usr/lib/chromium/chromedriver') if Path(o).exists()), None)
    return (chrome, driver) if chrome and driver else None

def start(chrome, driver, width=1280, height=900):
    os.environ.setdefault('SE_OFFLINE', 'true')  # selenium must not try to download a driver
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    opts.binary_location = chrome
    for a in ('--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', f'--window-size={width},{height}',
              '--allow-file-access-from-files'):
        opts.add_argument(a)
    return webdriver.Chrome(service=Service(driver), options=opts)

_JS_PAGE = """
const vis = e => !!(e.offsetWidth || e.offsetHeight || e.getClientRects().length);
const h1 = document.querySelector('article h1, .md-content h1');
return {
  title: document.title,
  h1: h1 ? h1.textContent.replace('¶','').trim() : null,
  h1_visible: h1 ? vis(h1) : false,
  headings: Array.from(document.querySelectorAll('.md-content h2, .md-content h3, .md-content h4'))
              .map(h => ({text: h.textContent.replace('¶','').trim(), id: h.id,
                          sig: !!(h.nextElementSibling && (['BLOCKQUOTE', 'PRE'].includes(h.nextElementSibling.tagName)
                                  || h.nextElementSibling.classList.contains('highlight')))})),
  links: Array.from(document.querySelectorAll('a[href]')).map(a => a.href),
  images: Array.from(document.querySelectorAll('.md-content img')).map(i => ({src: i.src, ok: i.complete && i.naturalWidth > 0, w: i.naturalWidth})),
  nav: Array.from(document.querySelectorAll('nav.md-nav--primary > ul > li > a.md-nav__link, nav.md-nav--primary > ul > li > label.md-nav__link + a, nav.md-nav--primary > ul > li a.md-nav__link[href]'))
         .map(a => a.href),
  text_len: document.querySelector('.md-content') ? document.querySelector('.md-content').innerText.length : 0,
};
"""

def check_page(drv, site, info, shots, all_pages, strict_api=False):
    "Problems found on one page, and notes (lists, empty when it is fine)."
    url = (site/info['page']).as_uri()
    drv.get(url)
    # wait for images to finish loading
    for _ in range(50):
        if drv.execute_script("return Array.from(document.images).every(i => i.complete)"): break
        time.sleep(0.1)
    r = drv.execute_script(_JS_PAGE)
    errs, notes = [], []
    if r['h1'] != info['title'] or not r['h1_visible']: errs.append(f"heading is {r['h1']!r}, expected {info['title']!r}")
    if info['title'] not in r['title']: errs.append(f"window title {r['title']!r} lacks {info['title']!r}")
    if r['text_len'] < 200: errs.append(f"page has almost no text ({r['text_len']} characters)")
    heads = {h['text']: h for h in r['headings']}
    missing = [n for n in info['api'] if n not in heads]
    if info['api'] and len(missing) == len(info['api']): errs.append(f"none of its API entries is on the page: {', '.join(missing)}")
    elif missing: (errs if strict_api else notes).append(f"API entries missing (a cell shows only its last show_doc): {', '.join(missing)}")
    nosig = [n for n in info['api'] if n in heads and not heads[n]['sig']]
    if nosig: errs.append(f"API entries without a signature: {', '.join(nosig)}")
    site_uri = site.as_uri().rstrip('/') + '/'
    bad = []
    for href in set(r['links']):
        if not href.startswith(site_uri): continue
        base, frag = urldefrag(href)
        target = Path(unquote(urlparse(base).path))
        if target.is_dir(): target = target/'index.html'
        if not target.exists(): bad.append(f'{href} (no such page)')
        elif frag and target.suffix == '.html' and unquote(frag) not in page_ids(target): bad.append(f'{href} (no such anchor)')
    if bad: errs.append(f"{len(bad)} broken links: " + '; '.join(sorted(bad)[:10]))
    broken = [i['src'] for i in r['images'] if not i['ok']]
    if broken: errs.append(f"{len(broken)} images did not load: " + ', '.join(broken[:5]))
    plots = [i for i in r['images'] if i['ok'] and f"{Path(info['page']).stem}_files/" in i['src']]
    if len(plots) < info.get('images', 0): errs.append(f"{len(plots)} plots shown, the notebook made {info['images']}")
    nav = [Path(unquote(urlparse(urldefrag(h)[0]).path)).name for h in r['nav'] if h.startswith(site_uri)]
    nav = list(dict.fromkeys(nav))
    want = [p['page'] for p in all_pages]
    if nav != want: errs.append(f"navigation lists {nav}, expected {want}")
    stem = Path(info['page']).stem
    drv.save_screenshot(str(shots/f'{stem}.png'))
    # and where a reader looks next: the first API entry, the first plot
    api_id = next((heads[n]['id'] for n in info['api'] if n in heads and heads[n]['id']), None)
    if api_id and drv.execute_script("const e = document.getElementById(arguments[0]); if (e) e.scrollIntoView({block: 'center'}); return !!e", api_id):
        drv.save_screenshot(str(shots/f'{stem}-api.png'))
    if plots and drv.execute_script("const i = Array.from(document.querySelectorAll('.md-content img')).find(i => i.src.includes(arguments[0])); "
                                    "if (i) i.scrollIntoView({block: 'center'}); return !!i", f'{stem}_files/'):
        drv.save_screenshot(str(shots/f'{stem}-plot.png'))
    return errs, notes, len(info['api']) - len(missing), len(plots), len([h for h in r['links'] if h.startswith(site_uri)])

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--site', default=str(root/'_docs'), help='the built site (default _docs/)')
    p.add_argument('--all', action='store_true', help='check every page, not only the home, learner, optimizer and text pages')
    p.add_argument('--strict-api', action='store_true', help='fail when any show_doc of the notebook is not on its page')
    a = p.parse_args()
    found = find_browser()
    if not found:
        print('SKIP browser test: Chromium is not installed (as root: apt-get install chromium chromium-driver)')
        sys.exit(SKIP)
    site = Path(a.site).resolve()
    manifest = root/'build'/'docs'/'pages.json'
    if not (site/'index.html').exists() or not manifest.exists():
        sys.exit(f'browser test: no site in {site}: run `make docs` first')
    pages = json.loads(manifest.read_text())
    by_nb = {o['notebook']: o for o in pages}
    absent = [nb for nb in REQUIRED if nb not in by_nb]
    if absent: sys.exit(f'browser test: the site has no page for {", ".join(absent)}')
    todo = pages if a.all else [by_nb[nb] for nb in REQUIRED]
    shots = root/'build'/'docs'/'screenshots'
    shutil.rmtree(shots, ignore_errors=True); shots.mkdir(parents=True)
    drv = start(*found)
    failed = 0
    t0 = time.time()
    try:
        for info in todo:
            errs, notes, n_api, n_img, n_links = check_page(drv, site, info, shots, pages, a.strict_api)
            status = 'FAIL' if errs else 'ok  '
            print(f"{status} {info['page']:28s} {info['title'][:40]:40s} api {n_api:3d}  plots {n_img:2d}  links {n_links:3d}", flush=True)
            for e in errs: print(f'       - {e}')
            for e in notes: print(f'       note: {e}')
            failed += bool(errs)
    finally: drv.quit()
    print(f'browser test: {len(todo) - failed} pages passed, {failed} failed in {time.time()-t0:.0f}s; '
          f'screenshots in {shots.relative_to(root)}/')
    sys.exit(1 if failed else 0)

if __name__ == '__main__': main()
