#!/bin/sh
# PID 1 of the ble-vm guest (exec'd by /sbin/solarmon-init once the share is mounted).
# No systemd: mount what the tests need, load the Bluetooth modules, start the system bus,
# run the guest pytest session under a timeout, hand results back, power off.
# The simulated peripherals start here (early, see below); bluetoothd, mosquitto and the
# collector are started by the tests' fixtures, which also set the faults.
export PATH=/opt/venv/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8
# Byte-code goes to tmpfs (the share is read-only): compiled once per boot, not per process.
export PYTHONPATH=/mnt/share/src PYTHONPYCACHEPREFIX=/tmp/pycache SOLARMON_BLEVM_GUEST=1
OUT=/mnt/out

mkdir -p /dev/pts /dev/shm /mnt/out
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
mount -t 9p -o trans=virtio,version=9p2000.L out "$OUT"
hostname blevm
ip link set lo up
modprobe bluetooth && modprobe hci_vhci || echo "guest: cannot load bluetooth modules" >&2
mkdir -p /run/dbus
dbus-daemon --system --fork
echo "guest: ready for tests after $(cut -d' ' -f1 /proc/uptime) s"

cd /mnt/share
# Start the simulated peripherals and btmon now: their ~15 s of Python start-up under software
# emulation overlaps pytest's own. The radio fixture waits for READY, then starts bluetoothd.
export BLEVM_SIM_CONFIG=/mnt/share/tests/blevm/guest/sim.json BLEVM_SIM_CONTROL=/run/sim.sock
export BLEVM_SIM_READY=/run/sim.ready
btmon -T > "$OUT/btmon.log" 2>&1 &
python -m solarmon simulate --ble --config "$BLEVM_SIM_CONFIG" --control "$BLEVM_SIM_CONTROL" \
    > "$BLEVM_SIM_READY" 2> "$OUT/simulate.log" &
# -p no:cacheprovider: the share is read-only. Extra arguments come one per line in $OUT/args.
set --
while IFS= read -r arg; do [ -n "$arg" ] && set -- "$@" "$arg"; done < "$OUT/args"
{
    timeout -k 15 "${BLEVM_TIMEOUT:-300}" python -m pytest -p no:cacheprovider -m blevm \
        --junitxml="$OUT/junit.xml" -o junit_family=xunit2 tests/blevm/guest "$@"
    echo $? > /tmp/rc
} 2>&1 | tee "$OUT/pytest.log"
cp /tmp/rc "$OUT/rc"
dmesg > "$OUT/dmesg.log" 2>&1
echo "guest: done after $(cut -d' ' -f1 /proc/uptime) s, pytest exit $(cat /tmp/rc)"
sync
echo o > /proc/sysrq-trigger
sleep 30
