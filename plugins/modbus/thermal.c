/*
 * modbus-thermal: a forehead / IR thermometer or a thermal camera read
 * over Modbus (TCP, or RTU on an RS-485 line).
 *
 *   [device thermo1]
 *   plugin = modbus-thermal
 *   profile = generic-ir-thermal      # the register map, see profiles/
 *   serial = /dev/ttyUSB0             # or host = ...; the link keys are
 *   unit = 2                          #   in docs/devices.md
 *   calibration = -0.2                # added to every reading, -10..10
 *
 * and from the profile (or the section): table, temperature_register,
 * temperature_type, word_order, scale, offset, sequence_register or
 * ready_register, plausible_min, plausible_max.  docs/devices.md has them all.
 *
 * A reading is new when the device's sequence register changed, or when its
 * ready register is nonzero (we then write 0 to it).  What the device holds
 * when we (re)connect, or when it comes back from a fault, is somebody who
 * has already left, so the first poll then only takes note.  A reading
 * outside the plausible range is a device fault, never a temperature: a
 * sensor aimed at a wall must not let anyone through, nor raise a fever
 * alarm.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <wicket/plugin.h>

#include "mbdev.h"
#include "mbmap.h"
#include "regmap.h"

struct thermal {
	struct mb_thermal_map map;
	struct mbdev *dev;
	/* worker only */
	int fresh;		/* first poll since connect */
	uint16_t last_seq;
	uint32_t n_ready;	/* our own sequence with a ready register */
};

static void thermal_reset(void *arg)
{
	struct thermal *t = arg;

	t->fresh = 1;
}

/* Read the flag register (sequence or ready) and, if adjacent, the value
 * in the same request.  *have_value says whether val was filled. */
static int read_flag(struct mbdev *d, const struct mb_thermal_map *m,
		     int flag, uint16_t *flagv, uint16_t *val, int *have_value)
{
	int w = (int)rm_width(m->temperature.type);
	uint16_t regs[3];
	int r;

	*have_value = 0;
	if (flag + 1 == m->temperature_register) {
		r = mbdev_read(d, m->table, flag, 1 + w, regs);
		if (r < 0)
			return r;
		*flagv = regs[0];
		memcpy(val, regs + 1, (size_t)w * sizeof(*val));
		*have_value = 1;
		return 0;
	}
	if (m->temperature_register + w == flag) {
		r = mbdev_read(d, m->table, m->temperature_register, w + 1,
			       regs);
		if (r < 0)
			return r;
		memcpy(val, regs, (size_t)w * sizeof(*val));
		*flagv = regs[w];
		*have_value = 1;
		return 0;
	}
	return mbdev_read(d, m->table, flag, 1, flagv);
}

static int thermal_poll(struct mbdev *d, void *arg)
{
	struct thermal *t = arg;
	const struct mb_thermal_map *m = &t->map;
	int use_seq = m->sequence_register >= 0;
	int flag = use_seq ? m->sequence_register : m->ready_register;
	uint16_t flagv, val[2];
	int have_value, fresh = t->fresh, r;
	struct wk_event ev;
	double c;

	r = read_flag(d, m, flag, &flagv, val, &have_value);
	if (r < 0)
		return r;
	t->fresh = 0;
	if (use_seq) {
		uint16_t prev = t->last_seq;

		t->last_seq = flagv;
		if (fresh || flagv == prev)
			return 0;
	} else if (flagv == 0) {
		return 0;
	}
	if (!have_value) {
		r = mbdev_read(d, m->table, m->temperature_register,
			       (int)rm_width(m->temperature.type), val);
		if (r < 0)
			return r;
	}
	if (!use_seq) {
		/* acknowledge even a stale or bad reading, or it comes back */
		r = mbdev_write_register(d, m->ready_register, 0);
		if (r < 0)
			return r;
		if (fresh)
			return 0;
	}

	if (rm_decode(&m->temperature, val, &c) < 0)
		return mbdev_reject(d, "temperature register %d holds no number (%s)",
				    m->temperature_register,
				    rm_type_name(m->temperature.type));
	c += m->calibration;
	if (c < m->plausible_min || c > m->plausible_max)
		return mbdev_reject(d, "temperature %.1f C outside plausible range %.1f..%.1f",
				    c, m->plausible_min, m->plausible_max);

	memset(&ev, 0, sizeof(ev));
	ev.type = WK_EV_TEMPERATURE;
	ev.temperature_c = c;
	ev.seq = use_seq ? flagv : ++t->n_ready;
	mbdev_emit(d, &ev);
	return 0;
}

static const struct mbdev_kind thermal_kind = {
	.reset = thermal_reset,
	.poll = thermal_poll,
};

static int parse_map(const struct wk_conf *conf, unsigned char *used,
		     void *map, mb_err_fn err, void *ctx)
{
	return mbmap_parse_thermal(conf, used, map, err, ctx);
}

static int thermal_create(const struct wk_host_api *host,
			  struct wk_instance *inst, const struct wk_conf *conf,
			  void **state)
{
	struct mb_link link;
	struct mb_thermal_map map;
	struct thermal *t;
	int r;

	r = mbdev_parse_conf(host, inst, conf, &link, parse_map, &map);
	if (r < 0)
		return r;

	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return -ENOMEM;
	t->map = map;
	t->fresh = 1;
	r = mbdev_new(host, inst, conf->name, &link, &thermal_kind, t, &t->dev);
	if (r < 0) {
		free(t);
		return r;
	}
	*state = t;
	return 0;
}

static int thermal_start(void *state)
{
	struct thermal *t = state;

	t->fresh = 1;
	return mbdev_start(t->dev);
}

static int thermal_command(void *state, const struct wk_command *cmd)
{
	(void)state;
	(void)cmd;
	return -ENOTSUP;
}

static void thermal_stop(void *state)
{
	struct thermal *t = state;

	mbdev_stop(t->dev);
}

static int thermal_health(void *state, struct wk_health *out)
{
	struct thermal *t = state;

	mbdev_health(t->dev, out);
	return 0;
}

static void thermal_destroy(void *state)
{
	struct thermal *t = state;

	if (t == NULL)
		return;
	mbdev_free(t->dev);
	free(t);
}

__attribute__((visibility("default")))
const struct wk_plugin wicket_plugin = {
	.abi_major = WICKET_ABI_MAJOR,
	.abi_minor = WICKET_ABI_MINOR,
	.size = sizeof(struct wk_plugin),
	.name = "modbus-thermal",
	.version = WICKET_VERSION,
	.description = "IR / forehead thermometer over Modbus TCP or RTU",
	.provides = WK_PROVIDES_TEMPERATURE,
	.create = thermal_create,
	.start = thermal_start,
	.command = thermal_command,
	.stop = thermal_stop,
	.destroy = thermal_destroy,
	.health = thermal_health,
};
