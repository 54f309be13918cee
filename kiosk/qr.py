"""A small QR code encoder (ISO/IEC 18004): byte mode, error correction level
M, versions 1 to 6 — enough for the kiosk's door-code payload (at most 106
bytes). Pure: text in, a square matrix of booleans (True = dark) out.

Rules this module guarantees:
- The smallest version of 1-6 that holds the text is used; longer text raises
  ``ValueError`` (the screen then shows the code as text only).
- ``mask`` of None picks the mask with the lowest penalty (ISO/IEC 18004
  §7.8.3); a fixed mask is for tests against other encoders.
- No quiet zone is included: the drawing adds four light modules around it.
The construction follows the standard closely (function patterns, Reed-Solomon
over GF(256) with 0x11D, interleaving, zig-zag placement, BCH format bits).
"""

from __future__ import annotations

# version -> (data codewords per block, blocks, EC codewords per block), level M
_BLOCKS = {1: (16, 1, 10), 2: (28, 1, 16), 3: (44, 1, 26), 4: (32, 2, 18), 5: (43, 2, 24),
           6: (27, 4, 16)}  # fmt: skip
_ALIGN = {1: (), 2: (6, 18), 3: (6, 22), 4: (6, 26), 5: (6, 30), 6: (6, 34)}
_FORMAT_M = 0  # error correction level M's format bits
Matrix = list[list[bool]]


def _gf_mul(x: int, y: int) -> int:
    z = 0
    for i in reversed(range(8)):
        z = (z << 1) ^ ((z >> 7) * 0x11D)
        z ^= ((y >> i) & 1) * x
    return z


def _rs_divisor(degree: int) -> list[int]:
    result = [0] * (degree - 1) + [1]
    root = 1
    for _ in range(degree):
        for j in range(degree):
            result[j] = _gf_mul(result[j], root)
            if j + 1 < degree:
                result[j] ^= result[j + 1]
        root = _gf_mul(root, 2)
    return result


def _rs_remainder(data: list[int], divisor: list[int]) -> list[int]:
    result = [0] * len(divisor)
    for b in data:
        factor = b ^ result.pop(0)
        result.append(0)
        for i, coef in enumerate(divisor):
            result[i] ^= _gf_mul(coef, factor)
    return result


def _codewords(data: bytes, version: int) -> list[int]:
    per_block, blocks, ec = _BLOCKS[version]
    capacity = per_block * blocks
    bits: list[int] = []

    def put(value: int, n: int) -> None:
        bits.extend((value >> i) & 1 for i in reversed(range(n)))

    put(0b0100, 4)  # byte mode
    put(len(data), 8)  # character count: 8 bits in versions 1-9
    for b in data:
        put(b, 8)
    put(0, min(4, capacity * 8 - len(bits)))  # terminator
    put(0, -len(bits) % 8)
    words = [int("".join(map(str, bits[i : i + 8])), 2) for i in range(0, len(bits), 8)]
    pad = 0xEC
    while len(words) < capacity:
        words.append(pad)
        pad ^= 0xEC ^ 0x11
    divisor = _rs_divisor(ec)
    chunks = [words[i * per_block : (i + 1) * per_block] for i in range(blocks)]
    eccs = [_rs_remainder(c, divisor) for c in chunks]
    out = [c[i] for i in range(per_block) for c in chunks]
    return out + [e[i] for i in range(ec) for e in eccs]


