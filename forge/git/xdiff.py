"""Line matching as git's xdiff does it, so that blame splits files exactly where git does.

`git blame` decides which lines a parent passes on from a Myers diff of the two files, and
any other diff (difflib, patience) pairs equal lines differently often enough that a blame built
on it names other commits for some lines. This is a port of what that diff runs in git 2.39
(xdiff/xprepare.c, xdiff/xdiffi.c and xdiff-interface.c's trim_common_tail): lines that have
no match on the other side are set aside first, the middle snake search gives up past the
same costs, and changed groups are slid (with the indent heuristic, on by default) to the
same place. The constants and the order of every test are git's; the names follow git's too,
so the C can be read beside it.
"""

from __future__ import annotations

MAX_EQLIMIT = 1024
KPDIS_RUN = 4
SIMSCAN_WINDOW = 100
MAX_COST_MIN = 256
HEUR_MIN_COST = 256
SNAKE_CNT = 20
K_HEUR = 4
LINE_MAX = (1 << 63) - 1
TRIM_BLOCK = 1024

MAX_INDENT = 200
MAX_BLANKS = 20
START_OF_FILE_PENALTY = 1
END_OF_FILE_PENALTY = 21
TOTAL_BLANK_WEIGHT = -30
POST_BLANK_WEIGHT = 6
RELATIVE_INDENT_PENALTY = -4
RELATIVE_INDENT_WITH_BLANK_PENALTY = 10
RELATIVE_OUTDENT_PENALTY = 24
RELATIVE_OUTDENT_WITH_BLANK_PENALTY = 17
RELATIVE_DEDENT_PENALTY = 23
RELATIVE_DEDENT_WITH_BLANK_PENALTY = 17
INDENT_WEIGHT = 60
INDENT_HEURISTIC_MAX_SLIDING = 100
SPACES = b" \t\n\v\f\r"


def split_records(data: bytes) -> list[bytes]:
    """A file's lines as xdiff sees them: each with its newline, the last one maybe without."""
    lines = data.split(b"\n")
    last = lines.pop()
    records = [line + b"\n" for line in lines]
    if last:
        records.append(last)
    return records


def match_lines(old: bytes, new: bytes) -> list[int]:
    """For each line of `new`, the index of the line of `old` git's diff pairs it with, or -1
    where git's diff says the line was added or changed."""
    common_tail = _common_tail(old, new)
    head_old = old[: len(old) - common_tail]
    head_new = new[: len(new) - common_tail]
    recs1, recs2 = split_records(head_old), split_records(head_new)
    changed1, changed2 = _diff(recs1, recs2)
    result = []
    i1 = 0
    for i2 in range(len(recs2)):
        while changed1[i1 + 1]:
            i1 += 1
        if changed2[i2 + 1]:
            result.append(-1)
        else:
            result.append(i1)
            i1 += 1
    # What trim_common_tail set aside is whole lines, the same on both sides.
    tail = split_records(new[len(new) - common_tail :]) if common_tail else []
    start = len(split_records(head_old))
    result.extend(range(start, start + len(tail)))
    return result


def _common_tail(a: bytes, b: bytes) -> int:
    """How many bytes at the end xdi_diff leaves out: whole 1 KiB blocks equal on both sides,
    given back up to and including the first newline among them."""
    trimmed = 0
    smaller = min(len(a), len(b))
    la, lb = len(a), len(b)
    while TRIM_BLOCK + trimmed <= smaller and (
        a[la - trimmed - TRIM_BLOCK : la - trimmed] == b[lb - trimmed - TRIM_BLOCK : lb - trimmed]
    ):
        trimmed += TRIM_BLOCK
    if not trimmed:
        return 0
    start = la - trimmed
    newline = a.find(b"\n", start, la)
    recovered = trimmed if newline < 0 else newline - start + 1
    return trimmed - recovered


# --- xdl_prepare_env ---------------------------------------------------------------------------


