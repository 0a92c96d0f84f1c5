/*
 * device: what one simulated device does with its registers.
 *
 * Each device has its own register map (frame.h), from address 0 up to
 * the highest address its profile uses, so a daemon that reads outside
 * the profile gets "illegal data address", as it would from a strict
 * device.
 *
 *   thermal  `temp` encodes with rm_encode, `raw` writes registers as given;
 *            either then bumps sequence_register or sets ready_register = 1
 *   reader   `card` encodes with mbmap_encode_credential, then bumps
 *            sequence_register (credential first: a client never sees a new
 *            sequence with the old card, since one thread does both)
 *   gate     a write to the open coil/register is a command: nonzero opens
 *            (status_register = 1), zero closes (status_register = 0)
 *
 * Gate commands are found by decoding the request (function codes 5, 15,
 * 6, 16) rather than by comparing the registers before and after, because
 * a second "open" while already open changes nothing in the map but is
 * still a command the installer wants to see.  A write counts only if
 * the responder will carry it out (frame_check).
 *
 * Kits and scanners (kit.c) have no registers: their steps go to kit.c.
 *
 * Faults (scenario.h) decide what comes back.  Under late, crc and garbage
 * the device did get the request, so a write is carried out and only the
 * answer is wrong; under silent, exception and disconnect it is not.
 * Which device answers and how the bytes travel is serve.c's business.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

static uint16_t *regs_of(struct sim_dev *dev, enum mb_table t)
{
	return t == MB_INPUT ? dev->map.input : dev->map.holding;
}

static enum frame_table frame_table_of(enum mb_table t)
{
	switch (t) {
	case MB_INPUT: return FRAME_INPUT;
	case MB_COIL: return FRAME_COILS;
	case MB_HOLDING: break;
	}
	return FRAME_HOLDING;
}

static int max_int(int a, int b)
{
	return a > b ? a : b;
}

/* A zeroed table of n entries of size each (NULL for none); -1 if out of
 * memory. */
static int alloc_table(void **p, int n, size_t size)
{
	*p = NULL;
	if (n <= 0)
		return 0;
	*p = calloc((size_t)n, size);
	return *p ? 0 : -1;
}

int dev_init(struct sim_dev *dev)
{
	int bits = 0, regs = 0, inregs = 0, n = 0;
	enum mb_table t = MB_HOLDING;
	void *c = NULL, *h = NULL, *in = NULL;

	switch (dev->kind) {
	case SIM_THERMAL: {
		const struct mb_thermal_map *m = &dev->m.th;

		t = m->table;
		n = m->temperature_register +
		    (int)rm_width(m->temperature.type);
		n = max_int(n, m->sequence_register + 1);
		n = max_int(n, m->ready_register + 1);
		break;
	}
	case SIM_READER: {
		const struct mb_reader_map *m = &dev->m.rd;

		t = m->table;
		n = max_int(m->sequence_register + 1,
			    m->credential_register + m->credential_length);
		break;
	}
	case SIM_GATE: {
		const struct mb_gate_map *m = &dev->m.gate;

		if (m->open_table == MB_COIL)
			bits = m->open_address + 1;
		else
			n = m->open_address + 1;
		n = max_int(n, m->status_register + 1);
		break;
	}
	case SIM_KIT:
	case SIM_SCANNER:
		break;
	}
	if (t == MB_INPUT)
		inregs = n;
	else
		regs = n;
	memset(&dev->map, 0, sizeof(dev->map));
	if (alloc_table(&c, bits, 1) < 0 ||
	    alloc_table(&h, regs, sizeof(uint16_t)) < 0 ||
	    alloc_table(&in, inregs, sizeof(uint16_t)) < 0) {
		free(c);
		free(h);
		return -ENOMEM;
	}
	dev->map.coils = c;
	dev->map.n_coils = (unsigned)bits;
	dev->map.holding = h;
	dev->map.n_holding = (unsigned)regs;
	dev->map.input = in;
	dev->map.n_input = (unsigned)inregs;
	return 0;
}

void dev_free(struct sim_dev *dev)
{
	free(dev->map.coils);
	free(dev->map.discrete);
	free(dev->map.holding);
	free(dev->map.input);
	memset(&dev->map, 0, sizeof(dev->map));
	kit_free(dev->kit);
	dev->kit = NULL;
	scanner_free(dev->scanner);
	dev->scanner = NULL;
}

