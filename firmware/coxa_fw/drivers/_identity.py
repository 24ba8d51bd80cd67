"""Naming the chip that answered instead of the expected one (shared by the IMU drivers).

ST parts keep WHO_AM_I at 0x0F, InvenSense parts at 0x75. When a driver reads an unexpected
WHO_AM_I it also reads the other family's register, read-only, so the error can name the chip.
"""

ST_WHO_AM_I = 0x0F
INVENSENSE_WHO_AM_I = 0x75

# Chips that answer 0x0F or 0x75, to name what was found instead
ST_IDS = ((0x6C, "LSM6DSOX/LSM6DSO"), (0x6B, "ISM330DHCX/LSM6DSR"), (0x6A, "LSM6DSL/LSM6DSM"))
INVENSENSE_IDS = (
    (0x47, "ICM-42688-P"),
    (0x44, "ICM-42686-P"),
    (0x42, "ICM-42605"),
    (0x67, "ICM-42670-P"),
    (0x68, "MPU-6050"),
    (0x70, "MPU-6500"),
    (0x71, "MPU-9250"),
)


def lookup(table, value):
    """Name of ``value`` in a ``((id, name), ...)`` table, or None."""
    for known, name in table:
        if known == value:
            return name
    return None


def wrong_chip_message(read_u8, address, expected, own_reg, own_ids, who, other_reg, other_ids):
    """The ValueError message for an unexpected WHO_AM_I ``who`` read from ``own_reg``.

    ``read_u8(reg)`` reads one register of the device at ``address``; ``other_reg`` and
    ``other_ids`` are the other family's WHO_AM_I register and identities.
    """
    found = lookup(own_ids, who)
    if found is None:
        try:
            other = read_u8(other_reg)
        except OSError:
            other = None
        found = lookup(other_ids, other)
        if found is not None:
            found = "%s (WHO_AM_I[0x%02X] = 0x%02X)" % (found, other_reg, other)
    if found is None:
        found = "an unknown chip"
    return "no %s at I2C address 0x%02X: WHO_AM_I[0x%02X] = 0x%02X, found %s" % (
        expected,
        address,
        own_reg,
        who,
        found,
    )