class _File:
    """xdfile_t: the records of one side, their classes and which are changed (rchg)."""

    def __init__(self, recs: list[bytes], classes: list[int]):
        self.recs = recs
        self.ha = classes
        self.nrec = len(recs)
        # rchg[-1] and rchg[nrec] are sentinels in git; here index i is record i - 1.
        self.rchg = bytearray(self.nrec + 2)
        self.dstart = 0
        self.dend = self.nrec - 1
        self.rindex: list[int] = []
        self.reff_ha: list[int] = []
        self._indent: dict[int, int] = {}

    def changed(self, i: int) -> int:
        return self.rchg[i + 1]

    def set_changed(self, i: int, value: int) -> None:
        self.rchg[i + 1] = value

    def indent(self, i: int) -> int:
        found = self._indent.get(i)
        if found is None:
            found = self._indent[i] = _get_indent(self.recs[i])
        return found


def _diff(recs1: list[bytes], recs2: list[bytes]) -> tuple[bytearray, bytearray]:
    classes: dict[bytes, int] = {}
    len1: list[int] = []
    len2: list[int] = []
    ha1 = []
    for rec in recs1:
        idx = classes.get(rec)
        if idx is None:
            idx = classes[rec] = len(len1)
            len1.append(0)
            len2.append(0)
        len1[idx] += 1
        ha1.append(idx)
    ha2 = []
    for rec in recs2:
        idx = classes.get(rec)
        if idx is None:
            idx = classes[rec] = len(len1)
            len1.append(0)
            len2.append(0)
        len2[idx] += 1
        ha2.append(idx)
    xdf1, xdf2 = _File(recs1, ha1), _File(recs2, ha2)
    _trim_ends(xdf1, xdf2)
    _cleanup_records(xdf1, xdf2, len1, len2)
    _do_diff(xdf1, xdf2)
    _change_compact(xdf1, xdf2)
    _change_compact(xdf2, xdf1)
    return xdf1.rchg, xdf2.rchg


def _trim_ends(xdf1: _File, xdf2: _File) -> None:
    lim = min(xdf1.nrec, xdf2.nrec)
    i = 0
    while i < lim and xdf1.ha[i] == xdf2.ha[i]:
        i += 1
    xdf1.dstart = xdf2.dstart = i
    lim -= i
    i = 0
    while i < lim and xdf1.ha[xdf1.nrec - 1 - i] == xdf2.ha[xdf2.nrec - 1 - i]:
        i += 1
    xdf1.dend = xdf1.nrec - i - 1
    xdf2.dend = xdf2.nrec - i - 1


def _bogosqrt(n: int) -> int:
    i = 1
    while n > 0:
        i <<= 1
        n >>= 2
    return i


def _clean_mmatch(dis: bytearray, i: int, s: int, e: int) -> bool:
    if i - s > SIMSCAN_WINDOW:
        s = i - SIMSCAN_WINDOW
    if e - i > SIMSCAN_WINDOW:
        e = i + SIMSCAN_WINDOW
    r, rdis0, rpdis0 = 1, 0, 1
    while i - r >= s:
        if not dis[i - r]:
            rdis0 += 1
        elif dis[i - r] == 2:
            rpdis0 += 1
        else:
            break
        r += 1
    if rdis0 == 0:
        return False
    r, rdis1, rpdis1 = 1, 0, 1
    while i + r <= e:
        if not dis[i + r]:
            rdis1 += 1
        elif dis[i + r] == 2:
            rpdis1 += 1
        else:
            break
        r += 1
    if rdis1 == 0:
        return False
    rdis1 += rdis0
    rpdis1 += rpdis0
    return rpdis1 * KPDIS_RUN < rpdis1 + rdis1


def _cleanup_records(xdf1: _File, xdf2: _File, len1: list[int], len2: list[int]) -> None:
    """Set aside lines with no match on the other side (and lines matched too often, inside
    runs of such lines): the search runs on the rest."""
    for xdf, other_count in ((xdf1, len2), (xdf2, len1)):
        mlim = min(_bogosqrt(xdf.nrec), MAX_EQLIMIT)
        dis = bytearray(xdf.nrec + 1)
        for i in range(xdf.dstart, xdf.dend + 1):
            nm = other_count[xdf.ha[i]]
            dis[i] = 0 if nm == 0 else (2 if nm >= mlim else 1)
        xdf._dis = dis
    for xdf in (xdf1, xdf2):
        dis = xdf._dis
        for i in range(xdf.dstart, xdf.dend + 1):
            if dis[i] == 1 or (dis[i] == 2 and not _clean_mmatch(dis, i, xdf.dstart, xdf.dend)):
                xdf.rindex.append(i)
                xdf.reff_ha.append(xdf.ha[i])
            else:
                xdf.set_changed(i, 1)
        del xdf._dis


