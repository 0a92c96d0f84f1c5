/*
 * modbus-gate: a turnstile, barrier or door relay driven over Modbus.
 *
 *   [device gate1]
 *   plugin = modbus-gate
 *   profile = modbus-gate-relay       # open_coil 0, pulse 500 ms, status 10
 *   host = 192.168.1.22               # or serial = /dev/ttyUSB0 ...; the
 *                                     #   link keys are in docs/devices.md
 *   pulse_ms = 800                    # override the profile
 *
 * Map keys: open_coil or open_register (+ open_value), pulse_ms,
 * status_register.  docs/devices.md has them all.
 *
 * After every (re)connect the open output is written 0 before anything
 * else, so a relay left energised is released.
 * WK_CMD_OPEN writes the open coil (1) or register (open_value) and
 * schedules the release (0) after the pulse as a timed command, so the bus
 * keeps serving its other devices meanwhile.  A second open during the
 * pulse extends it.  stop() runs a pending release at once; a failed
 * release is tried on a fresh connection and then again every second, a
 * few times (not once stopping): a relay left energised keeps the gate
 * open for everyone.
 * The poll reads status_register and reports changes; without one it reads
 * the open coil / register back, so a dead controller is noticed before
 * somebody is left standing at a closed gate.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <wicket/plugin.h>

#include "mbdev.h"
#include "mbmap.h"

#define PULSE_MAX_MS 60000u
#define CMD_RELEASE (MBDEV_CMD_PRIVATE + 1)
#define RELEASE_TRIES 5u
#define RELEASE_RETRY_MS 1000u

struct gate {
	struct mb_gate_map map;
	struct mbdev *dev;
	/* worker only */
	int last_open;		/* -1 unknown */
	int released;		/* open output written 0 since (re)connect */
	uint64_t token;		/* the last release scheduled */
	uint64_t holding;	/* the release that ends the pulse, 0 none */
};

static int read_status(struct mbdev *d, struct gate *g)
{
	struct wk_event ev;
	uint16_t v;
	int r, open;

	r = mbdev_read(d, MB_HOLDING, g->map.status_register, 1, &v);
	if (r < 0)
		return r;
	open = v != 0;
	if (open == g->last_open)
		return 0;
	g->last_open = open;
	memset(&ev, 0, sizeof(ev));
	ev.type = WK_EV_GATE_STATE;
	ev.gate_open = open;
	mbdev_emit(d, &ev);
	return 0;
}

static int set_open(struct mbdev *d, const struct mb_gate_map *m, int open)
{
	if (m->open_table == MB_COIL)
		return mbdev_write_coil(d, m->open_address, open);
	return mbdev_write_register(d, m->open_address,
				    open ? m->open_value : 0);
}

/* Give up on a release: the next poll writes the output 0 again, first
 * thing after the next (re)connect at the latest. */
static void release_later(struct gate *g)
{
	g->holding = 0;
	g->released = 0;
}

static int release(struct mbdev *d, struct gate *g,
		   const struct wk_command *cmd)
{
	struct wk_command again;
	int r;

	if (cmd->id != g->holding)
		return 0;	/* a later open extended the pulse */
	r = set_open(d, &g->map, 0);
	if (r < 0 && mbdev_reconnect(d) == 0)
		r = set_open(d, &g->map, 0);
	if (r == 0) {
		g->holding = 0;
		return 0;
	}
	mbdev_log(d, WK_LOG_ERR, "release failed, the gate may be held open: %s",
		  mbdev_reason(d));
	/* pulse_ms counts the tries of a release */
	again = *cmd;
	again.pulse_ms++;
	if (cmd->pulse_ms >= RELEASE_TRIES ||
	    mbdev_after(d, RELEASE_RETRY_MS, &again) < 0)
		release_later(g);
	return r;
}