def _mask_bit(mask: int, x: int, y: int) -> bool:
    return (
        (x + y) % 2 == 0,
        y % 2 == 0,
        x % 3 == 0,
        (x + y) % 3 == 0,
        (x // 3 + y // 2) % 2 == 0,
        x * y % 2 + x * y % 3 == 0,
        (x * y % 2 + x * y % 3) % 2 == 0,
        ((x + y) % 2 + x * y % 3) % 2 == 0,
    )[mask]


class _Grid:
    def __init__(self, version: int) -> None:
        self.size = size = version * 4 + 17
        self.dark: Matrix = [[False] * size for _ in range(size)]
        self.fixed: Matrix = [[False] * size for _ in range(size)]
        for i in range(size):  # timing patterns
            self.set(6, i, i % 2 == 0)
            self.set(i, 6, i % 2 == 0)
        for cx, cy in ((3, 3), (size - 4, 3), (3, size - 4)):  # finders + separators
            for dy in range(-4, 5):
                for dx in range(-4, 5):
                    x, y = cx + dx, cy + dy
                    if 0 <= x < size and 0 <= y < size:
                        self.set(x, y, max(abs(dx), abs(dy)) not in (2, 4))
        pos = _ALIGN[version]
        for i, ax in enumerate(pos):
            for j, ay in enumerate(pos):
                if (i, j) in ((0, 0), (0, len(pos) - 1), (len(pos) - 1, 0)):
                    continue
                for dy in range(-2, 3):
                    for dx in range(-2, 3):
                        self.set(ax + dx, ay + dy, max(abs(dx), abs(dy)) != 1)
        self.format_bits(0)  # reserve the format areas

    def set(self, x: int, y: int, dark: bool) -> None:
        self.dark[y][x] = dark
        self.fixed[y][x] = True

    def format_bits(self, mask: int) -> None:
        data = _FORMAT_M << 3 | mask
        rem = data
        for _ in range(10):
            rem = (rem << 1) ^ ((rem >> 9) * 0x537)
        bits = (data << 10 | rem) ^ 0x5412
        size = self.size

        def bit(i: int) -> bool:
            return (bits >> i) & 1 == 1

        for i in range(6):
            self.set(8, i, bit(i))
        self.set(8, 7, bit(6))
        self.set(8, 8, bit(7))
        self.set(7, 8, bit(8))
        for i in range(9, 15):
            self.set(14 - i, 8, bit(i))
        for i in range(8):
            self.set(size - 1 - i, 8, bit(i))
        for i in range(8, 15):
            self.set(8, size - 15 + i, bit(i))
        self.set(8, size - 8, True)  # the dark module

    def place(self, words: list[int]) -> None:
        size, i, total = self.size, 0, len(words) * 8
        right = size - 1
        while right >= 1:
            if right == 6:
                right = 5
            upward = ((right + 1) & 2) == 0
            for vert in range(size):
                y = size - 1 - vert if upward else vert
                for x in (right, right - 1):
                    if not self.fixed[y][x] and i < total:
                        self.dark[y][x] = (words[i >> 3] >> (7 - (i & 7))) & 1 == 1
                        i += 1
            right -= 2

    def masked(self, mask: int) -> Matrix:
        out = [row[:] for row in self.dark]
        for y in range(self.size):
            for x in range(self.size):
                if not self.fixed[y][x] and _mask_bit(mask, x, y):
                    out[y][x] = not out[y][x]
        return out


def penalty(m: Matrix) -> int:
    """ISO/IEC 18004 §7.8.3 penalty score (N1=3, N2=3, N3=40, N4=10)."""
    size, score = len(m), 0
    lines = m + [list(col) for col in zip(*m, strict=True)]
    finder = ([True, False, True, True, True, False, True, False, False, False, False],
              [False, False, False, False, True, False, True, True, True, False, True])  # fmt: skip
    for line in lines:
        run, prev = 0, None
        for v in [*line, None]:
            if v == prev:
                run += 1
            else:
                if run >= 5:
                    score += 3 + run - 5
                run, prev = 1, v
        for i in range(size - 10):
            if line[i : i + 11] in finder:
                score += 40
    for y in range(size - 1):
        for x in range(size - 1):
            if m[y][x] == m[y][x + 1] == m[y + 1][x] == m[y + 1][x + 1]:
                score += 3
    dark = sum(map(sum, m))
    score += 10 * (abs(dark * 20 - size * size * 10) // (size * size))
    return score


def encode(text: str, mask: int | None = None) -> Matrix:
    """The QR matrix of ``text`` (UTF-8, byte mode, level M); raises ``ValueError``."""
    data = text.encode("utf-8")
    version = next((v for v, (n, b, _) in _BLOCKS.items() if len(data) <= n * b - 2), None)
    if version is None:
        raise ValueError(f"{len(data)} bytes do not fit a version 1-6 QR code at level M")
    grid = _Grid(version)
    grid.place(_codewords(data, version))
    best: tuple[int, int, Matrix] | None = None
    for mk in range(8) if mask is None else (mask,):
        grid.format_bits(mk)
        m = grid.masked(mk)
        score = penalty(m) if mask is None else 0
        if best is None or score < best[0]:
            best = (score, mk, m)
    assert best is not None
    grid.format_bits(best[1])
    return grid.masked(best[1])


def to_text(m: Matrix, quiet: int = 4) -> str:
    """The matrix as text (``#`` dark, ``.`` light) with a quiet zone: for logs and tests."""
    size = len(m) + 2 * quiet
    light = ["." * size] * quiet
    rows = ["." * quiet + "".join("#" if v else "." for v in row) + "." * quiet for row in m]
    return "\n".join(light + rows + light)
