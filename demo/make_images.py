#!/usr/bin/python3
"""Generate the demo's sample pictures as PNG with the standard library only.

    make_images.py OUTDIR

Writes OUTDIR/sunrise.png, OUTDIR/harbour.png, OUTDIR/forest.png (small
landscapes drawn from gradients and circles). PNG is written by hand (zlib +
CRC chunks) so that the demo needs no imaging library.
"""

import math
import struct
import sys
import zlib
from pathlib import Path

W, H = 320, 200


def png(width, height, rows):
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    raw = b"".join(b"\x00" + bytes(row) for row in rows)
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 9))
            + chunk(b"IEND", b""))


def mix(a, b, t):
    return tuple(int(a[i] + (b[i] - a[i]) * t) for i in range(3))


def scene(sky_top, sky_bottom, sun, sun_pos, ground, hills):
    rows = []
    for y in range(H):
        row = bytearray()
        sky = mix(sky_top, sky_bottom, y / H)
        for x in range(W):
            c = sky
            dx, dy = x - sun_pos[0], y - sun_pos[1]
            d = math.hypot(dx, dy)
            if d < 26:
                c = sun
            elif d < 40:
                c = mix(sun, sky, (d - 26) / 14)
            horizon = H * 0.62 + hills * math.sin(x / 23.0) + hills / 2 * math.sin(x / 7.0)
            if y > horizon:
                c = mix(ground, (0, 0, 0), min(1.0, (y - horizon) / (H * 0.9)))
            row += bytes(c)
        rows.append(row)
    return png(W, H, rows)


def main():
    out = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    out.mkdir(parents=True, exist_ok=True)
    (out / "sunrise.png").write_bytes(
        scene((40, 40, 110), (250, 160, 90), (255, 230, 120), (230, 120), (60, 90, 50), 8))
    (out / "harbour.png").write_bytes(
        scene((90, 150, 220), (200, 225, 245), (255, 250, 210), (70, 50), (30, 70, 120), 3))
    (out / "forest.png").write_bytes(
        scene((120, 180, 200), (230, 240, 220), (255, 255, 230), (250, 40), (20, 80, 30), 14))


if __name__ == "__main__":
    main()
