/*
 * device: what one simulated device does with its registers.
 *
 * Each device has its own libmodbus mapping, from address 0 up to the
 * highest address its profile uses, so a daemon that reads outside the
 * profile gets "illegal data address", as it would from a strict device.
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
 * 6, 16, 22, 23) rather than by comparing the mapping before and after,
 * because a second "open" while already open changes nothing in the
 * mapping but is still a command the installer wants to see.  A write is
 * counted only if libmodbus will accept it (same range checks).
 *
 * Requests for a unit id that no device on the socket has get exception 11
 * (gateway target failed to respond), as a Modbus gateway would answer, so
 * a wrong `unit` in a profile shows up at once instead of as a timeout.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "sim.h"

static uint16_t *regs_of(modbus_mapping_t *map, enum mb_table t)
{
	return t == MB_INPUT ? map->tab_input_registers : map->tab_registers;
}

static int max_int(int a, int b)
{
	return a > b ? a : b;
}

int dev_init(struct sim_dev *dev)
{
	int bits = 0, regs = 0, inregs = 0, n = 0;
	enum mb_table t = MB_HOLDING;

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
	}
	if (t == MB_INPUT)
		inregs = n;
	else
		regs = n;
	dev->map = modbus_mapping_new(bits, 0, regs, inregs);
	return dev->map ? 0 : -ENOMEM;
}

int dev_check_step(const struct sim_dev *dev, const struct scn_step *st,
		   char *msg, size_t msglen)
{
	uint16_t regs[32];
	unsigned w;
	int rc;

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
	case SCN_FAULT:
	case SCN_END:
		break;
	}
	return 0;
}

static void new_reading(struct sim_dev *dev, uint16_t *regs, int seq_reg,
			int ready_reg)
{
	if (seq_reg >= 0)
		regs[seq_reg] = ++dev->seq;
	if (ready_reg >= 0)
		regs[ready_reg] = 1;
}

void dev_apply(struct sim *sim, struct sim_dev *dev,
	       const struct scn_step *st)
{
	uint16_t *regs;

	sim_out(sim, "device=%s step=%s value=%s", dev->name,
		scn_action_name(st->action), st->text);
	switch (st->action) {
	case SCN_TEMP: {
		const struct mb_thermal_map *m = &dev->m.th;

		regs = regs_of(dev->map, m->table);
		/* checked by dev_check_step before the run */
		if (rm_encode(&m->temperature, st->temp,
			      regs + m->temperature_register) == 0)
			new_reading(dev, regs, m->sequence_register,
				    m->ready_register);
		break;
	}
	case SCN_RAW: {
		const struct mb_thermal_map *m = &dev->m.th;

		regs = regs_of(dev->map, m->table);
		memcpy(regs + m->temperature_register, st->raw,
		       st->n_raw * sizeof(st->raw[0]));
		new_reading(dev, regs, m->sequence_register,
			    m->ready_register);
		break;
	}
	case SCN_CARD: {
		const struct mb_reader_map *m = &dev->m.rd;

		regs = regs_of(dev->map, m->table);
		if (mbmap_encode_credential(m, st->text,
					    regs + m->credential_register) == 0)
			new_reading(dev, regs, m->sequence_register, -1);
		break;
	}
	case SCN_STATE:
		dev->map->tab_registers[dev->m.gate.status_register] =
			st->state;
		break;
	case SCN_FAULT:
		dev->fault = st->fault;
		break;
	case SCN_END:
		break;
	}
}

