"""HTML to PDF with WeasyPrint, fetching nothing but our own static files.

Every PDF FMS makes (signed documents, invoices, report exports) goes through
`render_pdf()`. Its `url_fetcher` is `StaticOnlyFetcher`, a subclass of WeasyPrint's
`URLFetcher` (WeasyPrint 70 changed the fetcher API: a plain function that refuses a URL
no longer works, since WeasyPrint reads attributes of the fetcher it is given). It serves:

- `file:` URLs of files under the app's static folder (stylesheets, fonts, images);
- `data:` URLs of the raster image types we allow (a logo we embed from stored bytes);

and refuses everything else: other files (`file:///etc/passwd`, `../../`), the network
(`http://`, `https://`, `ftp://`), other `data:` types. A refused URL is recorded on the
fetcher and the document renders without it: a template that names a bad URL never crashes
the render, and never reaches out.

WeasyPrint is imported here, at first use of this module; modules loaded at app start
import this one inside the functions that render.
"""

from __future__ import annotations

import base64
import binascii
import mimetypes
import threading
from pathlib import Path
from urllib.parse import unquote, unquote_to_bytes, urlsplit

from flask import current_app
from weasyprint import HTML
from weasyprint.urls import URLFetcher, URLFetcherResponse

# data: URLs we serve: raster images only (an SVG could name further URLs)
DATA_MEDIA_TYPES = ("image/png", "image/jpeg")
MAX_DATA_BYTES = 2 * 1024 * 1024
# One render at a time per process: Pango and fontconfig are C libraries whose thread
# safety WeasyPrint does not promise, and inline jobs may render from server threads.
_RENDER_LOCK = threading.Lock()


class RefusedURL(ValueError):
    """A URL the fetcher does not serve; WeasyPrint logs it and renders without it."""


def static_root() -> Path:
    """The app's static folder, resolved (the only files a PDF may load)."""
    return Path(current_app.static_folder).resolve()


class StaticOnlyFetcher(URLFetcher):
    """WeasyPrint's URL fetcher for FMS: files under `root` and allowed `data:` images;
    every other URL is refused and listed in `refused`."""

    def __init__(self, root: Path | None = None, *, data_media_types=DATA_MEDIA_TYPES):
        # no network protocol is ever opened: `fetch` below never calls the base class's
        super().__init__(allowed_protocols=("file", "data"), allow_redirects=False)
        self.root = Path(root).resolve() if root is not None else static_root()
        self.data_media_types = tuple(data_media_types)
        self.refused: list[str] = []

    @property
    def weasyprint_fetcher(self) -> StaticOnlyFetcher:
        """What to pass as WeasyPrint's `url_fetcher` (this object; kept for callers written
        for the wrapper this class replaced)."""
        return self

    def fetch(self, url, headers=None):
        scheme = url.split(":", 1)[0].lower() if ":" in url else ""
        if scheme == "file":
            response = self._file(url)
        elif scheme == "data":
            response = self._data(url)
        else:
            response = None
        if response is None:
            self.refused.append(url)
            raise RefusedURL(f"not fetched: {url[:200]}")
        return response

    def _file(self, url: str) -> URLFetcherResponse | None:
        parts = urlsplit(url)
        if parts.netloc not in ("", "localhost"):
            return None
        path = Path(unquote(parts.path)).resolve()
        if not path.is_relative_to(self.root) or not path.is_file():
            return None
        media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return URLFetcherResponse(url, path.read_bytes(), {"Content-Type": media_type})

    def _data(self, url: str) -> URLFetcherResponse | None:
        header, comma, payload = url[5:].partition(",")
        if not comma:
            return None
        params = [part.strip().lower() for part in header.split(";")]
        media_type = params[0]
        if media_type not in self.data_media_types:
            return None
        try:
            if "base64" in params[1:]:
                body = base64.b64decode(unquote(payload), validate=True)
            else:
                body = unquote_to_bytes(payload)
        except (binascii.Error, ValueError):
            return None
        if not body or len(body) > MAX_DATA_BYTES:
            return None
        return URLFetcherResponse(url, body, {"Content-Type": media_type})


def data_url(data: bytes, media_type: str) -> str | None:
    """A `data:` URL of image bytes that `StaticOnlyFetcher` serves, or None for a type or
    size it would refuse."""
    if media_type not in DATA_MEDIA_TYPES or not data or len(data) > MAX_DATA_BYTES:
        return None
    return f"data:{media_type};base64,{base64.b64encode(data).decode('ascii')}"


def render_pdf(
    html: str,
    *,
    base_url: str | None = None,
    variant: str | None = None,
    fetcher: StaticOnlyFetcher | None = None,
    pdf_variant: str | None = None,
) -> bytes:
    """Render our HTML to PDF bytes. Relative URLs resolve inside the static folder (or
    `base_url`), and only what `StaticOnlyFetcher` serves is loaded; `pdf_variant` (or its
    older name `variant`) is a WeasyPrint PDF variant ("pdf/a-3b", "pdf/ua-1", ...)."""
    fetcher = fetcher or StaticOnlyFetcher()
    with _RENDER_LOCK:
        return write_pdf(
            html, fetcher=fetcher, base_url=base_url, pdf_variant=pdf_variant or variant
        )


def write_pdf(
    html: str,
    *,
    fetcher: StaticOnlyFetcher,
    base_url: str | None = None,
    pdf_variant: str | None = None,
) -> bytes:
    """The render itself, without the process's lock: for a process that renders alone
    (a worker of fms.invoicing.pdf_parts' pool, forked while the parent held the lock)."""
    document = HTML(
        string=html,
        base_url=base_url or fetcher.root.as_uri() + "/",
        url_fetcher=fetcher,
    )
    options = {"pdf_variant": pdf_variant} if pdf_variant else {}
    return document.write_pdf(**options)


def warm_up() -> None:
    """Render a tiny document once (in the app context), so a process forked after this
    (an rq work horse, a render pool's worker) starts with WeasyPrint, Pango and fontconfig
    loaded and the system's fonts scanned."""
    render_pdf(
        "<html><body style=\"font-family: 'DejaVu Sans', sans-serif\">"
        "<p>warm <b>up</b> <span style=\"font-family: 'DejaVu Sans Mono', monospace\">"
        "0123</span></p></body></html>"
    )
