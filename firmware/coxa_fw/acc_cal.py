"""Accelerometer offset (and scale) calibration from the board's own rests, kept on flash.

A zero-g offset ``b`` of the accelerometer tilts the 6D orientation: the filter takes
``a - b``'s direction for gravity's, off by ``|b_perp| / g`` rad (20 mg is 1.1 deg), and the
error changes with the board's attitude. No 6D filter can see it while moving; at rest the
accelerometer measures gravity alone, so rests in several attitudes pin ``b`` down:
``|a_i - b| = g`` for every rest ``i``. This module collects those rests automatically while
the board runs, fits ``b`` (and the per-axis scale when the rests allow it) and keeps an
accepted calibration in a small file; :class:`coxa_fw.app.App` subtracts it from every
sample before the AHRS. Hardware-free and dialect-neutral (CPython tests, MicroPython board).

Rests (per sample, :meth:`AccCal.add`, integers only)
------------------------------------------------------
The AHRS's rest flag (``AT_REST``: gyro and accelerometer still for ``rest_time_s``, the
direction of gravity steady) marks the samples. Their raw counts (board axes, calibration
not applied) are summed in blocks of ``BLOCK_S``; a block joins the rest's sums only
``DELAY_BLOCKS`` blocks later, so the last ``DELAY_BLOCKS * BLOCK_S`` before the flag drops
(a motion onset still under the rest thresholds) never count. A rest with at least
``MIN_BLOCKS`` committed blocks is handed over when the flag drops, or after ``CAP_S`` of
committed samples (a board lying still for hours gives one rest). A board needs about
1.5 s (rest confirmation) + 0.5 s (delay) + 0.5 s (minimum) = 2.5 s of stillness per rest.

Slots (:meth:`AccCal.process`, outside the sampling path)
---------------------------------------------------------
A rest's mean (m/s^2, board axes) goes into one of ``SLOTS`` slots: it refreshes the slot
whose direction is within ``SLOT_SEPARATION_DEG`` of it (the newest mean wins: temperature
moves offsets), else it takes a free slot, else it replaces the slot closest to another
one (the most redundant direction). A refresh within ``REFRESH_MIN_MG`` of the slot's mean
on every axis changes nothing and fits nothing (a board lying still, its rest restarted by a
bump). A rest whose ``| |a| - g |`` exceeds ``REST_NORM_TOL_G`` is ignored (no calibration
this module accepts can explain it).

Fit
---
After every stored rest, with ``N`` slots in use and the directions ``u_i = a_i / |a_i|``:

1. ``N >= MIN_RESTS`` and the smallest eigenvalue of the directions' scatter
   ``S = (1/N) sum u_i u_i^T`` (trace 1; 1/3 for the six faces, 0 for rests in one plane)
   is at least ``SPREAD_MIN``: every axis is observed. Else refused (``spread``).
2. Model: offset and per-axis scale (``c = k * (a - b)`` per axis, 6 parameters) when
   ``N >= MIN_RESTS_SCALE`` and the smallest eigenvalue of ``(1/N) sum j_i j_i^T``,
   ``j_i = (u_i, u_i^2)`` (the normalised Gauss-Newton information matrix of that model),
   is at least ``SPREAD_SCALE_MIN`` (tested as a Cholesky factorisation of the matrix minus
   ``SPREAD_SCALE_MIN`` times the identity: cheaper than the eigenvalues); else the offset
   alone (3 parameters, ``k = 1``).
3. With the offset model only: the rests must be balanced enough that scale errors cannot
   move the offset much. A scale error ``s`` (per axis) adds ``g sum_j s_j u_ij^2`` to rest
   ``i``; the offset fit turns that into ``g L s`` with ``L = S^-1 T``,
   ``T = (1/N) sum u_i (u_i^2)^T``. Refused (``leverage``) when
   ``g SCALE_TOL max_j sum_k |L_jk|``, the largest offset error that scale errors of
   ``SCALE_TOL`` could cause, exceeds ``LEVERAGE_MAX_MG`` (0 for six exact faces: opposite
   faces cancel it).
4. Gauss-Newton on ``r_i = |k * (a_i - b)| - g`` from ``b = 0, k = 1`` (the scale as
   ``kappa = g (k - 1)`` so that every column is about unit size), normal equations solved
   by elimination with partial pivoting; at most ``GN_ITERATIONS`` steps, converged when no
   parameter moves by more than ``GN_TOL_M_S2``.
5. Accepted only if the residual RMS ``sqrt(sum r_i^2 / N)`` is at most
   ``RESIDUAL_MAX_MG`` (offset model) or ``RESIDUAL_MAX_SCALE_MG`` (offset and scale),
   ``|b| <= OFFSET_MAX_MG`` and every ``|k - 1| <= SCALE_MAX``. Otherwise the previous
   calibration stays (the reason is logged when it differs from the last one logged).
6. An accepted fit that differs from the calibration in use by more than ``CHANGE_MIN_MG``
   (offset, any axis) or ``CHANGE_MIN_SCALE`` (scale) replaces it, is written to the file
   and logged; a smaller change is ignored (no flash write for every rest).

All working memory (slots, matrices, parameters) is allocated once; the fit allocates only
float temporaries (every float operation does on MicroPython), and runs in
:meth:`AccCal.process`, which the shell calls outside :meth:`coxa_fw.app.App.step`.

Thresholds
----------
Labels: [src] published value, [derived] worked out from sourced inputs, [assumption] our
choice. Sensor figures: the simulator's LSM6DSOX-like model (``coxa.sim.ImuParams``: zero-g
offset 20 mg typ., sensitivity tolerance 1 %, noise 75 ug/sqrt(Hz), all [src]).

- ``SLOTS`` = 12 [assumption]: six faces plus six other attitudes.
- ``SLOT_SEPARATION_DEG`` = 25 deg [assumption]: far beyond the wobble between two rests in
  one attitude, close enough that 12 slots can cover the sphere.
- ``BLOCK_S`` = 0.25 s [assumption]: granularity of the delay.
- ``DELAY_BLOCKS`` = 2 [assumption]: the last 0.5 s of a rest is dropped. A motion onset can
  stay under the AHRS's rest thresholds (0.5 m/s^2) for a few tenths of a second; ten such
  samples at 0.25 m/s^2 in a 1 s mean would move it by 2.5 mg.
- ``MIN_BLOCKS`` = 2 [derived]: 0.5 s of samples, mean noise 0.75 mg / sqrt(100) = 0.08 mg at
  200 Hz, far below the 5 mg goal.
- ``CAP_S`` = 10 s [assumption]: longer means add nothing (0.02 mg noise).
- ``REST_NORM_TOL_G`` = 0.2 g [derived]: ``OFFSET_MAX_MG`` plus ``SCALE_MAX`` of 1 g.
- ``MIN_RESTS`` = 6 [assumption]: the six faces; three more rests than parameters.
- ``MIN_RESTS_SCALE`` = 8 [derived]: six faces fix the six parameters exactly (nothing left
  for the residual to check); two more rests tilted about different axes make every axis's
  pair of faces show in the residual.
- ``SPREAD_MIN`` = 0.1 [assumption]: the worst-observed direction carries at least 30 % of
  the isotropic share (1/3); rests in one plane give 0.
- ``SPREAD_SCALE_MIN`` = 0.02 [assumption]: six faces give 1/3, six faces and two tilts 0.25;
  rests all on one side of an axis give < 0.003 (that axis's offset and scale are then
  indistinguishable).
- ``SCALE_TOL`` = 1 % [src]: the accelerometer's sensitivity tolerance;
  ``LEVERAGE_MAX_MG`` = 5 mg [derived]: the 5 mg goal. Six faces within 5 deg of true give
  at most 3.5 mg, with one random seventh rest 4.8 mg (500 draws each).
- ``RESIDUAL_MAX_MG`` = 15 mg [derived]: the offset model leaves the scale errors in the
  residual, about ``g |k - 1|``, 10 mg at the 1 % sensitivity tolerance.
- ``RESIDUAL_MAX_SCALE_MG`` = 5 mg [assumption]: with the scales fitted what remains is
  noise (< 0.1 mg), offset drift with temperature and axis non-orthogonality (``g d / 2`` at
  45 deg: 2.5 mg at d = 0.5 %).
- ``OFFSET_MAX_MG`` = 150 mg [derived]: 7.5 times the 20 mg typical zero-g offset.
- ``SCALE_MAX`` = 5 % [derived]: 5 times the 1 % sensitivity tolerance.
- ``CHANGE_MIN_MG`` = 0.5 mg [assumption]: a tenth of the 5 mg goal;
  ``CHANGE_MIN_SCALE`` = 0.05 % [assumption]: 0.5 mg at 1 g.
- ``REFRESH_MIN_MG`` = 0.1 mg [assumption]: twice the noise of a 1.5 s rest mean
  (0.75 mg / sqrt(300) = 0.04 mg): the same attitude again without the board being moved.
- ``GN_ITERATIONS`` = 10 [assumption]: the problem is nearly linear, 2-3 steps converge;
  ``GN_TOL_M_S2`` = 1e-5 m/s^2 [assumption]: 1 ug, ten times float32's resolution at 1 g.

File
----
``path`` holds 38 bytes, little-endian: ``b"CXA1"``, u8 model (3 or 6 parameters), u8 rests,
u16 reserved (0), 3 x f32 offset (m/s^2, board axes), 3 x f32 scale, f32 residual RMS
(m/s^2), u16 CRC-16/CCITT-FALSE of the 36 bytes before it. Written to ``path + ".tmp"`` and
renamed over ``path`` (on a filesystem whose rename does not replace, the old file is removed
first and :meth:`AccCal.load` falls back to a complete ``.tmp``). A missing, corrupt or
implausible file means no calibration (logged); :meth:`AccCal.load` never raises.
"""

