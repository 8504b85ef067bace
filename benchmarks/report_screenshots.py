"""Screenshots of the HTML report in headless Chromium: how it looks on screen and in print.

    python benchmarks/report_screenshots.py [results/report.html] [--out benchmarks/results/report_screenshots]

Takes PNG screenshots of the top of the page at a desktop and a narrow width, prints the report
to PDF (the print stylesheet) and renders the PDF's first pages to PNG when pdftoppm
(poppler-utils) is installed, then writes README.md listing the
files, the page count and the command. Needs Debian's chromium (``apt-get install chromium``);
exits with status 2 and a message when it is absent.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

WIDTHS = {"desktop": 1280, "narrow": 800}
BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def find_chromium() -> str | None:
    """The path of a headless-capable Chromium, or None."""
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


def _chromium(browser: str, *args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory() as profile:
        cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
               "--run-all-compositor-stages-before-draw", "--virtual-time-budget=3000",
               f"--user-data-dir={profile}", *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def page_height(browser: str, html: Path, width: int) -> int:
    """The document's height in CSS pixels at ``width`` (read from the DOM Chromium dumps)."""
    probe = html.read_text(encoding="utf-8").replace(
        "</body>", "<script>document.title='H'+document.documentElement.scrollHeight</script></body>", 1)
    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / "probe.html"
        f.write_text(probe, encoding="utf-8")
        out = _chromium(browser, f"--window-size={width},800", "--dump-dom", f.as_uri()).stdout
    m = re.search(r"<title>H(\d+)</title>", out)
    return int(m.group(1)) if m else 4000


def screenshots(html, out, browser: str | None = None, max_height: int = 3000, full_page: bool = True,
                widths: dict | None = None, keep_pdf: bool = False) -> dict:
    """Screenshots of ``html`` into directory ``out``: ``report_{desktop,narrow}.png`` (the page's top
    ``max_height`` pixels, the first 1,000 without ``full_page``), the report printed to PDF (kept as
    ``report.pdf`` with ``keep_pdf``) and ``report_print-{n}.png`` for its first four pages when
    pdftoppm exists; ``widths`` maps names to window widths (default :data:`WIDTHS`). Returns what
    was written (paths, pages, sizes)."""
    browser = browser or find_chromium()
    if browser is None:
        raise FileNotFoundError("no Chromium found (apt-get install chromium)")
    html, out = Path(html).resolve(), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = {"files": [], "pages": None}
    for name, width in (widths or WIDTHS).items():
        height = min(page_height(browser, html, width), max_height) if full_page else 1000
        png = out / f"report_{name}.png"
        proc = _chromium(browser, f"--window-size={width},{height}", f"--screenshot={png.resolve()}", html.as_uri())
        if not png.exists():
            raise RuntimeError(f"chromium wrote no screenshot: {proc.stderr[-2000:]}")
        written["files"].append((png, f"{width} x {height} px"))
    with tempfile.TemporaryDirectory() as tmp:
        pdf = (out if keep_pdf else Path(tmp)) / "report.pdf"
        proc = _chromium(browser, "--no-pdf-header-footer", f"--print-to-pdf={pdf.resolve()}", html.as_uri())
        if not pdf.exists():
            raise RuntimeError(f"chromium wrote no PDF: {proc.stderr[-2000:]}")
        written["pages"] = len(re.findall(rb"/Type\s*/Page[^s]", pdf.read_bytes()))
        if keep_pdf:
            written["files"].append((pdf, f"{written['pages']} pages"))
        if shutil.which("pdftoppm"):
            for old in out.glob("report_print-*.png"):
                old.unlink()
            subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "4", str(pdf), str(out / "report_print")],
                           check=True, capture_output=True)
            written["files"] += [(p, "printed page") for p in sorted(out.glob("report_print-*.png"))]
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("html", nargs="?", default="results/report.html")
    parser.add_argument("--out", default="benchmarks/results/report_screenshots")
    parser.add_argument("--keep-pdf", action="store_true", help="keep the printed report.pdf in --out")
    args = parser.parse_args(argv)
    browser = find_chromium()
    if browser is None:
        print("no Chromium found: apt-get install chromium", file=sys.stderr)
        return 2
    version = subprocess.run([browser, "--version"], capture_output=True, text=True).stdout.strip()
    written = screenshots(args.html, args.out, browser, keep_pdf=args.keep_pdf)
    lines = ["# Report screenshots", "", f"`python benchmarks/report_screenshots.py {args.html} --out {args.out}` "
             f"with {version}: the top of the report on screen at two widths, and its first printed pages (the "
             f"print stylesheet: A4 landscape, a page break before each section; {written['pages']} pages in all).",
             ""]
    lines += [f"- `{Path(p).name}`: {what}" for p, what in written["files"]]
    (Path(args.out) / "README.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