static unsigned be16(const uint8_t *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

/* Whether pdu (function code first) is a valid write that covers the gate's
 * open coil or register; if so *val is the value written there. */
static int gate_write(const struct sim_dev *dev, const uint8_t *pdu,
		      int plen, unsigned *val)
{
	const struct mb_gate_map *g = &dev->m.gate;
	const modbus_mapping_t *map = dev->map;
	unsigned a = (unsigned)g->open_address, addr, n, bit;
	int coil = g->open_table == MB_COIL;
	unsigned nb = (unsigned)(coil ? map->nb_bits : map->nb_registers);

	if (plen < 5)
		return 0;
	addr = be16(pdu + 1);
	switch (pdu[0]) {
	case MODBUS_FC_WRITE_SINGLE_COIL:
		if (!coil || addr != a || addr >= nb)
			return 0;
		if (be16(pdu + 3) != 0xff00 && be16(pdu + 3) != 0)
			return 0;
		*val = be16(pdu + 3) ? 1 : 0;
		return 1;
	case MODBUS_FC_WRITE_MULTIPLE_COILS:
		n = be16(pdu + 3);
		if (!coil || n < 1 || n > MODBUS_MAX_WRITE_BITS ||
		    addr + n > nb || a < addr || a >= addr + n)
			return 0;
		bit = a - addr;
		if (plen < 6 + (int)(bit / 8) + 1)
			return 0;
		*val = (pdu[6 + bit / 8] >> (bit % 8)) & 1;
		return 1;
	case MODBUS_FC_WRITE_SINGLE_REGISTER:
		if (coil || addr != a || addr >= nb)
			return 0;
		*val = be16(pdu + 3);
		return 1;
	case MODBUS_FC_WRITE_MULTIPLE_REGISTERS:
		n = be16(pdu + 3);
		if (coil || n < 1 || n > MODBUS_MAX_WRITE_REGISTERS ||
		    addr + n > nb || a < addr || a >= addr + n ||
		    plen < 6 + 2 * (int)(a - addr + 1))
			return 0;
		*val = be16(pdu + 6 + 2 * (a - addr));
		return 1;
	case MODBUS_FC_MASK_WRITE_REGISTER:
		if (coil || addr != a || addr >= nb || plen < 7)
			return 0;
		*val = (map->tab_registers[a] & be16(pdu + 3)) |
		       (be16(pdu + 5) & ~be16(pdu + 3) & 0xffff);
		return 1;
	case MODBUS_FC_WRITE_AND_READ_REGISTERS: {
		unsigned raddr = addr, rn, waddr;

		if (coil || plen < 10)
			return 0;
		rn = be16(pdu + 3);
		waddr = be16(pdu + 5);
		n = be16(pdu + 7);
		if (rn < 1 || rn > MODBUS_MAX_WR_READ_REGISTERS ||
		    raddr + rn > nb || n < 1 ||
		    n > MODBUS_MAX_WR_WRITE_REGISTERS || waddr + n > nb ||
		    a < waddr || a >= waddr + n ||
		    plen < 10 + 2 * (int)(a - waddr + 1))
			return 0;
		*val = be16(pdu + 10 + 2 * (a - waddr));
		return 1;
	}
	default:
		return 0;
	}
}

static void gate_command(struct sim *sim, struct sim_dev *dev, unsigned val)
{
	const struct mb_gate_map *g = &dev->m.gate;

	if (g->status_register >= 0)
		dev->map->tab_registers[g->status_register] = val ? 1 : 0;
	if (val)
		sim->opens++;
	else
		sim->closes++;
	sim_out(sim, "device=%s command=%s address=%d value=%u", dev->name,
		val ? "open" : "close", g->open_address, val);
}

static struct sim_dev *find_unit(struct sim *sim, size_t li, int unit)
{
	for (size_t i = 0; i < sim->n_devs; i++)
		if (sim->devs[i].listener == li && sim->devs[i].unit == unit)
			return &sim->devs[i];
	return NULL;
}

int dev_request(struct sim *sim, size_t li, const uint8_t *req, int len)
{
	struct sim_listener *l = &sim->listeners[li];
	int hl = modbus_get_header_length(l->ctx);
	const uint8_t *pdu = req + hl;
	int plen = len - hl, unit, is_cmd = 0;
	struct sim_dev *dev;
	unsigned val = 0;

	if (hl < 1 || plen < 1)
		return 0;
	unit = req[hl - 1];
	dev = find_unit(sim, li, unit);
	if (dev == NULL) {
		if (!(l->unknown_units[unit / 8] & (1u << (unit % 8)))) {
			l->unknown_units[unit / 8] |= (uint8_t)(1u << (unit % 8));
			fprintf(stderr,
				"wicket-sim: %s: request for unit %d, which "
				"no device here has; answering exception 11 "
				"(gateway target failed to respond)\n",
				l->addr, unit);
		}
		return modbus_reply_exception(l->ctx, req,
					      MODBUS_EXCEPTION_GATEWAY_TARGET)
		       < 0 ? -1 : 0;
	}
	if (sim->verbose)
		sim_out(sim, "device=%s request function=%u address=%u "
			"fault=%s", dev->name, pdu[0],
			plen >= 3 ? be16(pdu + 1) : 0,
			scn_fault_name(dev->fault));
	if (dev->kind == SIM_GATE)
		is_cmd = gate_write(dev, pdu, plen, &val);
	if (dev->fault != SCN_FAULT_NONE) {
		if (is_cmd)
			sim_out(sim,
				"device=%s ignored=%s address=%d value=%u "
				"fault=%s", dev->name, val ? "open" : "close",
				dev->m.gate.open_address, val,
				scn_fault_name(dev->fault));
		if (dev->fault == SCN_FAULT_SILENT)
			return 0;
		return modbus_reply_exception(
			       l->ctx, req,
			       MODBUS_EXCEPTION_SLAVE_OR_SERVER_FAILURE) < 0
			       ? -1 : 0;
	}
	/* Before the reply, so that a write-and-read (23) reads the new
	 * status; gate_write() made sure libmodbus will take the write. */
	if (is_cmd)
		gate_command(sim, dev, val);
	return modbus_reply(l->ctx, req, len, dev->map) < 0 ? -1 : 0;
}
