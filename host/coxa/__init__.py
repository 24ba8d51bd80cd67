"""coxa: wearable IMU measurement of femoral rotation and hip internal rotation.

The package is organised by layer (see ``docs/`` and the design notes):

- :mod:`coxa.wire` -- the wire protocol v1, shared verbatim with the board firmware;
- :mod:`coxa.geometry` -- quaternions (scalar-first ``wxyz``) and ISB joint angles;
- :mod:`coxa.sim` -- ground-truth motion, IMU synthesis and virtual boards;
- :mod:`coxa.sources` -- the host side of board links (packets to decoded frames);
- :mod:`coxa.fusion` -- the fusion core: clocks, calibration, heading, joint angles;
- :mod:`coxa.analysis` -- reps and per-rep metrics;
- :mod:`coxa.cli` -- the ``coxa`` command.
"""

__version__ = "0.1.0"