# --- xdl_do_diff: Myers with git's heuristics -----------------------------------------------------


def _do_diff(xdf1: _File, xdf2: _File) -> None:
    n1, n2 = len(xdf1.rindex), len(xdf2.rindex)
    ndiags = n1 + n2 + 3
    kvdf = [0] * (2 * ndiags + 2)
    kvdb = [0] * (2 * ndiags + 2)
    base = n2 + 1  # kvd[base + d] is git's kvdf[d]
    mxcost = max(_bogosqrt(ndiags), MAX_COST_MIN)
    ha1, ha2 = xdf1.reff_ha, xdf2.reff_ha
    # The recursion of xdl_recs_cmp, as a stack: (off1, lim1, off2, lim2, need_min).
    stack = [(0, n1, 0, n2, False)]
    while stack:
        off1, lim1, off2, lim2, need_min = stack.pop()
        while off1 < lim1 and off2 < lim2 and ha1[off1] == ha2[off2]:
            off1 += 1
            off2 += 1
        while off1 < lim1 and off2 < lim2 and ha1[lim1 - 1] == ha2[lim2 - 1]:
            lim1 -= 1
            lim2 -= 1
        if off1 == lim1:
            for i in range(off2, lim2):
                xdf2.set_changed(xdf2.rindex[i], 1)
        elif off2 == lim2:
            for i in range(off1, lim1):
                xdf1.set_changed(xdf1.rindex[i], 1)
        else:
            i1, i2, min_lo, min_hi = _split(
                ha1, off1, lim1, ha2, off2, lim2, kvdf, kvdb, base, need_min, mxcost
            )
            # Git does the low half first; the order changes nothing but is kept.
            stack.append((i1, lim1, i2, lim2, min_hi))
            stack.append((off1, i1, off2, i2, min_lo))


