"""Server-side HTML and SVG of the dashboard's pages (pure: values in, strings out, no IO).

Board maps follow the paper's Fig. 14: every pad drawn at its x/y with its aperture size, filled by its
signed score (red excessive, blue insufficient, pale near zero; full color at the alarm limit of its
sign), alarmed pads outlined. Charts are plain SVG; the page's only script (static/dashboard.js) refreshes
the page's content and shows the pad under the pointer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from html import escape
from urllib.parse import quote

import numpy as np

from streams.dashboard.queries import BoardMap, DefectRow, PadPoint, PrinterRow, RatePoint, StatusRule

PALETTE = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666"]
_PALE = np.array([238.0, 238.0, 238.0])
_RED = np.array([215.0, 25.0, 28.0])
_BLUE = np.array([44.0, 123.0, 182.0])
NAV = [("/", "Printers"), ("/trends", "Alarm rate"), ("/defects", "Defect timeline")]


def page(title: str, body: str, refresh_s: int, active: str = "") -> str:
    """A whole HTML page: the dashboard's frame around `body`, refreshed every `refresh_s` seconds."""
    nav = "".join(
        f'<a href="{href}"{" class=active" if href == active else ""}>{escape(label)}</a>'
        for href, label in NAV
    )
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{escape(title)} · spi-crrn</title>"
        '<meta name=viewport content="width=device-width, initial-scale=1">'
        '<link rel=stylesheet href="/static/dashboard.css"><script src="/static/dashboard.js" defer></script>'
        f'</head><body data-refresh="{int(refresh_s)}"><header><b>spi-crrn</b><nav>{nav}</nav>'
        "<span id=updated></span></header>"
        f"<main><h1>{escape(title)}</h1>{body}</main></body></html>"
    )


def _time(t: datetime | None) -> str:
    return "-" if t is None else t.strftime("%Y-%m-%d %H:%M:%S")


def _pct(x: float) -> str:
    return f"{100.0 * x:.1f} %"


# ---------------------------------------------------------------------- (a) printers
def overview(rows: Sequence[PrinterRow], now: datetime, rule: StatusRule) -> str:
    """The printers table: status, last hour's boards, alarm shares and process alarms, active defects."""
    if not rows:
        return "<p class=empty>No printer has sent a board yet.</p>"
    body = []
    for r in rows:
        label = ", ".join(r.active_defects) if r.status == "defect" else r.status
        cls = {"healthy": "ok", "board outliers": "warn", "process alarm": "warn", "defect": "bad"}[r.status]
        link = f"/printers/{quote(r.printer_id, safe='')}"
        body.append(
            f'<tr class="printer {cls}" data-printer="{escape(r.printer_id)}">'
            f'<td><a href="{link}">{escape(r.printer_id)}</a></td><td>{escape(r.line_id)}</td>'
            f'<td><span class="status {cls}">{escape(label)}</span></td>'
            f"<td class=num>{r.boards}</td><td class=num>{_pct(r.board_alarm_share)}</td>"
            f"<td class=num>{r.process_alarms}</td>"
            f"<td class=num>{r.pad_alarms}</td><td class=num>{_pct(r.pad_alarm_share)}</td>"
            f"<td>{_time(r.last_board_at)}</td></tr>"
        )
    return (
        f"<p>Last hour: {_time(now - timedelta(hours=1))} to {_time(now)} UTC. "
        "Status: a named printer defect, else "
        "<i>process alarm</i> when any pad alarm is a process alarm (evidence over boards), else "
        f"<i>board outliers</i> when at least {_pct(rule.outlier_board_share)} of at least "
        f"{rule.min_boards} boards carried an alarm (the limits allow about 1 % on a healthy printer), else "
        "<i>healthy</i>.</p>"
        "<table class=printers><thead><tr><th>printer</th><th>line</th><th>status</th><th>boards (1 h)</th>"
        "<th>boards with alarms</th><th>process alarms</th><th>pad alarms</th><th>pad alarm share</th>"
        "<th>last board</th></tr>"
        f"</thead><tbody>{''.join(body)}</tbody></table>"
    )


