/*
 * wicket-sim: state shared by the simulator's files, and their prototypes,
 * grouped by file.  One thread owns all of it: main.c's poll loop.
 *
 *   main.c     argv, signals, the poll loop, the scenario clock, output
 *   config.c   the sim config and the device profiles -> struct sim
 *   device.c   what a simulated device does: its registers, scenario steps,
 *              requests routed to it, gate commands
 *   scenario.c the scenario parser (pure; see scenario.h)
 */
#ifndef WICKET_SIM_H
#define WICKET_SIM_H

#include <stddef.h>
#include <stdint.h>

#include <modbus.h>

#include "mbmap.h"
#include "scenario.h"

#define SIM_HOST_MAX 32		/* an IPv4 literal */
#define SIM_ADDR_MAX 64		/* "a.b.c.d:port" and then some */

/* One listening socket; several devices may share it (routed by unit). */
struct sim_listener {
	char addr[SIM_ADDR_MAX];	/* as configured, for messages */
	char host[SIM_HOST_MAX];	/* IPv4 literal, "0.0.0.0" for any */
	int port;
	modbus_t *ctx;		/* receive/reply on each client's socket */
	int fd;			/* -1 until bound */
	unsigned n_clients;
	uint8_t unknown_units[32];	/* units already reported, one bit each */
};

struct sim_dev {
	char *name;
	enum sim_kind kind;
	const char *file;	/* the sim config, for messages */
	int line;		/* of the [device] section */
	int unit;
	size_t listener;	/* index into sim.listeners */
	union {
		struct mb_thermal_map th;
		struct mb_reader_map rd;
		struct mb_gate_map gate;
	} m;
	modbus_mapping_t *map;	/* the device's registers, from address 0 */
	enum scn_fault fault;
	uint16_t seq;		/* last sequence number written */
};

struct sim_client {
	int fd;			/* -1 once closed, until compacted away */
	size_t listener;
	char peer[SIM_ADDR_MAX];
};

enum sim_start { SIM_START_CONNECT, SIM_START_NOW };

struct sim {
	char *config_file;
	char *scenario_file;	/* NULL: no scenario, serve until stopped */
	char *profile_dir;
	enum sim_start start;
	int verbose;

	struct sim_dev *devs;
	size_t n_devs;
	struct sim_listener *listeners;
	size_t n_listeners;
	struct sim_client *clients;
	size_t n_clients, cap_clients;

	struct scenario *scn;
	size_t next_step;
	int64_t clock_ms;	/* CLOCK_MONOTONIC at the scenario start, -1 before */

	unsigned long opens, closes;
};

/* main.c */
/* One stdout line: "wicket-sim: t=SECONDS " fmt. */
void sim_out(struct sim *sim, const char *fmt, ...) WK_PRINTF(2, 3);

/* config.c */
/* Read the config (and profiles, and scenario) into sim, whose
 * scenario_file / profile_dir may be preset from the command line.  Every
 * error goes to stderr as "file:line: message"; returns 0 or -EINVAL. */
int simconf_load(struct sim *sim, const char *path);
/* Free what simconf_load and the loop allocated; sim itself is the
 * caller's. */
void simconf_free(struct sim *sim);

/* device.c */
/* Allocate dev->map sized to cover its profile's addresses. */
int dev_init(struct sim_dev *dev);
/* Whether step fits the device's profile; the reason in msg if not. */
int dev_check_step(const struct sim_dev *dev, const struct scn_step *st,
		   char *msg, size_t msglen);
/* Carry out a scenario step on its device. */
void dev_apply(struct sim *sim, struct sim_dev *dev,
	       const struct scn_step *st);
/* Answer one request received on listener li (req as modbus_receive gave
 * it).  Returns 0, or -1 when the reply could not be sent. */
int dev_request(struct sim *sim, size_t li, const uint8_t *req, int len);

#endif
