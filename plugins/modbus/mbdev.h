/*
 * mbdev: Modbus devices and the buses they share, for the Modbus plugins.
 *
 * One mbdev is one device (one slave id).  Devices on the same bus (one
 * serial line, or one TCP peer: mb_link) share one worker thread, the
 * bus's owner, which holds the only modbus_t of that bus.  The worker runs
 * queued commands ahead of every poll, then each device's poll when it is
 * due, each on its own period, and turns every failure into one fault
 * spell per device (a WK_EV_DEVICE_FAULT when it starts, a doubling retry
 * gap up to backoff_max_ms, a WK_EV_DEVICE_OK when it ends).  A device
 * kind (thermal, gate, reader) only supplies callbacks that talk to the
 * registers through the mbdev_* I/O helpers below.
 *
 * This code lives in libwicket-modbus.so, which every modbus-*.so plugin
 * links, so that a thermal sensor and a gate on one line find the same bus.
 *
 * Threads: mbdev_parse_conf, mbdev_new, mbdev_start, mbdev_submit,
 * mbdev_health, mbdev_stop and mbdev_free run on the daemon's loop thread;
 * the callbacks and the helpers marked "worker" run on the bus's worker
 * only.
 */
#ifndef WICKET_MBDEV_H
#define WICKET_MBDEV_H

#include <stdint.h>

#include <wicket/plugin.h>

#include "mbmap.h"

/* Command types from here up are a kind's own (mbdev_after), never the
 * host's. */
#define MBDEV_CMD_PRIVATE 0x10000u

struct mbdev;

struct mbdev_kind {
	/* Before the first poll after the bus (re)connected or the device
	 * came back from a fault spell: forget what the device said before
	 * (sequence numbers).  May be NULL. */
	void (*reset)(void *arg);
	/* One poll cycle.  Returns 0, or the negative code of the mbdev_*
	 * helper that failed (which already recorded why). */
	int (*poll)(struct mbdev *d, void *arg);
	/* Run one command (the host's or a private one from mbdev_after);
	 * the same return convention.  May be NULL if the kind takes no
	 * command (then the plugin never submits one). */
	int (*command)(struct mbdev *d, void *arg, const struct wk_command *cmd);
};

/* A kind's register-map parser: mbmap_parse_thermal and friends, with the
 * map as void * so that one checker serves every kind. */
typedef int (*mbdev_map_parser)(const struct wk_conf *conf,
				unsigned char *used, void *map, mb_err_fn err,
				void *ctx);
/* Check a device's whole configuration: the link keys into *link, the
 * kind's own keys into *map, no key left unknown, and the bus keys in
 * agreement with the other devices of this configuration on the same bus.
 * Every error goes to host->conf_error.  0, -EINVAL or -ENOMEM. */
int mbdev_parse_conf(const struct wk_host_api *host, struct wk_instance *inst,
		     const struct wk_conf *conf, struct mb_link *link,
		     mbdev_map_parser parse_map, void *map);

/* Allocate a stopped device (no thread, no connection) named name (the
 * [device] section, for messages).  arg is handed to the kind's callbacks.
 * 0 or -ENOMEM. */
int mbdev_new(const struct wk_host_api *host, struct wk_instance *inst,
	      const char *name, const struct mb_link *link,
	      const struct mbdev_kind *kind, void *arg, struct mbdev **out);
/* Stop if running, then free; accepts NULL. */
void mbdev_free(struct mbdev *d);
/* Join the device's bus (opening it and starting its worker if this is
 * the first device on it).  0 or -errno. */
int mbdev_start(struct mbdev *d);
/* Leave the bus: the device's queued and timed commands run first (a
 * relay is released), then no more polls.  The last device to leave a bus
 * stops its worker and closes it. */
void mbdev_stop(struct mbdev *d);
/* Queue a command; never blocks on the device.  -EAGAIN if not started,
 * -ENOBUFS if the bus's queue is full. */
int mbdev_submit(struct mbdev *d, const struct wk_command *cmd);
/* The device's counters and state, for the status. */
void mbdev_health(struct mbdev *d, struct wk_health *out);

/* Worker: read n (1..64) registers or coils from addr.  0 or -errno; on
 * failure the reason is recorded and counted. */
int mbdev_read(struct mbdev *d, enum mb_table t, int addr, int n,
	       uint16_t *regs);
/* Worker: write one holding register / one coil.  As mbdev_read. */
int mbdev_write_register(struct mbdev *d, int addr, uint16_t value);
int mbdev_write_coil(struct mbdev *d, int addr, int on);
/* Worker: close the bus's connection so that the next request opens a
 * fresh one (a last-chance write).  0 or -errno of the reconnect. */
int mbdev_reconnect(struct mbdev *d);
/* Worker: the device answered but the kind refuses the value (garbage,
 * implausible).  Records and counts the reason, keeps the connection;
 * returns -EBADMSG for the callback to pass on. */
int mbdev_reject(struct mbdev *d, const char *fmt, ...) WK_PRINTF(2, 3);
/* Worker: why the last helper failed. */
const char *mbdev_reason(const struct mbdev *d);
/* Worker: run cmd (a private type, >= MBDEV_CMD_PRIVATE) through the
 * kind's command callback in ms milliseconds, ahead of polls; on stop,
 * timed commands already scheduled run at once.  0, -ENOBUFS, or
 * -ECANCELED while the device is stopping (the caller does it now or never). */
int mbdev_after(struct mbdev *d, unsigned ms, const struct wk_command *cmd);
/* Worker: stamp ev with the wall clock and hand it to the host. */
void mbdev_emit(struct mbdev *d, struct wk_event *ev);
/* Any thread: log through the host. */
void mbdev_log(struct mbdev *d, int level, const char *fmt, ...)
	WK_PRINTF(3, 4);

#endif
