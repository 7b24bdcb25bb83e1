#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Test objective: 77-qemu-migrate.sh with the VM's NIC on packed rings
# (packed=on): LOG_ALL with RING_PACKED is taken, and every page the switch
# writes (RX buffers, the used descriptors it writes back into the
# descriptor ring, the device event area) is in the dirty log, so the
# stream's hash still matches after the move under traffic.
MIG_PACKED=1 exec bash "$(dirname "$0")/77-qemu-migrate.sh" "$@"