def _split(ha1, off1, lim1, ha2, off2, lim2, kvdf, kvdb, base, need_min, mxcost):
    dmin, dmax = off1 - lim2, lim1 - off2
    fmid, bmid = off1 - off2, lim1 - lim2
    odd = (fmid - bmid) & 1
    fmin = fmax = fmid
    bmin = bmax = bmid
    kvdf[base + fmid] = off1
    kvdb[base + bmid] = lim1
    ec = 0
    while True:
        ec += 1
        got_snake = False
        if fmin > dmin:
            fmin -= 1
            kvdf[base + fmin - 1] = -1
        else:
            fmin += 1
        if fmax < dmax:
            fmax += 1
            kvdf[base + fmax + 1] = -1
        else:
            fmax -= 1
        for d in range(fmax, fmin - 1, -2):
            if kvdf[base + d - 1] >= kvdf[base + d + 1]:
                i1 = kvdf[base + d - 1] + 1
            else:
                i1 = kvdf[base + d + 1]
            prev1 = i1
            i2 = i1 - d
            while i1 < lim1 and i2 < lim2 and ha1[i1] == ha2[i2]:
                i1 += 1
                i2 += 1
            if i1 - prev1 > SNAKE_CNT:
                got_snake = True
            kvdf[base + d] = i1
            if odd and bmin <= d <= bmax and kvdb[base + d] <= i1:
                return i1, i2, True, True
        if bmin > dmin:
            bmin -= 1
            kvdb[base + bmin - 1] = LINE_MAX
        else:
            bmin += 1
        if bmax < dmax:
            bmax += 1
            kvdb[base + bmax + 1] = LINE_MAX
        else:
            bmax -= 1
        for d in range(bmax, bmin - 1, -2):
            if kvdb[base + d - 1] < kvdb[base + d + 1]:
                i1 = kvdb[base + d - 1]
            else:
                i1 = kvdb[base + d + 1] - 1
            prev1 = i1
            i2 = i1 - d
            while i1 > off1 and i2 > off2 and ha1[i1 - 1] == ha2[i2 - 1]:
                i1 -= 1
                i2 -= 1
            if prev1 - i1 > SNAKE_CNT:
                got_snake = True
            kvdb[base + d] = i1
            if not odd and fmin <= d <= fmax and i1 <= kvdf[base + d]:
                return i1, i2, True, True
        if need_min:
            continue
        if got_snake and ec > HEUR_MIN_COST:
            best = 0
            found = None
            for d in range(fmax, fmin - 1, -2):
                dd = d - fmid if d > fmid else fmid - d
                i1 = kvdf[base + d]
                i2 = i1 - d
                v = (i1 - off1) + (i2 - off2) - dd
                if (
                    v > K_HEUR * ec
                    and v > best
                    and off1 + SNAKE_CNT <= i1 < lim1
                    and off2 + SNAKE_CNT <= i2 < lim2
                ):
                    k = 1
                    while ha1[i1 - k] == ha2[i2 - k]:
                        if k == SNAKE_CNT:
                            best = v
                            found = (i1, i2)
                            break
                        k += 1
            if best > 0:
                return found[0], found[1], True, False
            best = 0
            for d in range(bmax, bmin - 1, -2):
                dd = d - bmid if d > bmid else bmid - d
                i1 = kvdb[base + d]
                i2 = i1 - d
                v = (lim1 - i1) + (lim2 - i2) - dd
                if (
                    v > K_HEUR * ec
                    and v > best
                    and off1 < i1 <= lim1 - SNAKE_CNT
                    and off2 < i2 <= lim2 - SNAKE_CNT
                ):
                    k = 0
                    while ha1[i1 + k] == ha2[i2 + k]:
                        if k == SNAKE_CNT - 1:
                            best = v
                            found = (i1, i2)
                            break
                        k += 1
            if best > 0:
                return found[0], found[1], False, True
        if ec >= mxcost:
            fbest = fbest1 = -1
            for d in range(fmax, fmin - 1, -2):
                i1 = min(kvdf[base + d], lim1)
                i2 = i1 - d
                if lim2 < i2:
                    i1, i2 = lim2 + d, lim2
                if fbest < i1 + i2:
                    fbest = i1 + i2
                    fbest1 = i1
            bbest = bbest1 = LINE_MAX
            for d in range(bmax, bmin - 1, -2):
                i1 = max(off1, kvdb[base + d])
                i2 = i1 - d
                if i2 < off2:
                    i1, i2 = off2 + d, off2
                if i1 + i2 < bbest:
                    bbest = i1 + i2
                    bbest1 = i1
            if (lim1 + lim2) - bbest < fbest - (off1 + off2):
                return fbest1, fbest - fbest1, True, False
            return bbest1, bbest - bbest1, False, True


# --- xdl_change_compact: where a changed group sits -----------------------------------------------


def _get_indent(rec: bytes) -> int:
    ret = 0
    for c in rec:
        if c not in SPACES:
            return ret
        if c == 0x20:
            ret += 1
        elif c == 0x09:
            ret += 8 - ret % 8
        if ret >= MAX_INDENT:
            return MAX_INDENT
    return -1


def _measure_split(xdf: _File, split: int) -> tuple[bool, int, int, int, int, int]:
    if split >= xdf.nrec:
        end_of_file, indent = True, -1
    else:
        end_of_file, indent = False, xdf.indent(split)
    pre_blank, pre_indent = 0, -1
    for i in range(split - 1, -1, -1):
        pre_indent = xdf.indent(i)
        if pre_indent != -1:
            break
        pre_blank += 1
        if pre_blank == MAX_BLANKS:
            pre_indent = 0
            break
    post_blank, post_indent = 0, -1
    for i in range(split + 1, xdf.nrec):
        post_indent = xdf.indent(i)
        if post_indent != -1:
            break
        post_blank += 1
        if post_blank == MAX_BLANKS:
            post_indent = 0
            break
    return end_of_file, indent, pre_blank, pre_indent, post_blank, post_indent


