/*
 * notify: tell systemd how the service is doing (the sd_notify protocol:
 * one datagram of "KEY=VALUE" lines to the socket in $NOTIFY_SOCKET).
 * Written here instead of linking libsystemd, which would bring five more
 * libraries and about a megabyte of resident memory for one sendto().
 */
#ifndef WICKET_NOTIFY_H
#define WICKET_NOTIFY_H

/* Send state ("READY=1", "RELOADING=1", ...).  Not under systemd (no
 * $NOTIFY_SOCKET): does nothing and returns 0.  Else 0 or -errno. */
int notify_send(const char *state);

#endif
