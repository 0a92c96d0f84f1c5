/*
 * plugin: load device plugins (dlopen), check their ABI, create one
 * instance per [device] section, and carry their events to the loop.
 * Events from plugin threads land in a bounded queue and wake the loop
 * through an eventfd; plug_drain() hands them out on the loop thread.
 */
#ifndef WICKET_PLUGIN_HOST_H
#define WICKET_PLUGIN_HOST_H

#include <stdint.h>

#include <wicket/plugin.h>

#include "config.h"

struct plugins;

/* dlopen every plugin the config names, check its ABI, create every
 * instance (which checks the device's keys) and check that each lane's
 * devices provide what the lane needs.  Same return convention as
 * conf_load: 0, a count of reported errors, or -errno. */
int plug_open(const struct conf *c, struct plugins **out, conf_error_fn err,
	      void *ctx);
int plug_start(struct plugins *pl);
void plug_stop(struct plugins *pl);
/* Stops if needed, destroys instances and unloads.  Accepts NULL. */
void plug_close(struct plugins *pl);

/* The eventfd to watch for EPOLLIN. */
int plug_event_fd(const struct plugins *pl);
/* code: a credential too long for ev->credential (emit_code, ABI 1.3),
 * NUL-terminated, valid during the call; NULL otherwise. */
typedef void (*plug_event_fn)(void *arg, int device, const struct wk_event *ev,
			      const char *code, size_t code_len);
/* Hand out every queued event, in order.  Returns how many. */
size_t plug_drain(struct plugins *pl, plug_event_fn fn, void *arg);
/* Events dropped because the queue was full, since start. */
uint64_t plug_dropped(struct plugins *pl);

/* WK_PROVIDES_* of that instance as configured (ABI 1.3), else of its
 * plugin. */
uint32_t plug_provides(const struct plugins *pl, int device);
int plug_command(struct plugins *pl, int device, const struct wk_command *cmd);
/* The device's health from its plugin (ABI 1.1).  0, or -ENOTSUP when the
 * plugin keeps none (*out is zeroed then). */
int plug_health(struct plugins *pl, int device, struct wk_health *out);

#endif