def _score_add_split(m, score: list[int]) -> None:
    end_of_file, m_indent, pre_blank, pre_indent, m_post_blank, post_indent = m
    if pre_indent == -1 and pre_blank == 0:
        score[1] += START_OF_FILE_PENALTY
    if end_of_file:
        score[1] += END_OF_FILE_PENALTY
    post_blank = 1 + m_post_blank if m_indent == -1 else 0
    total_blank = pre_blank + post_blank
    score[1] += TOTAL_BLANK_WEIGHT * total_blank
    score[1] += POST_BLANK_WEIGHT * post_blank
    indent = m_indent if m_indent != -1 else post_indent
    any_blanks = total_blank != 0
    score[0] += indent
    if indent == -1 or pre_indent == -1:
        pass
    elif indent > pre_indent:
        score[1] += RELATIVE_INDENT_WITH_BLANK_PENALTY if any_blanks else RELATIVE_INDENT_PENALTY
    elif indent == pre_indent:
        pass
    elif post_indent != -1 and post_indent > indent:
        score[1] += RELATIVE_OUTDENT_WITH_BLANK_PENALTY if any_blanks else RELATIVE_OUTDENT_PENALTY
    else:
        score[1] += RELATIVE_DEDENT_WITH_BLANK_PENALTY if any_blanks else RELATIVE_DEDENT_PENALTY


def _score_cmp(s1: list[int], s2: list[int]) -> int:
    cmp_indents = (s1[0] > s2[0]) - (s1[0] < s2[0])
    return INDENT_WEIGHT * cmp_indents + (s1[1] - s2[1])


class _Group:
    __slots__ = ("start", "end")

    def __init__(self, xdf: _File):
        self.start = self.end = 0
        while xdf.changed(self.end):
            self.end += 1

    def next(self, xdf: _File) -> bool:
        if self.end == xdf.nrec:
            return False
        self.start = self.end + 1
        self.end = self.start
        while xdf.changed(self.end):
            self.end += 1
        return True

    def previous(self, xdf: _File) -> bool:
        if self.start == 0:
            return False
        self.end = self.start - 1
        self.start = self.end
        while xdf.changed(self.start - 1):
            self.start -= 1
        return True

    def slide_down(self, xdf: _File) -> bool:
        if self.end < xdf.nrec and xdf.ha[self.start] == xdf.ha[self.end]:
            xdf.set_changed(self.start, 0)
            self.start += 1
            xdf.set_changed(self.end, 1)
            self.end += 1
            while xdf.changed(self.end):
                self.end += 1
            return True
        return False

    def slide_up(self, xdf: _File) -> bool:
        if self.start > 0 and xdf.ha[self.start - 1] == xdf.ha[self.end - 1]:
            self.start -= 1
            xdf.set_changed(self.start, 1)
            self.end -= 1
            xdf.set_changed(self.end, 0)
            while xdf.changed(self.start - 1):
                self.start -= 1
            return True
        return False


class SyncBroken(AssertionError):
    """The two sides' groups stopped matching: a bug here, as BUG() is in git."""


def _change_compact(xdf: _File, xdfo: _File) -> None:
    g, go = _Group(xdf), _Group(xdfo)
    while True:
        if g.end != g.start:
            while True:
                groupsize = g.end - g.start
                end_matching_other = -1
                while g.slide_up(xdf):
                    if not go.previous(xdfo):
                        raise SyncBroken("group sync broken sliding up")
                earliest_end = g.end
                if go.end > go.start:
                    end_matching_other = g.end
                while g.slide_down(xdf):
                    if not go.next(xdfo):
                        raise SyncBroken("group sync broken sliding down")
                    if go.end > go.start:
                        end_matching_other = g.end
                if groupsize == g.end - g.start:
                    break
            if g.end == earliest_end:
                pass
            elif end_matching_other != -1:
                while go.end == go.start:
                    if not g.slide_up(xdf) or not go.previous(xdfo):
                        raise SyncBroken("group sync broken sliding to match")
            else:
                shift = max(
                    earliest_end, g.end - groupsize - 1, g.end - INDENT_HEURISTIC_MAX_SLIDING
                )
                best_shift, best_score = -1, [0, 0]
                while shift <= g.end:
                    score = [0, 0]
                    _score_add_split(_measure_split(xdf, shift), score)
                    _score_add_split(_measure_split(xdf, shift - groupsize), score)
                    if best_shift == -1 or _score_cmp(score, best_score) <= 0:
                        best_score, best_shift = score, shift
                    shift += 1
                while g.end > best_shift:
                    if not g.slide_up(xdf) or not go.previous(xdfo):
                        raise SyncBroken("group sync broken sliding to blank line")
        if not g.next(xdf):
            break
        if not go.next(xdfo):
            raise SyncBroken("group sync broken moving to next group")
