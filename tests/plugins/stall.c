/*
 * A test plugin whose worker thread can be made to hang: it turns every
 * 50 ms and reports its heartbeat through health() (ABI 1.2), until the
 * file named by `stall_file` exists; then it stops turning (it waits on a
 * condition only stop() signals).  The watchdog test uses it to check that
 * wicketd stops feeding systemd's watchdog when a worker is stuck.
 *
 *   [device stuck]
 *   plugin = stall
 *   stall_file = /tmp/x/stall
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <wicket/plugin.h>

struct stall {
	const struct wk_host_api *host;
	struct wk_instance *inst;
	char path[512];
	pthread_t thread;
	int running;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stop;
	_Atomic int64_t beat_ms;
};

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *worker(void *arg)
{
	struct stall *s = arg;
	int logged = 0;

	pthread_mutex_lock(&s->mu);
	while (!s->stop) {
		if (access(s->path, F_OK) == 0) {
			if (!logged)
				s->host->log(s->inst, WK_LOG_NOTICE, "stalling now");
			logged = 1;
			pthread_cond_wait(&s->cv, &s->mu);	/* until stop() */
			continue;
		}
		atomic_store(&s->beat_ms, mono_ms());
		pthread_mutex_unlock(&s->mu);
		usleep(50 * 1000);
		pthread_mutex_lock(&s->mu);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

static int stall_create(const struct wk_host_api *host, struct wk_instance *inst,
			const struct wk_conf *conf, void **state)
{
	struct stall *s;
	const char *path = NULL;

	for (size_t i = 0; i < conf->n_items; i++) {
		const struct wk_conf_item *it = &conf->items[i];

		if (strcmp(it->key, "stall_file") == 0)
			path = it->value;
		else if (strcmp(it->key, "plugin") != 0)
			return host->conf_error(inst, it, "unknown key '%s'", it->key);
	}
	if (path == NULL || strlen(path) >= sizeof(s->path))
		return host->conf_error(inst, NULL, "stall_file: missing or too long");
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	s->host = host;
	s->inst = inst;
	memcpy(s->path, path, strlen(path) + 1);
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	*state = s;
	return 0;
}

static int stall_start(void *state)
{
	struct stall *s = state;
	int r;

	s->stop = 0;
	atomic_store(&s->beat_ms, mono_ms());
	r = pthread_create(&s->thread, NULL, worker, s);
	if (r != 0)
		return -r;
	s->running = 1;
	return 0;
}

static void stall_stop(void *state)
{
	struct stall *s = state;

	if (!s->running)
		return;
	pthread_mutex_lock(&s->mu);
	s->stop = 1;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->thread, NULL);
	s->running = 0;
}

static void stall_destroy(void *state)
{
	struct stall *s = state;

	if (s == NULL)
		return;
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

static int stall_command(void *state, const struct wk_command *cmd)
{
	(void)state;
	(void)cmd;
	return -ENOTSUP;
}

static int stall_health(void *state, struct wk_health *out)
{
	struct stall *s = state;

	out->state = WK_HEALTH_OK;
	if (s->running) {
		out->heartbeat_ms = atomic_load(&s->beat_ms);
		out->heartbeat_max_ms = 500;
	}
	return 0;
}

const struct wk_plugin wicket_plugin = {
	.abi_major = WICKET_ABI_MAJOR,
	.abi_minor = WICKET_ABI_MINOR,
	.size = sizeof(struct wk_plugin),
	.name = "stall",
	.version = "0",
	.description = "test: a worker thread that can be made to hang",
	.create = stall_create,
	.start = stall_start,
	.command = stall_command,
	.stop = stall_stop,
	.destroy = stall_destroy,
	.health = stall_health,
};
