/*
 * plugin: the host side of include/wicket/plugin.h.
 *
 * A plugin file is <plugin_dir>/<name>.so exporting `wicket_plugin`.  Its
 * abi_major must equal ours; a smaller struct size than ours for the same
 * major means a broken build and is refused too.  The host API table is
 * static and shared by all instances; struct wk_instance is our record of
 * one device.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "log.h"
#include "plugin.h"

#define QUEUE_CAP 1024
/* Readings (credentials, temperatures) may fill the queue only up to
 * this far from full: a flood from one scanner must never crowd out a
 * fire alarm input, a door or a device fault. */
#define QUEUE_RESERVE 128
/* The descriptor's size at ABI 1.0.  Later minors append fields, so a
 * plugin built for an older minor has a smaller struct: accept anything
 * from this size up, and read appended fields only when size covers them. */
#define PLUGIN_SIZE_1_0 sizeof(struct wk_plugin)

struct plug_lib {
	char *name;
	void *dl;
	const struct wk_plugin *desc;
};

struct wk_instance {
	struct plugins *owner;
	int index;
	const struct conf_device *dev;
	const struct wk_plugin *desc;
	void *state;
	int started;
};

struct queued {
	int device;
	struct wk_event ev;
	char *code;		/* emit_code(): the whole credential, or NULL */
	size_t code_len;
};

struct plugins {
	size_t n_libs;
	struct plug_lib *libs;
	size_t n;
	struct wk_instance *inst;
	conf_error_fn err;
	void *ectx;
	int n_errors;

	pthread_mutex_t mu;
	struct queued *ring;
	size_t head, count;
	uint64_t dropped;
	int efd;
};

static void host_log(struct wk_instance *inst, int level, const char *fmt, ...)
	WK_PRINTF(3, 4);
static int host_conf_error(struct wk_instance *inst,
			   const struct wk_conf_item *item, const char *fmt,
			   ...) WK_PRINTF(3, 4);

static void host_log(struct wk_instance *inst, int level, const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_msg(level, "device %s: %s", inst->dev->name, msg);
}

static int host_conf_error(struct wk_instance *inst,
			   const struct wk_conf_item *item, const char *fmt,
			   ...)
{
	struct plugins *pl = inst->owner;
	char msg[512], line[640];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(line, sizeof(line), "device %s: %s", inst->dev->name, msg);
	pl->n_errors++;
	if (pl->err)
		pl->err(pl->ectx, item ? item->file : inst->dev->wk.file,
			item ? item->line : inst->dev->wk.line, line);
	return -EINVAL;
}