# ---------------------------------------------------------------------- (b) board maps
UNSCORED = "#bdbdbd"


def pad_colors(score: np.ndarray, th_exc: float, th_ins: float) -> list[str]:
    """(P,) fill colors: score / limit of its sign, clipped to [-1, 1], from pale to red (+) or blue (-)."""
    s = np.asarray(score, dtype=np.float64)
    t = np.clip(np.where(s >= 0, s / th_exc, s / abs(th_ins)), -1.0, 1.0)  # (P,) in [-1, 1]
    a = np.abs(t)[:, None]
    target = np.where((t >= 0)[:, None], _RED, _BLUE)  # (P, 3)
    rgb = np.rint(_PALE * (1 - a) + target * a).astype(int)  # (P, 3)
    return [f"#{r:02x}{g:02x}{b:02x}" for r, g, b in rgb.tolist()]


def board_map_svg(b: BoardMap, printer_id: str, info_id: str, width_px: int = 420) -> str:
    """The board drawn in mm: one rect per pad at (x, y) with its aperture size, y pointing up."""
    n = len(b.pad_id)
    if n == 0:
        return "<p class=empty>no pads</p>"
    half_w, half_h = b.size_x_mm / 2, b.size_y_mm / 2
    x0, x1 = float(np.min(b.x_mm - half_w)), float(np.max(b.x_mm + half_w))
    y0, y1 = float(np.min(b.y_mm - half_h)), float(np.max(b.y_mm + half_h))
    margin = 0.02 * max(x1 - x0, y1 - y0, 1.0)
    # Small pads stay visible: at least 0.6 % of the board's width.
    min_size = 0.006 * max(x1 - x0, 1.0)
    w = np.maximum(b.size_x_mm, min_size)
    h = np.maximum(b.size_y_mm, min_size)
    left = b.x_mm - w / 2
    top = (y1 - b.y_mm) - h / 2  # SVG y grows downwards; the board's y grows upwards
    if b.score is None or b.threshold_excessive is None or b.threshold_insufficient is None:
        fills = [UNSCORED] * n
    else:
        fills = pad_colors(b.score, b.threshold_excessive, b.threshold_insufficient)
    kind = np.where(b.alarm > 0, "pad excessive", np.where(b.alarm < 0, "pad insufficient", "pad"))
    scores = b.score if b.score is not None else np.full(n, np.nan, dtype=np.float32)
    rects = "".join(
        f'<rect class="{k}" x="{lx:.2f}" y="{ty:.2f}" width="{ww:.2f}" height="{hh:.2f}" fill="{f}" '
        f'data-pad="{escape(p)}" data-v="{v:.1f}" data-s="{s:.2f}"/>'
        for k, lx, ty, ww, hh, f, p, v, s in zip(
            kind.tolist(),
            (left - x0).tolist(),
            top.tolist(),
            w.tolist(),
            h.tolist(),
            fills,
            b.pad_id.tolist(),
            b.volume_pct.tolist(),
            scores.tolist(),
            strict=True,
        )
    )
    vw, vh = (x1 - x0) + 2 * margin, (y1 - y0) + 2 * margin
    height_px = round(width_px * vh / vw)
    url = f"/printers/{quote(printer_id, safe='')}/pads/"
    return (
        f'<svg class=board xmlns="http://www.w3.org/2000/svg" width="{width_px}" height="{height_px}" '
        f'viewBox="{-margin:.2f} {-margin:.2f} {vw:.2f} {vh:.2f}" data-pad-url="{escape(url)}" '
        f'data-info="{escape(info_id)}" data-pads="{n}"><rect class=outline x="{-margin:.2f}" '
        f'y="{-margin:.2f}" width="{vw:.2f}" height="{vh:.2f}"/>{rects}</svg>'
    )


def legend() -> str:
    return (
        '<p class=legend><span class="sw red"></span> excessive <span class="sw blue"></span> insufficient '
        '(full color at the model\'s alarm limit) <span class="sw ring"></span> alarmed pad · '
        "hover a pad for its values, click it for its trend</p>"
    )


