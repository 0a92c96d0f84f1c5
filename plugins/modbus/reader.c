/*
 * modbus-reader: a card or QR code reader that exposes its last read over
 * Modbus (TCP, or RTU on an RS-485 line).
 *
 *   [device reader1]
 *   plugin = modbus-reader
 *   profile = modbus-card-reader      # sequence 0, credential 1..8, ascii
 *   host = 192.168.1.23               # or serial = /dev/ttyUSB0 ...; the
 *                                     #   link keys are in docs/devices.md
 *
 * Map keys: table, sequence_register, credential_register,
 * credential_format (ascii | uint32), credential_length.  docs/devices.md
 * has them all.
 *
 * A read is new when the sequence register changed.  As with the
 * thermometer, the first poll after each connect (or fault spell) only takes note of the
 * sequence: the card the reader holds then was shown before we looked.
 * A credential that does not decode (control bytes, empty, 0) is reported
 * as a device fault and never handed on as a credential.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <wicket/plugin.h>

#include "mbdev.h"
#include "mbmap.h"

#define CRED_REGS_MAX 31

struct reader {
	struct mb_reader_map map;
	struct mbdev *dev;
	/* worker only */
	int fresh;
	uint16_t last_seq;
};

static void reader_reset(void *arg)
{
	struct reader *rd = arg;

	rd->fresh = 1;
}

static int reader_poll(struct mbdev *d, void *arg)
{
	struct reader *rd = arg;
	const struct mb_reader_map *m = &rd->map;
	int len = m->credential_length;
	uint16_t regs[CRED_REGS_MAX + 1], seq, prev, *cred = NULL;
	struct wk_event ev;
	int r, fresh = rd->fresh;

	/* one request when the sequence sits right before or after */
	if (m->sequence_register + 1 == m->credential_register) {
		r = mbdev_read(d, m->table, m->sequence_register, len + 1, regs);
		seq = regs[0];
		cred = regs + 1;
	} else if (m->credential_register + len == m->sequence_register) {
		r = mbdev_read(d, m->table, m->credential_register, len + 1,
			       regs);
		seq = regs[len];
		cred = regs;
	} else {
		r = mbdev_read(d, m->table, m->sequence_register, 1, &seq);
	}
	if (r < 0)
		return r;
	rd->fresh = 0;
	prev = rd->last_seq;
	rd->last_seq = seq;
	if (fresh || seq == prev)
		return 0;
	if (cred == NULL) {
		r = mbdev_read(d, m->table, m->credential_register, len, regs);
		if (r < 0)
			return r;
		cred = regs;
	}

	memset(&ev, 0, sizeof(ev));
	if (mbmap_decode_credential(m, cred, ev.credential,
				    sizeof(ev.credential)) < 0)
		return mbdev_reject(d, "sequence %u: credential registers %d..%d hold no valid %s credential",
				    (unsigned)seq, m->credential_register,
				    m->credential_register + len - 1,
				    m->credential_format == MB_CRED_UINT32
					    ? "uint32"
					    : "ascii");
	ev.type = WK_EV_CREDENTIAL;
	ev.seq = seq;
	mbdev_emit(d, &ev);
	return 0;
}

static const struct mbdev_kind reader_kind = {
	.reset = reader_reset,
	.poll = reader_poll,
};

static int parse_map(const struct wk_conf *conf, unsigned char *used,
		     void *map, mb_err_fn err, void *ctx)
{
	return mbmap_parse_reader(conf, used, map, err, ctx);
}

static int reader_create(const struct wk_host_api *host,
			 struct wk_instance *inst, const struct wk_conf *conf,
			 void **state)
{
	struct mb_link link;
	struct mb_reader_map map;
	struct reader *rd;
	int r;

	r = mbdev_parse_conf(host, inst, conf, &link, parse_map, &map);
	if (r < 0)
		return r;

	rd = calloc(1, sizeof(*rd));
	if (rd == NULL)
		return -ENOMEM;
	rd->map = map;
	rd->fresh = 1;
	r = mbdev_new(host, inst, conf->name, &link, &reader_kind, rd, &rd->dev);
	if (r < 0) {
		free(rd);
		return r;
	}
	*state = rd;
	return 0;
}

static int reader_start(void *state)
{
	struct reader *rd = state;

	rd->fresh = 1;
	return mbdev_start(rd->dev);
}

static int reader_command(void *state, const struct wk_command *cmd)
{
	(void)state;
	(void)cmd;
	return -ENOTSUP;
}

static void reader_stop(void *state)
{
	struct reader *rd = state;

	mbdev_stop(rd->dev);
}

static int reader_health(void *state, struct wk_health *out)
{
	struct reader *rd = state;

	mbdev_health(rd->dev, out);
	return 0;
}

static void reader_destroy(void *state)
{
	struct reader *rd = state;

	if (rd == NULL)
		return;
	mbdev_free(rd->dev);
	free(rd);
}

__attribute__((visibility("default")))
const struct wk_plugin wicket_plugin = {
	.abi_major = WICKET_ABI_MAJOR,
	.abi_minor = WICKET_ABI_MINOR,
	.size = sizeof(struct wk_plugin),
	.name = "modbus-reader",
	.version = WICKET_VERSION,
	.description = "card / QR code reader over Modbus TCP or RTU",
	.provides = WK_PROVIDES_CREDENTIAL,
	.create = reader_create,
	.start = reader_start,
	.command = reader_command,
	.stop = reader_stop,
	.destroy = reader_destroy,
	.health = reader_health,
};