import math
import os
import struct
from array import array

import wire

TYPE_CHECKING = False
if TYPE_CHECKING:

    def const(x: int) -> int:
        return x

else:
    try:
        from micropython import const
    except ImportError:  # CPython

        def const(x):
            return x


SLOTS = 12
SLOT_SEPARATION_DEG = 25.0
BLOCK_S = 0.25
DELAY_BLOCKS = 2
MIN_BLOCKS = 2
CAP_S = 10.0
REST_NORM_TOL_G = 0.2
MIN_RESTS = 6
MIN_RESTS_SCALE = 8
SPREAD_MIN = 0.1
SPREAD_SCALE_MIN = 0.02
SCALE_TOL = 0.01
LEVERAGE_MAX_MG = 5.0
RESIDUAL_MAX_MG = 15.0
RESIDUAL_MAX_SCALE_MG = 5.0
OFFSET_MAX_MG = 150.0
SCALE_MAX = 0.05
CHANGE_MIN_MG = 0.5
REFRESH_MIN_MG = 0.1
CHANGE_MIN_SCALE = 0.0005
GN_ITERATIONS = 10
GN_TOL_M_S2 = 1e-5

FILE_MAGIC = b"CXA1"
FILE_BYTES = 38

# reasons (``AccCal.reason``)
OK = 0
"""The last fit was accepted and is in use."""
FEW = 1
"""Fewer than ``MIN_RESTS`` rest directions."""
SPREAD = 2
"""The rest directions do not span all three axes."""
NO_CONVERGENCE = 3
"""Gauss-Newton did not converge (or its equations were singular)."""
RESIDUAL = 4
"""The residual RMS is above the threshold of the model."""
OFFSET = 5
"""The fitted offset is implausibly large."""
SCALE = 6
"""A fitted scale is implausibly far from 1."""
UNCHANGED = 7
"""Accepted, but within ``CHANGE_MIN_*`` of the calibration in use: kept as it was."""
LEVERAGE = 8
"""Offset model only, and the rests so lopsided that scale errors could move the offset."""

