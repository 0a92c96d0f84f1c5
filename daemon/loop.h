/*
 * loop: the one event loop (epoll).  File descriptors with a callback, and
 * timers whose callback returns its next delay (or EV_STOP_TIMER), in the
 * manner of redis' ae.c.  The loop thread owns all daemon state; other
 * threads reach it through an eventfd registered here.
 */
#ifndef WICKET_LOOP_H
#define WICKET_LOOP_H

#include <stdint.h>

#define EV_STOP_TIMER (-1L)

struct ev_loop;

typedef void (*ev_fd_cb)(struct ev_loop *loop, int fd, uint32_t events,
			 void *arg);
/* Returns the delay in ms until it runs again, or EV_STOP_TIMER. */
typedef long (*ev_timer_cb)(struct ev_loop *loop, void *arg);

int ev_new(struct ev_loop **out);
void ev_free(struct ev_loop *loop);

/* events: EPOLLIN / EPOLLOUT.  0 or -errno. */
int ev_add_fd(struct ev_loop *loop, int fd, uint32_t events, ev_fd_cb cb,
	      void *arg);
int ev_mod_fd(struct ev_loop *loop, int fd, uint32_t events);
void ev_del_fd(struct ev_loop *loop, int fd);

/* Returns a timer id (> 0) or 0 when out of memory. */
uint64_t ev_add_timer(struct ev_loop *loop, long delay_ms, ev_timer_cb cb,
		      void *arg);
/* Accepts 0 and ids of timers that already stopped. */
void ev_del_timer(struct ev_loop *loop, uint64_t id);

/* Runs until ev_stop(); 0, or -errno if epoll fails. */
int ev_run(struct ev_loop *loop);
void ev_stop(struct ev_loop *loop);

/* CLOCK_MONOTONIC and CLOCK_REALTIME in milliseconds. */
int64_t ev_mono_ms(void);
int64_t ev_wall_ms(void);

#endif