/* Queue one event; code (malloc'd, or NULL) is the queue's from here on. */
static int enqueue(struct wk_instance *inst, const struct wk_event *ev,
		   char *code, size_t code_len)
{
	struct plugins *pl = inst->owner;
	uint64_t one = 1;
	int rc = 0;

	pthread_mutex_lock(&pl->mu);
	if (pl->count == QUEUE_CAP ||
	    (pl->count >= QUEUE_CAP - QUEUE_RESERVE &&
	     (ev->type == WK_EV_CREDENTIAL || ev->type == WK_EV_TEMPERATURE))) {
		pl->dropped++;
		rc = -ENOBUFS;
	} else {
		struct queued *q = &pl->ring[(pl->head + pl->count) % QUEUE_CAP];

		q->device = inst->index;
		q->ev = *ev;
		q->ev.credential[WK_CREDENTIAL_MAX - 1] = '\0';
		q->ev.message[WK_MESSAGE_MAX - 1] = '\0';
		q->code = code;
		q->code_len = code_len;
		pl->count++;
	}
	pthread_mutex_unlock(&pl->mu);
	if (rc < 0) {
		free(code);
		return rc;
	}
	if (write(pl->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		rc = -errno;
	return rc;
}

static int host_emit(struct wk_instance *inst, const struct wk_event *ev)
{
	return enqueue(inst, ev, NULL, 0);
}

/* ABI 1.3: a credential of any length up to WK_CODE_MAX (a QR pass). */
static int host_emit_code(struct wk_instance *inst, const struct wk_event *ev,
			  const char *code, size_t len)
{
	char *copy;

	if (ev->type != WK_EV_CREDENTIAL || len == 0 || len > WK_CODE_MAX)
		return -EMSGSIZE;
	copy = malloc(len + 1);
	if (copy == NULL)
		return -ENOMEM;
	memcpy(copy, code, len);
	copy[len] = '\0';
	return enqueue(inst, ev, copy, len);
}

static const struct wk_host_api host_api = {
	.abi_major = WICKET_ABI_MAJOR,
	.abi_minor = WICKET_ABI_MINOR,
	.size = sizeof(struct wk_host_api),
	.log = host_log,
	.conf_error = host_conf_error,
	.emit = host_emit,
	.emit_code = host_emit_code,
};

static void fail(struct plugins *pl, const char *file, int line,
		 const char *fmt, ...) WK_PRINTF(4, 5);

static void fail(struct plugins *pl, const char *file, int line,
		 const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pl->n_errors++;
	if (pl->err)
		pl->err(pl->ectx, file, line, msg);
}

/* The loaded plugin of that name, loading it on first use; NULL on error
 * (reported at the `plugin =` line). */
static const struct wk_plugin *load(struct plugins *pl, const struct conf *c,
				    const struct conf_device *d)
{
	const struct wk_conf_item *at = d->plugin_item;
	const struct wk_plugin *desc;
	struct plug_lib *lib;
	char *path;
	void *dl;

	for (size_t i = 0; i < pl->n_libs; i++)
		if (strcmp(pl->libs[i].name, d->plugin) == 0)
			return pl->libs[i].desc;
	if (asprintf(&path, "%s/%s.so", c->plugin_dir, d->plugin) < 0)
		return NULL;
	dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (dl == NULL) {
		fail(pl, at->file, at->line, "plugin '%s': cannot load: %s",
		     d->plugin, dlerror());
		free(path);
		return NULL;
	}
	desc = dlsym(dl, WICKET_PLUGIN_SYMBOL);
	if (desc == NULL) {
		fail(pl, at->file, at->line,
		     "plugin '%s': %s exports no '%s': not a wicket plugin",
		     d->plugin, path, WICKET_PLUGIN_SYMBOL);
		goto refuse;
	}
	if (desc->abi_major != WICKET_ABI_MAJOR) {
		fail(pl, at->file, at->line,
		     "plugin '%s': %s was built for plugin ABI %u.%u, this wicketd speaks ABI %u.%u",
		     d->plugin, path, desc->abi_major, desc->abi_minor,
		     WICKET_ABI_MAJOR, WICKET_ABI_MINOR);
		goto refuse;
	}
	if (desc->size < PLUGIN_SIZE_1_0 || desc->create == NULL ||
	    desc->start == NULL || desc->stop == NULL ||
	    desc->destroy == NULL || desc->command == NULL) {
		fail(pl, at->file, at->line,
		     "plugin '%s': %s has a malformed descriptor (size %u, expected %zu)",
		     d->plugin, path, desc->size, sizeof(struct wk_plugin));
		goto refuse;
	}
	lib = realloc(pl->libs, (pl->n_libs + 1) * sizeof(*lib));
	if (lib == NULL)
		goto refuse;
	pl->libs = lib;
	lib[pl->n_libs].name = strdup(d->plugin);
	lib[pl->n_libs].dl = dl;
	lib[pl->n_libs].desc = desc;
	pl->n_libs++;
	free(path);
	return desc;
refuse:
	dlclose(dl);
	free(path);
	return NULL;
}

/* What an instance provides: its own answer (ABI 1.3), else its
 * plugin's. */
static uint32_t provides(const struct wk_instance *in)
{
	const struct wk_plugin *d = in->desc;

	if (d == NULL)
		return 0;
	if (d->abi_minor >= 3 && d->instance_provides && in->state)
		return d->instance_provides(in->state) & d->provides;
	return d->provides;
}

uint32_t plug_provides(const struct plugins *pl, int device)
{
	if (device < 0 || (size_t)device >= pl->n)
		return 0;
	return provides(&pl->inst[device]);
}

static void check_lane_device(struct plugins *pl, const struct conf *c,
			      const struct wk_conf_item *it, int dev,
			      uint32_t need, const char *what)
{
	const struct wk_instance *in;

	if (it == NULL || dev < 0)
		return;
	in = &pl->inst[dev];
	if (in->desc == NULL)
		return;
	if (!(in->desc->provides & need))
		fail(pl, it->file, it->line,
		     "%s: device %s (plugin %s) provides no %s", it->key,
		     c->devices[dev].name, in->desc->name, what);
	else if (in->state && !(provides(in) & need))
		fail(pl, it->file, it->line,
		     "%s: device %s has no %s in its configuration", it->key,
		     c->devices[dev].name, what);
}

int plug_open(const struct conf *c, struct plugins **out, conf_error_fn err,
	      void *ctx)
{
	struct plugins *pl;

	*out = NULL;
	pl = calloc(1, sizeof(*pl));
	if (pl == NULL)
		return -ENOMEM;
	pl->err = err;
	pl->ectx = ctx;
	pl->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	pl->ring = calloc(QUEUE_CAP, sizeof(*pl->ring));
	pl->inst = calloc(c->n_devices ? c->n_devices : 1, sizeof(*pl->inst));
	pthread_mutex_init(&pl->mu, NULL);
	if (pl->efd < 0 || pl->ring == NULL || pl->inst == NULL) {
		plug_close(pl);
		return -ENOMEM;
	}
	pl->n = c->n_devices;
	for (size_t i = 0; i < c->n_devices; i++) {
		struct wk_instance *in = &pl->inst[i];
		const struct conf_device *d = &c->devices[i];

		in->owner = pl;
		in->index = (int)i;
		in->dev = d;
		if (d->plugin == NULL)
			continue;
		in->desc = load(pl, c, d);
		if (in->desc == NULL)
			continue;
		if (in->desc->create(&host_api, in, &d->wk, &in->state) < 0) {
			if (pl->n_errors == 0)
				fail(pl, d->wk.file, d->wk.line,
				     "device %s: plugin %s refused its configuration",
				     d->name, in->desc->name);
			in->state = NULL;
		}
	}
	for (size_t i = 0; i < c->n_lanes; i++) {
		const struct conf_lane *l = &c->lanes[i];

		check_lane_device(pl, c, l->thermal_item, l->thermal,
				  WK_PROVIDES_TEMPERATURE, "temperature");
		check_lane_device(pl, c, l->reader_item, l->reader,
				  WK_PROVIDES_CREDENTIAL, "credentials");
		check_lane_device(pl, c, l->gate_item, l->gate,
				  WK_PROVIDES_GATE, "gate");
		check_lane_device(pl, c, l->door_item, l->door,
				  WK_PROVIDES_DOOR, "door contact");
		check_lane_device(pl, c, l->exit_button_item, l->exit_button,
				  WK_PROVIDES_EXIT_BUTTON, "exit button");
		check_lane_device(pl, c, l->override_item, l->override,
				  WK_PROVIDES_OVERRIDE, "override key");
		check_lane_device(pl, c, l->indicator_item, l->indicator,
				  WK_PROVIDES_INDICATOR, "lights or buzzer");
		if (l->fail_safe)
			check_lane_device(pl, c, l->fail_item, l->gate,
					  WK_PROVIDES_HOLD,
					  "way to hold the gate open (fail = safe needs one)");
	}
	if (pl->n_errors > 0) {
		int n = pl->n_errors;

		plug_close(pl);
		return n;
	}
	*out = pl;
	return 0;
}

int plug_start(struct plugins *pl)
{
	int first = 0;

	/* one device that cannot start must not keep the others down */
	for (size_t i = 0; i < pl->n; i++) {
		struct wk_instance *in = &pl->inst[i];
		int rc = in->desc->start(in->state);

		if (rc < 0) {
			log_err("device %s: cannot start: %s", in->dev->name,
				strerror(-rc));
			if (first == 0)
				first = rc;
			continue;
		}
		in->started = 1;
	}
	return first;
}

void plug_stop(struct plugins *pl)
{
	for (size_t i = 0; i < pl->n; i++) {
		struct wk_instance *in = &pl->inst[i];

		if (in->started)
			in->desc->stop(in->state);
		in->started = 0;
	}
}

void plug_close(struct plugins *pl)
{
	if (pl == NULL)
		return;
	if (pl->inst) {
		plug_stop(pl);
		for (size_t i = 0; i < pl->n; i++)
			if (pl->inst[i].desc && pl->inst[i].state)
				pl->inst[i].desc->destroy(pl->inst[i].state);
	}
	for (size_t i = 0; i < pl->n_libs; i++) {
		dlclose(pl->libs[i].dl);
		free(pl->libs[i].name);
	}
	free(pl->libs);
	free(pl->inst);
	for (size_t i = 0; pl->ring && i < pl->count; i++)
		free(pl->ring[(pl->head + i) % QUEUE_CAP].code);
	free(pl->ring);
	if (pl->efd >= 0)
		close(pl->efd);
	pthread_mutex_destroy(&pl->mu);
	free(pl);
}

int plug_event_fd(const struct plugins *pl)
{
	return pl->efd;
}

size_t plug_drain(struct plugins *pl, plug_event_fn fn, void *arg)
{
	uint64_t v;
	size_t n = 0;

	if (read(pl->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_warn("plugin event queue: %s", strerror(errno));
	for (;;) {
		struct queued q;

		pthread_mutex_lock(&pl->mu);
		if (pl->count == 0) {
			pthread_mutex_unlock(&pl->mu);
			break;
		}
		q = pl->ring[pl->head];
		pl->head = (pl->head + 1) % QUEUE_CAP;
		pl->count--;
		pthread_mutex_unlock(&pl->mu);
		fn(arg, q.device, &q.ev, q.code, q.code_len);
		free(q.code);
		n++;
	}
	return n;
}

uint64_t plug_dropped(struct plugins *pl)
{
	uint64_t n;

	pthread_mutex_lock(&pl->mu);
	n = pl->dropped;
	pthread_mutex_unlock(&pl->mu);
	return n;
}

int plug_command(struct plugins *pl, int device, const struct wk_command *cmd)
{
	struct wk_instance *in;

	if (device < 0 || (size_t)device >= pl->n)
		return -ENODEV;
	in = &pl->inst[device];
	return in->desc->command(in->state, cmd);
}

int plug_health(struct plugins *pl, int device, struct wk_health *out)
{
	struct wk_instance *in;

	memset(out, 0, sizeof(*out));
	if (device < 0 || (size_t)device >= pl->n)
		return -ENODEV;
	in = &pl->inst[device];
	if (in->desc->abi_minor < 1 || in->desc->health == NULL ||
	    in->state == NULL)
		return -ENOTSUP;
	return in->desc->health(in->state, out);
}