def printer_page(printer_id: str, boards: Sequence[BoardMap], defects: Sequence[DefectRow]) -> str:
    """A printer's latest board maps, with its active defects and their evidence on the shown boards."""
    if not boards:
        return f"<p class=empty>No stored board of printer {escape(printer_id)}.</p>"
    pads = sum(len(b.pad_id) for b in boards if b.score is not None)
    exc = sum(b.n_excessive for b in boards)
    ins = sum(b.n_insufficient for b in boards)
    evidence = (
        f"on the {len(boards)} boards below: {exc} excessive and {ins} insufficient pad alarms "
        f"({_pct((exc + ins) / pads) if pads else '-'} of their scored pads)"
    )
    if defects:
        items = "".join(
            f"<li><b class=defect-name>{escape(d.defect)}</b> raised {_time(d.created_at)} UTC, probability "
            f"{'-' if d.probability is None else f'{d.probability:.2f}'}, boards "
            f"#{d.first_print_index}…#{d.last_print_index}</li>"
            for d in defects
        )
        head = (
            f"<section class='defect bad'><h2>Printer defect</h2><ul>{items}</ul><p>Evidence {evidence}.</p>"
        )
    else:
        head = f"<section class='defect ok'><h2>No printer defect named</h2><p>Pad alarms {evidence}.</p>"
    head += "</section>"
    cards = []
    for i, b in enumerate(boards):
        info = f"info-{i}"
        cards.append(
            f'<figure class=card data-event="{escape(b.event_id)}"><figcaption><b>{escape(b.board_id)}</b> '
            f"#{b.print_index} · {_time(b.inspected_at)} · {escape(b.status)} · "
            f"<span class=exc>{b.n_excessive} excessive</span> · "
            f"<span class=ins>{b.n_insufficient} insufficient</span></figcaption>"
            f"{board_map_svg(b, printer_id, info)}<div class=info id={info}>&nbsp;</div></figure>"
        )
    return head + legend() + f"<div class=cards>{''.join(cards)}</div>"