_REST_MASK = const(0x0D)  # AT_REST | ACC_CLIPPED | FILTER_RESET
_AT_REST = const(0x01)
_SUM_MAX = const(32000)  # committed samples per rest at most (sums stay below 2**30)
_MG = 1000.0 / 9.80665  # mg per m/s^2 (standard gravity)


def _min_eig3(m):
    """Smallest eigenvalue of the symmetric 3 x 3 matrix in ``m[0:9]`` (row-major), closed
    form (trigonometric solution of the characteristic cubic)."""
    a00 = m[0]
    a11 = m[4]
    a22 = m[8]
    a01 = m[1]
    a02 = m[2]
    a12 = m[5]
    p1 = a01 * a01 + a02 * a02 + a12 * a12
    q = (a00 + a11 + a22) / 3.0
    d0 = a00 - q
    d1 = a11 - q
    d2 = a22 - q
    p2 = d0 * d0 + d1 * d1 + d2 * d2 + 2.0 * p1
    if p2 <= 1e-30:
        return q  # a multiple of the identity
    p = math.sqrt(p2 / 6.0)
    # det((A - q I) / p) / 2
    r = (
        d0 * (d1 * d2 - a12 * a12) - a01 * (a01 * d2 - a12 * a02) + a02 * (a01 * a12 - d1 * a02)
    ) / (2.0 * p * p * p)
    if r >= 1.0:
        phi = 0.0
    elif r <= -1.0:
        phi = math.pi / 3.0
    else:
        phi = math.acos(r) / 3.0
    return q + 2.0 * p * math.cos(phi + 2.0 * math.pi / 3.0)


def _above(a, n, t):
    """True if every eigenvalue of the symmetric ``n x n`` matrix in ``a`` (row-major;
    destroyed) exceeds ``t``: Cholesky of ``a - t I`` finds only positive pivots."""
    for i in range(n):
        a[i * n + i] -= t
    for c in range(n):
        d = a[c * n + c]
        for k in range(c):
            d -= a[c * n + k] * a[c * n + k]
        if not d > 0.0:
            return False
        d = math.sqrt(d)
        a[c * n + c] = d
        for r in range(c + 1, n):
            v = a[r * n + c]
            for k in range(c):
                v -= a[r * n + k] * a[c * n + k]
            a[r * n + c] = v / d
    return True


def _solve(h, p):
    """Solve the ``p x p`` system in the augmented row-major ``p x (p + 1)`` array ``h`` in
    place (partial pivoting); the solution ends up in column ``p``. False if singular."""
    w = p + 1
    for c in range(p):
        best = c
        big = abs(h[c * w + c])
        for r in range(c + 1, p):
            v = abs(h[r * w + c])
            if v > big:
                big = v
                best = r
        if big < 1e-9:
            return False
        if best != c:
            for k in range(c, w):
                v = h[c * w + k]
                h[c * w + k] = h[best * w + k]
                h[best * w + k] = v
        piv = h[c * w + c]
        for r in range(c + 1, p):
            f = h[r * w + c] / piv
            if f != 0.0:
                for k in range(c, w):
                    h[r * w + k] -= f * h[c * w + k]
    for c in range(p - 1, -1, -1):
        v = h[c * w + p]
        for k in range(c + 1, p):
            v -= h[c * w + k] * h[k * w + p]
        h[c * w + p] = v / h[c * w + c]
    return True


