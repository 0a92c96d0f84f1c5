/*
 * core: the running daemon.  Owns the loop, the config in force, the
 * plugin instances, the lanes, the ledger and the MQTT link, and walks each
 * attempt through decide -> commit -> actuate -> publish.
 */
#ifndef WICKET_CORE_H
#define WICKET_CORE_H

struct core;

/* Start from a checked config file; errors are logged.  0 or -errno. */
int core_new(const char *config_path, struct core **out);
/* Run until SIGTERM or SIGINT; SIGHUP reloads.  0 on a clean stop. */
int core_run(struct core *c);
void core_free(struct core *c);

#endif