# ---------------------------------------------------------------------- charts
def _axis_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About `n` round tick values covering [lo, hi]."""
    if not hi > lo:
        return [lo]
    raw = (hi - lo) / n
    step = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if raw <= m * step:
            step *= m
            break
    first = math.ceil(lo / step) * step
    return [first + k * step for k in range(int((hi - first) / step) + 1)]


class _Frame:
    """Maps data (x, y) to SVG pixels inside a plot area with margins."""

    def __init__(self, x: tuple[float, float], y: tuple[float, float], w: int = 900, h: int = 280) -> None:
        self.w, self.h, self.l, self.r, self.t, self.b = w, h, 60, 150, 14, 30
        self.x0, self.x1 = x if x[1] > x[0] else (x[0] - 1, x[0] + 1)
        self.y0, self.y1 = y if y[1] > y[0] else (y[0] - 1, y[0] + 1)

    def px(self, x: float) -> float:
        return self.l + (x - self.x0) / (self.x1 - self.x0) * (self.w - self.l - self.r)

    def py(self, y: float) -> float:
        return self.h - self.b - (y - self.y0) / (self.y1 - self.y0) * (self.h - self.t - self.b)

    def axes(self, y_label: str, x_label: str, time_axis: bool = False) -> str:
        out = [
            f'<line class=axis x1="{self.l}" y1="{self.h - self.b}" x2="{self.w - self.r}" '
            f'y2="{self.h - self.b}"/>',
            f'<line class=axis x1="{self.l}" y1="{self.t}" x2="{self.l}" y2="{self.h - self.b}"/>',
        ]
        for v in _axis_ticks(self.y0, self.y1):
            y = self.py(v)
            out.append(f'<line class=grid x1="{self.l}" y1="{y:.1f}" x2="{self.w - self.r}" y2="{y:.1f}"/>')
            out.append(f'<text class=tick x="{self.l - 6}" y="{y + 4:.1f}" text-anchor=end>{v:g}</text>')
        for v in _time_ticks(self.x0, self.x1) if time_axis else _axis_ticks(self.x0, self.x1, 6):
            x = self.px(v)
            label = _utc_clock(v, self.x1 - self.x0) if time_axis else f"{v:g}"
            out.append(
                f'<text class=tick x="{x:.1f}" y="{self.h - self.b + 16}" text-anchor=middle>{label}</text>'
            )
        out.append(f'<text class=label x="{self.l}" y="{self.t - 2}">{escape(y_label)}</text>')
        out.append(
            f'<text class=label x="{self.w - self.r}" y="{self.h - 4}" text-anchor=end>'
            f"{escape(x_label)}</text>"
        )
        return "".join(out)

    def svg(self, inner: str, cls: str) -> str:
        return (
            f'<svg class="chart {cls}" xmlns="http://www.w3.org/2000/svg" width="{self.w}" height="{self.h}" '
            f'viewBox="0 0 {self.w} {self.h}">{inner}</svg>'
        )


_TIME_STEPS_S = [60, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800]


def _time_ticks(lo: float, hi: float, n: int = 6) -> list[float]:
    """About `n` tick times (epoch s) in [lo, hi] at a round step (1 min ... 1 week), aligned to UTC."""
    step = next((s for s in _TIME_STEPS_S if (hi - lo) / s <= n), _TIME_STEPS_S[-1])
    first = math.ceil(lo / step) * step
    return [float(first + k * step) for k in range(int((hi - first) // step) + 1)]


def _utc_clock(ts: float, span_s: float = 0.0) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%m-%d %H:%M" if span_s > 86400 else "%H:%M")


def rate_chart_svg(points: Sequence[RatePoint], title: str, since: datetime, now: datetime) -> str:
    """(c) pad alarm share (%) per printer from `since` to `now`: one colored line per printer, a legend."""
    if not points:
        return f"<h2>{escape(title)}</h2><p class=empty>No boards in this span.</p>"
    printers = sorted({p.printer_id for p in points})
    xs = [p.start.timestamp() for p in points]
    ys = [100.0 * p.pad_alarm_share for p in points]
    f = _Frame((since.timestamp(), now.timestamp()), (0.0, max(max(ys) * 1.1, 0.5)))
    inner = [f.axes("pad alarm share (%)", "UTC", time_axis=True)]
    for i, printer in enumerate(printers):
        color = PALETTE[i % len(PALETTE)]
        mine = [(x, y) for p, x, y in zip(points, xs, ys, strict=True) if p.printer_id == printer]
        path = " ".join(f"{f.px(x):.1f},{f.py(y):.1f}" for x, y in mine)
        inner.append(
            f'<polyline class=rate data-printer="{escape(printer)}" points="{path}" stroke="{color}"/>'
        )
        inner.extend(
            f'<circle class=rate-point cx="{f.px(x):.1f}" cy="{f.py(y):.1f}" r=2.5 fill="{color}"/>'
            for x, y in mine
        )
        ly = f.t + 14 + 16 * i
        inner.append(
            f'<rect x="{f.w - f.r + 14}" y="{ly - 9}" width=10 height=10 fill="{color}"/>'
            f'<text class=tick x="{f.w - f.r + 30}" y="{ly}">{escape(printer)}</text>'
        )
    return f"<h2>{escape(title)}</h2>" + f.svg("".join(inner), "rate-chart")


def individuals_limits(values: np.ndarray) -> tuple[float, float, float] | None:
    """Shewhart individuals chart: (center, lower, upper) = mean ∓ 3 sigma, sigma = mean moving range / 1.128.

    None with fewer than 2 values. The moving range estimates the short-term spread, so a drift does not
    widen its own limits as a plain standard deviation would."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size < 2:
        return None
    sigma = float(np.mean(np.abs(np.diff(v)))) / 1.128
    center = float(np.mean(v))
    return center, center - 3 * sigma, center + 3 * sigma


