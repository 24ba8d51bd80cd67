"""IMU drivers over I2C: LSM6DSOX / ISM330DHCX and ICM-42688-P."""
