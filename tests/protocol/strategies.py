"""Hypothesis strategies for wire protocol v1 values and frames."""

from __future__ import annotations

from hypothesis import strategies as st

from coxa import wire

U8 = st.integers(0, 0xFF)
U16 = st.integers(0, 0xFFFF)
U32 = st.integers(0, 0xFFFFFFFF)
I16 = st.integers(-32768, 32767)
SEGMENTS = st.integers(0, len(wire.SEGMENT_CODES) - 1)
ATT_MTUS = st.integers(wire.MIN_ATT_MTU, wire.RECOMMENDED_ATT_MTU)
COUNTERS = st.integers(0, wire.PACKET_COUNTER_MODULO - 1)


@st.composite
def data_frames(
    draw: st.DrawFn, raw: bool | None = None, kind: int | None = None
) -> wire.DataFrame:
    """A valid data frame; mode (``raw``) and ``kind`` are drawn unless given."""
    if raw is None:
        raw = draw(st.booleans())
    if kind is None:
        kind = draw(st.sampled_from([wire.KIND_DATA_LIVE, wire.KIND_DATA_BACKFILL]))
    count = draw(st.integers(1, wire.samples_per_frame(raw)))
    return wire.DataFrame(
        kind,
        draw(U16),
        draw(U32),
        draw(U32),
        draw(st.integers(1, 0xFFFF)),
        draw(st.lists(I16, min_size=4 * count, max_size=4 * count)),
        draw(st.lists(I16, min_size=3 * count, max_size=3 * count)),
        draw(st.lists(st.integers(0, 15), min_size=count, max_size=count)),
        draw(st.lists(I16, min_size=3 * count, max_size=3 * count)) if raw else None,
    )


def _arg_values(specs: tuple[tuple[str, str, int, int], ...]) -> st.SearchStrategy[tuple[int, ...]]:
    return st.tuples(*(st.integers(low, high) for _, _, low, high in specs))


@st.composite
def commands(draw: st.DrawFn, opcode: int | None = None) -> wire.Command:
    """A valid command of the given (or any) opcode."""
    if opcode is None:
        opcode = draw(st.sampled_from(sorted(wire.COMMAND_ARGS)))
    args = draw(_arg_values(wire.COMMAND_ARGS[opcode]))
    return wire.Command(opcode, draw(U8), args)


@st.composite
def acks(draw: st.DrawFn, opcode: int | None = None, ok: bool | None = None) -> wire.Ack:
    """A valid ack: OK with the opcode's payload, or an error result (any opcode byte)."""
    if ok is None:
        ok = draw(st.booleans())
    if ok:
        if opcode is None:
            opcode = draw(st.sampled_from(sorted(wire.COMMAND_ARGS)))
        args = draw(_arg_values(wire.ACK_ARGS.get(opcode, ())))
        return wire.Ack(opcode, draw(U8), wire.RESULT_OK, args)
    result = draw(st.integers(wire.RESULT_BAD_ARGUMENT, wire.RESULT_UNAVAILABLE))
    return wire.Ack(draw(U8) if opcode is None else opcode, draw(U8), result)


@st.composite
def statuses(draw: st.DrawFn) -> wire.Status:
    """Any valid status frame."""
    return wire.Status(
        draw(U16),
        draw(SEGMENTS),
        draw(U8),
        draw(U8),
        draw(U8),
        draw(U16),
        draw(U16),
        draw(U16),
        draw(U32),
        draw(I16),
        draw(st.integers(wire.RATE_MIN_HZ, wire.RATE_MAX_HZ)),
        draw(st.sampled_from([wire.MODE_QUAT, wire.MODE_QUAT_RAW])),
        draw(st.integers(0, 0x3F)),
        draw(U32),
    )


def any_frame_objects() -> st.SearchStrategy[
    wire.DataFrame | wire.Command | wire.Ack | wire.Status
]:
    """Any valid frame object of any kind."""
    return st.one_of(data_frames(), commands(), acks(), statuses())


def any_frames() -> st.SearchStrategy[bytes]:
    """Encoded bytes of any valid frame."""
    return any_frame_objects().map(lambda f: f.encode())