class AccCal:
    """Collects rests, fits and keeps the accelerometer calibration.

    Parameters
    ----------
    path : str or None
        Calibration file (None: nothing is read or written; tests).
    log : callable or None
        ``log(text)`` for the board's log (``RingLog.write``).
    gravity_m_s2 : float
        ``g``, m/s^2. Default 9.80665 [src] standard gravity.

    Attributes
    ----------
    valid : bool
        A calibration is in use.
    offset_m_s2 : array('f', 3)
        The offset ``b`` in use, m/s^2, board axes (0 without calibration).
    scale : array('f', 3)
        The per-axis scale ``k`` in use (1 without calibration or with the offset model).
    model : int
        Parameters of the calibration in use: 0 (none), 3 (offset) or 6 (offset and scale).
    rests_used : int
        Rests the calibration in use was fitted on.
    residual_m_s2 : float
        Its residual RMS, m/s^2.
    slots : int
        Rest directions held now.
    reason : int
        Outcome of the latest fit (``OK``, ``FEW``, ``SPREAD``, ...).
    fit_offset_m_s2, fit_scale : array('f', 3)
        Parameters of the latest fit (accepted or not).
    fit_residual_m_s2 : float
        Its residual RMS, m/s^2.
    fit_model : int
        Its model (3 or 6; 0 before any fit).
    spread : float
        Smallest eigenvalue of the latest fit's direction scatter (0 when not computed).
    leverage_mg : float
        The latest offset-model fit's bound on the offset error that scale errors of
        ``SCALE_TOL`` could cause, mg (0 when not computed).
    rests_seen, rests_ignored, rests_same, fits, accepted, saves : int
        Counters: rests handed over, rests ignored for their norm, rests within
        ``REFRESH_MIN_MG`` of their slot (no fit), fits run, calibrations accepted (and
        applied), files written.
    load_error : str or None
        Why the file was not used at :meth:`load` (None when loaded or absent).
    save_error : str or None
        Why the last write failed (None when it worked).
    """

    def __init__(self, path=None, log=None, gravity_m_s2=9.80665):
        if not gravity_m_s2 > 0:
            raise ValueError("gravity_m_s2 must be positive")
        self.path = path
        self._log = log
        self._g = gravity_m_s2
        self.valid = False
        self.offset_m_s2 = array("f", [0.0, 0.0, 0.0])
        self.scale = array("f", [1.0, 1.0, 1.0])
        self.model = 0
        self.rests_used = 0
        self.residual_m_s2 = 0.0
        self.fit_offset_m_s2 = array("f", [0.0, 0.0, 0.0])
        self.fit_scale = array("f", [1.0, 1.0, 1.0])
        self.fit_residual_m_s2 = 0.0
        self.fit_model = 0
        self.spread = 0.0
        self.leverage_mg = 0.0
        self.reason = FEW
        self._logged_reason = -1
        self.rests_seen = 0
        self.rests_ignored = 0
        self.rests_same = 0
        self.fits = 0
        self.accepted = 0
        self.saves = 0
        self.load_error = None
        self.save_error = None
        # slots: mean specific force per rest direction, m/s^2, board axes. Lists of floats
        # rather than array('f'): reading an item allocates nothing on MicroPython
        self._sx = [0.0] * SLOTS
        self._sy = [0.0] * SLOTS
        self._sz = [0.0] * SLOTS
        self.slots = 0
        self._cos_sep = math.cos(SLOT_SEPARATION_DEG * math.pi / 180.0)
        # fit scratch (lists of floats, allocated once)
        self._mom = [0.0] * 27
        self._m6 = [0.0] * 36
        self._h = [0.0] * 42
        self._j = [0.0] * 6
        self._q = [0.0] * 6
        self._file = bytearray(FILE_BYTES)
        # per-sample collection (ints); see start()
        self._pb = [0] * (3 * DELAY_BLOCKS)
        self._sc = [0.0, 0.0, 0.0]
        self._ready = False
        self._rx = 0
        self._ry = 0
        self._rz = 0
        self._rn = 0
        self._fit_due = False
        self.start(200, 0.0, 0.0, 0.0)

    # ------------------------------------------------------------------------------------
    # per sample
    # ------------------------------------------------------------------------------------
    def start(self, rate_hz, sx, sy, sz):
        """(Re)start collecting at ``rate_hz`` with the signed board-axis scales ``sx, sy,
        sz`` (m/s^2 per count of the values :meth:`add` gets); a rest in progress is dropped.
        """
        if rate_hz <= 0:
            raise ValueError("rate_hz must be positive")
        block = int(rate_hz * BLOCK_S + 0.5)
        self._block = block if block > 0 else 1
        cap = int(rate_hz * CAP_S + 0.5)
        self._cap = cap if cap < _SUM_MAX else _SUM_MAX
        self._sc[0] = sx
        self._sc[1] = sy
        self._sc[2] = sz
        self._clear()

    def _clear(self):
        self._active = False
        self._done = False
        self._bx = 0
        self._by = 0
        self._bz = 0
        self._bn = 0
        self._ph = 0
        self._pn = 0
        self._cx = 0
        self._cy = 0
        self._cz = 0
        self._cn = 0

    def add(self, flags, x, y, z):
        """One sample: its wire flags and its raw accelerometer counts ``x, y, z`` (board
        axes, calibration not applied). Integer arithmetic only; nothing allocated."""
        if flags & _REST_MASK != _AT_REST:
            if self._active:
                self._end_rest()
            return
        if self._done:
            return
        self._active = True
        self._bx += x
        self._by += y
        self._bz += z
        n = self._bn + 1
        self._bn = n
        if n >= self._block:
            self._close_block()

    def _close_block(self):
        pb = self._pb
        o = 3 * self._ph
        if self._pn == DELAY_BLOCKS:
            # the oldest delayed block is old enough to count
            self._cx += pb[o]
            self._cy += pb[o + 1]
            self._cz += pb[o + 2]
            self._cn += self._block
        else:
            self._pn += 1
        pb[o] = self._bx
        pb[o + 1] = self._by
        pb[o + 2] = self._bz
        h = self._ph + 1
        self._ph = h if h < DELAY_BLOCKS else 0
        self._bx = 0
        self._by = 0
        self._bz = 0
        self._bn = 0
        if self._cn >= self._cap:
            self._hand_over()
            self._done = True  # the rest goes on; this one has been counted

    def _end_rest(self):
        if self._cn >= MIN_BLOCKS * self._block:
            self._hand_over()
        self._clear()

    def _hand_over(self):
        self._rx = self._cx
        self._ry = self._cy
        self._rz = self._cz
        self._rn = self._cn
        self._ready = True
        self._cx = 0
        self._cy = 0
        self._cz = 0
        self._cn = 0

    # ------------------------------------------------------------------------------------
    # outside the sampling path
    # ------------------------------------------------------------------------------------
    def process(self):
        """Store a finished rest and refit if due; True when a new calibration was accepted
        (the caller applies ``offset_m_s2`` and ``scale``). Allocates float temporaries."""
        if self._ready:
            self._ready = False
            sc = self._sc
            n = self._rn
            self.add_rest(self._rx * sc[0] / n, self._ry * sc[1] / n, self._rz * sc[2] / n)
        if not self._fit_due:
            return False
        self._fit_due = False
        self.fits += 1
        code = self._fit()
        if code == OK:
            code = self._accept()
        self.reason = code
        if code == OK:
            return True
        if code == UNCHANGED:
            self._logged_reason = OK  # the next refusal is news again
            return False
        if code != FEW and code != self._logged_reason:
            self._logged_reason = code
            self._say("acc cal: not fitted: " + self._why(code))
        return False

    def add_rest(self, ax, ay, az):
        """Store the mean specific force of one rest (m/s^2, board axes, no calibration
        applied) in a slot (see the module docstring) and mark a fit as due."""
        self.rests_seen += 1
        g = self._g
        n = math.sqrt(ax * ax + ay * ay + az * az)
        if not (abs(n - g) <= REST_NORM_TOL_G * g):  # also NaN
            self.rests_ignored += 1
            self._say("acc cal: rest ignored: |a| = %.3f g" % (n / g))
            return
        sx = self._sx
        sy = self._sy
        sz = self._sz
        used = self.slots
        best = -1
        best_cos = -2.0
        for i in range(used):
            c = (ax * sx[i] + ay * sy[i] + az * sz[i]) / (
                n * math.sqrt(sx[i] * sx[i] + sy[i] * sy[i] + sz[i] * sz[i])
            )
            if c > best_cos:
                best_cos = c
                best = i
        if best >= 0 and best_cos >= self._cos_sep:
            i = best  # the same attitude again: refresh
            d = REFRESH_MIN_MG / _MG
            if abs(ax - sx[i]) < d and abs(ay - sy[i]) < d and abs(az - sz[i]) < d:
                self.rests_same += 1  # not moved since: a fit would give the same
                return
        elif used < SLOTS:
            i = used
            self.slots = used + 1
            more = ""
            if used + 1 < MIN_RESTS:
                more = "; %d more needed" % (MIN_RESTS - used - 1)
            self._say(
                "acc cal: rest direction %d at (%.3f, %.3f, %.3f) g%s"
                % (used + 1, ax / g, ay / g, az / g, more)
            )
        else:
            i = self._most_redundant()
        sx[i] = ax
        sy[i] = ay
        sz[i] = az
        self._fit_due = True

    def _most_redundant(self):
        """The slot whose nearest other slot is closest (largest cosine)."""
        sx = self._sx
        sy = self._sy
        sz = self._sz
        worst = 0
        worst_cos = -2.0
        for i in range(self.slots):
            ni = math.sqrt(sx[i] * sx[i] + sy[i] * sy[i] + sz[i] * sz[i])
            for j in range(self.slots):
                if j != i:
                    nj = math.sqrt(sx[j] * sx[j] + sy[j] * sy[j] + sz[j] * sz[j])
                    c = (sx[i] * sx[j] + sy[i] * sy[j] + sz[i] * sz[j]) / (ni * nj)
                    if c > worst_cos:
                        worst_cos = c
                        worst = i
        return worst

    def _fit(self):
        """Fit the slots into ``fit_*``; return ``OK`` or the reason for refusing."""
        n = self.slots
        self.spread = 0.0
        self.leverage_mg = 0.0
        self.fit_model = 0
        if n < MIN_RESTS:
            return FEW
        g = self._g
        mom = self._mom
        # 1. spread of the directions
        self._moments()
        self.spread = _min_eig3(mom)
        if self.spread < SPREAD_MIN:
            return SPREAD
        # 2. model: the information matrix of (u, u^2) is [[S, T], [T^T, U]]
        p = 3
        if n >= MIN_RESTS_SCALE:
            m6 = self._m6
            for a in range(3):
                for b in range(3):
                    m6[6 * a + b] = mom[3 * a + b]  # S
                    m6[6 * a + 3 + b] = mom[9 + 3 * a + b]  # T
                    m6[6 * (3 + b) + a] = mom[9 + 3 * a + b]  # T^T
                    m6[6 * (3 + a) + 3 + b] = mom[18 + 3 * a + b]  # U
            if _above(m6, 6, SPREAD_SCALE_MIN):
                p = 6
        self.fit_model = p
        # 3. balance (offset model only)
        if p == 3:
            self.leverage_mg = self._leverage() * SCALE_TOL * g * _MG
            if not self.leverage_mg <= LEVERAGE_MAX_MG:
                return LEVERAGE
        # 4. Gauss-Newton: q = (b, kappa), k = 1 + kappa / g
        q = self._q
        h = self._h
        w = p + 1
        for k in range(6):
            q[k] = 0.0
        converged = False
        for _ in range(GN_ITERATIONS):
            for k in range(p * w):
                h[k] = 0.0
            self._residuals(n, p, True)
            for a in range(p):
                for b in range(a):
                    h[a * w + b] = h[b * w + a]
            if not _solve(h, p):
                return NO_CONVERGENCE
            step = 0.0
            for a in range(p):
                d = h[a * w + p]
                q[a] += d
                if abs(d) > step:
                    step = abs(d)
            if step < GN_TOL_M_S2:
                converged = True
                break
        if not converged:
            return NO_CONVERGENCE
        sse = self._residuals(n, p, False)
        self.fit_residual_m_s2 = math.sqrt(sse / n)
        bn2 = 0.0
        for k in range(3):
            self.fit_offset_m_s2[k] = q[k]
            self.fit_scale[k] = 1.0 + q[3 + k] / g
            bn2 += q[k] * q[k]
        limit = RESIDUAL_MAX_SCALE_MG if p == 6 else RESIDUAL_MAX_MG
        if not self.fit_residual_m_s2 * _MG <= limit:
            return RESIDUAL
        if not math.sqrt(bn2) * _MG <= OFFSET_MAX_MG:
            return OFFSET
        for k in range(3):
            if not abs(self.fit_scale[k] - 1.0) <= SCALE_MAX:
                return SCALE
        return OK

    def _moments(self):
        """Second to fourth moments of the slots' directions ``u`` into ``_mom`` (row-major
        3 x 3 each): ``S = (1/N) sum u u^T`` at 0, ``T = (1/N) sum u (u^2)^T`` at 9,
        ``U = (1/N) sum u^2 (u^2)^T`` at 18."""
        n = self.slots
        sx = self._sx
        sy = self._sy
        sz = self._sz
        # one pass with local sums (on MicroPython every float operation allocates; reads of
        # list items and local variables do not)
        s_xx = s_xy = s_xz = s_yy = s_yz = s_zz = 0.0
        t_xx = t_xy = t_xz = t_yx = t_yy = t_yz = t_zx = t_zy = t_zz = 0.0
        u_xx = u_xy = u_xz = u_yy = u_yz = u_zz = 0.0
        for i in range(n):
            x = sx[i]
            y = sy[i]
            z = sz[i]
            r = 1.0 / math.sqrt(x * x + y * y + z * z)
            x *= r
            y *= r
            z *= r
            xx = x * x
            yy = y * y
            zz = z * z
            s_xx += xx
            s_xy += x * y
            s_xz += x * z
            s_yy += yy
            s_yz += y * z
            s_zz += zz
            t_xx += x * xx
            t_xy += x * yy
            t_xz += x * zz
            t_yx += y * xx
            t_yy += y * yy
            t_yz += y * zz
            t_zx += z * xx
            t_zy += z * yy
            t_zz += z * zz
            u_xx += xx * xx
            u_xy += xx * yy
            u_xz += xx * zz
            u_yy += yy * yy
            u_yz += yy * zz
            u_zz += zz * zz
        mom = self._mom
        mom[0] = s_xx / n
        mom[1] = mom[3] = s_xy / n
        mom[2] = mom[6] = s_xz / n
        mom[4] = s_yy / n
        mom[5] = mom[7] = s_yz / n
        mom[8] = s_zz / n
        mom[9] = t_xx / n
        mom[10] = t_xy / n
        mom[11] = t_xz / n
        mom[12] = t_yx / n
        mom[13] = t_yy / n
        mom[14] = t_yz / n
        mom[15] = t_zx / n
        mom[16] = t_zy / n
        mom[17] = t_zz / n
        mom[18] = u_xx / n
        mom[19] = mom[21] = u_xy / n
        mom[20] = mom[24] = u_xz / n
        mom[22] = u_yy / n
        mom[23] = mom[25] = u_yz / n
        mom[26] = u_zz / n

    def _leverage(self):
        """``max_j sum_k |L_jk|`` of ``L = S^-1 T`` from ``_mom`` (see the module
        docstring)."""
        mom = self._mom
        h = self._h
        j = self._j
        for a in range(3):
            j[a] = 0.0
        for c in range(3):
            for a in range(3):
                for b in range(3):
                    h[4 * a + b] = mom[3 * a + b]
                h[4 * a + 3] = mom[9 + 3 * a + c]
            if not _solve(h, 3):
                return 1e9
            for a in range(3):
                j[a] += abs(h[4 * a + 3])
        big = j[0]
        if j[1] > big:
            big = j[1]
        if j[2] > big:
            big = j[2]
        return big

    def _residuals(self, n, p, normal):
        """Sum of squared residuals at ``_q``; with ``normal``, also accumulate the upper
        triangle of ``J^T J`` and ``-J^T r`` into ``_h`` (``p`` parameters)."""
        g = self._g
        sx = self._sx
        sy = self._sy
        sz = self._sz
        q = self._q
        j = self._j
        h = self._h
        w = p + 1
        bx = q[0]
        by = q[1]
        bz = q[2]
        kx = 1.0 + q[3] / g
        ky = 1.0 + q[4] / g
        kz = 1.0 + q[5] / g
        gi = 1.0 / g
        sse = 0.0
        for i in range(n):
            dx = sx[i] - bx
            dy = sy[i] - by
            dz = sz[i] - bz
            cx = kx * dx
            cy = ky * dy
            cz = kz * dz
            nn = math.sqrt(cx * cx + cy * cy + cz * cz)
            r = nn - g
            sse += r * r
            if normal:
                t = 1.0 / nn
                j[0] = -kx * cx * t
                j[1] = -ky * cy * t
                j[2] = -kz * cz * t
                if p == 6:
                    t *= gi
                    j[3] = dx * cx * t
                    j[4] = dy * cy * t
                    j[5] = dz * cz * t
                for a in range(p):
                    ja = j[a]
                    o = a * w
                    for b in range(a, p):
                        h[o + b] += ja * j[b]
                    h[o + p] -= ja * r
        return sse

    def _accept(self):
        """The fit passed: take it unless it is within the change thresholds of the
        calibration in use; write the file and log. Returns ``OK`` or ``UNCHANGED``."""
        fo = self.fit_offset_m_s2
        fs = self.fit_scale
        if self.valid:
            same = True
            for k in range(3):
                if abs(fo[k] - self.offset_m_s2[k]) * _MG > CHANGE_MIN_MG:
                    same = False
                if abs(fs[k] - self.scale[k]) > CHANGE_MIN_SCALE:
                    same = False
            if same:
                return UNCHANGED
        for k in range(3):
            self.offset_m_s2[k] = fo[k]
            self.scale[k] = fs[k]
        self.valid = True
        self.model = self.fit_model
        self.rests_used = self.slots
        self.residual_m_s2 = self.fit_residual_m_s2
        self.accepted += 1
        self._logged_reason = OK
        saved = "not saved (no file)"
        if self.path is not None:
            try:
                self.save()
                saved = "saved"
            except OSError as e:
                self.save_error = repr(e)
                saved = "not saved: %r" % (e,)
        self._say("acc cal: accepted " + self.describe() + "; " + saved)
        return OK

    # ------------------------------------------------------------------------------------
    # file
    # ------------------------------------------------------------------------------------
    def describe(self):
        """One line about the calibration in use (offset in mg, scale in %, rests, residual)."""
        if not self.valid:
            return "none"
        o = self.offset_m_s2
        k = self.scale
        return (
            "offset (%+.1f, %+.1f, %+.1f) mg, scale (%+.2f, %+.2f, %+.2f) %%, "
            "%s fit on %d rests, residual %.1f mg RMS"
        ) % (
            o[0] * _MG,
            o[1] * _MG,
            o[2] * _MG,
            (k[0] - 1.0) * 100.0,
            (k[1] - 1.0) * 100.0,
            (k[2] - 1.0) * 100.0,
            "offset+scale" if self.model == 6 else "offset",
            self.rests_used,
            self.residual_m_s2 * _MG,
        )

    def save(self):
        """Write the calibration in use to ``path`` atomically (temporary file, rename).
        Raises OSError when the filesystem fails (the previous file then stays intact)."""
        if self.path is None or not self.valid:
            raise OSError("nothing to save")
        b = self._file
        b[0:4] = FILE_MAGIC
        o = self.offset_m_s2
        k = self.scale
        struct.pack_into(
            "<BBHfffffff",
            b,
            4,
            self.model,
            self.rests_used if self.rests_used < 255 else 255,
            0,
            o[0],
            o[1],
            o[2],
            k[0],
            k[1],
            k[2],
            self.residual_m_s2,
        )
        struct.pack_into("<H", b, 36, wire.crc16_ccitt_false(b, 0xFFFF, 36))
        tmp = self.path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(b)
        try:
            os.rename(tmp, self.path)  # replaces the old file (POSIX, littlefs)
        except OSError:
            # a filesystem whose rename does not replace (FAT): load() falls back to the
            # complete .tmp if we stop between these two calls
            os.remove(self.path)
            os.rename(tmp, self.path)
        self.save_error = None
        self.saves += 1

    def load(self):
        """Read ``path`` (or a complete ``path + ".tmp"`` left by an interrupted save) and
        use it; True if a calibration is now in use. Never raises: a missing file means no
        calibration, a corrupt or implausible one too (``load_error``, logged)."""
        self.valid = False
        self.model = 0
        self.load_error = None
        for k in range(3):
            self.offset_m_s2[k] = 0.0
            self.scale[k] = 1.0
        if self.path is None:
            return False
        used = self.path
        err = self._read(used)
        if err == "missing":
            used = self.path + ".tmp"
            err = self._read(used)
            if err == "missing":
                self._say("acc cal: none (no file %s)" % self.path)
                return False
        if err is not None:
            self.load_error = err
            self._say("acc cal: file %s ignored (%s); no calibration" % (used, err))
            return False
        self._say("acc cal: loaded %s from %s" % (self.describe(), used))
        return True

    def _read(self, path):
        """Use the file at ``path``; None on success, else why not ("missing" if absent)."""
        try:
            with open(path, "rb") as f:
                data = f.read(FILE_BYTES + 1)
        except OSError:
            return "missing"
        if len(data) != FILE_BYTES:
            return "length %d, not %d" % (len(data), FILE_BYTES)
        if data[0:4] != FILE_MAGIC:
            return "bad magic"
        if struct.unpack_from("<H", data, 36)[0] != wire.crc16_ccitt_false(data, 0xFFFF, 36):
            return "bad CRC"
        v = struct.unpack_from("<BBHfffffff", data, 4)
        model = v[0]
        if model != 3 and model != 6:
            return "unknown model %d" % model
        bn2 = v[3] * v[3] + v[4] * v[4] + v[5] * v[5]
        if not math.sqrt(bn2) * _MG <= OFFSET_MAX_MG:  # also NaN
            return "implausible offset"
        for k in range(3):
            if not abs(v[6 + k] - 1.0) <= SCALE_MAX:
                return "implausible scale"
        if not 0.0 <= v[9] < 1.0:
            return "implausible residual"
        for k in range(3):
            self.offset_m_s2[k] = v[3 + k]
            self.scale[k] = v[6 + k]
        self.model = model
        self.rests_used = v[1]
        self.residual_m_s2 = v[9]
        self.valid = True
        return None

    # ------------------------------------------------------------------------------------
    def _why(self, code):
        if code == FEW:
            return "%d rest directions, %d needed" % (self.slots, MIN_RESTS)
        if code == SPREAD:
            return (
                "the %d rests span too few directions (smallest eigenvalue of their "
                "scatter %.3f < %.2f): rest the board on its other faces too"
                % (self.slots, self.spread, SPREAD_MIN)
            )
        if code == NO_CONVERGENCE:
            return "the fit did not converge"
        if code == LEVERAGE:
            return (
                "the %d rests are lopsided: a %.0f %% scale error could move the offset by "
                "%.1f mg (> %.0f mg): rest the board on opposite faces too"
                % (self.slots, SCALE_TOL * 100.0, self.leverage_mg, LEVERAGE_MAX_MG)
            )
        if code == RESIDUAL:
            return "residual %.1f mg RMS over %d rests too large for the %s model (> %.0f mg)" % (
                self.fit_residual_m_s2 * _MG,
                self.slots,
                "offset+scale" if self.fit_model == 6 else "offset",
                RESIDUAL_MAX_SCALE_MG if self.fit_model == 6 else RESIDUAL_MAX_MG,
            )
        if code == OFFSET:
            o = self.fit_offset_m_s2
            return "offset (%.1f, %.1f, %.1f) mg implausible (> %.0f mg)" % (
                o[0] * _MG,
                o[1] * _MG,
                o[2] * _MG,
                OFFSET_MAX_MG,
            )
        k = self.fit_scale
        return "scale (%.2f, %.2f, %.2f) %% implausible (> %.0f %%)" % (
            (k[0] - 1.0) * 100.0,
            (k[1] - 1.0) * 100.0,
            (k[2] - 1.0) * 100.0,
            SCALE_MAX * 100.0,
        )

    def _say(self, text):
        log = self._log
        if log is not None:
            log(text)