static int gate_command(struct mbdev *d, void *arg,
			const struct wk_command *cmd)
{
	struct gate *g = arg;
	unsigned pulse = cmd->pulse_ms ? cmd->pulse_ms : g->map.pulse_ms;
	struct wk_command rel;
	int r, rr;

	if (cmd->type == CMD_RELEASE)
		return release(d, g, cmd);
	r = set_open(d, &g->map, 1);
	/* Even when the write failed: a lost answer (timeout, bad CRC) may
	 * hide a write that got through, and then the relay must still go
	 * off after the pulse, not at the next poll after the back-off. */
	memset(&rel, 0, sizeof(rel));
	rel.type = CMD_RELEASE;
	rel.id = ++g->token;
	g->holding = rel.id;
	if (r == 0)
		mbdev_log(d, WK_LOG_INFO, "open %" PRIu64 ": pulse %u ms",
			  cmd->id, pulse);
	rr = mbdev_after(d, pulse, &rel);
	if (rr < 0) {
		mbdev_log(d, rr == -ECANCELED ? WK_LOG_NOTICE : WK_LOG_ERR,
			  "open %" PRIu64 ": %s, releasing now", cmd->id,
			  rr == -ECANCELED ? "stopping" : "cannot time the release");
		release(d, g, &rel);
	}
	return r;
}

/* A relay still energised from before (wicketd killed mid-pulse, the
 * controller rebooted into "open") must not hold the gate open: the first
 * thing after each connection is to write the open output 0. */
static void gate_reset(void *arg)
{
	((struct gate *)arg)->released = 0;
}

static int gate_poll(struct mbdev *d, void *arg)
{
	struct gate *g = arg;
	uint16_t v;
	int r;

	/* not while a pulse runs: its own release ends it */
	if (!g->released && g->holding == 0) {
		r = set_open(d, &g->map, 0);
		if (r < 0)
			return r;
		g->released = 1;
	}

	if (g->map.status_register < 0)
		return mbdev_read(d, g->map.open_table, g->map.open_address, 1,
				  &v);
	return read_status(d, g);
}

static const struct mbdev_kind gate_kind = {
	.reset = gate_reset,
	.poll = gate_poll,
	.command = gate_command,
};

static int parse_map(const struct wk_conf *conf, unsigned char *used,
		     void *map, mb_err_fn err, void *ctx)
{
	return mbmap_parse_gate(conf, used, map, err, ctx);
}

static int gate_create(const struct wk_host_api *host,
		       struct wk_instance *inst, const struct wk_conf *conf,
		       void **state)
{
	struct mb_link link;
	struct mb_gate_map map;
	struct gate *g;
	int r;

	r = mbdev_parse_conf(host, inst, conf, &link, parse_map, &map);
	if (r < 0)
		return r;

	g = calloc(1, sizeof(*g));
	if (g == NULL)
		return -ENOMEM;
	g->map = map;
	g->last_open = -1;
	r = mbdev_new(host, inst, conf->name, &link, &gate_kind, g, &g->dev);
	if (r < 0) {
		free(g);
		return r;
	}
	*state = g;
	return 0;
}

static int gate_start(void *state)
{
	struct gate *g = state;

	g->last_open = -1;
	g->released = 0;
	g->holding = 0;
	return mbdev_start(g->dev);
}

static int gate_command_submit(void *state, const struct wk_command *cmd)
{
	struct gate *g = state;

	if (cmd->type != WK_CMD_OPEN)
		return -ENOTSUP;
	if (cmd->pulse_ms > PULSE_MAX_MS)
		return -EINVAL;
	return mbdev_submit(g->dev, cmd);
}

static void gate_stop(void *state)
{
	struct gate *g = state;

	mbdev_stop(g->dev);
}

static int gate_health(void *state, struct wk_health *out)
{
	struct gate *g = state;

	mbdev_health(g->dev, out);
	return 0;
}

static void gate_destroy(void *state)
{
	struct gate *g = state;

	if (g == NULL)
		return;
	mbdev_free(g->dev);
	free(g);
}

__attribute__((visibility("default")))
const struct wk_plugin wicket_plugin = {
	.abi_major = WICKET_ABI_MAJOR,
	.abi_minor = WICKET_ABI_MINOR,
	.size = sizeof(struct wk_plugin),
	.name = "modbus-gate",
	.version = WICKET_VERSION,
	.description = "gate / turnstile relay over Modbus TCP or RTU",
	.provides = WK_PROVIDES_GATE,
	.create = gate_create,
	.start = gate_start,
	.command = gate_command_submit,
	.stop = gate_stop,
	.destroy = gate_destroy,
	.health = gate_health,
};
