"""Scan profiles: what a filled page looks like by the time it reaches the agency.

* ``clean``: the 300 dpi grey page as drawn.
* ``office``: a photocopy or office scan at 300 dpi: skew within +-1.5 deg, a small shift, slight
  blur, paper tone, mild noise and toner specks, contrast and brightness a little off; one stack
  in ten fed upside down. Grey.
* ``fax``: standard-resolution fax, 204 x 98 dpi (non-square pixels) on a 1728-pixel line:
  skew within +-2 deg, binarised with a noisy threshold so strokes come out ragged, speckles, now
  and then a thin streak along a scan line; one in twenty upside down. 1-bit.
* ``phone``: a phone photo: the page on a darker textured surface, rotation within +-4 deg (one
  in twenty photos sideways) and perspective (corners moved 2-6 % of the page size; ``skew_deg``
  is the resulting mean angle of the page's top and bottom edges), uneven light
  and vignette, a warm cast, blur and sensor noise, 150-220 dpi on the page; saved as JPEG
  quality 70-85. RGB.

Within a profile, harder variants are drawn at random (seeded; the profile name stays what is
reported): a fax is sent with a normal, a dark (threshold 195-215: strokes thicken, light grey
turns black) or a light setting (threshold 105-135: thin and light strokes break up or vanish);
a phone photo gets, now and then, a hard-edged shadow band or half-plane across the page (the
phone's or a hand's shadow, 25-55 % darker), a steeper light gradient, motion blur (a 3-9 px
line at a random angle) and a messaging-app downscale (the photo taken at 240-300 dpi, its
longest side shrunk to 2,048 px and saved as JPEG quality 55-75).

Every random choice comes from the `random.Random` passed in (numpy noise is seeded from it), so
the same record gives the same bytes. Angles: ``rotation`` (0/90/180/270) and ``skew_deg`` are
clockwise as the image is viewed; turning the image counter-clockwise by ``rotation +
skew_deg`` makes the page upright again.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

PROFILES = ("clean", "office", "fax", "phone")
DEFAULT_FORMAT = {"clean": "png", "office": "pdf", "fax": "tiff", "phone": "jpeg"}
COLOUR_PROFILES = frozenset({"phone"})  # pages are drawn in colour for these
SOURCE_DPI = 300
FAX_DPI = (204.0, 98.0)
FAX_LINE_PX = 1728  # an ITU-T T.4 scan line (215 mm at 204 dpi)


@dataclass
class Scan:
    """One degraded page image and how it was made."""

    image: Image.Image
    dpi: tuple[float, float]
    rotation: int  # 0, 90, 180, 270, clockwise
    skew_deg: float  # clockwise
    jpeg_quality: int | None = None  # the quality a JPEG of this page is saved at


def _np_rng(rng: random.Random) -> np.random.Generator:
    return np.random.default_rng(rng.getrandbits(64))


# A byte -> Gaussian lookup: uniform random bytes mapped through the inverse normal CDF give
# N(0, 1) noise at a fraction of the cost of drawing normals for ten million pixels.
def _gauss_lut() -> np.ndarray:
    from statistics import NormalDist

    nd = NormalDist()
    return np.array([nd.inv_cdf((i + 0.5) / 256) for i in range(256)], np.float32)


_GAUSS = _gauss_lut()


def _noise(g: np.random.Generator, shape: tuple[int, ...], sigma: float) -> np.ndarray:
    """Gaussian noise (int16) with standard deviation `sigma`."""
    n = int(np.prod(shape))
    u = np.frombuffer(g.bytes(n), np.uint8).reshape(shape)
    lut = np.round(_GAUSS * sigma).astype(np.int16)
    return lut[u]


def _rotation_matrix(w: int, h: int, angle_cw: float, dx: float = 0.0, dy: float = 0.0) -> np.ndarray:
    m = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), -angle_cw, 1.0)
    m[0, 2] += dx
    m[1, 2] += dy
    return m


def _rot(img: np.ndarray, rotation: int) -> np.ndarray:
    """Turn by a multiple of 90 degrees clockwise."""
    return np.ascontiguousarray(np.rot90(img, k=-(rotation // 90)))


def _mm(v: float, dpi: float = SOURCE_DPI) -> float:
    return v / 25.4 * dpi


def _specks(g: np.random.Generator, a: np.ndarray, count: int, max_r: int, dark: tuple[int, int]) -> None:
    h, w = a.shape[:2]
    if count <= 0:
        return
    xs = g.integers(0, w, count)
    ys = g.integers(0, h, count)
    rs = g.integers(1, max_r + 1, count)
    vs = g.integers(dark[0], dark[1] + 1, count)
    for x, y, r, v in zip(xs.tolist(), ys.tolist(), rs.tolist(), vs.tolist(), strict=True):
        cv2.circle(a, (x, y), r, int(v), -1, cv2.LINE_AA)


# --------------------------------------------------------------------------------------------
def record_rotation(profile: str, rng: random.Random) -> int:
    """The orientation a whole stack was fed in (office, fax); 0 for the others."""
    r = rng.random()
    if profile == "office":
        return 180 if r < 0.10 else 0
    if profile == "fax":
        return 180 if r < 0.05 else 0
    return 0


def degrade(profile: str, page: np.ndarray, rng: random.Random, *, rotation: int = 0, dpi: float | None = None,
            variants: random.Random | None = None) -> Scan:
    """Degrade one drawn page (uint8, 300 dpi; grey, or RGB for colour profiles).

    `rotation` is the stack's orientation (office, fax); `dpi` the phone photo's resolution on
    the page (one per record: the same phone at about the same distance), random when None.
    The harder variants are drawn from `variants` (None: none, the classic scans), never from
    `rng`, so a page no variant applies to has the bytes it had before they existed.
    """
    if variants is None:
        variants = _NONE
    if profile == "clean":
        return Scan(Image.fromarray(page), (SOURCE_DPI, SOURCE_DPI), 0, 0.0)
    if profile == "office":
        return _office(page, rng, rotation)
    if profile == "fax":
        return _fax(page, rng, rotation, variants)
    if profile == "phone":
        return _phone(page, rng, dpi, variants)
    raise ValueError(f"unknown scan profile {profile!r}; expected one of {', '.join(PROFILES)}")


def _office(page: np.ndarray, rng: random.Random, rotation: int) -> Scan:
    g = _np_rng(rng)
    a = page if page.ndim == 2 else cv2.cvtColor(page, cv2.COLOR_RGB2GRAY)
    h, w = a.shape
    skew = round(rng.uniform(-1.5, 1.5), 3)
    dx, dy = _mm(rng.uniform(-3, 3)), _mm(rng.uniform(-3, 3))
    paper = rng.randint(236, 250)  # the scanner lid / paper white
    m = _rotation_matrix(w, h, skew + rotation, dx, dy)
    a = cv2.warpAffine(a, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=paper)
    a = cv2.GaussianBlur(a, (0, 0), rng.uniform(0.5, 0.9))
    # tone: contrast, brightness, paper white below 255, toner never quite black
    contrast = rng.uniform(0.88, 1.05)
    black = rng.uniform(10, 35)
    x = np.arange(256, dtype=np.float32)
    lut = black + (x / 255.0) ** rng.uniform(0.9, 1.15) * (paper - black) * contrast + rng.uniform(-6, 6)
    a = cv2.LUT(a, np.clip(lut, 0, 255).astype(np.uint8))
    n = _noise(g, a.shape, rng.uniform(2.0, 5.0))
    a = np.clip(a.astype(np.int16) + n, 0, 255).astype(np.uint8)
    _specks(g, a, rng.randint(20, 160), 2, (30, 140))
    if rng.random() < 0.3:  # a copier's faint grey band along the edge
        band = int(_mm(rng.uniform(2, 8)))
        side = rng.choice(("left", "right"))
        sl = np.s_[:, :band] if side == "left" else np.s_[:, w - band :]
        a[sl] = (a[sl].astype(np.float32) * rng.uniform(0.75, 0.92)).astype(np.uint8)
    return Scan(Image.fromarray(a, "L"), (SOURCE_DPI, SOURCE_DPI), rotation, skew)


def _fax(page: np.ndarray, rng: random.Random, rotation: int, v: random.Random) -> Scan:
    g = _np_rng(rng)
    a = page if page.ndim == 2 else cv2.cvtColor(page, cv2.COLOR_RGB2GRAY)
    h, w = a.shape
    skew = round(rng.uniform(-2.0, 2.0), 3)
    m = _rotation_matrix(w, h, skew + rotation, _mm(rng.uniform(-2, 2)), _mm(rng.uniform(-4, 4)))
    a = cv2.warpAffine(a, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=255)
    # scan at fax resolution: 204 dpi across, 98 lines per inch down
    fw = round(w * FAX_DPI[0] / SOURCE_DPI)
    fh = round(h * FAX_DPI[1] / SOURCE_DPI)
    small = cv2.resize(a, (fw, fh), interpolation=cv2.INTER_AREA)
    line = np.full((fh, max(FAX_LINE_PX, fw)), 255, np.uint8)
    x0 = (line.shape[1] - fw) // 2
    line[:, x0 : x0 + fw] = small
    # noisy threshold: thin strokes come out broken, edges ragged; the sender's contrast setting
    # moves it (dark: strokes thicken; light: faint ink and thin strokes drop out)
    thr = rng.uniform(150, 185)
    setting = v.choices(("normal", "dark", "light"), weights=(0.6, 0.2, 0.2))[0]
    if setting != "normal":
        thr = v.uniform(*{"dark": (195, 215), "light": (105, 135)}[setting])
    noisy = line.astype(np.int16) + _noise(g, line.shape, rng.uniform(14, 26))
    ink = noisy < thr
    # speckle: pepper on the paper, a few dropouts in the ink
    n = line.size
    pepper = g.integers(0, n, int(n * rng.uniform(0.00003, 0.0004)))
    ink.flat[pepper] = True
    salt = g.integers(0, n, int(n * rng.uniform(0.0005, 0.002)))
    ink.flat[salt] = False
    if rng.random() < 0.3:  # a thin streak along one scan line (dirt on the sensor or a dropout)
        y = rng.randrange(0, fh)
        xa = rng.randrange(0, line.shape[1] // 2)
        xb = rng.randrange(xa + 100, line.shape[1])
        ink[y, xa:xb] = rng.random() < 0.6
    img = Image.fromarray(np.where(ink, 0, 255).astype(np.uint8), "L").convert("1", dither=Image.Dither.NONE)
    return Scan(img, FAX_DPI, rotation, skew)


def _phone(page: np.ndarray, rng: random.Random, dpi: float | None, v: random.Random) -> Scan:
    g = _np_rng(rng)
    src = page if page.ndim == 3 else cv2.cvtColor(page, cv2.COLOR_GRAY2RGB)
    dpi = dpi or round(rng.uniform(150, 220))
    messaging = v.random() < MESSAGING_SHARE
    if messaging:  # a newer phone, closer: sharper photo, then the app shrinks it
        dpi = round(v.uniform(240, 300))
    k = dpi / SOURCE_DPI
    sh, sw = src.shape[:2]
    pw, ph = sw * k, sh * k
    # perspective: rotate the page's corners about its centre, then move each 2-6 % of the size
    t = math.radians(rng.uniform(-4.0, 4.0))
    moved = []
    for x, y in ((0, 0), (pw, 0), (pw, ph), (0, ph)):
        ux, uy = x - pw / 2, y - ph / 2
        rx, ry = ux * math.cos(t) - uy * math.sin(t), ux * math.sin(t) + uy * math.cos(t)
        mag = rng.uniform(0.02, 0.06)
        ang = rng.uniform(0, 2 * math.pi)
        moved.append([rx + mag * pw * math.cos(ang), ry + mag * ph * math.sin(ang)])
    pts = np.float32(moved)
    # canvas: the page and some of the desk around it (the whole page is in the photo)
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    mx, my = rng.uniform(0.03, 0.10) * pw, rng.uniform(0.03, 0.08) * ph
    cw, ch = int(math.ceil(hi[0] - lo[0] + 2 * mx)), int(math.ceil(hi[1] - lo[1] + 2 * my))
    dst = pts - lo + np.float32([mx, my])
    # what a deskewer sees: the mean angle of the page's top and bottom edges after the warp
    top, bottom = dst[1] - dst[0], dst[2] - dst[3]
    skew = round(math.degrees((math.atan2(top[1], top[0]) + math.atan2(bottom[1], bottom[0])) / 2), 3)
    a = _background(g, rng, cw, ch)
    # one warp from the 300 dpi page straight onto the photo (scaling included)
    corners = np.float32([[0, 0], [sw, 0], [sw, sh], [0, sh]])
    m = cv2.getPerspectiveTransform(corners, dst)
    cv2.warpPerspective(src, m, (cw, ch), dst=a, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_TRANSPARENT)
    # light: a smooth gradient, a vignette and a warm cast, computed small and scaled up
    hard = v.random() < SHADOW_SHARE  # a hard-edged shadow needs a finer light map for its edge
    lh, lw = (max(24, ch // 8), max(18, cw // 8)) if hard else (24, 18)
    yy, xx = np.mgrid[0:lh, 0:lw].astype(np.float32)
    yy, xx = yy / (lh - 1) - 0.5, xx / (lw - 1) - 0.5
    ang = rng.uniform(0, 2 * math.pi)
    slope = rng.uniform(0.08, 0.3)
    if v.random() < 0.3:  # steeper: a lamp close to one side
        slope *= v.uniform(1.3, 1.7)
    grad = 1.0 + slope * (xx * math.cos(ang) + yy * math.sin(ang))
    vign = 1.0 - rng.uniform(0.15, 0.4) * (xx**2 + yy**2) * 2
    light = grad * vign * rng.uniform(0.85, 1.0)
    if rng.random() < 0.3:  # the phone's or a hand's soft shadow from one side
        sx, sy = rng.uniform(-0.5, 0.5), rng.uniform(-0.5, 0.5)
        light *= 1.0 - rng.uniform(0.15, 0.3) * np.exp(-(((xx - sx) ** 2 + (yy - sy) ** 2) / 0.05))
    if hard:  # a band or a half-plane
        light *= _shadow(v, xx, yy)
    cast = np.float32([1.0, rng.uniform(0.95, 1.0), rng.uniform(0.84, 0.96)])
    light3 = np.clip(light[..., None] * cast[None, None, :] * _LIGHT_ONE, 0, 255).astype(np.uint8)
    light3 = cv2.resize(light3, (cw, ch), interpolation=cv2.INTER_LINEAR)
    a = cv2.multiply(a, light3, scale=1.0 / _LIGHT_ONE)
    a = cv2.GaussianBlur(a, (0, 0), rng.uniform(0.5, 1.1))
    if v.random() < MOTION_SHARE:  # the hand moved: a short line blur at some angle
        a = _motion_blur(a, v.uniform(3, 9), v.uniform(0, 180))
    # sensor noise: made at half size (demosaicing correlates it anyway), centred on 128
    nh, nw = (ch + 1) // 2, (cw + 1) // 2
    noise = (_noise(g, (nh, nw, 3), rng.uniform(2.0, 4.5)) + 128).clip(0, 255).astype(np.uint8)
    noise = cv2.resize(noise, (cw, ch), interpolation=cv2.INTER_LINEAR)
    a = cv2.addWeighted(a, 1.0, noise, 1.0, -128.0)
    rotation = 0
    r = rng.random()
    if r < 0.05:
        rotation = 90 if r < 0.025 else 270
        a = _rot(a, rotation)
    quality = rng.randint(70, 85)
    if messaging:  # the messaging app: longest side to MESSAGING_PX, stronger JPEG
        f = MESSAGING_PX / max(a.shape[:2])
        if f < 1.0:
            a = cv2.resize(a, (round(a.shape[1] * f), round(a.shape[0] * f)), interpolation=cv2.INTER_AREA)
            dpi = round(dpi * f)  # as the JPEG records it
        quality = v.randint(55, 75)
    return Scan(Image.fromarray(a, "RGB"), (dpi, dpi), rotation, skew, jpeg_quality=quality)


class _NoVariants(random.Random):
    """A generator that never draws a variant: random() is 1.0, and the first choice is taken
    ("normal"), for the classic scans."""

    def random(self) -> float:
        return 1.0

    def choices(self, population, weights=None, *, cum_weights=None, k=1):  # noqa: ANN001, ANN201
        return [population[0]] * k


_NONE = _NoVariants(0)

SHADOW_SHARE = 0.35  # phone photos with a hard-edged shadow across the page
MOTION_SHARE = 0.2  # ... with motion blur
MESSAGING_SHARE = 0.35  # ... sent through a messaging app (downscaled, stronger JPEG)
MESSAGING_PX = 2048


def _shadow(rng: random.Random, xx: np.ndarray, yy: np.ndarray) -> np.ndarray:
    """A light factor (< 1 in the shadow) on the normalised grid: a straight-edged band or
    half-plane at a random angle, its edges soft over a few millimetres (a penumbra)."""
    ang = rng.uniform(0, 2 * math.pi)
    d = xx * math.cos(ang) + yy * math.sin(ang)
    edge = rng.uniform(0.004, 0.015)  # penumbra as a share of the page (1-4 mm)
    depth = rng.uniform(0.25, 0.55)
    a0 = rng.uniform(-0.3, 0.3)
    inside = 1.0 / (1.0 + np.exp(np.clip(-(d - a0) / edge, -60, 60)))
    if rng.random() < 0.6:  # a band (an arm, the phone): it ends again further on
        a1 = a0 + rng.uniform(0.08, 0.3)
        inside *= 1.0 / (1.0 + np.exp(np.clip((d - a1) / edge, -60, 60)))
    return (1.0 - depth * inside).astype(np.float32)


def _motion_blur(a: np.ndarray, length: float, angle_deg: float) -> np.ndarray:
    n = int(math.ceil(length)) | 1
    k = np.zeros((n, n), np.float32)
    c = n // 2
    dx, dy = math.cos(math.radians(angle_deg)) * length / 2, math.sin(math.radians(angle_deg)) * length / 2
    cv2.line(k, (round(c - dx), round(c - dy)), (round(c + dx), round(c + dy)), 1.0, 1, cv2.LINE_AA)
    k /= k.sum()
    return cv2.filter2D(a, -1, k)


_LIGHT_ONE = 180.0  # light factor 1.0 as a byte (room above it for bright spots)


def _background(g: np.random.Generator, rng: random.Random, w: int, h: int) -> np.ndarray:
    """A darker textured surface: wood, a grey desk, or dark cloth (uint8 RGB, h x w)."""
    kind = rng.choice(("wood", "desk", "cloth"))
    if kind == "wood":
        base = (rng.uniform(95, 140), rng.uniform(65, 95), rng.uniform(40, 60))
    elif kind == "desk":
        v = rng.uniform(70, 120)
        base = (v, v, v + rng.uniform(-5, 10))
    else:
        v = rng.uniform(30, 60)
        base = (v, v * rng.uniform(0.9, 1.1), v * rng.uniform(0.9, 1.2))
    # low-frequency blotches plus grain; wood gets streaks along one axis
    if kind == "wood":
        coarse = g.standard_normal((max(2, h // 8), 3), dtype=np.float32)
    else:
        coarse = g.standard_normal((max(2, h // 64), max(2, w // 64)), dtype=np.float32)
    tex = cv2.resize(coarse * rng.uniform(6, 14), (w // 4, h // 4), interpolation=cv2.INTER_CUBIC)
    tex += _noise(g, tex.shape, rng.uniform(3, 8)).astype(np.float32)
    tex = cv2.resize(tex, (w, h), interpolation=cv2.INTER_LINEAR)
    # |tex + base| saturated to a byte; base is well above the texture's swing
    return cv2.merge([cv2.convertScaleAbs(tex, alpha=1.0, beta=b) for b in base])
