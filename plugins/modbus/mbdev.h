/*
 * mbdev: the Modbus TCP device worker shared by the Modbus plugins.
 *
 * One mbdev is one device: a worker thread that owns its modbus_t, runs
 * queued commands before anything else, polls on a fixed period, and turns
 * every failure into one fault spell (a WK_EV_DEVICE_FAULT when it starts,
 * a doubling retry gap up to backoff_max_ms, a WK_EV_DEVICE_OK when it ends).
 * A device kind (thermal, gate, reader) only supplies callbacks that talk
 * to the registers through the mbdev_* I/O helpers below.
 *
 * Threads: mbdev_new, mbdev_start, mbdev_submit, mbdev_stop and mbdev_free
 * run on the daemon's loop thread; the callbacks and the helpers marked
 * "worker" run on the worker thread only.
 */
#ifndef WICKET_MBDEV_H
#define WICKET_MBDEV_H

#include <stdint.h>

#include <wicket/plugin.h>

#include "mbmap.h"

struct mbdev;

struct mbdev_kind {
	/* After each (re)connect, before the next poll: forget what the
	 * device said before (sequence numbers).  May be NULL. */
	void (*reset)(void *arg);
	/* One poll cycle.  Returns 0, or the negative code of the mbdev_*
	 * helper that failed (which already recorded why). */
	int (*poll)(struct mbdev *d, void *arg);
	/* Run one command; the same return convention.  May be NULL if the
	 * kind takes no command (then the plugin never submits one). */
	int (*command)(struct mbdev *d, void *arg, const struct wk_command *cmd);
};

/* Allocate a stopped device (no thread, no connection).  arg is handed to
 * the kind's callbacks.  0 or -ENOMEM. */
int mbdev_new(const struct wk_host_api *host, struct wk_instance *inst,
	      const struct mb_link *link, const struct mbdev_kind *kind,
	      void *arg, struct mbdev **out);
/* Stop if running, then free; accepts NULL. */
void mbdev_free(struct mbdev *d);
/* Start the worker.  0 or -errno. */
int mbdev_start(struct mbdev *d);
/* Ask the worker to end and join it.  Returns within about timeout_ms even
 * when the device does not answer.  Queued commands are dropped (logged). */
void mbdev_stop(struct mbdev *d);
/* Queue a command for the worker; never blocks on the device.
 * -EAGAIN if not started, -ENOBUFS if the queue is full. */
int mbdev_submit(struct mbdev *d, const struct wk_command *cmd);

/* Worker: read n (1..64) registers or coils from addr.  0 or -errno; on
 * failure the connection is dropped and the reason recorded. */
int mbdev_read(struct mbdev *d, enum mb_table t, int addr, int n,
	       uint16_t *regs);
/* Worker: write one holding register / one coil.  As mbdev_read. */
int mbdev_write_register(struct mbdev *d, int addr, uint16_t value);
int mbdev_write_coil(struct mbdev *d, int addr, int on);
/* Worker: close and reconnect now (for a last-chance write).  0 or -errno. */
int mbdev_reconnect(struct mbdev *d);
/* Worker: the device answered but the kind refuses the value (garbage,
 * implausible).  Records the reason, keeps the connection; returns
 * -EBADMSG for the callback to pass on. */
int mbdev_reject(struct mbdev *d, const char *fmt, ...) WK_PRINTF(2, 3);
/* Worker: why the last helper failed. */
const char *mbdev_reason(const struct mbdev *d);
/* Worker: sleep ms, or less if stop is asked: then -ECANCELED. */
int mbdev_wait(struct mbdev *d, unsigned ms);
/* Worker: stamp ev with the wall clock and hand it to the host. */
void mbdev_emit(struct mbdev *d, struct wk_event *ev);
/* Any thread: log through the host. */
void mbdev_log(struct mbdev *d, int level, const char *fmt, ...)
	WK_PRINTF(3, 4);

/* A kind's register-map parser: mbmap_parse_thermal and friends, with the
 * map as void * so that one checker serves every kind. */
typedef int (*mbdev_map_parser)(const struct wk_conf *conf,
				unsigned char *used, void *map, mb_err_fn err,
				void *ctx);
/* Check a device's whole configuration: the link keys into *link, the
 * kind's own keys into *map, and no key left unknown.  Every error goes to
 * host->conf_error.  0, -EINVAL or -ENOMEM. */
int mbdev_parse_conf(const struct wk_host_api *host, struct wk_instance *inst,
		     const struct wk_conf *conf, struct mb_link *link,
		     mbdev_map_parser parse_map, void *map);

#endif