def pad_trend_page(printer_id: str, pad_id: str, points: Sequence[PadPoint], n: int) -> str:
    """(d) SPC view of one pad: volume with its individuals-chart limits, score with the model's limits."""
    if not points:
        return f"<p class=empty>No stored board of {escape(printer_id)} has pad {escape(pad_id)}.</p>"
    idx = [float(p.print_index) for p in points]
    vol = np.array([np.nan if p.volume_pct is None else p.volume_pct for p in points], dtype=np.float64)
    # Limits from the boards the model did not alarm on at this pad (all boards when it alarmed on each),
    # so the excursions being judged do not widen their own limits.
    quiet = np.array([p.alarm is None for p in points])
    limits = individuals_limits(vol[quiet] if quiet.sum() >= 2 else vol)
    finite = vol[np.isfinite(vol)]
    lo, hi = float(finite.min()), float(finite.max())
    if limits is not None:
        lo, hi = min(lo, limits[1]), max(hi, limits[2])
    pad = 0.05 * max(hi - lo, 1.0)
    fv = _Frame((min(idx), max(idx)), (lo - pad, hi + pad))
    inner = [fv.axes("volume (% of aperture)", "print index")]
    if limits is not None:
        for name, value in zip(("CL", "LCL", "UCL"), limits, strict=True):
            y = fv.py(value)
            inner.append(
                f'<line class="limit {name.lower()}" x1="{fv.l}" y1="{y:.1f}" x2="{fv.w - fv.r}" '
                f'y2="{y:.1f}"/>'
                f'<text class=tick x="{fv.w - fv.r + 6}" y="{y + 4:.1f}">{name} {value:.1f}</text>'
            )
    inner.append(_series(fv, idx, vol, points))
    scores = np.array([np.nan if p.score is None else p.score for p in points], dtype=np.float64)
    exc = np.array([np.nan if p.threshold_excessive is None else p.threshold_excessive for p in points])
    ins = np.array([np.nan if p.threshold_insufficient is None else p.threshold_insufficient for p in points])
    both = np.concatenate([scores, exc, ins])
    both = both[np.isfinite(both)]
    charts = fv.svg("".join(inner), "pad-volume")
    if both.size:
        fs = _Frame((min(idx), max(idx)), (float(both.min()) - 0.5, float(both.max()) + 0.5), h=220)
        s_inner = [fs.axes("signed score (normalized volume units)", "print index")]
        for cls, arr in (("limit exc", exc), ("limit ins", ins)):
            pts = " ".join(
                f"{fs.px(x):.1f},{fs.py(y):.1f}" for x, y in zip(idx, arr, strict=True) if np.isfinite(y)
            )
            s_inner.append(f'<polyline class="{cls}" points="{pts}"/>')
            last = arr[np.isfinite(arr)]
            if last.size:
                name = "excessive limit" if cls.endswith("exc") else "insufficient limit"
                y = fs.py(float(last[-1])) + 4
                s_inner.append(f'<text class=tick x="{fs.w - fs.r + 6}" y="{y:.1f}">{name}</text>')
        s_inner.append(_series(fs, idx, scores, points))
        charts += fs.svg("".join(s_inner), "pad-score")
    n_exc = sum(p.alarm == "excessive" for p in points)
    n_ins = sum(p.alarm == "insufficient" for p in points)
    back = f"/printers/{quote(printer_id, safe='')}"
    return (
        f'<p>Pad <b>{escape(pad_id)}</b> of <a href="{back}">{escape(printer_id)}</a> on its last '
        f"{len(points)} boards (asked {n}): <span class=exc>{n_exc} excessive</span>, "
        f"<span class=ins>{n_ins} insufficient</span> alarms. Volume limits: individuals chart "
        "(mean ∓ 3 σ, σ from the moving range, over the boards without an alarm on this pad); score "
        "limits: the model's alarm limits.</p>" + charts
    )


def _series(f: _Frame, idx: list[float], values: np.ndarray, points: Sequence[PadPoint]) -> str:
    line = " ".join(
        f"{f.px(x):.1f},{f.py(y):.1f}" for x, y in zip(idx, values.tolist(), strict=True) if math.isfinite(y)
    )
    dots = "".join(
        f'<circle class="spc {p.alarm or "normal"}" cx="{f.px(x):.1f}" cy="{f.py(y):.1f}" '
        f'r="{4 if p.alarm else 2.5}"><title>#{p.print_index}: {y:.2f}</title></circle>'
        for x, y, p in zip(idx, values.tolist(), points, strict=True)
        if math.isfinite(y)
    )
    return f'<polyline class=series points="{line}"/>{dots}'