int dev_check_step(const struct sim_dev *dev, const struct scn_step *st,
		   char *msg, size_t msglen)
{
	uint16_t regs[32];
	unsigned w;
	int rc;

	if (!sim_is_modbus(dev))
		return kit_check_step(dev, st, msg, msglen);
	switch (st->action) {
	case SCN_TEMP:
		if (rm_encode(&dev->m.th.temperature, st->temp, regs) < 0) {
			snprintf(msg, msglen,
				 "temperature %s does not fit its profile "
				 "(%s, scale %g, offset %g)", st->text,
				 rm_type_name(dev->m.th.temperature.type),
				 dev->m.th.temperature.scale,
				 dev->m.th.temperature.offset);
			return -EINVAL;
		}
		break;
	case SCN_RAW:
		w = rm_width(dev->m.th.temperature.type);
		if (st->n_raw != w) {
			snprintf(msg, msglen,
				 "raw needs %u register value%s for "
				 "temperature_type %s, got %zu", w,
				 w == 1 ? "" : "s",
				 rm_type_name(dev->m.th.temperature.type),
				 st->n_raw);
			return -EINVAL;
		}
		break;
	case SCN_CARD:
		rc = mbmap_encode_credential(&dev->m.rd, st->text, regs);
		if (rc < 0 && dev->m.rd.credential_format == MB_CRED_UINT32) {
			snprintf(msg, msglen,
				 "credential '%s' is not a number 1 to "
				 "4294967295 (the profile says uint32)",
				 st->text);
			return -EINVAL;
		}
		if (rc < 0) {
			snprintf(msg, msglen,
				 "credential '%s' does not fit %d registers "
				 "(%d characters)", st->text,
				 dev->m.rd.credential_length,
				 2 * dev->m.rd.credential_length);
			return -EINVAL;
		}
		break;
	case SCN_STATE:
		if (dev->m.gate.status_register < 0) {
			snprintf(msg, msglen,
				 "'state' needs a status_register in the "
				 "gate's profile");
			return -EINVAL;
		}
		break;
	default:
		break;
	}
	return 0;
}

/* A new reading: dev->seq counts them even without a sequence register,
 * for the `read seq=` lines of a device flagged by a ready register. */
static void new_reading(struct sim_dev *dev, uint16_t *regs, int seq_reg,
			int ready_reg)
{
	dev->seq++;
	if (seq_reg >= 0)
		regs[seq_reg] = dev->seq;
	if (ready_reg >= 0)
		regs[ready_reg] = 1;
}

void dev_apply(struct sim *sim, struct sim_dev *dev,
	       const struct scn_step *st)
{
	uint16_t *regs;

	sim_out(sim, "device=%s step=%s value=%s", dev->name,
		scn_action_name(st->action), st->text);
	if (!sim_is_modbus(dev)) {
		kit_apply(sim, dev, st);
		return;
	}
	switch (st->action) {
	case SCN_TEMP: {
		const struct mb_thermal_map *m = &dev->m.th;

		regs = regs_of(dev, m->table);
		/* checked by dev_check_step before the run */
		if (rm_encode(&m->temperature, st->temp,
			      regs + m->temperature_register) == 0)
			new_reading(dev, regs, m->sequence_register,
				    m->ready_register);
		break;
	}
	case SCN_RAW: {
		const struct mb_thermal_map *m = &dev->m.th;

		regs = regs_of(dev, m->table);
		memcpy(regs + m->temperature_register, st->raw,
		       st->n_raw * sizeof(st->raw[0]));
		new_reading(dev, regs, m->sequence_register,
			    m->ready_register);
		break;
	}
	case SCN_CARD: {
		const struct mb_reader_map *m = &dev->m.rd;

		regs = regs_of(dev, m->table);
		if (mbmap_encode_credential(m, st->text,
					    regs + m->credential_register) == 0)
			new_reading(dev, regs, m->sequence_register, -1);
		break;
	}
	case SCN_STATE:
		dev->map.holding[dev->m.gate.status_register] = st->state;
		break;
	case SCN_FAULT:
		dev->fault = st->fault;
		dev->fault_arg = st->fault_arg;
		break;
	default:	/* kit and scanner steps, end */
		break;
	}
}

struct sim_dev *dev_find(struct sim *sim, enum sim_link link, size_t port,
			 int unit)
{
	for (size_t i = 0; i < sim->n_devs; i++) {
		struct sim_dev *d = &sim->devs[i];

		if (sim_is_modbus(d) && d->link == link && d->port == port &&
		    d->unit == unit)
			return d;
	}
	return NULL;
}

/* Whether the write acc covers the gate's open coil or register. */
static int gate_covers(const struct sim_dev *dev,
		       const struct frame_access *acc)
{
	const struct mb_gate_map *g = &dev->m.gate;
	unsigned a = (unsigned)g->open_address;

	return acc->write && acc->table == frame_table_of(g->open_table) &&
	       a >= acc->address && a < acc->address + acc->count;
}

