/*
 * loop: epoll plus a short sorted list of timers.  The epoll_wait timeout is
 * the earliest timer deadline.  A daemon has a handful of fds and timers, so
 * linear lists beat anything cleverer here.  Removals during dispatch only
 * mark entries dead; they are reaped after the batch, so a callback may
 * delete any fd or timer, itself included.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "loop.h"

struct fd_reg {
	int fd;
	int dead;
	ev_fd_cb cb;
	void *arg;
	struct fd_reg *next;
};

struct timer {
	uint64_t id;
	int64_t due;
	ev_timer_cb cb;
	void *arg;
	struct timer *next;
};

struct ev_loop {
	int epfd;
	int stop;
	struct fd_reg *fds;
	struct timer *timers;	/* sorted by due */
	uint64_t next_timer_id;
	uint64_t running_timer;	/* id of the timer whose callback runs */
	int running_deleted;	/* ...and it deleted itself */
};

int64_t ev_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t ev_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int ev_new(struct ev_loop **out)
{
	struct ev_loop *l = calloc(1, sizeof(*l));

	if (l == NULL)
		return -ENOMEM;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0) {
		int rc = -errno;

		free(l);
		return rc;
	}
	*out = l;
	return 0;
}

void ev_free(struct ev_loop *loop)
{
	if (loop == NULL)
		return;
	while (loop->fds) {
		struct fd_reg *r = loop->fds;

		loop->fds = r->next;
		free(r);
	}
	while (loop->timers) {
		struct timer *t = loop->timers;

		loop->timers = t->next;
		free(t);
	}
	close(loop->epfd);
	free(loop);
}

static struct fd_reg *find_fd(struct ev_loop *loop, int fd)
{
	for (struct fd_reg *r = loop->fds; r; r = r->next)
		if (!r->dead && r->fd == fd)
			return r;
	return NULL;
}

int ev_add_fd(struct ev_loop *loop, int fd, uint32_t events, ev_fd_cb cb,
	      void *arg)
{
	struct epoll_event ev = { .events = events };
	struct fd_reg *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return -ENOMEM;
	r->fd = fd;
	r->cb = cb;
	r->arg = arg;
	ev.data.ptr = r;
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int rc = -errno;

		free(r);
		return rc;
	}
	r->next = loop->fds;
	loop->fds = r;
	return 0;
}

int ev_mod_fd(struct ev_loop *loop, int fd, uint32_t events)
{
	struct fd_reg *r = find_fd(loop, fd);
	struct epoll_event ev = { .events = events };

	if (r == NULL)
		return -ENOENT;
	ev.data.ptr = r;
	return epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev) < 0 ? -errno : 0;
}

void ev_del_fd(struct ev_loop *loop, int fd)
{
	struct fd_reg *r = find_fd(loop, fd);

	if (r == NULL)
		return;
	epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
	r->dead = 1;
}

uint64_t ev_add_timer(struct ev_loop *loop, long delay_ms, ev_timer_cb cb,
		      void *arg)
{
	struct timer *t = calloc(1, sizeof(*t)), **pp;

	if (t == NULL)
		return 0;
	t->id = ++loop->next_timer_id;
	t->due = ev_mono_ms() + (delay_ms > 0 ? delay_ms : 0);
	t->cb = cb;
	t->arg = arg;
	for (pp = &loop->timers; *pp && (*pp)->due <= t->due; pp = &(*pp)->next)
		;
	t->next = *pp;
	*pp = t;
	return t->id;
}

void ev_del_timer(struct ev_loop *loop, uint64_t id)
{
	if (id != 0 && id == loop->running_timer)
		loop->running_deleted = 1;
	for (struct timer **pp = &loop->timers; *pp; pp = &(*pp)->next) {
		if ((*pp)->id == id) {
			struct timer *t = *pp;

			*pp = t->next;
			free(t);
			return;
		}
	}
}

static void run_timers(struct ev_loop *loop)
{
	int64_t now = ev_mono_ms();

	/* Only timers due now; one re-armed with delay 0 waits a round. */
	while (loop->timers && loop->timers->due <= now && !loop->stop) {
		struct timer *t = loop->timers;
		uint64_t id = t->id;
		long next;

		loop->timers = t->next;
		t->next = NULL;
		loop->running_timer = id;
		loop->running_deleted = 0;
		next = t->cb(loop, t->arg);
		loop->running_timer = 0;
		if (next == EV_STOP_TIMER || loop->running_deleted) {
			free(t);
			continue;
		}
		/* put it back under the same id so holders can still delete it */
		t->id = id;
		t->due = now + (next > 0 ? next : 0);
		{
			struct timer **pp;

			for (pp = &loop->timers; *pp && (*pp)->due <= t->due;
			     pp = &(*pp)->next)
				;
			t->next = *pp;
			*pp = t;
		}
		if (next <= 0)
			break;
	}
}

static void reap_fds(struct ev_loop *loop)
{
	for (struct fd_reg **pp = &loop->fds; *pp;) {
		if ((*pp)->dead) {
			struct fd_reg *r = *pp;

			*pp = r->next;
			free(r);
		} else {
			pp = &(*pp)->next;
		}
	}
}

int ev_run(struct ev_loop *loop)
{
	struct epoll_event evs[32];

	loop->stop = 0;
	while (!loop->stop) {
		int timeout = -1, n;

		if (loop->timers) {
			int64_t d = loop->timers->due - ev_mono_ms();

			timeout = d < 0 ? 0 : d > 60000 ? 60000 : (int)d;
		}
		n = epoll_wait(loop->epfd, evs, 32, timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (int i = 0; i < n && !loop->stop; i++) {
			struct fd_reg *r = evs[i].data.ptr;

			if (!r->dead)
				r->cb(loop, r->fd, evs[i].events, r->arg);
		}
		reap_fds(loop);
		run_timers(loop);
	}
	return 0;
}

void ev_stop(struct ev_loop *loop)
{
	loop->stop = 1;
}