# ---------------------------------------------------------------------- (e) defects
def defect_timeline(rows: Sequence[DefectRow], since: datetime, now: datetime) -> str:
    """Raised -> cleared spans per printer as bars on a time axis, then the rows as a table."""
    if not rows:
        return f"<p class=empty>No printer defect raised or cleared since {_time(since)} UTC.</p>"
    # The axis starts at the first row shown (at least an hour before now), not at `since`, so a defect
    # raised minutes ago is a readable bar rather than a sliver at the end of a week.
    since = max(since, min(min(d.created_at for d in rows), now - timedelta(hours=1)))
    ordered = sorted(rows, key=lambda d: (d.created_at, d.state == "raised"))
    spans: list[tuple[str, str, datetime, datetime, bool]] = []  # printer, defect, start, end, open
    open_: dict[tuple[str, str], datetime] = {}
    for d in ordered:
        key = (d.printer_id, d.defect)
        if d.state == "raised":
            open_.setdefault(key, d.created_at)
        elif key in open_:
            spans.append((*key, open_.pop(key), d.created_at, False))
        else:  # raised before the shown span
            spans.append((*key, since, d.created_at, False))
    spans.extend((*key, start, now, True) for key, start in open_.items())
    printers = sorted({d.printer_id for d in rows})
    defects = sorted({d.defect for d in rows})
    lane = 26
    f = _Frame((since.timestamp(), now.timestamp()), (0.0, 1.0), h=50 + lane * len(printers))
    inner = [
        f'<line class=axis x1="{f.l}" y1="{f.h - f.b}" x2="{f.w - f.r}" y2="{f.h - f.b}"/>',
    ]
    for v in _time_ticks(f.x0, f.x1):
        inner.append(
            f'<text class=tick x="{f.px(v):.1f}" y="{f.h - f.b + 16}" text-anchor=middle>'
            f"{_utc_clock(v, f.x1 - f.x0)}</text>"
        )
    for i, printer in enumerate(printers):
        y = f.t + i * lane
        inner.append(f'<text class=tick x="{f.l - 6}" y="{y + 15}" text-anchor=end>{escape(printer)}</text>')
    for printer, defect, start, end, is_open in spans:
        y = f.t + printers.index(printer) * lane
        x0, x1 = f.px(start.timestamp()), f.px(end.timestamp())
        color = PALETTE[defects.index(defect) % len(PALETTE)]
        inner.append(
            f'<rect class="span{" open" if is_open else ""}" data-printer="{escape(printer)}" '
            f'data-defect="{escape(defect)}" x="{x0:.1f}" y="{y + 3}" width="{max(x1 - x0, 3):.1f}" '
            "height=18 "
            f'fill="{color}"><title>{escape(printer)} {escape(defect)} {_time(start)} - '
            f"{'now' if is_open else _time(end)}</title></rect>"
            # The name inside a wide bar, else after it (dark on the background).
            + (
                f'<text class=span-label x="{x0 + 4:.1f}" y="{y + 16}">{escape(defect)}</text>'
                if x1 - x0 > 8 * len(defect)
                else f'<text class=tick x="{max(x1, x0 + 3) + 4:.1f}" y="{y + 16}">{escape(defect)}</text>'
            )
        )
    table = "".join(
        f'<tr class="{d.state}"><td>{_time(d.created_at)}</td><td>{escape(d.printer_id)}</td>'
        f"<td>{escape(d.defect)}</td><td>{escape(d.state)}</td>"
        f"<td class=num>{'-' if d.probability is None else f'{d.probability:.2f}'}</td>"
        f"<td>#{d.first_print_index}…#{d.last_print_index}</td></tr>"
        for d in rows
    )
    return (
        f"<p>From {_time(since)} UTC: a bar from a defect's raise to its clear (open bars: still raised).</p>"
        + f.svg("".join(inner), "timeline")
        + "<table class=defects><thead><tr><th>time (UTC)</th><th>printer</th><th>defect</th><th>state</th>"
        f"<th>probability</th><th>boards</th></tr></thead><tbody>{table}</tbody></table>"
    )