static void gate_command(struct sim *sim, struct sim_dev *dev, unsigned val,
			 int64_t t_us)
{
	const struct mb_gate_map *g = &dev->m.gate;

	if (g->status_register >= 0)
		dev->map.holding[g->status_register] = val ? 1 : 0;
	if (val)
		sim->opens++;
	else
		sim->closes++;
	sim_out(sim, "device=%s command=%s address=%d value=%u mono_us=%lld",
		dev->name, val ? "open" : "close", g->open_address, val,
		(long long)t_us);
}

/* The sequence value a reply to the read acc shows: the sequence register
 * if it covers it, else the reading count if it covers a set ready
 * register; -1 if neither (or not a thermal or reader device). */
static long reply_seq(const struct sim_dev *dev,
		      const struct frame_access *acc)
{
	enum mb_table t;
	int seq_reg, ready_reg = -1;
	const uint16_t *regs;

	switch (dev->kind) {
	case SIM_THERMAL:
		t = dev->m.th.table;
		seq_reg = dev->m.th.sequence_register;
		ready_reg = dev->m.th.ready_register;
		break;
	case SIM_READER:
		t = dev->m.rd.table;
		seq_reg = dev->m.rd.sequence_register;
		break;
	default:
		return -1;
	}
	if (acc->write || acc->table != frame_table_of(t))
		return -1;
	regs = t == MB_INPUT ? dev->map.input : dev->map.holding;
	if (seq_reg >= 0 && (unsigned)seq_reg >= acc->address &&
	    (unsigned)seq_reg < acc->address + acc->count)
		return regs[seq_reg];
	if (ready_reg >= 0 && (unsigned)ready_reg >= acc->address &&
	    (unsigned)ready_reg < acc->address + acc->count &&
	    regs[ready_reg] != 0)
		return dev->seq;
	return -1;
}

void dev_request(struct sim *sim, struct sim_dev *dev,
		 const struct frame_req *req, int64_t t_us,
		 struct sim_reply *out)
{
	struct frame_access acc;
	unsigned val = 0;
	int ex, is_cmd = 0;

	memset(out, 0, sizeof(*out));
	out->seq = -1;
	ex = frame_check(&dev->map, req->pdu, req->pdu_len, &acc);
	if (sim->verbose)
		sim_out(sim, "device=%s unit=%d function=%u address=%u "
			"count=%u fault=%s mono_us=%lld", dev->name,
			dev->unit, req->pdu[0], acc.address, acc.count,
			scn_fault_name(dev->fault), (long long)t_us);
	if (dev->kind == SIM_GATE && ex == 0 && gate_covers(dev, &acc) &&
	    frame_written(req->pdu, req->pdu_len,
			  (unsigned)dev->m.gate.open_address, &val) == 0)
		is_cmd = 1;
	switch (dev->fault) {
	case SCN_FAULT_SILENT:
	case SCN_FAULT_EXCEPTION:
	case SCN_FAULT_DISCONNECT:
		if (is_cmd)
			sim_out(sim,
				"device=%s ignored=%s address=%d value=%u "
				"fault=%s", dev->name, val ? "open" : "close",
				dev->m.gate.open_address, val,
				scn_fault_name(dev->fault));
		if (dev->fault == SCN_FAULT_EXCEPTION) {
			out->answer = 1;
			out->pdu_len = frame_exception(
				req->pdu[0], (uint8_t)dev->fault_arg, out->pdu);
		}
		return;
	case SCN_FAULT_NONE:
	case SCN_FAULT_LATE:
	case SCN_FAULT_CRC:
	case SCN_FAULT_GARBAGE:
		break;
	}
	/* Before the reply: the status register follows the command the
	 * way a relay module's contact input would. */
	if (is_cmd)
		gate_command(sim, dev, val, t_us);
	out->answer = 1;
	out->pdu_len = frame_respond(&dev->map, req->pdu, req->pdu_len,
				     out->pdu);
	switch (dev->fault) {
	case SCN_FAULT_LATE:
		out->delay_ms = dev->fault_arg;
		break;
	case SCN_FAULT_CRC:
		out->bad_check = 1;
		break;
	case SCN_FAULT_GARBAGE:
		frame_garble(out->pdu, out->pdu_len);
		break;
	default:
		break;
	}
	/* Only an answer the client can use carries a reading to it. */
	if (ex == 0 && (dev->fault == SCN_FAULT_NONE ||
			dev->fault == SCN_FAULT_LATE))
		out->seq = reply_seq(dev, &acc);
}

void dev_replied(struct sim *sim, struct sim_dev *dev, long seq)
{
	if (!sim->verbose || seq < 0 || (uint16_t)seq == dev->shown_seq)
		return;
	dev->shown_seq = (uint16_t)seq;
	sim_out(sim, "device=%s read seq=%ld mono_us=%lld", dev->name, seq,
		(long long)sim_now_us());
}
